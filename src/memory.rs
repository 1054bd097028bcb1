//! The machine's memory, and what a run needs of it ([`Footprint`]): a
//! run whose buffers would not fit is refused up front, with the bytes it
//! needs, instead of being killed half-way by the operating system (or
//! aborting on a failed allocation).

use crate::error::{Error, Result};
use crate::model::Experiment;

/// Bytes of memory available to a new run: `MemAvailable` of
/// /proc/meminfo on Linux (or the `ATTRACTOR_MEMORY_BYTES` environment
/// variable, which overrides it); `None` where it cannot be known.
pub fn available() -> Option<u64> {
    if let Some(v) = std::env::var("ATTRACTOR_MEMORY_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return Some(v);
    }
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Formats bytes as GiB, MiB or KiB (the largest unit of at least one).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// Fails when `bytes` (what `key` = `value` asks for, described by `what`)
/// exceed the memory available; passes where that is unknown.
pub fn check(key: &str, value: impl std::fmt::Display, what: &str, bytes: u64) -> Result<()> {
    let Some(free) = available() else {
        return Ok(());
    };
    if bytes <= free {
        return Ok(());
    }
    Err(Error::invalid(
        key,
        value,
        format!(
            "the run needs {} bytes ({}) of memory for {what}, more than the {} available on \
             this machine; make the network or the records smaller",
            bytes,
            human(bytes),
            human(free)
        ),
    ))
}

/// Bytes of memory of a GPU set by `ATTRACTOR_GPU_MEMORY_BYTES` (in place
/// of what the vendor's tools report, and where they report nothing).
pub fn device_override() -> Option<u64> {
    std::env::var("ATTRACTOR_GPU_MEMORY_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// Fails when `bytes` of the device `device` (what `key` = `value` asks
/// for, described by `what`) exceed its `memory`; passes where that is
/// unknown.
pub fn check_device(
    key: &str,
    value: impl std::fmt::Display,
    what: &str,
    bytes: u64,
    device: &str,
    memory: Option<u64>,
) -> Result<()> {
    match memory {
        Some(m) if bytes > m => Err(Error::invalid(
            key,
            value,
            format!(
                "the run needs {} bytes ({}) of GPU memory for {what}, more than the {} of \
                 {device}; make the network smaller, run fewer trials together, or use \
                 --backend cpu",
                bytes,
                human(bytes),
                human(m)
            ),
        )),
        Some(_) | None => Ok(()),
    }
}

/// The memory a run needs, bytes, by what needs it: the weights and the
/// state live in the backend's memory (the host's for the CPU, the
/// device's for a GPU), the records on the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// The weights as the backend holds them (and their copies while
    /// they are built).
    pub weights: u64,
    /// The state vectors of every trial (state, stage points, inputs,
    /// drive, scratch).
    pub state: u64,
    /// The records of every trial: times, metric rows, kept rates.
    pub records: u64,
}

impl Footprint {
    /// What lives in the backend's memory: the weights and the state.
    pub fn backend(&self) -> u64 {
        self.weights.saturating_add(self.state)
    }

    /// All of it.
    pub fn total(&self) -> u64 {
        self.backend().saturating_add(self.records)
    }

    /// The bytes of the records of `trials` trials of `exp` (times, the
    /// metric rows, the kept rates).
    pub fn records_of(exp: &Experiment, trials: usize) -> u64 {
        let records = exp.simulation.records();
        let columns = 2 + exp.network.weights.geometry().patterns as u64 + 3;
        let kept = exp.record.kept(exp.network.n) as u64;
        let per_record = 8 + 8 + 24 + 8 * columns + 4 * kept;
        records
            .saturating_mul(per_record)
            .saturating_mul(trials as u64)
    }

    /// Refuses a run that would not fit: everything in the host's memory
    /// when `device` is `None` (the CPU), else the weights and state
    /// against the device's memory (`device` = its name and its bytes,
    /// where known) and the records against the host's. The error names
    /// the key of the largest need, as the experiment's checks do.
    pub fn check(&self, exp: &Experiment, device: Option<(&str, Option<u64>)>) -> Result<()> {
        let sim = &exp.simulation;
        let key_of = |weights: u64, state: u64, records: u64| {
            if records >= weights.max(state) {
                (
                    "simulation.record_every",
                    sim.record_every.to_string(),
                    format!("{} records", sim.records()),
                )
            } else if weights >= state {
                (
                    "network.weights",
                    exp.network.weights.kind().to_string(),
                    format!("the weights of N = {}", exp.network.n),
                )
            } else {
                (
                    "network.n",
                    exp.network.n.to_string(),
                    "the state vectors".to_string(),
                )
            }
        };
        match device {
            None => {
                let (key, value, what) = key_of(self.weights, self.state, self.records);
                check(
                    key,
                    value,
                    &format!("{what} and the rest of the run"),
                    self.total(),
                )
            }
            Some((name, memory)) => {
                let (key, value, what) = key_of(self.weights, self.state, 0);
                check_device(
                    key,
                    value,
                    &format!("{what} and the rest of the run"),
                    self.backend(),
                    name,
                    memory,
                )?;
                check(
                    "simulation.record_every",
                    sim.record_every,
                    &format!("{} records of every trial", sim.records()),
                    self.records,
                )
            }
        }
    }
}
