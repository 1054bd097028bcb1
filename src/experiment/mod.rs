//! The experiment file (SPEC §2): parsing, `--set` overrides, validation with
//! errors that name the key, the value and what is allowed, and resolution
//! into a [`Experiment`] of plain numbers. Nothing here simulates.

pub mod npy;
pub mod overrides;
pub mod schema;

use crate::error::{Error, Result};
use crate::model::{
    AnglePath, Dynamics, InputEpoch, Motion, Network, RingProfile, Series, Velocity, VelocityEpoch,
    Weights,
};
use crate::rng::{self, Stream};
pub use npy::Files;
use schema::{Angles, ExperimentFile, InitialSpec, InputProfile};
use std::path::Path;

pub use crate::model::{Experiment, RecordOptions, Simulation};

impl Experiment {
    /// Reads and validates an experiment file, applying `--set` overrides.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Experiment> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "experiment".into());
        Self::from_toml(&text, &base, &stem, overrides)
    }

    /// Parses and validates experiment TOML; relative paths are taken from
    /// `base_dir`, and `default_name` names the run if the file does not.
    pub fn from_toml(
        text: &str,
        base_dir: &Path,
        default_name: &str,
        overrides: &[String],
    ) -> Result<Experiment> {
        Self::from_toml_with(text, &Files::new(base_dir), default_name, overrides)
    }

    /// [`Experiment::from_toml`] reading `.npy` files through `files`, which
    /// keeps them for the next experiment built from the same folder.
    pub fn from_toml_with(
        text: &str,
        files: &Files,
        default_name: &str,
        overrides: &[String],
    ) -> Result<Experiment> {
        let mut table = parse_table(text)?;
        for o in overrides {
            overrides::apply(&mut table, o)?;
        }
        let toml = toml::to_string(&table).unwrap_or_default();
        let file: ExperimentFile = deserialize(toml::Value::Table(table), "")?;
        resolve(file, files, default_name, toml)
    }
}

/// Parses TOML text into a table; syntax errors give the line and column.
pub fn parse_table(text: &str) -> Result<toml::Table> {
    text.parse().map_err(|e: toml::de::Error| {
        let at = e.span().map_or(String::new(), |s| {
            let before = &text[..s.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!(" at line {line}, column {column}")
        });
        let msg: Vec<&str> = e
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        Error::Schema(format!("not valid TOML{at}: {}", msg.join("; ")))
    })
}

/// Deserializes `value`, naming the dotted key of any error (`prefix` is
/// prepended, e.g. `input[2]`).
pub(crate) fn deserialize<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    prefix: &str,
) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let key = match (prefix.is_empty(), path == ".") {
            (true, _) => path,
            (false, true) => prefix.to_string(),
            (false, false) => format!("{prefix}.{path}"),
        };
        let inner = e.into_inner();
        let msg: Vec<&str> = inner
            .message()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let msg = msg.join("; ");
        if key == "." || key.is_empty() {
            Error::Schema(msg)
        } else {
            Error::Schema(format!("key `{key}`: {msg}"))
        }
    })
}

pub(crate) fn finite(key: &str, x: f64) -> Result<f64> {
    if x.is_finite() {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a finite number"))
    }
}

pub(crate) fn positive(key: &str, x: f64) -> Result<f64> {
    if x.is_finite() && x > 0.0 {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a finite number > 0"))
    }
}

fn fraction(key: &str, x: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(Error::invalid(key, x, "must be a fraction between 0 and 1"))
    }
}

pub(crate) fn vector(key: &str, values: Vec<f64>, n: usize) -> Result<Vec<f64>> {
    if values.len() != n {
        return Err(Error::invalid(
            key,
            format!("a list of {} numbers", values.len()),
            format!("must have N = {n} entries (network.n)"),
        ));
    }
    for (i, x) in values.iter().enumerate() {
        finite(&format!("{key}[{i}]"), *x)?;
    }
    Ok(values)
}

