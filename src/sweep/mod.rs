//! Sweeps (SPEC §5): a base experiment, a grid of dotted keys, seeded
//! trials and a retention rule; many runs, crash-safe and resumable, spread
//! over processes and machines by shards.
//!
//! This module plans (grid, shards, seeds) and runs; `results` owns the
//! results file, `merge` joins shards.

pub mod folder;
pub mod merge;
pub mod plots;
pub mod results;
mod spread;
pub mod summary;

use crate::analysis::metrics::Metrics;
use crate::analysis::retention::{retention_time, wrap};
use crate::error::{Error, Result};
use crate::experiment::{self, Experiment};
use crate::sim::{Backend, Recording, Trial};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// `[retention]` of a sweep file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSpec {
    /// The metric whose decay is timed (e.g. `bump_amplitude`, `overlap_0`).
    pub metric: String,
    /// The fraction of its value at the input's end that counts as forgotten.
    pub threshold: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SweepFile {
    base: PathBuf,
    #[serde(default = "one")]
    trials: u32,
    #[serde(default)]
    grid: toml::Table,
    retention: Option<RetentionSpec>,
}

fn one() -> u32 {
    1
}

/// A validated sweep.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// Name (the sweep file's stem).
    pub name: String,
    /// The base experiment file.
    pub base: PathBuf,
    /// Repeats per grid point; trial k uses seed `simulation.seed + k`.
    pub trials: u32,
    /// Grid keys, in file order.
    pub keys: Vec<String>,
    /// Every grid point: one value per key (the cartesian product).
    pub points: Vec<Vec<toml::Value>>,
    /// The retention rule.
    pub retention: Option<RetentionSpec>,
    /// SHA-256 of the sweep file and the base file, stored with each shard.
    pub hash: String,
    /// Metric columns of the results: the metrics every grid point has (a
    /// grid over the number of patterns changes the overlaps).
    pub metric_names: Vec<String>,
    /// Whether the network is a ring or a torus (adds `drift`).
    pub ring: bool,
    /// The base experiment file's text, read once.
    base_text: String,
    /// Its `.npy` files, each read once for the whole sweep.
    files: experiment::Files,
}

/// Which share of the grid points a process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 0-based index.
    pub k: usize,
    /// Number of shards.
    pub n: usize,
}

impl Shard {
    /// Everything.
    pub const ALL: Shard = Shard { k: 0, n: 1 };

    /// Parses `K/N` or `slurm` (K from SLURM_ARRAY_TASK_ID minus
    /// SLURM_ARRAY_TASK_MIN, N from SLURM_ARRAY_TASK_COUNT).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = |why: String| Error::invalid("--shard", text, why);
        let shard = if text == "slurm" {
            let var = |name: &str| -> Result<usize> {
                let v = std::env::var(name).map_err(|_| {
                    bad(format!(
                        "`slurm` needs {name} in the environment (run inside a Slurm job array)"
                    ))
                })?;
                v.trim()
                    .parse()
                    .map_err(|_| bad(format!("{name} = {v:?} is not a number")))
            };
            let id = var("SLURM_ARRAY_TASK_ID")?;
            let min = std::env::var("SLURM_ARRAY_TASK_MIN")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            Shard {
                k: id
                    .checked_sub(min)
                    .ok_or_else(|| bad("task id below SLURM_ARRAY_TASK_MIN".into()))?,
                n: var("SLURM_ARRAY_TASK_COUNT")?,
            }
        } else {
            let (k, n) = text
                .split_once('/')
                .ok_or_else(|| bad("must be K/N (e.g. 0/4) or slurm".into()))?;
            Shard {
                k: k.trim()
                    .parse()
                    .map_err(|_| bad("K must be a number".into()))?,
                n: n.trim()
                    .parse()
                    .map_err(|_| bad("N must be a number".into()))?,
            }
        };
        if shard.n == 0 || shard.k >= shard.n {
            return Err(bad(format!(
                "needs 0 ≤ K < N; got K = {}, N = {}",
                shard.k, shard.n
            )));
        }
        Ok(shard)
    }

    /// Whether grid point `p` belongs to this shard (every N-th from K).
    pub fn owns(&self, p: usize) -> bool {
        p % self.n == self.k
    }
}

