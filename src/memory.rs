//! The machine's memory: a run whose buffers would not fit is refused up
//! front, with the bytes it needs, instead of being killed half-way by the
//! operating system (or aborting on a failed allocation).

use crate::error::{Error, Result};

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

/// Formats bytes as GiB (or MiB below one GiB).
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.1} MiB", b / (1u64 << 20) as f64)
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