fn resolve(
    f: ExperimentFile,
    files: &Files,
    default_name: &str,
    toml: String,
) -> Result<Experiment> {
    let net = &f.network;
    let n = net.n;
    if n == 0 {
        return Err(Error::invalid("network.n", 0, "must be at least 1"));
    }
    if n > u32::MAX as usize {
        return Err(Error::invalid("network.n", n, "must be below 2^32"));
    }
    let tau = positive("network.tau", net.tau)?;
    net.activation.validate("network.activation")?;

    // The state vectors (and one per input epoch) before anything is allocated.
    crate::memory::check(
        "network.n",
        n,
        "the state vectors",
        (n as u64).saturating_mul(8 * (12 + f.input.len() as u64)),
    )?;
    let weights = net.weights.resolve(n, files)?;

    let sim = &f.simulation;
    let dt = positive("simulation.dt", sim.dt)?;
    let duration = positive("simulation.duration", sim.duration)?;
    let steps = (duration / dt).round();
    if steps < 1.0 {
        return Err(Error::invalid(
            "simulation.duration",
            duration,
            format!("must be at least half a step (dt = {dt}) so that round(duration / dt) ≥ 1"),
        ));
    }
    if steps > u32::MAX as f64 {
        return Err(Error::invalid(
            "simulation.duration",
            duration,
            format!("gives {steps} steps of dt = {dt}; at most 2^32 - 1 steps are allowed"),
        ));
    }
    let noise = sim.noise;
    if !(noise.is_finite() && noise >= 0.0) {
        return Err(Error::invalid(
            "simulation.noise",
            noise,
            "must be a finite number ≥ 0",
        ));
    }
    if sim.record_every == 0 {
        return Err(Error::invalid(
            "simulation.record_every",
            0,
            "must be at least 1 step",
        ));
    }
    if f.record.stride == 0 {
        return Err(Error::invalid("record.stride", 0, "must be at least 1"));
    }
    let simulation = Simulation {
        duration,
        dt,
        steps: steps as u64,
        method: sim.method,
        noise,
        seed: sim.seed,
        record_every: sim.record_every,
        backend: sim.backend,
        precision: sim.precision,
    };

    let mut inputs = Vec::with_capacity(f.input.len());
    let mut velocity = Vec::new();
    for (i, table) in f.input.iter().enumerate() {
        match resolve_input(i, table.clone(), &weights, n, files)? {
            Resolved::Input(e) => inputs.push(e),
            Resolved::Velocity(v) => velocity.push(v),
        }
    }

    let initial = resolve_initial(&f.initial, &weights, n, sim.seed, files)?;

    let record_steps = simulation.records();
    let kept = if f.record.rates {
        n.div_ceil(f.record.stride) as u64
    } else {
        0
    };
    let bytes = record_steps * kept * 4;
    const RATES_LIMIT: u64 = 8 << 30;
    if bytes > RATES_LIMIT {
        return Err(Error::invalid(
            "simulation.record_every",
            sim.record_every,
            format!(
                "keeps {record_steps} records × {kept} neurons = {:.1} GiB of rates, above the 8 GiB limit; \
                 record less often, set record.stride, or set record.rates = false",
                bytes as f64 / (1u64 << 30) as f64
            ),
        ));
    }

    let overlaps = resolve_overlaps(&f, &weights)?;
    let exp = Experiment {
        name: f.name.clone().unwrap_or_else(|| default_name.to_string()),
        network: Network {
            n,
            tau,
            dynamics: net.dynamics,
            activation: net.activation,
            weights,
            overlaps,
        },
        inputs,
        velocity,
        initial,
        simulation,
        record: RecordOptions {
            rates: f.record.rates,
            stride: f.record.stride,
        },
        toml,
    };
    check_memory(&exp)?;
    Ok(exp)
}

