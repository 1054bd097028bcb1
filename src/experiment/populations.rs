//! `[[population]]` and `[[projection]]` tables resolved into one network:
//! the populations one after another in the state vector, each projection
//! the block (to, from) of one sparse M. Errors name the key
//! (`population[1].tau`, `projection.EI.weights.g`).

use super::npy::Files;
use super::schema::{NumberOrList, PerNeuron, PopulationSpec, ProjectionSpec, Sign};
use super::values::{finite, positive, vector};
use super::weights::WeightsSpec;
use crate::error::{Error, Result};
use crate::model::{Csr, Factor, Factors, Population, SparseOrigin, Weights};
use std::collections::HashMap;
use std::sync::Arc;

/// The populations of the file, checked, with their first neurons.
pub(super) fn populations(specs: &[PopulationSpec], files: &Files) -> Result<Vec<Population>> {
    let mut out: Vec<Population> = Vec::with_capacity(specs.len());
    let mut start = 0usize;
    for (k, p) in specs.iter().enumerate() {
        let key = |name: &str| format!("population[{k}].{name}");
        let name_ok = !p.name.is_empty()
            && p.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !name_ok {
            return Err(Error::invalid(
                key("name"),
                format!("\"{}\"", p.name),
                "must be a non-empty name of letters, digits, `_` and `-` (it names files and metrics)",
            ));
        }
        if out.iter().any(|q| q.name == p.name) {
            return Err(Error::invalid(
                key("name"),
                format!("\"{}\"", p.name),
                "is the name of an earlier population; each population needs its own",
            ));
        }
        if p.n == 0 {
            return Err(Error::invalid(key("n"), 0, "must be at least 1"));
        }
        let taus = per_neuron(&key("tau"), &p.tau, p.n, files)?;
        for (i, &t) in taus.iter().enumerate() {
            let k = match p.tau {
                PerNeuron::Number(_) => key("tau"),
                PerNeuron::List(_) | PerNeuron::File(_) => format!("{}[{i}]", key("tau")),
            };
            positive(&k, t)?;
        }
        let tau = taus[0];
        let same = taus.iter().all(|&t| t == tau);
        p.activation.validate(&key("activation"))?;
        if let Some(s) = p.noise {
            if !(s.is_finite() && s >= 0.0) {
                return Err(Error::invalid(
                    key("noise"),
                    s,
                    "must be a finite number ≥ 0",
                ));
            }
        }
        out.push(Population {
            name: p.name.clone(),
            start,
            n: p.n,
            tau,
            taus: (!same).then_some(taus),
            dynamics: p.dynamics,
            activation: p.activation,
            noise: p.noise,
            ring: false,
        });
        start = start.saturating_add(p.n);
    }
    if start > u32::MAX as usize {
        return Err(Error::invalid(
            "population",
            format!("{start} neurons in all"),
            "must be below 2^32 neurons in all",
        ));
    }
    Ok(out)
}

/// Bytes a stored connection takes while the block is built: its triplet
/// (row, column, value: 8 bytes each) and its place in the CSR (a u32
/// column and an f64 value).
const CONNECTION_BYTES: u64 = 24 + 12;

/// The population named `name`, or an error naming `key` and listing them.
pub(super) fn find<'a>(pops: &'a [Population], key: &str, name: &str) -> Result<&'a Population> {
    pops.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<String> = pops.iter().map(|p| format!("\"{}\"", p.name)).collect();
        Error::invalid(
            key,
            format!("\"{name}\""),
            format!("must name a population of the file: {}", names.join(", ")),
        )
    })
}

/// The block matrix of every projection, and the weights each population's
/// inputs take their geometry from (its own projection onto itself where
/// it has one, for a ring's bump or a Hebbian pattern).
pub(super) struct Block {
    /// M of the whole network.
    pub weights: Weights,
    /// Per population, in order.
    pub geometry: Vec<Weights>,
}

