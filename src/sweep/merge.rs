//! Joining the results of shards of one sweep.

use super::folder::{write_outputs, ShardInfo, SweepInfo, DRIFT_HEADER};
use super::results::ResultsFile;
use super::summary::PointSummary;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The rows of `dirs`' results.csv and drift.csv, after checking that they
/// come from one sweep (same hash of sweep and base file) and hold no
/// (point, trial) twice. Returns (sweep.json of the first, header, rows,
/// drift rows).
#[allow(clippy::type_complexity)]
pub fn gather(
    dirs: &[&Path],
) -> Result<(SweepInfo, Vec<String>, Vec<Vec<String>>, Vec<Vec<String>>)> {
    let first = SweepInfo::read(dirs[0])?;
    let mut header = Vec::new();
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut drift: Vec<Vec<String>> = Vec::new();
    for dir in dirs {
        let info = SweepInfo::read(dir)?;
        if info.hash != first.hash {
            return Err(Error::invalid(
                "merge",
                dir.display(),
                format!(
                    "is a shard of another sweep (hash {} of its sweep and base files, not {}); merge only shards of one sweep",
                    info.hash, first.hash
                ),
            ));
        }
        let mut r = csv::Reader::from_path(dir.join("results.csv"))
            .map_err(|e| Error::Schema(format!("{}: {e}", dir.join("results.csv").display())))?;
        header = r
            .headers()
            .map_err(|e| Error::Schema(e.to_string()))?
            .iter()
            .map(String::from)
            .collect();
        for rec in r.records() {
            let rec = rec.map_err(|e| Error::Schema(e.to_string()))?;
            rows.push(rec.iter().map(String::from).collect());
        }
        if let Ok(mut d) = csv::Reader::from_path(dir.join("drift.csv")) {
            for rec in d.records().flatten() {
                drift.push(rec.iter().map(String::from).collect());
            }
        }
    }
    let trial_col = header.iter().position(|h| h == "trial").unwrap_or(1);
    let key = |r: &Vec<String>| -> (usize, u32) {
        (
            r[0].parse().unwrap_or(usize::MAX),
            r[trial_col].parse().unwrap_or(u32::MAX),
        )
    };
    rows.sort_by_key(key);
    if let Some(w) = rows.windows(2).find(|w| key(&w[0]) == key(&w[1])) {
        let (p, t) = key(&w[0]);
        return Err(Error::invalid(
            "merge",
            format!("point {p}, trial {t}"),
            "appears in two shards; merge each shard once",
        ));
    }
    Ok((first, header, rows, drift))
}

/// Writes merged rows to a fresh results file.
pub fn write(path: &Path, header: &[String], rows: &[Vec<String>]) -> Result<()> {
    let (mut f, _) = ResultsFile::open(path, header, false)?;
    for r in rows {
        f.append(r)?;
    }
    Ok(())
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
    let (mut info, header, rows, drift) = gather(&dirs)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write(&out.join("results.csv"), &header, &rows)?;
    if !drift.is_empty() {
        write(
            &out.join("drift.csv"),
            &DRIFT_HEADER.map(String::from),
            &drift,
        )?;
    }
    info.shard = ShardInfo::Merged {
        merged: shards.iter().map(|s| s.display().to_string()).collect(),
    };
    info.write(out)?;
    let summaries = write_outputs(out, &info.keys)?;
    Ok(Merged {
        info,
        rows: rows.len(),
        summaries,
    })
}