/// `record.overlaps`: `None` for every pattern's overlap, else the
/// patterns whose overlaps are metrics ("cued": those of `[initial]` and
/// the `[[input]]` entries of kind `pattern`, pattern 0 without any).
fn resolve_overlaps(f: &ExperimentFile, weights: &Weights) -> Result<Option<Vec<usize>>> {
    let p = weights.geometry().patterns;
    let named = |s: &str| schema::OverlapsSpec::Named(s.to_string());
    let spec = match (&f.record.overlaps, p) {
        (None, 0) => return Ok(None),
        (None, p) if p <= schema::ALL_OVERLAPS_UP_TO => return Ok(None),
        (None, _) => named("cued"),
        (Some(_), 0) => {
            return Err(Error::invalid(
                "record.overlaps",
                "a selection",
                format!(
                    "applies to hebbian networks only (this network's weights are {})",
                    weights.kind()
                ),
            ))
        }
        (Some(s), _) => s.clone(),
    };
    let mut list = match spec {
        schema::OverlapsSpec::Named(s) if s == "all" => return Ok(None),
        schema::OverlapsSpec::Named(s) if s == "cued" => {
            let mut cued = Vec::new();
            if let InitialSpec::Pattern { index, .. } = &f.initial {
                cued.push(*index);
            }
            for t in &f.input {
                if t.get("kind").and_then(|k| k.as_str()) == Some("pattern") {
                    if let Some(i) = t.get("index").and_then(|i| i.as_integer()) {
                        cued.push(i as usize);
                    }
                }
            }
            if cued.is_empty() {
                cued.push(0);
            }
            cued
        }
        schema::OverlapsSpec::Named(s) => {
            return Err(Error::invalid(
                "record.overlaps",
                format!("\"{s}\""),
                "must be \"all\", \"cued\" or a list of pattern indices",
            ))
        }
        schema::OverlapsSpec::Indices(v) => {
            if let Some(&bad) = v.iter().find(|&&i| i >= p) {
                return Err(Error::invalid(
                    "record.overlaps",
                    bad,
                    format!("must list pattern indices below P = {p}"),
                ));
            }
            v
        }
    };
    list.sort_unstable();
    list.dedup();
    Ok(Some(list))
}

/// Refuses an experiment whose CPU run would not fit in the memory
/// available, naming the key of the largest need.
fn check_memory(exp: &Experiment) -> Result<()> {
    let b = exp.host_bytes();
    let sim = &exp.simulation;
    let (key, value, what) = if b.records >= b.weights.max(b.state) {
        (
            "simulation.record_every",
            sim.record_every.to_string(),
            format!("{} records", sim.records()),
        )
    } else if b.weights >= b.state {
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
    };
    crate::memory::check(
        key,
        value,
        &format!("{what} and the rest of the run"),
        b.total(),
    )
}

/// Random ±1 patterns, pattern mu's unit i from counter (i, mu) of the Patterns stream.
pub fn random_patterns(n: usize, p: usize, seed: u64) -> Vec<f64> {
    let mut xi = vec![0.0; n * p];
    for mu in 0..p {
        for i in 0..n {
            let bits = rng::block(seed, Stream::Patterns, i as u32, mu as u32, 0)[0];
            xi[mu * n + i] = if bits >> 31 == 1 { 1.0 } else { -1.0 };
        }
    }
    xi
}

fn pattern_of<'a>(
    weights: &'a Weights,
    key: &str,
    index: usize,
) -> Result<std::borrow::Cow<'a, [f64]>> {
    match weights {
        Weights::Hebbian { .. } | Weights::PackedHebbian { .. } => {
            weights.pattern_values(index).ok_or_else(|| {
                Error::invalid(
                    key,
                    index,
                    format!("must be a pattern index below P = {}", weights.geometry().patterns),
                )
            })
        }
        other => Err(Error::invalid(
            key,
            index,
            format!(
                "patterns exist only for network.weights.kind = \"hebbian\" (this network's weights are {})",
                other.kind()
            ),
        )),
    }
}

/// What one `[[input]]` entry is: an input epoch, or a velocity epoch.
enum Resolved {
    Input(InputEpoch),
    Velocity(VelocityEpoch),
}

/// `value` as one number per angle of the network's places (`dims`: 1 on
/// a ring or any network without a sheet, 2 on a torus), finite.
fn angles(key: &str, value: &Angles, dims: usize) -> Result<[f64; 2]> {
    let v = match (value, dims) {
        (Angles::One(x), 0 | 1) => [*x, 0.0],
        (Angles::List(v), 2) if v.len() == 2 => [v[0], v[1]],
        (Angles::One(x), 2) if *x == 0.0 => [0.0, 0.0],
        (given, dims) => {
            let text = match given {
                Angles::One(x) => x.to_string(),
                Angles::List(v) => format!("{v:?}"),
            };
            return Err(Error::invalid(
                key,
                text,
                if dims == 2 {
                    "must be a list [x, y] of two numbers on a torus"
                } else {
                    "must be one number (a list [x, y] is for torus networks)"
                },
            ));
        }
    };
    finite(key, v[0])?;
    finite(key, v[1])?;
    Ok(v)
}