/// The cartesian product of `values`, the last key varying fastest.
pub fn cartesian(values: &[Vec<toml::Value>]) -> Vec<Vec<toml::Value>> {
    let mut out: Vec<Vec<toml::Value>> = vec![Vec::new()];
    for list in values {
        out = out
            .into_iter()
            .flat_map(|prefix| {
                list.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push(v.clone());
                    p
                })
            })
            .collect();
    }
    out
}

impl Sweep {
    /// Reads and validates a sweep file: the base experiment and every grid
    /// point are built (nothing runs) so that an unknown key, an empty list or
    /// a value of the wrong type fails first, naming the key.
    pub fn load(path: &Path) -> Result<Sweep> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let table = experiment::parse_table(&text)?;
        let file: SweepFile = experiment::deserialize(toml::Value::Table(table), "")?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let base = if file.base.is_absolute() {
            file.base.clone()
        } else {
            dir.join(&file.base)
        };
        let base_text = std::fs::read_to_string(&base).map_err(|e| Error::io(&base, e))?;
        if file.trials == 0 {
            return Err(Error::invalid("trials", 0, "must be at least 1"));
        }
        let mut keys = Vec::new();
        let mut values = Vec::new();
        for (key, v) in &file.grid {
            if key == "simulation.backend" {
                // Every point of a sweep runs on the one backend it opened.
                return Err(Error::invalid(
                    format!("grid.\"{key}\""),
                    v,
                    "cannot vary within a sweep, which runs every point on one backend: \
                     choose it with `attractor sweep --backend` or the base experiment's \
                     simulation.backend",
                ));
            }
            if key == "simulation.device" {
                // The devices are the sweep's, each taking whatever batch
                // comes next.
                return Err(Error::invalid(
                    format!("grid.\"{key}\""),
                    v,
                    "cannot vary within a sweep, whose devices take whichever batch comes \
                     next: choose them with `attractor sweep --device` or `--devices`, or \
                     the base experiment's simulation.device",
                ));
            }
            let list = match v {
                toml::Value::Array(a) if !a.is_empty() => a.clone(),
                toml::Value::Array(_) => {
                    return Err(Error::invalid(
                        format!("grid.\"{key}\""),
                        "[]",
                        "must list at least one value",
                    ))
                }
                other => {
                    return Err(Error::invalid(
                        format!("grid.\"{key}\""),
                        other,
                        "must be a list of values, e.g. [1.8, 1.9]",
                    ))
                }
            };
            keys.push(key.clone());
            values.push(list);
        }
        let points = cartesian(&values);
        let name = path
            .file_stem()
            .map_or("sweep".into(), |s| s.to_string_lossy().into_owned());
        let mut hasher = Sha256::new();
        hasher.update(text.as_bytes());
        hasher.update([0u8]);
        hasher.update(base_text.as_bytes());
        let hash = format!("{:x}", hasher.finalize());
        let files = experiment::Files::new(base.parent().unwrap_or(Path::new("")));
        let mut sweep = Sweep {
            files,
            name,
            base,
            trials: file.trials,
            keys,
            points,
            retention: file.retention,
            hash,
            metric_names: Vec::new(),
            ring: false,
            base_text,
        };
        // Build every point once: errors name the grid key.
        let mut first: Option<Experiment> = None;
        let mut common: Option<Vec<String>> = None;
        for p in 0..sweep.points.len() {
            let e = sweep.experiment(p, 0).map_err(|e| {
                let keys = sweep.keys.join(", ");
                match e {
                    Error::Schema(m) => Error::Schema(format!("grid point {p} ({keys}): {m}")),
                    other => other,
                }
            })?;
            if let Some(r) = &sweep.retention {
                let mut names = Metrics::new(&e.network).names();
                names.extend(crate::analysis::metrics::motion_names(&e));
                if !names.contains(&r.metric) {
                    return Err(Error::invalid(
                        "retention.metric",
                        format!("{:?}", r.metric),
                        format!("must be a metric of this network: {}", names.join(", ")),
                    ));
                }
                if !(r.threshold > 0.0 && r.threshold < 1.0) {
                    return Err(Error::invalid(
                        "retention.threshold",
                        r.threshold,
                        "must lie between 0 and 1",
                    ));
                }
                if e.input_end().is_none() {
                    return Err(Error::invalid(
                        "retention",
                        format!("{:?}", r.metric),
                        "needs an [[input]] with a finite `end`: retention is timed from when the last input ends",
                    ));
                }
            }
            let mut names = Metrics::new(&e.network).names();
            names.extend(crate::analysis::metrics::motion_names(&e));
            common = Some(match common {
                None => names,
                Some(c) => c.into_iter().filter(|m| names.contains(m)).collect(),
            });
            first.get_or_insert(e);
        }
        let first = first.expect("at least one point");
        sweep.metric_names = common.unwrap_or_default();
        sweep.ring = first.network.weights.geometry().dims > 0;
        Ok(sweep)
    }

    /// The `--set` overrides of grid point `p`.
    pub fn overrides(&self, p: usize) -> Vec<String> {
        self.keys
            .iter()
            .zip(&self.points[p])
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// The experiment of grid point `p`, trial `k` (seed `simulation.seed + k`),
    /// built from the base file's text and `.npy` files as read when the
    /// sweep was loaded.
    pub fn experiment(&self, p: usize, k: u32) -> Result<Experiment> {
        let mut o = self.overrides(p);
        // Sweeps keep metrics, not rates.
        o.push("record.rates=false".into());
        let e = self.build(&o)?;
        if k == 0 {
            return Ok(e);
        }
        o.push(format!(
            "simulation.seed={}",
            e.simulation.seed + u64::from(k)
        ));
        self.build(&o)
    }

    /// The base experiment as written (no grid values).
    pub fn base_experiment(&self) -> Result<Experiment> {
        self.build(&[])
    }

    /// How many `.npy` files the sweep has read from disk (each once).
    pub fn files_read(&self) -> usize {
        self.files.reads()
    }

    fn build(&self, overrides: &[String]) -> Result<Experiment> {
        let stem = self
            .base
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        Experiment::from_toml_with(&self.base_text, &self.files, &stem, overrides)
    }

    /// The number of runs (points × trials) in `shard`.
    pub fn runs_in(&self, shard: Shard) -> usize {
        (0..self.points.len()).filter(|&p| shard.owns(p)).count() * self.trials as usize
    }

    /// The results header: point, grid keys, trial, seed, retention_time,
    /// drift (rings), the final metrics, status.
    pub fn header(&self) -> Vec<String> {
        let mut h = vec!["point".to_string()];
        h.extend(self.keys.iter().cloned());
        h.extend(["trial".into(), "seed".into(), "retention_time".into()]);
        if self.ring {
            h.push("drift".into());
        }
        h.extend(self.metric_names.iter().cloned());
        h.push("status".into());
        h
    }

    /// The results row of one finished trial.
    pub fn row(&self, p: usize, k: u32, exp: &Experiment, rec: &Recording) -> Vec<String> {
        use crate::output::csv_float;
        let mut row = vec![p.to_string()];
        row.extend(self.points[p].iter().map(|v| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        }));
        row.push(k.to_string());
        row.push(exp.simulation.seed.to_string());
        let t_end = exp.input_end();
        let retention = match (&self.retention, t_end, &rec.divergence) {
            (_, _, Some(_)) => f64::NAN,
            (Some(r), Some(t_end), None) => rec
                .metric(&r.metric)
                .map_or(f64::NAN, |m| retention_time(&rec.t, &m, t_end, r.threshold)),
            _ => f64::NAN,
        };
        row.push(csv_float(retention));
        if self.ring {
            row.push(csv_float(drift(exp, rec).last().map_or(f64::NAN, |d| d.1)));
        }
        let last = rec.metrics.last();
        for name in &self.metric_names {
            let i = rec.metric_names.iter().position(|m| m == name);
            row.push(csv_float(match (last, i) {
                (Some(r), Some(i)) => r[i],
                _ => f64::NAN,
            }));
        }
        row.push(match rec.divergence {
            Some(d) => format!("diverged at step {}", d.step),
            None => "ok".into(),
        });
        row
    }
}

