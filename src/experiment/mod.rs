//! The experiment file (SPEC §2): parsing, `--set` overrides, validation with
//! errors that name the key, the value and what is allowed, and resolution
//! into a [`Experiment`] of plain numbers. Nothing here simulates.

mod inputs;
pub mod npy;
pub mod overrides;
mod populations;
pub mod schema;
mod sparse;
mod values;
mod weights;

use crate::error::{Error, Result};
use crate::model::{Dynamics, Network, Population, Weights};
pub use inputs::cue;
use inputs::{resolve_initial, resolve_input, Resolved};
pub use npy::Files;
use schema::{ExperimentFile, InitialSpec};
use std::path::Path;
pub(crate) use values::deserialize;
pub use values::parse_table;
use values::positive;
pub use weights::{random_patterns, sheet_side};

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

fn resolve(
    f: ExperimentFile,
    files: &Files,
    default_name: &str,
    toml: String,
) -> Result<Experiment> {
    let (net, pops, geometry) = network(&f, files)?;
    let n = net.n;
    let weights = &net.weights;

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
        device: sim.device.as_ref().map(|d| match d {
            schema::DeviceSpec::Index(i) => i.to_string(),
            schema::DeviceSpec::Name(s) => s.clone(),
        }),
        precision: sim.precision,
    };

    let mut inputs = Vec::with_capacity(f.input.len());
    let mut velocity = Vec::new();
    for (i, table) in f.input.iter().enumerate() {
        let mut table = table.clone();
        let Some(name) = table.remove("population") else {
            match resolve_input(i, table, weights, n, files)? {
                Resolved::Input(e) => inputs.push(e),
                Resolved::Velocity(_) if !pops.is_empty() => {
                    return Err(Error::invalid(
                        format!("input[{i}].kind"),
                        "\"velocity\"",
                        "turns a ring's kernel; networks of several populations have none to turn",
                    ))
                }
                Resolved::Velocity(v) => velocity.push(v),
            }
            continue;
        };
        let key = format!("input[{i}].population");
        if pops.is_empty() {
            return Err(Error::invalid(
                key,
                name,
                "applies to networks of [[population]] tables; this file has one [network]",
            ));
        }
        let name: String = deserialize(name, &key)?;
        let k = pops.iter().position(|p| p.name == name);
        let pop = populations::find(&pops, &key, &name)?;
        let geometry = &geometry[k.unwrap_or(0)];
        match resolve_input(i, table, geometry, pop.n, files)? {
            Resolved::Input(mut e) => {
                if !matches!(e.motion, crate::model::Motion::Still) {
                    return Err(Error::invalid(
                        key,
                        format!("\"{name}\""),
                        "takes inputs that stand still (no velocity, trajectory or frames) in this version",
                    ));
                }
                let mut h = vec![0.0; n];
                h[pop.range()].copy_from_slice(&e.h);
                e.h = h;
                inputs.push(e);
            }
            Resolved::Velocity(_) => {
                return Err(Error::invalid(
                    format!("input[{i}].kind"),
                    "\"velocity\"",
                    "turns a ring's kernel; networks of several populations have none to turn",
                ))
            }
        }
    }

    // Each population's bias: an input on throughout.
    for (k, (spec, pop)) in f.population.iter().zip(&pops).enumerate() {
        if let Some(b) = &spec.bias {
            let key = format!("population[{k}].bias");
            let mut h = vec![0.0; n];
            h[pop.range()].copy_from_slice(&populations::per_neuron(&key, b, pop.n, files)?);
            inputs.push(crate::model::InputEpoch {
                start: 0.0,
                end: f64::INFINITY,
                h,
                motion: crate::model::Motion::Still,
                entry: f.input.len() + k,
            });
        }
    }

    let mut initial = resolve_initial(&f.initial, weights, n, sim.seed, files)?;
    for (k, (spec, pop)) in f.population.iter().zip(&pops).enumerate() {
        if let Some(x) = &spec.initial {
            initial[pop.range()].copy_from_slice(&populations::initial(k, x, pop.n)?);
        }
    }

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

    let overlaps = resolve_overlaps(&f, weights)?;
    let exp = Experiment {
        name: f.name.clone().unwrap_or_else(|| default_name.to_string()),
        network: Network { overlaps, ..net },
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

/// The network of the file: `[network]` (one population) or the
/// `[[population]]` and `[[projection]]` tables, with each population's
/// weights for the geometry of its inputs (none for one population).
fn network(f: &ExperimentFile, files: &Files) -> Result<(Network, Vec<Population>, Vec<Weights>)> {
    let states = |key: &str, n: usize| {
        // What every run keeps on the host per neuron, whatever the
        // backend, before any of it is allocated: the initial state, the
        // populations' time constants, one vector per input epoch and the
        // final state. A run's working state is its backend's to check
        // when it starts.
        crate::memory::check(
            key,
            n,
            "the initial state, inputs and final state",
            (n as u64).saturating_mul(8 * (3 + f.input.len() as u64)),
        )
    };
    match (&f.network, f.population.is_empty()) {
        (Some(net), true) => {
            if !f.projection.is_empty() {
                return Err(Error::invalid(
                    "projection",
                    format!("{} [[projection]] tables", f.projection.len()),
                    "connect [[population]] tables; a file with [network] has its weights in [network.weights]",
                ));
            }
            let n = net.n;
            if n == 0 {
                return Err(Error::invalid("network.n", 0, "must be at least 1"));
            }
            if n > u32::MAX as usize {
                return Err(Error::invalid("network.n", n, "must be below 2^32"));
            }
            let tau = positive("network.tau", net.tau)?;
            net.activation.validate("network.activation")?;
            states("network.n", n)?;
            let weights = net.weights.resolve(n, files)?;
            let network = Network {
                n,
                tau,
                dynamics: net.dynamics,
                activation: net.activation,
                weights,
                overlaps: None,
                populations: Vec::new(),
            };
            Ok((network, Vec::new(), Vec::new()))
        }
        (None, false) => {
            // Each population's states, then all of them, before any is
            // allocated.
            for (k, p) in f.population.iter().enumerate() {
                states(&format!("population[{k}].n"), p.n)?;
            }
            let n = f
                .population
                .iter()
                .fold(0usize, |a, p| a.saturating_add(p.n));
            states("population", n)?;
            let mut pops = populations::populations(&f.population, files)?;
            let block = populations::block(&pops, &f.projection, files)?;
            for (p, w) in pops.iter_mut().zip(&block.geometry) {
                p.ring = w.geometry().dims == 1;
            }
            let first = &pops[0];
            let network = Network {
                n,
                tau: first.tau,
                dynamics: first.dynamics,
                activation: first.activation,
                weights: block.weights,
                overlaps: None,
                populations: pops.clone(),
            };
            Ok((network, pops, block.geometry))
        }
        (Some(_), false) => Err(Error::invalid(
            "population",
            format!("{} [[population]] tables", f.population.len()),
            "cannot be given with [network]: give [network] for one population, or \
             [[population]] and [[projection]] tables for several",
        )),
        (None, true) => Err(Error::Schema(
            "missing `[network]` (one population) or `[[population]]` tables (several)".into(),
        )),
    }
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

/// Refuses an experiment whose records would not fit in the memory
/// available: they are kept on the host whatever the backend. What the
/// weights and state need is the backend's to say, when a run starts
/// ([`crate::sim::Backend::cost`]).
fn check_memory(exp: &Experiment) -> Result<()> {
    crate::memory::Footprint {
        records: crate::memory::Footprint::records_of(exp, 1),
        ..Default::default()
    }
    .check(exp, None)
}

/// The dynamics' state variable name (`v` or `I`), for messages.
pub fn state_name(d: Dynamics) -> &'static str {
    match d {
        Dynamics::Rate => "v",
        Dynamics::Current => "I",
    }
}