/// The motion of a ring profile: still, at a steady angular `velocity`, or
/// along a `trajectory` file (not both).
fn moving(
    key: &str,
    profile: RingProfile,
    theta: [f64; 2],
    velocity: [f64; 2],
    trajectory: Option<std::path::PathBuf>,
    dims: usize,
    files: &Files,
) -> Result<Motion> {
    let still = velocity == [0.0, 0.0];
    Ok(match trajectory {
        Some(_) if !still => {
            return Err(Error::Schema(format!(
                "key `{key}`: `velocity` and `trajectory` both move the centre; give one"
            )))
        }
        Some(p) => Motion::Moving {
            profile,
            path: AnglePath::Trajectory(samples(
                files,
                &format!("{key}.trajectory"),
                &p,
                dims.max(1),
                true,
            )?),
        },
        None if still => Motion::Still,
        None => Motion::Moving {
            profile,
            path: AnglePath::Steady {
                theta,
                omega: velocity,
            },
        },
    })
}

/// The profile's values at the epoch's start (on the network's places:
/// a ring's angles, a torus's (x, y)).
fn ring_profile(
    weights: &Weights,
    profile: RingProfile,
    motion: &Motion,
    start: f64,
    theta: [f64; 2],
) -> Vec<f64> {
    let centre = match motion {
        Motion::Moving { path, .. } => path.at(start, start),
        Motion::Still | Motion::Frames { .. } => theta,
    };
    place_profile(weights, profile, centre)
}

/// `profile` centred at `centre` over the network's places.
fn place_profile(weights: &Weights, profile: RingProfile, centre: [f64; 2]) -> Vec<f64> {
    let n = weights.n();
    let dims = weights.geometry().dims;
    if dims <= 1 {
        // As model::bump and model::von_mises, bit for bit.
        return (0..n)
            .map(|i| profile.at((crate::model::theta(i, n) - centre[0]).cos(), 1))
            .collect();
    }
    let angles = crate::model::place_angles(n, weights.geometry().side);
    let cs = [
        centre[0].cos(),
        centre[0].sin(),
        centre[1].cos(),
        centre[1].sin(),
    ];
    (0..n)
        .map(|i| profile.at(crate::model::place_cosine(&angles, i, &cs), 2))
        .collect()
}

/// (t, value...) rows of `k` values from a `.csv` (k + 1 columns, an
/// optional header row, `#` comments) or a T×(k + 1) `.npy`: one series per
/// value column; `angles`: the values are unwrapped as angles.
fn samples(
    files: &Files,
    key: &str,
    p: &std::path::Path,
    k: usize,
    angles: bool,
) -> Result<Vec<Series>> {
    let path = files.path(p);
    let fail = |reason: String| Error::Npy {
        key: key.to_string(),
        path: path.clone(),
        reason,
    };
    let what = if k == 1 {
        "two numbers, t and the value".to_string()
    } else {
        format!(
            "{} numbers, t and {k} values (one per axis of the torus)",
            k + 1
        )
    };
    let rows: Vec<Vec<f64>> = if path.extension().is_some_and(|e| e == "npy") {
        let (_, _, data) = npy::read_matrix(files, key, p, |_, c| {
            (c != k + 1).then(|| format!("T×{} rows of {what}", k + 1))
        })?;
        data.chunks_exact(k + 1).map(<[f64]>::to_vec).collect()
    } else {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_path(&path)
            .map_err(|e| fail(format!("cannot be read: {e}")))?;
        let mut rows = Vec::new();
        for (row, r) in reader.records().enumerate() {
            let r = r.map_err(|e| fail(format!("row {row}: {e}")))?;
            let nums: Option<Vec<f64>> = r.iter().map(|x| x.parse::<f64>().ok()).collect();
            match nums {
                Some(v) if v.len() == k + 1 => rows.push(v),
                _ if row == 0 => {} // a header
                _ => {
                    return Err(fail(format!(
                        "row {row} is {:?}; expected {what}",
                        r.iter().collect::<Vec<_>>()
                    )))
                }
            }
        }
        rows
    };
    let t: Vec<f64> = rows.iter().map(|r| r[0]).collect();
    (1..=k)
        .map(|c| {
            let s = Series::new(t.clone(), rows.iter().map(|r| r[c]).collect()).map_err(&fail)?;
            Ok(if angles { s.unwrapped() } else { s })
        })
        .collect()
}