/// The bump's drift after the last input ends: (seconds since the end,
/// drift). On a ring the drift is bump_theta minus its value at the end,
/// wrapped to (-pi, pi]; on a torus the root mean square over the two axes
/// of those displacements, sqrt((dx² + dy²) / 2), so that on both its
/// mean square grows as 2 D t with D the diffusion coefficient per axis.
pub fn drift(exp: &Experiment, rec: &Recording) -> Vec<(f64, f64)> {
    let Some(t_end) = exp.input_end() else {
        return Vec::new();
    };
    let Some(angles) = crate::analysis::metrics::bump_names(exp.network.weights.geometry().dims)
        .iter()
        .map(|name| rec.metric(name))
        .collect::<Option<Vec<_>>>()
    else {
        return Vec::new();
    };
    let Some(k0) = rec.record_at(t_end) else {
        return Vec::new();
    };
    (k0..rec.t.len())
        .map(|k| {
            let d = if let [theta] = angles.as_slice() {
                wrap(theta[k] - theta[k0])
            } else {
                let square: f64 = angles.iter().map(|a| wrap(a[k] - a[k0]).powi(2)).sum();
                (square / angles.len() as f64).sqrt()
            };
            (rec.t[k] - t_end, d)
        })
        .collect()
}

/// What a sweep run reports at the end.
#[derive(Clone, Debug, Default)]
pub struct SweepReport {
    /// Runs done now.
    pub ran: usize,
    /// Runs skipped because results.csv already had them.
    pub skipped: usize,
    /// Batches the runs went in.
    pub batches: usize,
}

