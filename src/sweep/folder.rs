//! A sweep's output folder: `sweep.json` (which sweep and shard it holds,
//! typed), `results.csv` and, for rings, `drift.csv` (appended as runs
//! finish), and the summary outputs. Opening it for `--resume` checks that
//! it holds the same sweep and returns the runs already done; merging joins
//! the folders of shards into one.

use super::plots;
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

    /// Runs `sweep`'s `shard` into this folder on `backends` (more than one:
    /// each from its own thread): the runs it does not
    /// hold yet ([`super::run`]), each appended as its batch ends, `progress`
    /// told how many finished. The summary outputs are for
    /// [`SweepFolder::summarize`] after.
    pub fn run(
        &mut self,
        sweep: &Sweep,
        shard: Shard,
        backends: &mut [Box<dyn crate::sim::Backend>],
        progress: &mut dyn FnMut(usize),
        stop: &crate::sim::Stop,
    ) -> Result<super::SweepReport> {
        let done = std::mem::take(&mut self.done);
        let mut emit = |f: super::Finished| self.append(&f);
        let report = match backends {
            [] => Err(Error::Unavailable("a sweep needs a backend".into())),
            [one] => super::run(sweep, shard, one.as_mut(), &done, &mut emit, progress, stop),
            many => super::spread::run(sweep, shard, many, &done, &mut emit, progress, stop),
        };
        self.done = done;
        report
    }

    /// Writes the summary outputs (summary.csv and the plots) from the
    /// results so far and returns the summaries.
    pub fn summarize(&self, keys: &[String]) -> Result<Vec<PointSummary>> {
        write_outputs(&self.dir, keys)
    }
}

/// Writes summary.csv, retention.png and (rings) drift.png to `dir` from
/// the results there, and returns the summaries.
pub fn write_outputs(dir: &std::path::Path, keys: &[String]) -> crate::Result<Vec<PointSummary>> {
    use crate::error::Error;
    let read = |name: &str| -> crate::Result<(Vec<String>, Vec<Vec<String>>)> {
        let p = dir.join(name);
        if !p.exists() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut r = csv::Reader::from_path(&p)
            .map_err(|e| Error::Schema(format!("{}: {e}", p.display())))?;
        let h = r
            .headers()
            .map_err(|e| Error::Schema(e.to_string()))?
            .iter()
            .map(String::from)
            .collect();
        let rows = r
            .records()
            .filter_map(|x| x.ok())
            .map(|x| x.iter().map(String::from).collect())
            .collect();
        Ok((h, rows))
    };
    let (header, rows) = read("results.csv")?;
    let (_, drift) = read("drift.csv")?;
    let s = summary::summarize(&header, &rows, &drift, keys.len());
    let csv_path = dir.join("summary.csv");
    let table_rows = summary::csv_rows(keys, &s);
    crate::output::write_atomic(&csv_path, |w| {
        let mut c = csv::Writer::from_writer(w);
        for r in &table_rows {
            c.write_record(r)?;
        }
        c.flush()
    })?;
    if !s.is_empty() {
        plots::sweep_retention(&dir.join("retention.png"), keys, &s)?;
        if s.iter().any(|p| !p.drift_variance.is_empty()) {
            plots::sweep_drift(&dir.join("drift.png"), keys, &s)?;
        }
        plots::sweep_finals(&dir.join("finals.png"), keys, &s)?;
    }
    Ok(s)
}