fn resolve_input(
    i: usize,
    mut table: toml::Table,
    weights: &Weights,
    n: usize,
    files: &Files,
) -> Result<Resolved> {
    let key = format!("input[{i}]");
    let time = |table: &mut toml::Table, name: &str, default: f64| -> Result<f64> {
        match table.remove(name) {
            None => Ok(default),
            Some(v) => deserialize::<f64>(v, &format!("{key}.{name}")),
        }
    };
    let start = time(&mut table, "start", 0.0)?;
    let mut end = time(&mut table, "end", f64::INFINITY)?;
    if !(start.is_finite() && start >= 0.0) {
        return Err(Error::invalid(
            format!("{key}.start"),
            start,
            "must be a finite time ≥ 0",
        ));
    }
    if end.is_nan() || end <= start {
        return Err(Error::invalid(
            format!("{key}.end"),
            end,
            format!("must be later than {key}.start = {start}"),
        ));
    }
    if !table.contains_key("kind") {
        return Err(Error::Schema(format!(
            "key `{key}`: missing field `kind` (one of uniform, bump, von_mises, vector, file, pattern, velocity)"
        )));
    }
    let profile: InputProfile = deserialize(toml::Value::Table(table), &key)?;
    let dims = weights.geometry().dims;
    let mut motion = Motion::Still;
    let h = match profile {
        InputProfile::Uniform { value } => vec![finite(&format!("{key}.value"), value)?; n],
        InputProfile::Bump {
            c,
            epsilon,
            theta,
            velocity,
            trajectory,
        } => {
            finite(&format!("{key}.c"), c)?;
            finite(&format!("{key}.epsilon"), epsilon)?;
            let theta = angles(&format!("{key}.theta"), &theta, dims)?;
            let velocity = angles(&format!("{key}.velocity"), &velocity, dims)?;
            let profile = RingProfile::Bump { c, epsilon };
            motion = moving(&key, profile, theta, velocity, trajectory, dims, files)?;
            ring_profile(weights, profile, &motion, start, theta)
        }
        InputProfile::VonMises {
            c,
            kappa,
            theta,
            velocity,
            trajectory,
        } => {
            finite(&format!("{key}.c"), c)?;
            if !(kappa.is_finite() && kappa >= 0.0) {
                return Err(Error::invalid(
                    format!("{key}.kappa"),
                    kappa,
                    "must be a finite number ≥ 0",
                ));
            }
            let theta = angles(&format!("{key}.theta"), &theta, dims)?;
            let velocity = angles(&format!("{key}.velocity"), &velocity, dims)?;
            let profile = RingProfile::VonMises { c, kappa };
            motion = moving(&key, profile, theta, velocity, trajectory, dims, files)?;
            ring_profile(weights, profile, &motion, start, theta)
        }
        InputProfile::Velocity { value, path } => {
            if weights.geometry().rotations.is_empty() {
                return Err(Error::invalid(
                    format!("{key}.kind"),
                    "\"velocity\"",
                    format!(
                        "turns the kernel of a ring, torus or Gaussian sheet: it needs network.weights.kind = \"ring\", \"torus\" or \"gaussian\" (this network's weights are {})",
                        weights.kind()
                    ),
                ));
            }
            let v = match (value, path) {
                (Some(v), None) => Velocity::Constant(angles(&format!("{key}.value"), &v, dims)?),
                (None, Some(p)) => {
                    Velocity::Samples(samples(files, &format!("{key}.path"), &p, dims, false)?)
                }
                (Some(_), Some(_)) | (None, None) => {
                    return Err(Error::Schema(format!(
                        "key `{key}`: a velocity input takes exactly one of `value` (rad/s) and `path` (a file of (t, v) rows)"
                    )))
                }
            };
            return Ok(Resolved::Velocity(VelocityEpoch { start, end, v }));
        }
        InputProfile::Vector { values } => vector(&format!("{key}.values"), values, n)?,
        InputProfile::File { path: p, frame } => {
            let pk = format!("{key}.path");
            let a = files.array(&pk, &p)?;
            match (a.shape.as_slice(), frame) {
                ([t, m], Some(frame)) if *m == n && *t >= 1 => {
                    if !(frame.is_finite() && frame > 0.0) {
                        return Err(Error::invalid(
                            format!("{key}.frame"),
                            frame,
                            "must be a duration > 0 (seconds per row)",
                        ));
                    }
                    // The epoch ends after the last row.
                    end = end.min(start + *t as f64 * frame);
                    motion = Motion::Frames {
                        frame,
                        rows: std::sync::Arc::new(a.data.clone()),
                    };
                    a.data[..n].to_vec()
                }
                ([t, m], None) if *m == n && *t > 1 => {
                    return Err(Error::Schema(format!(
                        "key `{key}`: {} holds {t} rows of N = {n}: set `{key}.frame` to the seconds each row is on",
                        p.display()
                    )))
                }
                (_, Some(_)) => {
                    return Err(Error::Npy {
                        key: pk,
                        path: files.path(&p),
                        reason: format!(
                            "has shape {:?}; with {key}.frame set, expected T rows of N = {n}",
                            a.shape
                        ),
                    })
                }
                (_, None) => npy::read_vector(files, &pk, &p, n)?,
            }
        }
        InputProfile::Pattern { index, scale } => {
            let xi = pattern_of(weights, &format!("{key}.index"), index)?;
            let s = finite(&format!("{key}.scale"), scale)?;
            xi.iter().map(|x| s * x).collect()
        }
    };
    Ok(Resolved::Input(InputEpoch {
        start,
        end,
        h,
        motion,
        entry: i,
    }))
}

