//! The results of a sweep on disk: rows appended as runs finish, each
//! flushed and synced, so that a crash loses at most the runs in flight;
//! resuming drops a torn last line and skips the finished rows. An
//! exclusive lock on the file keeps two processes from writing it at once.

use crate::error::{Error, Result};
use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// An append-only CSV file of results.
pub struct ResultsFile {
    file: File,
    path: PathBuf,
}

fn csv_line(fields: &[String]) -> String {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(fields).expect("in-memory CSV");
    String::from_utf8(w.into_inner().expect("in-memory CSV")).expect("UTF-8 fields")
}

impl ResultsFile {
    /// Opens `path` for appending rows under `header`. A new file gets the
    /// header; an existing one is refused unless `resume`, and then must have
    /// the same header; a torn last line (no newline) is cut off. Returns the
    /// file and the rows already in it.
    pub fn open(
        path: &Path,
        header: &[String],
        resume: bool,
    ) -> Result<(ResultsFile, Vec<Vec<String>>)> {
        let io = |e| Error::io(path, e);
        let exists = path.exists();
        if exists && !resume {
            return Err(Error::invalid(
                "--out",
                path.display(),
                "already holds results: pass --resume to continue that sweep, or choose another --out",
            ));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        file.try_lock().map_err(|_| {
            Error::invalid(
                "--out",
                path.display(),
                "is being written by another attractor process; give each process its own --out (e.g. one per shard)",
            )
        })?;
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(io)?;
        if let Some(last_newline) = text.rfind('\n') {
            if last_newline + 1 < text.len() {
                // A crash in the middle of a row: keep the finished rows only.
                file.set_len((last_newline + 1) as u64).map_err(io)?;
                text.truncate(last_newline + 1);
            }
        } else if !text.is_empty() {
            file.set_len(0).map_err(io)?;
            text.clear();
        }
        file.seek(SeekFrom::End(0)).map_err(io)?;
        let mut rows = Vec::new();
        if text.is_empty() {
            file.write_all(csv_line(header).as_bytes()).map_err(io)?;
            file.sync_data().map_err(io)?;
        } else {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(text.as_bytes());
            let found: Vec<String> = r
                .headers()
                .map_err(|e| Error::Schema(e.to_string()))?
                .iter()
                .map(String::from)
                .collect();
            if found != header {
                return Err(Error::invalid(
                    "--resume",
                    path.display(),
                    format!(
                        "holds results with columns [{}], not those of this sweep [{}]",
                        found.join(", "),
                        header.join(", ")
                    ),
                ));
            }
            for rec in r.records() {
                let rec = rec.map_err(|e| Error::Schema(format!("{}: {e}", path.display())))?;
                rows.push(rec.iter().map(String::from).collect());
            }
        }
        Ok((
            ResultsFile {
                file,
                path: path.to_path_buf(),
            },
            rows,
        ))
    }

    /// Appends one row and syncs it to disk.
    pub fn append(&mut self, row: &[String]) -> Result<()> {
        let io = |e| Error::io(&self.path, e);
        self.file.write_all(csv_line(row).as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}

/// The (point, trial) pairs of rows whose first column is the point and
/// whose `trial_col` column is the trial.
pub fn finished(rows: &[Vec<String>], trial_col: usize) -> HashSet<(usize, u32)> {
    rows.iter()
        .filter_map(|r| Some((r.first()?.parse().ok()?, r.get(trial_col)?.parse().ok()?)))
        .collect()
}