/// Resolves the projections into one sparse M over every population.
pub(super) fn block(pops: &[Population], specs: &[ProjectionSpec], files: &Files) -> Result<Block> {
    let total: usize = pops.iter().map(|p| p.n).sum();
    let mut geometry: Vec<Weights> = pops
        .iter()
        .map(|p| Weights::Diagonal {
            values: vec![0.0; p.n],
        })
        .collect();
    let (mut rows, mut cols, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut terms: Vec<Factor> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (k, spec) in specs.iter().enumerate() {
        let label = spec.label();
        if let Some(first) = seen.insert(label.clone(), k) {
            return Err(Error::invalid(
                format!("projection[{k}].name"),
                format!("\"{label}\""),
                format!(
                    "is also projection[{first}]'s name; give one of them another `name` \
                     (two projections between the same populations add up when both are wanted)"
                ),
            ));
        }
        let from = find(pops, &format!("projection[{k}].from"), &spec.from)?;
        let to = find(pops, &format!("projection[{k}].to"), &spec.to)?;
        let key = format!("projection.{label}.weights");
        let shape = format!("{} ({}×{})", kind_name(&spec.weights), to.n, from.n);
        let check_entries = || {
            let most = connections_at_most(&spec.weights, to.n, from.n);
            crate::memory::check(
                &key,
                &shape,
                &format!("up to {most} connections of this projection"),
                most.saturating_mul(CONNECTION_BYTES),
            )
        };
        let check_terms = |terms: &[Factor]| {
            let numbers: usize = terms.iter().map(|t| t.u.len() + t.v.len()).sum();
            crate::memory::check(
                &key,
                &shape,
                &format!("the {} factored terms of this projection", terms.len()),
                (numbers as u64).saturating_mul(16),
            )
        };
        if !factorable(&spec.weights) {
            check_entries()?;
        }
        let mut put = |i: usize, j: usize, w: f64| {
            if w != 0.0 {
                let w = signed(spec.sign, w);
                rows.push((to.start + i) as u64);
                cols.push((from.start + j) as u64);
                values.push(w);
            }
        };
        let cheaper = |rank: usize| rank * (to.n + from.n) < to.n * from.n;
        if let WeightsSpec::Uniform { value } = spec.weights {
            // Every pair the same value: one term (u, v all ones) where
            // that stores fewer numbers than the entries.
            let w = finite(&format!("{key}.value"), value)?;
            if cheaper(1) {
                let t = vec![Factor {
                    to: to.start,
                    from: from.start,
                    coef: signed(spec.sign, w),
                    u: vec![1.0; to.n],
                    v: vec![1.0; from.n],
                }];
                check_terms(&t)?;
                terms.extend(t.into_iter().filter(|t| t.coef != 0.0));
                continue;
            }
            check_entries()?;
            rectangular(&spec.weights, &key, to.n, from.n, files, &mut put)?;
        } else if from.n == to.n {
            let w = spec
                .weights
                .resolve(to.n, files)
                .map_err(|e| rekey(e, &key, &to.name))?;
            match square_factors(&w, spec.sign.is_none(), to.start, from.start)
                .filter(|(t, _)| cheaper(t.len()))
            {
                Some((t, diag)) => {
                    check_terms(&t)?;
                    for (i, d) in diag.into_iter().enumerate() {
                        put(i, i, d);
                    }
                    terms.extend(t);
                }
                None => {
                    if factorable(&spec.weights) {
                        check_entries()?;
                    }
                    entries(&w, &key, &mut put)?;
                }
            }
            if from.name == to.name {
                geometry[pops.iter().position(|p| p.name == to.name).unwrap_or(0)] = w;
            }
        } else {
            match ring_factors(&spec.weights, spec.sign.is_none(), &key, to, from)?
                .filter(|t| cheaper(t.len()))
            {
                Some(t) => {
                    check_terms(&t)?;
                    terms.extend(t);
                }
                None => {
                    if factorable(&spec.weights) {
                        check_entries()?;
                    }
                    rectangular(&spec.weights, &key, to.n, from.n, files, &mut put)?;
                }
            }
        }
    }
    let csr = Csr::from_triplets(total, &rows, &cols, &values)
        .map_err(|e| Error::invalid("projection", "the projections", e))?;
    Ok(Block {
        weights: Weights::Sparse {
            n: total,
            csr: Arc::new(csr),
            origin: SparseOrigin::Data,
            factors: Arc::new(Factors { n: total, terms }),
        },
        geometry,
    })
}

/// A weight under a projection's `sign` (Dale's law): its magnitude,
/// positive or negative, or itself without one.
fn signed(sign: Option<Sign>, w: f64) -> f64 {
    match sign {
        None => w,
        Some(Sign::Excitatory) => w.abs(),
        Some(Sign::Inhibitory) => -w.abs(),
    }
}

/// Kinds a projection may keep as factors (ring without a degree,
/// uniform, low rank, Hebbian, torus): their entries' memory is checked
/// only when they are stored as entries after all.
fn factorable(spec: &WeightsSpec) -> bool {
    match spec {
        WeightsSpec::Ring { degree: None, .. }
        | WeightsSpec::Uniform { .. }
        | WeightsSpec::LowRank { .. }
        | WeightsSpec::Hebbian { .. }
        | WeightsSpec::Torus { .. } => true,
        WeightsSpec::Ring {
            degree: Some(_), ..
        }
        | WeightsSpec::Identity { .. }
        | WeightsSpec::Diagonal { .. }
        | WeightsSpec::Matrix { .. }
        | WeightsSpec::File { .. }
        | WeightsSpec::Random { .. }
        | WeightsSpec::Gaussian { .. }
        | WeightsSpec::Sparse { .. } => false,
    }
}

/// The terms of square weights of a structured form (a ring, torus, low
/// rank or Hebbian projection, packed patterns expanded to floats), from
/// the neurons at `from` onto those at `to`, and its diagonal (stored as entries); `None` for
/// the other forms, or with a `sign` (`unsigned` false: a sign changes
/// entries one by one).
fn square_factors(
    w: &Weights,
    unsigned: bool,
    to: usize,
    from: usize,
) -> Option<(Vec<Factor>, Vec<f64>)> {
    if !unsigned {
        return None;
    }
    let s = w.structured()?;
    let n = s.n;
    let u = s.u_rows();
    let terms = (0..s.rank())
        .filter(|&r| s.coef[r] != 0.0)
        .map(|r| Factor {
            to,
            from,
            coef: s.coef[r],
            u: u[r * n..(r + 1) * n].to_vec(),
            v: s.v_row(r).to_vec(),
        })
        .collect();
    Some((terms, s.diag.clone().unwrap_or_default()))
}

/// The terms of a ring projection between populations of different sizes
/// ((2/N_from)(-lambda0 + lambda1 cos(theta_i - theta_j)) = a uniform term
/// and the cos and sin terms); `None` for other kinds or with a `sign`.
fn ring_factors(
    spec: &WeightsSpec,
    unsigned: bool,
    key: &str,
    to: &Population,
    from: &Population,
) -> Result<Option<Vec<Factor>>> {
    let WeightsSpec::Ring {
        lambda0,
        lambda1,
        degree: None,
        ..
    } = spec
    else {
        return Ok(None);
    };
    if !unsigned {
        return Ok(None);
    }
    let l0 = finite(&format!("{key}.lambda0"), *lambda0)?;
    let l1 = finite(&format!("{key}.lambda1"), *lambda1)?;
    let scale = 2.0 / from.n as f64;
    let ((cos_to, sin_to), (cos_from, sin_from)) = (
        crate::model::ring_angles(to.n),
        crate::model::ring_angles(from.n),
    );
    let term = |coef: f64, u: Vec<f64>, v: Vec<f64>| Factor {
        to: to.start,
        from: from.start,
        coef,
        u,
        v,
    };
    Ok(Some(
        [
            term(-scale * l0, vec![1.0; to.n], vec![1.0; from.n]),
            term(scale * l1, cos_to, cos_from),
            term(scale * l1, sin_to, sin_from),
        ]
        .into_iter()
        .filter(|t| t.coef != 0.0)
        .collect(),
    ))
}

/// A value per neuron of a population of `n`: one number, n numbers or a
/// length-n `.npy`, every one finite.
pub(super) fn per_neuron(key: &str, spec: &PerNeuron, n: usize, files: &Files) -> Result<Vec<f64>> {
    match spec {
        PerNeuron::Number(x) => Ok(vec![finite(key, *x)?; n]),
        PerNeuron::List(v) => vector(key, v.clone(), n),
        PerNeuron::File(p) => {
            let v = super::npy::read_vector(files, key, p, n)?;
            for (i, x) in v.iter().enumerate() {
                finite(&format!("{key}[{i}]"), *x)?;
            }
            Ok(v)
        }
    }
}

/// A population's initial state from its `initial` (one number or n).
pub(super) fn initial(k: usize, spec: &NumberOrList, n: usize) -> Result<Vec<f64>> {
    let key = format!("population[{k}].initial");
    match spec {
        NumberOrList::Number(x) => Ok(vec![finite(&key, *x)?; n]),
        NumberOrList::List(v) => vector(&key, v.clone(), n),
    }
}

/// An error of weights resolved as a network's, named as the projection's.
fn rekey(e: Error, key: &str, to: &str) -> Error {
    let name = |k: String| {
        if let Some(rest) = k.strip_prefix("network.weights") {
            format!("{key}{rest}")
        } else if k == "network.n" {
            format!("population.{to}.n")
        } else {
            k
        }
    };
    match e {
        Error::Invalid {
            key,
            value,
            allowed,
        } => Error::Invalid {
            key: name(key),
            value,
            allowed: allowed.replace("(network.n)", "(the population's n)"),
        },
        Error::Npy { key, path, reason } => Error::Npy {
            key: name(key),
            path,
            reason,
        },
        other => other,
    }
}

/// Every nonzero entry of square weights, as `put(i, j, M_ij)`.
fn entries(w: &Weights, key: &str, put: &mut impl FnMut(usize, usize, f64)) -> Result<()> {
    if w.form().each_entry(put) {
        return Ok(());
    }
    // Stored as their dense matrix first: n² numbers.
    let n = w.n();
    crate::memory::check(
        key,
        w.kind(),
        &format!("the {n}×{n} block of these weights"),
        (n as u64).saturating_mul(n as u64).saturating_mul(8),
    )?;
    let m = w.to_dense();
    for i in 0..n {
        for j in 0..n {
            put(i, j, m[i * n + j]);
        }
    }
    Ok(())
}

/// The entries of a projection between populations of different sizes
/// (`rows` postsynaptic neurons, `cols` presynaptic ones): the kinds that
/// need no square matrix.
fn rectangular(
    spec: &WeightsSpec,
    key: &str,
    rows: usize,
    cols: usize,
    files: &Files,
    put: &mut impl FnMut(usize, usize, f64),
) -> Result<()> {
    match spec {
        WeightsSpec::Uniform { value } => {
            let w = finite(&format!("{key}.value"), *value)?;
            for i in 0..rows {
                for j in 0..cols {
                    put(i, j, w);
                }
            }
        }
        WeightsSpec::Matrix { rows: m } => {
            if m.len() != rows || m.iter().any(|r| r.len() != cols) {
                return Err(Error::invalid(
                    format!("{key}.rows"),
                    format!("{} rows", m.len()),
                    format!("must be {rows} rows (the `to` population's n) of {cols} numbers (the `from` population's n)"),
                ));
            }
            for (i, r) in m.iter().enumerate() {
                for (j, &x) in r.iter().enumerate() {
                    put(i, j, finite(&format!("{key}.rows[{i}][{j}]"), x)?);
                }
            }
        }
        WeightsSpec::File { path } => {
            let (_, _, m) = super::npy::read_matrix(
                files,
                &format!("{key}.path"),
                path,
                |r, c| {
                    (r != rows || c != cols).then(|| {
                    format!("a {rows}×{cols} matrix (the `to` population's n × the `from` population's n)")
                })
                },
            )?;
            for i in 0..rows {
                for j in 0..cols {
                    put(i, j, m[i * cols + j]);
                }
            }
        }
        WeightsSpec::Ring {
            lambda0,
            lambda1,
            degree: None,
            ..
        } => {
            // (2/N_from)(-lambda0 + lambda1 cos(theta_i - theta_j)), each
            // population's neurons evenly around the ring.
            let l0 = finite(&format!("{key}.lambda0"), *lambda0)?;
            let l1 = finite(&format!("{key}.lambda1"), *lambda1)?;
            for i in 0..rows {
                let ti = crate::model::theta(i, rows);
                for j in 0..cols {
                    let tj = crate::model::theta(j, cols);
                    put(i, j, 2.0 / cols as f64 * (-l0 + l1 * (ti - tj).cos()));
                }
            }
        }
        WeightsSpec::Random {
            g,
            sparsity,
            seed,
            degree: None,
            ..
        } => {
            // g J_ij / sqrt(p N_from) where connection (i, j) exists.
            let g = finite(&format!("{key}.g"), *g)?;
            if !(*sparsity > 0.0 && *sparsity <= 1.0) {
                return Err(Error::invalid(
                    format!("{key}.sparsity"),
                    sparsity,
                    "must be a connection probability in (0, 1] (1: every connection exists)",
                ));
            }
            let scale = g / (sparsity * cols as f64).sqrt();
            let p = f64::from(*sparsity as f32);
            for i in 0..rows {
                for col4 in 0..cols.div_ceil(4) {
                    let z = crate::rng::weight_normals(*seed, i as u32, col4 as u32);
                    let u = crate::rng::connection_uniforms(*seed, i as u32, col4 as u32);
                    for q in 0..4.min(cols - 4 * col4) {
                        if p >= 1.0 || u[q] < p {
                            put(i, 4 * col4 + q, scale * z[q]);
                        }
                    }
                }
            }
        }
        WeightsSpec::Identity { .. }
        | WeightsSpec::Diagonal { .. }
        | WeightsSpec::Ring {
            degree: Some(_), ..
        }
        | WeightsSpec::Random {
            degree: Some(_), ..
        }
        | WeightsSpec::Torus { .. }
        | WeightsSpec::Gaussian { .. }
        | WeightsSpec::Hebbian { .. }
        | WeightsSpec::LowRank { .. }
        | WeightsSpec::Sparse { .. } => {
            return Err(Error::invalid(
                format!("{key}.kind"),
                format!("\"{}\"", kind_name(spec)),
                format!(
                    "needs `from` and `to` of the same size ({rows} ≠ {cols}); between \
                     populations of different sizes use uniform, matrix, file, ring \
                     (without degree) or random (without degree)"
                ),
            ))
        }
    }
    Ok(())
}

/// The most connections a projection of `spec` from `cols` neurons onto
/// `rows` can store: every pair, but the expected count (with room for its
/// spread) for random connectivity and the file's own count for sparse
/// data, which are bounded when read.
fn connections_at_most(spec: &WeightsSpec, rows: usize, cols: usize) -> u64 {
    let pairs = (rows as u64).saturating_mul(cols as u64);
    // Partners per neuron: K each, or a mean K (lognormal), given room.
    let per_row = |k: usize| {
        (rows as u64)
            .saturating_mul(k as u64)
            .saturating_mul(2)
            .min(pairs)
    };
    match spec {
        WeightsSpec::Identity { .. } | WeightsSpec::Diagonal { .. } => rows as u64,
        // Counted, and their memory checked, as the files are read.
        WeightsSpec::Sparse { .. } => 0,
        WeightsSpec::Ring {
            degree: Some(k), ..
        }
        | WeightsSpec::Random {
            degree: Some(k), ..
        } => per_row(*k),
        WeightsSpec::Random { sparsity, .. }
            if sparsity.is_finite() && *sparsity > 0.0 && *sparsity <= 1.0 =>
        {
            // Mean p·pairs, plus 6 standard deviations and one row.
            let mean = sparsity * pairs as f64;
            ((mean + 6.0 * mean.sqrt() + cols as f64) as u64).min(pairs)
        }
        WeightsSpec::Uniform { .. }
        | WeightsSpec::Matrix { .. }
        | WeightsSpec::File { .. }
        | WeightsSpec::Ring { degree: None, .. }
        | WeightsSpec::Random { .. }
        | WeightsSpec::Torus { .. }
        | WeightsSpec::Gaussian { .. }
        | WeightsSpec::Hebbian { .. }
        | WeightsSpec::LowRank { .. } => pairs,
    }
}

/// The `kind` a weights table was given.
fn kind_name(spec: &WeightsSpec) -> &'static str {
    match spec {
        WeightsSpec::Uniform { .. } => "uniform",
        WeightsSpec::Identity { .. } => "identity",
        WeightsSpec::Matrix { .. } => "matrix",
        WeightsSpec::Diagonal { .. } => "diagonal",
        WeightsSpec::File { .. } => "file",
        WeightsSpec::Ring { .. } => "ring",
        WeightsSpec::Torus { .. } => "torus",
        WeightsSpec::Gaussian { .. } => "gaussian",
        WeightsSpec::Hebbian { .. } => "hebbian",
        WeightsSpec::LowRank { .. } => "low_rank",
        WeightsSpec::Sparse { .. } => "sparse",
        WeightsSpec::Random { .. } => "random",
    }
}
