//! What the GPU backend's encoder counted for a batch, as it recorded each
//! dispatch of the schedule ([`super::schedule`]).

use super::kernels::{Kernel, COUNTED_SLOTS, MAX_KERNELS};
use super::schedule::Dispatch;

pub use crate::sim::cost::Ledger;

/// The bytes the recorded dispatches' loads and stores request, by kernel
/// and binding ([`Dispatch::requested_through`]), tallied as the encoder
/// records each dispatch: what the counting build should count for the
/// same stretch ([`Counted`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requests(Vec<u64>);

impl Default for Requests {
    fn default() -> Self {
        Requests(vec![0; MAX_KERNELS * COUNTED_SLOTS as usize])
    }
}

impl Requests {
    /// Adds the requests of `d`.
    pub fn add(&mut self, d: &Dispatch) {
        let base = slot(d.kernel, 0, false);
        for t in &d.traffic {
            self.0[base + (2 * t.binding + u32::from(t.write)) as usize] += t.requested;
        }
    }

    /// The bytes requested of `binding` by `kernel`, read (`write` false)
    /// or written.
    pub fn get(&self, kernel: Kernel, binding: u32, write: bool) -> u64 {
        self.0[slot(kernel, binding, write)]
    }
}

/// The counter of `binding` (read, or written) of `kernel`: as the
/// shaders' `count` numbers them.
pub fn slot(kernel: Kernel, binding: u32, write: bool) -> usize {
    (kernel.code() * COUNTED_SLOTS + 2 * binding + u32::from(write)) as usize
}

/// What the kernels of a counted stretch of steps moved, binding by
/// binding, as the counting build counted it, beside what the schedule's
/// dispatches of the stretch request ([`Traffic::requested`](super::schedule::Traffic::requested)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Steps counted.
    pub steps: u64,
    /// Counted bytes, at [`slot`]`(kernel, binding, write)`.
    pub(super) measured: Vec<u64>,
    /// The schedule's requests.
    pub(super) scheduled: Requests,
    /// The kernels of a step.
    pub(super) step_kernels: std::collections::HashSet<Kernel>,
}

/// One binding of one kernel whose counted bytes differ from the
/// schedule's ([`Counted::differences`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The kernel.
    pub kernel: Kernel,
    /// The binding.
    pub binding: u32,
    /// Written rather than read.
    pub write: bool,
    /// Bytes counted.
    pub measured: u64,
    /// Bytes the schedule requests.
    pub scheduled: u64,
}

impl Counted {
    /// The bytes `kernel` read (`write` false) or wrote of `binding`.
    pub fn measured(&self, kernel: Kernel, binding: u32, write: bool) -> u64 {
        self.measured[slot(kernel, binding, write)]
    }

    /// The bytes the schedule says `kernel` requests of `binding`.
    pub fn scheduled(&self, kernel: Kernel, binding: u32, write: bool) -> u64 {
        self.scheduled.get(kernel, binding, write)
    }

    /// Every (kernel, binding, read or write) whose counted bytes are not
    /// the schedule's.
    pub fn differences(&self) -> Vec<Difference> {
        let mut v = Vec::new();
        for kernel in Kernel::coded() {
            for binding in 0..COUNTED_SLOTS / 2 {
                for write in [false, true] {
                    let measured = self.measured(kernel, binding, write);
                    let scheduled = self.scheduled(kernel, binding, write);
                    if measured != scheduled {
                        v.push(Difference {
                            kernel,
                            binding,
                            write,
                            measured,
                            scheduled,
                        });
                    }
                }
            }
        }
        v
    }

    /// The bytes the step kernels counted, per step (of a stretch without
    /// the prologue: not the first).
    pub fn measured_bytes_per_step(&self) -> f64 {
        self.per_step(|_| true)
    }

    /// Of those, the bytes read of the weights' bindings (M, the tables or
    /// bits, the taps, the diagonal).
    pub fn measured_weight_bytes_per_step(&self) -> f64 {
        self.per_step(|(binding, write)| {
            !write && super::schedule::WEIGHT_BINDINGS.contains(&binding)
        })
    }

    fn per_step(&self, keep: impl Fn((u32, bool)) -> bool) -> f64 {
        let mut total = 0u64;
        for &kernel in &self.step_kernels {
            for binding in 0..COUNTED_SLOTS / 2 {
                for write in [false, true] {
                    if keep((binding, write)) {
                        total += self.measured(kernel, binding, write);
                    }
                }
            }
        }
        total as f64 / self.steps.max(1) as f64
    }
}
