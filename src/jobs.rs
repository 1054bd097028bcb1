//! What the commands do, as library calls: run an experiment into its
//! output folder, run a sweep into its folder. The command line parses its
//! arguments, calls these and prints what they report.

use crate::error::Result;
use crate::model::{BackendChoice, Experiment};
use crate::output::{self, Written};
use crate::sim::{choice, Recording, Stop};
use crate::sweep::{folder::SweepFolder, summary::PointSummary, Shard, Sweep, SweepReport};
use std::path::{Path, PathBuf};

/// A finished run and the files it wrote.
#[derive(Debug)]
pub struct RunDone {
    /// What the run recorded (with its divergence or fault, if it stopped
    /// early: its records up to then are written all the same).
    pub recording: Recording,
    /// The files written.
    pub written: Written,
}

/// The output folder of a run of `exp`: `out`, else `runs/<name>`.
pub fn run_dir(exp: &Experiment, out: Option<PathBuf>) -> PathBuf {
    out.unwrap_or_else(|| PathBuf::from("runs").join(&exp.name))
}

/// Runs `exp` on the backend `choice` picks and writes every output to
/// `out`. The folder is checked before the run (an error names `--out`),
/// `note` hears which backend was picked before the run starts, and
/// `progress` the steps done.
pub fn run_experiment(
    exp: &Experiment,
    choice: BackendChoice,
    out: &Path,
    note: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(u64),
) -> Result<RunDone> {
    let (mut backend, picked) = choice::select(choice)?;
    // A folder that cannot take the outputs fails now, not after the run.
    output::prepare_dir("--out", out)?;
    if let Some(p) = picked {
        note(&p);
    }
    let recording = backend.run(exp, progress)?;
    let written = output::write_run(out, exp, &recording)?;
    Ok(RunDone { recording, written })
}

/// A sweep run into its folder.
#[derive(Debug)]
pub struct SweepDone {
    /// What ran and what was already there.
    pub report: SweepReport,
    /// The summary of every grid point (summary.csv).
    pub summaries: Vec<PointSummary>,
    /// The folder.
    pub dir: PathBuf,
}

/// Runs `shard` of the sweep `sw` (read from `path`) into `out` (default
/// `runs/<name>`, or its shard's folder), continuing a folder of the same
/// sweep when `resume`, on the backend `choice` picks (the base
/// experiment's `simulation.backend` when `None`). `note` hears which
/// backend was picked, `start` the runs of the shard and those already
/// done before any runs, `progress` the runs finished as batches end.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep(
    sw: &Sweep,
    path: &Path,
    out: Option<PathBuf>,
    shard: Shard,
    resume: bool,
    choice: Option<BackendChoice>,
    note: &mut dyn FnMut(&str),
    start: &mut dyn FnMut(usize, usize),
    progress: &mut dyn FnMut(usize),
) -> Result<SweepDone> {
    let dir = out.unwrap_or_else(|| SweepFolder::default_dir(sw, shard));
    let mut folder = SweepFolder::open(&dir, sw, path, shard, resume)?;
    let choice = match choice {
        Some(c) => c,
        None => sw.base_experiment()?.simulation.backend,
    };
    let (mut backend, picked) = choice::select(choice)?;
    if let Some(p) = picked {
        note(&p);
    }
    start(sw.runs_in(shard), folder.done.len());
    let report = folder.run(sw, shard, backend.as_mut(), progress, &Stop::default())?;
    let summaries = folder.summarize(&sw.keys)?;
    Ok(SweepDone {
        report,
        summaries,
        dir,
    })
}