fn resolve_initial(
    spec: &InitialSpec,
    weights: &Weights,
    n: usize,
    sim_seed: u64,
    files: &Files,
) -> Result<Vec<f64>> {
    Ok(match spec {
        InitialSpec::Zeros {} => vec![0.0; n],
        InitialSpec::Uniform { value } => vec![finite("initial.value", *value)?; n],
        InitialSpec::Vector { values } => vector("initial.values", values.clone(), n)?,
        InitialSpec::File { path: p } => npy::read_vector(files, "initial.path", p, n)?,
        InitialSpec::Random { low, high, seed } => {
            finite("initial.low", *low)?;
            finite("initial.high", *high)?;
            if low > high {
                return Err(Error::invalid(
                    "initial.low",
                    low,
                    format!("must not exceed initial.high = {high}"),
                ));
            }
            let seed = seed.unwrap_or(sim_seed);
            (0..n)
                .map(|i| {
                    low + (high - low) * rng::uniform_at(seed, Stream::InitialRandom, i as u32, 0)
                })
                .collect()
        }
        InitialSpec::Pattern {
            index,
            scale,
            flip,
            mask,
            seed,
        } => {
            let xi = pattern_of(weights, "initial.index", *index)?;
            let scale = finite("initial.scale", *scale)?;
            let flip = fraction("initial.flip", *flip)?;
            let mask = fraction("initial.mask", *mask)?;
            if flip + mask > 1.0 {
                return Err(Error::invalid(
                    "initial.mask",
                    mask,
                    format!("flip + mask must not exceed 1 (flip = {flip})"),
                ));
            }
            cue(&xi, scale, flip, mask, seed.unwrap_or(sim_seed))
        }
        InitialSpec::Bump { c, epsilon, theta } => {
            finite("initial.c", *c)?;
            finite("initial.epsilon", *epsilon)?;
            let theta = angles("initial.theta", theta, weights.geometry().dims)?;
            let profile = RingProfile::Bump {
                c: *c,
                epsilon: *epsilon,
            };
            place_profile(weights, profile, theta)
        }
    })
}

/// A pattern cue: exactly round(flip N) units flipped and round(mask N) units
/// zeroed, the units chosen by a seeded shuffle.
pub fn cue(xi: &[f64], scale: f64, flip: f64, mask: f64, seed: u64) -> Vec<f64> {
    let n = xi.len();
    // Rank the units by a random key: the first n_flip are flipped, the next n_mask masked.
    let mut order: Vec<(u32, usize)> = (0..n)
        .map(|i| (rng::block(seed, Stream::Cue, i as u32, 0, 0)[0], i))
        .collect();
    order.sort_unstable();
    let n_flip = (flip * n as f64).round() as usize;
    let n_mask = ((mask * n as f64).round() as usize).min(n - n_flip);
    let mut v: Vec<f64> = xi.iter().map(|x| scale * x).collect();
    for &(_, i) in &order[..n_flip] {
        v[i] = -v[i];
    }
    for &(_, i) in &order[n_flip..n_flip + n_mask] {
        v[i] = 0.0;
    }
    v
}

/// The dynamics' state variable name (`v` or `I`), for messages.
pub fn state_name(d: Dynamics) -> &'static str {
    match d {
        Dynamics::Rate => "v",
        Dynamics::Current => "I",
    }
}
