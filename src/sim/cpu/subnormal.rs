//! Subnormal numbers flushed to zero on the threads that step a CPU run.
//!
//! A rate that decays towards zero (the silent neurons of a rectified ring,
//! dv/dt = -v / tau) does not reach it in floating point: it stops a few
//! ulps above zero, in the subnormal range, where v - (dt / tau) v rounds
//! back to v. An x86 core takes a microcode assist, about a hundred cycles,
//! for each operation on a subnormal, so a ring of 65536 neurons whose
//! silent half sat there took 6 times as long per step as its bench, and
//! 11 to 12 times as long as with the flush (f32, 2-core Xeon,
//! BENCHMARKS.md). GPUs flush f32 subnormals to zero, and so does XLA on
//! the CPU; the CPU backend does the same on x86-64, setting the
//! flush-to-zero and denormals-are-zero bits of MXCSR on rayon's threads
//! and on the thread that steps a run. Only numbers below the smallest
//! normal one (1.2e-38 in f32, 2.2e-308 in f64) change: they become zero.
//! Elsewhere it does nothing.
//!
//! The compiler assumes the default floating-point mode: a sum it folds
//! while building keeps a subnormal that the same sum at run time would
//! flush. Only numbers below the smallest normal one can differ so.

/// MXCSR's flush-to-zero (results) and denormals-are-zero (operands) bits.
#[cfg(target_arch = "x86_64")]
const FLUSH: u32 = (1 << 15) | (1 << 6);

/// This thread's floating-point control word (MXCSR).
#[cfg(target_arch = "x86_64")]
fn control() -> u32 {
    let mut csr = 0u32;
    // SAFETY: stores MXCSR into a local u32; touches no other memory.
    unsafe {
        std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
    }
    csr
}

/// Sets this thread's floating-point control word (MXCSR).
#[cfg(target_arch = "x86_64")]
fn set_control(csr: u32) {
    // SAFETY: loads MXCSR from a local u32 holding a valid value (one read
    // by `control`, with at most the flush bits changed). Flushing
    // subnormals changes only results that would be subnormal, which is its
    // purpose; see the module's note on what the compiler folds. It also
    // sets MXCSR's exception flags, so flags are not declared preserved.
    unsafe {
        std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
    }
}

/// No control word where the backend does not flush.
#[cfg(not(target_arch = "x86_64"))]
fn control() -> u32 {
    0
}

/// Nothing to set where the backend does not flush.
#[cfg(not(target_arch = "x86_64"))]
fn set_control(_csr: u32) {}

/// The flush bits where the backend flushes, none elsewhere.
#[cfg(not(target_arch = "x86_64"))]
const FLUSH: u32 = 0;

/// Whether this thread flushes subnormal numbers to zero (always false
/// where the backend does not flush).
pub fn flushing() -> bool {
    FLUSH != 0 && control() & FLUSH == FLUSH
}

/// Subnormals flushed on this thread while the guard lives; the thread's
/// earlier mode comes back when it is dropped.
pub struct Flush {
    before: u32,
}

impl Flush {
    /// Flushes subnormals on this thread until the guard is dropped.
    pub fn here() -> Flush {
        let before = control();
        set_control(before | FLUSH);
        Flush { before }
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        set_control(self.before);
    }
}

/// Flushes subnormals on every thread of the rayon pool this thread is in
/// (the global pool from outside one), from now on: a run's parallel loops
/// run there, and so does the conversion of M to the run's precision. The
/// pool's threads keep the mode, so whatever else runs on them later (the
/// model's and the analysis' parallel loops) flushes too. The global pool
/// is flushed once; another pool at each call.
pub fn flush_on_the_pool() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static GLOBAL: AtomicBool = AtomicBool::new(false);
    if FLUSH == 0 {
        return;
    }
    let global = rayon::current_thread_index().is_none();
    if global && GLOBAL.load(Ordering::Acquire) {
        return;
    }
    rayon::broadcast(|_| set_control(control() | FLUSH));
    if global {
        GLOBAL.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Halves of the smallest normal number are zero under the guard and
    /// subnormal after it; the guard restores the mode it found.
    #[test]
    fn the_guard_flushes_and_restores() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let before = flushing();
        assert!(!before, "a fresh test thread starts with IEEE subnormals");
        {
            let _flush = Flush::here();
            let half = std::hint::black_box(tiny) * std::hint::black_box(0.5f32);
            #[cfg(target_arch = "x86_64")]
            assert_eq!(half, 0.0);
            #[cfg(not(target_arch = "x86_64"))]
            assert!(half > 0.0);
        }
        assert!(!flushing());
        let half = std::hint::black_box(tiny) * std::hint::black_box(0.5f32);
        assert!(half > 0.0 && half < f32::MIN_POSITIVE);
    }
}
