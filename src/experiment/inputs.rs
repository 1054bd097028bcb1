//! The `[[input]]` entries and `[initial]` of the experiment file, resolved
//! into input epochs, velocity epochs and an initial state of N numbers
//! (profiles placed on the network's ring or torus, files read, cues
//! drawn).

use super::npy::{self, Files};
use super::schema::{Angles, InitialSpec, InputProfile};
use super::values::{deserialize, finite, fraction, vector};
use crate::error::{Error, Result};
use crate::model::{
    AnglePath, InputEpoch, Motion, RingProfile, Series, Velocity, VelocityEpoch, Weights,
};
use crate::rng::{self, Stream};

fn pattern_of<'a>(
    weights: &'a Weights,
    key: &str,
    index: usize,
) -> Result<std::borrow::Cow<'a, [f64]>> {
    let p = weights.geometry().patterns;
    if p == 0 {
        return Err(Error::invalid(
            key,
            index,
            format!(
                "patterns exist only for network.weights.kind = \"hebbian\" (this network's weights are {})",
                weights.kind()
            ),
        ));
    }
    weights
        .pattern_values(index)
        .ok_or_else(|| Error::invalid(key, index, format!("must be a pattern index below P = {p}")))
}

/// What one `[[input]]` entry is: an input epoch, or a velocity epoch.
pub(super) enum Resolved {
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

pub(super) fn resolve_input(
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

pub(super) fn resolve_initial(
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