/// A finished trial: its results row and, for rings, its drift series.
pub struct Finished {
    /// Grid point.
    pub point: usize,
    /// Trial.
    pub trial: u32,
    /// The results.csv row.
    pub row: Vec<String>,
    /// (seconds after the input's end, drift) for ring networks.
    pub drift: Vec<(f64, f64)>,
}

/// An experiment in the canonical form trials of one batch share: its
/// weights divided by their largest entry (the ring's by lambda1) and its
/// inputs by their largest value, with those two factors as the trial's
/// scales of M and of h, and a key that is equal for experiments that
/// differ only in those scales, noise, seed and initial state. Every point
/// is stepped from its canonical form, so a result does not depend on which
/// points share its batch (shards and resumed sweeps give the same rows).
pub fn canonical(e: &Experiment) -> (Experiment, f64, f64, String) {
    let mut c = e.clone();
    let m_scale = c.network.weights.split_scale();
    let h_scale = crate::model::largest(c.inputs.iter().flat_map(|i| i.h.iter().copied()));
    for i in &mut c.inputs {
        i.h.iter_mut().for_each(|x| *x /= h_scale);
        i.motion.scale(1.0 / h_scale);
    }
    let sim = &c.simulation;
    let net = &c.network;
    let mut shape = format!(
        "{:?} {:?}",
        c.inputs
            .iter()
            .map(|i| (i.start.to_bits(), i.end.to_bits()))
            .collect::<Vec<_>>(),
        (
            net.n,
            net.tau.to_bits(),
            net.dynamics,
            net.activation,
            sim.method,
            sim.dt.to_bits(),
            sim.steps,
            sim.record_every,
            sim.precision,
            sim.backend,
            c.record.rates,
            c.record.stride,
        )
    );
    if net.has_populations() {
        shape.push_str(&format!(" {:?}", net.populations));
    }
    let mut hash = Sha256::new();
    hash.update(shape.as_bytes());
    net.weights.fingerprint(&mut |b| hash.update(b));
    for i in &c.inputs {
        for x in &i.h {
            hash.update(x.to_bits().to_le_bytes());
        }
        i.motion.fingerprint(&mut |b| hash.update(b));
    }
    hash.update(format!("{:?}", c.velocity).as_bytes());
    let key = format!("{:x}", hash.finalize());
    (c, m_scale, h_scale, key)
}

/// Most trials in one batch.
pub const MAX_BATCH: usize = 256;

/// One trial of a batch: its grid point, trial, experiment and the scales
/// of M and of h its canonical form takes.
struct Member {
    point: usize,
    trial: u32,
    exp: Experiment,
    m_scale: f64,
    h_scale: f64,
}

/// Trials that share one copy of M: their canonical experiment and each
/// trial's own part.
struct Batch {
    base: Experiment,
    members: Vec<Member>,
}

impl Batch {
    /// The trials as a backend steps them.
    fn trials(&self) -> Vec<Trial> {
        self.members
            .iter()
            .map(|m| Trial {
                seed: m.exp.simulation.seed,
                trial: 0,
                m_scale: m.m_scale,
                h_scale: m.h_scale,
                noise: m.exp.simulation.noise,
                initial: Some(m.exp.initial.clone()),
            })
            .collect()
    }

