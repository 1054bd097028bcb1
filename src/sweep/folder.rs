//! A sweep's output folder: `sweep.json` (which sweep and shard it holds,
//! typed), `results.csv` and, for rings, `drift.csv` (appended as runs
//! finish), and the summary outputs. Opening it for `--resume` checks that
//! it holds the same sweep and returns the runs already done; merging joins
//! the folders of shards into one.

use super::merge;
use super::results::{self, ResultsFile};
use super::summary::{self, PointSummary};
use super::{Finished, Shard, Sweep};
use crate::error::{Error, Result};
use crate::output::{csv_float, write_atomic};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The columns of drift.csv.
pub const DRIFT_HEADER: [&str; 4] = ["point", "trial", "t", "drift"];

/// Which part of the sweep a folder holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ShardInfo {
    /// Grid points p with p mod n = k.
    Part {
        /// K.
        k: usize,
        /// N.
        n: usize,
    },
    /// The merge of these shard folders.
    Merged {
        /// The folders merged.
        merged: Vec<String>,
    },
}

/// `sweep.json`: what identifies the sweep whose results a folder holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepInfo {
    /// The sweep's name.
    pub name: String,
    /// The sweep file, as given.
    pub sweep: String,
    /// The base experiment file.
    pub base: String,
    /// SHA-256 of the sweep file and the base file.
    pub hash: String,
    /// The grid keys, in file order.
    pub keys: Vec<String>,
    /// Grid points in the whole sweep.
    pub points: usize,
    /// Trials per grid point.
    pub trials: u32,
    /// Which part of the sweep.
    pub shard: ShardInfo,
}

impl SweepInfo {
    /// The info of `sweep` (read from `path`) for `shard`.
    pub fn of(sweep: &Sweep, path: &Path, shard: Shard) -> Self {
        SweepInfo {
            name: sweep.name.clone(),
            sweep: path.display().to_string(),
            base: sweep.base.display().to_string(),
            hash: sweep.hash.clone(),
            keys: sweep.keys.clone(),
            points: sweep.points.len(),
            trials: sweep.trials,
            shard: ShardInfo::Part {
                k: shard.k,
                n: shard.n,
            },
        }
    }

    /// Reads `dir`/sweep.json.
    pub fn read(dir: &Path) -> Result<Self> {
        let p = dir.join("sweep.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        serde_json::from_str(&text).map_err(|e| Error::Schema(format!("{}: {e}", p.display())))
    }

    /// Writes `dir`/sweep.json atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self).expect("sweep info serialises");
        write_atomic(&dir.join("sweep.json"), |w| writeln!(w, "{text}"))
    }
}

/// An open output folder of a running sweep.
pub struct SweepFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The (point, trial) runs its results already hold (when resuming).
    pub done: HashSet<(usize, u32)>,
    results: ResultsFile,
    drift: Option<ResultsFile>,
}

impl SweepFolder {
    /// The default folder of `sweep`'s `shard`: `runs/<name>`, or
    /// `runs/<name>/shard-K-of-N`.
    pub fn default_dir(sweep: &Sweep, shard: Shard) -> PathBuf {
        let base = PathBuf::from("runs").join(&sweep.name);
        if shard == Shard::ALL {
            base
        } else {
            base.join(format!("shard-{}-of-{}", shard.k, shard.n))
        }
    }

    /// Opens `dir` for `sweep` (read from `path`) and `shard`: a new folder,
    /// or with `resume` one holding the same sweep (same hash), whose
    /// finished runs are then in [`SweepFolder::done`].
    pub fn open(
        dir: &Path,
        sweep: &Sweep,
        path: &Path,
        shard: Shard,
        resume: bool,
    ) -> Result<Self> {
        crate::output::prepare_dir("--out", dir)?;
        let info = SweepInfo::of(sweep, path, shard);
        if resume && dir.join("sweep.json").exists() {
            let old = SweepInfo::read(dir)?;
            if old.hash != info.hash {
                return Err(Error::invalid(
                    "--resume",
                    dir.display(),
                    format!(
                        "holds a sweep whose files differ from {} (hash {} vs {}); resume with \
                         the same files or choose another --out",
                        path.display(),
                        old.hash,
                        info.hash
                    ),
                ));
            }
        }
        let header = sweep.header();
        let (results, rows) = ResultsFile::open(&dir.join("results.csv"), &header, resume)?;
        let trial_col = header
            .iter()
            .position(|h| h == "trial")
            .expect("trial column");
        let done = results::finished(&rows, trial_col);
        let drift = if sweep.ring {
            let h = DRIFT_HEADER.map(String::from);
            Some(ResultsFile::open(&dir.join("drift.csv"), &h, resume)?.0)
        } else {
            None
        };
        info.write(dir)?;
        Ok(SweepFolder {
            dir: dir.to_path_buf(),
            done,
            results,
            drift,
        })
    }

    /// Appends a finished run's row (and its drift series), synced to disk.
    pub fn append(&mut self, f: &Finished) -> Result<()> {
        if let Some(d) = self.drift.as_mut() {
            for (t, x) in &f.drift {
                d.append(&[
                    f.point.to_string(),
                    f.trial.to_string(),
                    csv_float(*t),
                    csv_float(*x),
                ])?;
            }
        }
        self.results.append(&f.row)
    }

    /// Runs `sweep`'s `shard` into this folder: the runs it does not hold
    /// yet ([`super::run`]), each appended as its batch ends, `progress`
    /// told how many finished. The summary outputs are for
    /// [`SweepFolder::summarize`] after.
    pub fn run(
        &mut self,
        sweep: &Sweep,
        shard: Shard,
        backend: &mut dyn crate::sim::Backend,
        progress: &mut dyn FnMut(usize),
        stop: &crate::sim::Stop,
    ) -> Result<super::SweepReport> {
        let done = std::mem::take(&mut self.done);
        let report = super::run(
            sweep,
            shard,
            backend,
            &done,
            &mut |f| self.append(&f),
            progress,
            stop,
        );
        self.done = done;
        report
    }

    /// Writes the summary outputs (summary.csv and the plots) from the
    /// results so far and returns the summaries.
    pub fn summarize(&self, keys: &[String]) -> Result<Vec<PointSummary>> {
        summary::write_outputs(&self.dir, keys)
    }
}

/// What [`merge_into`] did.
#[derive(Clone, Debug)]
pub struct Merged {
    /// The merged sweep's info.
    pub info: SweepInfo,
    /// Rows in the merged results.
    pub rows: usize,
    /// Summaries by grid point.
    pub summaries: Vec<PointSummary>,
}

/// Joins the results of the shard folders `shards` (of one sweep, each run
/// once) into `out`, with a sweep.json naming them and the summary outputs.
pub fn merge_into(shards: &[PathBuf], out: &Path) -> Result<Merged> {
    let dirs: Vec<&Path> = shards.iter().map(|p| p.as_path()).collect();
    let (mut info, header, rows, drift) = merge::gather(&dirs)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    merge::write(&out.join("results.csv"), &header, &rows)?;
    if !drift.is_empty() {
        merge::write(
            &out.join("drift.csv"),
            &DRIFT_HEADER.map(String::from),
            &drift,
        )?;
    }
    info.shard = ShardInfo::Merged {
        merged: shards.iter().map(|s| s.display().to_string()).collect(),
    };
    info.write(out)?;
    let summaries = summary::write_outputs(out, &info.keys)?;
    Ok(Merged {
        info,
        rows: rows.len(),
        summaries,
    })
}
