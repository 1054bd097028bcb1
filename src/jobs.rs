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

/// Where a job runs: the backend and the GPU adapters it opens; what is
/// not given comes from the experiment file (`simulation.backend`,
/// `simulation.device`).
#[derive(Clone, Debug)]
pub struct Placement {
    /// The names errors give `device` and `devices`: `--device` and
    /// `--devices` on the command line, `device` and `devices` in Python.
    pub keys: (&'static str, &'static str),
    /// `--backend`.
    pub backend: Option<BackendChoice>,
    /// `--device`: an index as `attractor devices` lists it, a PCI bus id,
    /// a UUID or part of a name.
    pub device: Option<String>,
    /// `--devices` (sweeps): `all`, or a list of devices, each of which
    /// runs batches from its own thread.
    pub devices: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            keys: ("--device", "--devices"),
            backend: None,
            device: None,
            devices: None,
        }
    }
}

impl Placement {
    /// The backends a sweep with base experiment `base` runs on, one per
    /// device, and the note saying which.
    pub fn sweep_backends(&self, base: &Experiment) -> Result<(choice::Backends, Option<String>)> {
        let choice = self.backend.unwrap_or(base.simulation.backend);
        let (device_key, devices_key) = self.keys;
        match &self.devices {
            Some(list) => {
                if let Some(d) = &self.device {
                    return Err(crate::Error::invalid(
                        devices_key,
                        format!("{list:?}"),
                        format!("{device_key} = {d:?} also chooses the sweep's adapters; give one"),
                    ));
                }
                let (backends, note) = choice::select_many(choice, devices_key, list)?;
                Ok((backends, Some(note)))
            }
            None => {
                let (backend, note) = choice::select(choice, self.device_for(base))?;
                Ok((vec![backend], note))
            }
        }
    }

    /// The device a run of `exp` opens: `device` over `simulation.device`.
    pub fn device_for<'a>(&'a self, exp: &'a Experiment) -> choice::Device<'a> {
        let given = self.device.as_deref().map(|d| (self.keys.0, d));
        choice::device_of(given, exp.simulation.device.as_deref())
    }
}

/// Runs `exp` where `placement` says and writes every output to `out`.
/// The folder is checked before the run (an error names `--out`), `note`
/// hears which backend was picked before the run starts, and `progress`
/// the steps done.
pub fn run_experiment(
    exp: &Experiment,
    placement: &Placement,
    out: &Path,
    note: &mut dyn FnMut(&str),
    progress: &mut dyn FnMut(u64),
) -> Result<RunDone> {
    let choice = placement.backend.unwrap_or(exp.simulation.backend);
    let (mut backend, picked) = choice::select(choice, placement.device_for(exp))?;
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
/// sweep when `resume`, where `placement` says (the base experiment's
/// `simulation.backend` and `simulation.device` for what it leaves out;
/// with `devices`, batches run on every device at once). `note` hears
/// which backend was picked, `start` the runs of the shard and those
/// already done before any runs, `progress` the runs finished as batches
/// end.
#[allow(clippy::too_many_arguments)]
pub fn run_sweep(
    sw: &Sweep,
    path: &Path,
    out: Option<PathBuf>,
    shard: Shard,
    resume: bool,
    placement: &Placement,
    note: &mut dyn FnMut(&str),
    start: &mut dyn FnMut(usize, usize),
    progress: &mut dyn FnMut(usize),
) -> Result<SweepDone> {
    let dir = out.unwrap_or_else(|| SweepFolder::default_dir(sw, shard));
    let mut folder = SweepFolder::open(&dir, sw, path, shard, resume)?;
    let (mut backends, picked) = placement.sweep_backends(&sw.base_experiment()?)?;
    if let Some(p) = picked {
        note(&p);
    }
    start(sw.runs_in(shard), folder.done.len());
    let report = folder.run(sw, shard, &mut backends, progress, &Stop::default())?;
    let summaries = folder.summarize(&sw.keys)?;
    Ok(SweepDone {
        report,
        summaries,
        dir,
    })
}