    /// Steps the batch on `backend`.
    fn run(&self, backend: &mut dyn Backend, stop: &crate::sim::Stop) -> Result<Vec<Recording>> {
        let recs = backend.run_batch_until(&self.base, &self.trials(), &mut |_| {}, stop)?;
        // A backend that failed mid-batch: its rows would be incomplete; the
        // sweep stops and --resume runs the batch again.
        if let Some(f) = recs.iter().find_map(|r| r.fault.clone()) {
            return Err(Error::Gpu(f));
        }
        Ok(recs)
    }

    /// Hands each trial's results to `emit`.
    fn emit(
        &self,
        sweep: &Sweep,
        recs: &[Recording],
        emit: &mut dyn FnMut(Finished) -> Result<()>,
        progress: &mut dyn FnMut(usize),
        report: &mut SweepReport,
    ) -> Result<()> {
        report.batches += 1;
        for (m, rec) in self.members.iter().zip(recs) {
            emit(Finished {
                point: m.point,
                trial: m.trial,
                row: sweep.row(m.point, m.trial, &m.exp, rec),
                drift: if sweep.ring {
                    drift(&m.exp, rec)
                } else {
                    Vec::new()
                },
            })?;
            report.ran += 1;
            progress(1);
        }
        Ok(())
    }
}

/// Forms the batches of the trials of `shard` that `done` does not hold,
/// in grid order, and hands each to `each` as it is complete: consecutive
/// grid points whose experiments differ only by scales of M and of the
/// input, noise, seed and initial state share a batch (up to
/// [`MAX_BATCH`] trials). Counts the skipped trials in `report`.
fn batches(
    sweep: &Sweep,
    shard: Shard,
    done: &std::collections::HashSet<(usize, u32)>,
    report: &mut SweepReport,
    each: &mut dyn FnMut(Batch) -> Result<()>,
) -> Result<()> {
    let mut group: Option<(String, Batch)> = None;
    for p in (0..sweep.points.len()).filter(|&p| shard.owns(p)) {
        for k in 0..sweep.trials {
            if done.contains(&(p, k)) {
                report.skipped += 1;
                continue;
            }
            let exp = sweep.experiment(p, k)?;
            let (canon, m_scale, h_scale, key) = canonical(&exp);
            let fits = group
                .as_ref()
                .is_some_and(|(gk, b)| *gk == key && b.members.len() < MAX_BATCH);
            if !fits {
                if let Some((_, b)) = group.take() {
                    each(b)?;
                }
                let batch = Batch {
                    base: canon,
                    members: Vec::new(),
                };
                group = Some((key, batch));
            }
            group
                .as_mut()
                .expect("a group is open")
                .1
                .members
                .push(Member {
                    point: p,
                    trial: k,
                    exp,
                    m_scale,
                    h_scale,
                });
        }
    }
    match group {
        Some((_, b)) => each(b),
        None => Ok(()),
    }
}

/// Runs the trials of `shard` that `done` does not hold on `backend`.
/// Consecutive grid points whose experiments differ only by scales of M
/// and of the input, noise, seed and initial state run as one batch (up to
/// [`MAX_BATCH`] trials) sharing one copy of M; each finished trial goes to
/// `emit` as soon as its batch ends. (On several devices at once, see
/// `spread`: every row is what one backend alone gives.) A requested `stop`
/// ends the sweep with [`Error::Interrupted`] (the batch under way is not
/// emitted).
pub fn run(
    sweep: &Sweep,
    shard: Shard,
    backend: &mut dyn Backend,
    done: &std::collections::HashSet<(usize, u32)>,
    emit: &mut dyn FnMut(Finished) -> Result<()>,
    progress: &mut dyn FnMut(usize),
    stop: &crate::sim::Stop,
) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let mut ran = SweepReport::default();
    batches(sweep, shard, done, &mut report, &mut |b| {
        let recs = b.run(backend, stop)?;
        b.emit(sweep, &recs, emit, progress, &mut ran)
    })?;
    report.ran = ran.ran;
    report.batches = ran.batches;
    Ok(report)
}
