//! The native half of the `attractor` Python package: experiments parsed
//! and validated, runs on the CPU or GPU backend, eigen-analysis and the
//! adapter list, all by the engine's own library. The Python half
//! (`attractor/__init__.py`) only shapes arguments and results.

use attractor::analysis::modes;
use attractor::experiment::npy::{Array, Files};
use attractor::sim::{self, BackendChoice, Recording, Stop, Trial};
use attractor::{output, Error, Experiment};
use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1, PyReadonlyArrayDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The Python exception class (in `attractor.errors`) an engine error is
/// raised as.
fn class_of(e: &Error) -> &'static str {
    match e {
        Error::Invalid { .. }
        | Error::Schema(_)
        | Error::Override { .. }
        | Error::Npy { .. }
        | Error::Analysis(_) => "ExperimentError",
        Error::Diverged { .. } => "DivergenceError",
        Error::Unavailable(_) | Error::Gpu(_) => "BackendError",
        Error::Io { .. } | Error::Output { .. } => "OutputError",
        _ => "AttractorError",
    }
}

/// An exception of class `class` (from `attractor.errors`) with `msg`.
fn raise(py: Python<'_>, class: &str, msg: String) -> PyErr {
    let made = py
        .import("attractor.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((msg.clone(),)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        // The package's own module is missing: still an exception, never
        // a panic.
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(msg),
    }
}

/// An engine error as its Python exception, the engine's message
/// unchanged; an interrupted run as the KeyboardInterrupt that stopped it.
fn err(py: Python<'_>, e: Error) -> PyErr {
    if let Error::Interrupted { .. } = e {
        return py
            .check_signals()
            .err()
            .unwrap_or_else(|| pyo3::exceptions::PyKeyboardInterrupt::new_err(e.to_string()));
    }
    raise(py, class_of(&e), e.to_string())
}

/// A validated experiment.
#[pyclass(frozen, module = "attractor._native")]
struct NativeExperiment {
    exp: Experiment,
}

#[pymethods]
impl NativeExperiment {
    /// The run's name.
    #[getter]
    fn name(&self) -> &str {
        &self.exp.name
    }

    /// Neurons N.
    #[getter]
    fn n(&self) -> usize {
        self.exp.network.n
    }

    /// Steps of the simulation.
    #[getter]
    fn steps(&self) -> u64 {
        self.exp.simulation.steps
    }

    /// The noise seed (`simulation.seed`).
    #[getter]
    fn seed(&self) -> u64 {
        self.exp.simulation.seed
    }

    /// The noise sigma (`simulation.noise`).
    #[getter]
    fn noise(&self) -> f64 {
        self.exp.simulation.noise
    }

    /// The experiment as TOML, overrides applied.
    #[getter]
    fn toml(&self) -> &str {
        &self.exp.toml
    }
}

/// Parses and validates experiment TOML `text`; relative paths are taken
/// from `base_dir`, `name` names the run if the text does not, and each
/// `key=value` of `overrides` is applied first. `arrays` are (path, array)
/// pairs: a `.npy` path of the text that names one takes that array
/// instead of a file.
#[pyfunction]
#[pyo3(signature = (text, base_dir, name, overrides, arrays=Vec::new()))]
fn load(
    py: Python<'_>,
    text: &str,
    base_dir: PathBuf,
    name: &str,
    overrides: Vec<String>,
    arrays: Vec<(PathBuf, PyReadonlyArrayDyn<'_, f64>)>,
) -> PyResult<NativeExperiment> {
    let files = Files::new(&base_dir);
    for (path, a) in &arrays {
        let a = a.as_array();
        files.provide(
            path,
            Array {
                shape: a.shape().to_vec(),
                data: a.iter().copied().collect(),
            },
        );
    }
    Experiment::from_toml_with(text, &files, name, &overrides)
        .map(|exp| NativeExperiment { exp })
        .map_err(|e| err(py, e))
}

/// A JSON value as a TOML value; `key` is its dotted key, for errors.
fn to_toml(py: Python<'_>, key: &str, v: serde_json::Value) -> PyResult<toml::Value> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => {
            return Err(raise(
                py,
                "ExperimentError",
                format!(
                    "key `{key}` = None: a value is needed (TOML has no null; leave the key out)"
                ),
            ))
        }
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(a) => toml::Value::Array(
            a.into_iter()
                .enumerate()
                .map(|(i, x)| to_toml(py, &format!("{key}[{i}]"), x))
                .collect::<PyResult<_>>()?,
        ),
        J::Object(o) => {
            let mut t = toml::Table::new();
            for (k, x) in o {
                let sub = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                t.insert(k, to_toml(py, &sub, x)?);
            }
            toml::Value::Table(t)
        }
    })
}

/// The TOML text of an experiment given as JSON (a Python dict, dumped).
#[pyfunction]
fn json_to_toml(py: Python<'_>, json: &str) -> PyResult<String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| {
        raise(
            py,
            "ExperimentError",
            format!("not an experiment table: {e}"),
        )
    })?;
    match to_toml(py, "", v)? {
        toml::Value::Table(t) => Ok(toml::to_string(&t).unwrap_or_default()),
        other => Err(raise(
            py,
            "ExperimentError",
            format!(
                "an experiment is a table of tables, not {}",
                other.type_str()
            ),
        )),
    }
}

/// The recording as a dict of numpy arrays and plain values.
fn recording<'py>(
    py: Python<'py>,
    exp: &Experiment,
    rec: Recording,
    written: Option<Vec<PathBuf>>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let records = rec.t.len();
    let summary = output::summary(exp, &rec).to_string();
    d.set_item("summary_json", summary)?;
    d.set_item("metric_names", rec.metric_names.clone())?;
    let k = rec.metric_names.len();
    let flat: Vec<f64> = rec.metrics.into_iter().flatten().collect();
    d.set_item("metrics", flat.into_pyarray(py).reshape([records, k])?)?;
    d.set_item("t", rec.t.into_pyarray(py))?;
    // The engine's buffer becomes the array's: no copy.
    d.set_item(
        "rates",
        rec.rates.into_pyarray(py).reshape([records, rec.kept])?,
    )?;
    d.set_item("final_state", rec.final_state.into_pyarray(py))?;
    d.set_item("backend", rec.backend)?;
    d.set_item("adapter", rec.adapter)?;
    d.set_item("precision", rec.precision)?;
    d.set_item("steps_done", rec.steps_done)?;
    d.set_item("wall_seconds", rec.wall_seconds)?;
    d.set_item("divergence", rec.divergence.map(|v| v.error().to_string()))?;
    d.set_item("fault", rec.fault)?;
    d.set_item("written", written)?;
    Ok(d)
}

/// The backend `backend` names, or the experiment's own.
fn choose(py: Python<'_>, exp: &Experiment, backend: Option<&str>) -> PyResult<BackendChoice> {
    match backend {
        None => Ok(exp.simulation.backend),
        Some(b) => b.parse::<BackendChoice>().map_err(|_| {
            raise(
                py,
                "ExperimentError",
                format!("backend = {b:?}: one of \"auto\", \"cpu\", \"gpu\""),
            )
        }),
    }
}

/// Runs `work` without the GIL, ended early with [`Error::Interrupted`]
/// when SIGINT arrives (Ctrl-C: the engine looks at the stop where it
/// reports progress; Python's own handler is called too, so the
/// KeyboardInterrupt is pending when [`err`] raises it).
fn interruptible<T: Send>(
    py: Python<'_>,
    work: impl FnOnce(&Stop) -> Result<T, Error> + Send,
) -> Result<T, Error> {
    let stop = Stop::default();
    let id = signal_hook::flag::register(signal_hook::consts::SIGINT, stop.flag()).ok();
    let out = py.detach(|| work(&stop));
    if let Some(id) = id {
        signal_hook::low_level::unregister(id);
    }
    out
}

/// A progress callback `f(steps_done, steps)` as the engine's progress
/// function: at most ten calls a second and the last step's; the first
/// exception it raises is kept in `error` and ends the run (`stop`).
fn progress_fn<'a>(
    progress: &'a Option<Py<PyAny>>,
    steps: u64,
    error: &'a mut Option<PyErr>,
    stop: &'a Stop,
) -> impl FnMut(u64) + 'a {
    let mut last: Option<Instant> = None;
    move |s| {
        let due = s >= steps || last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100));
        if let (Some(cb), None, true) = (progress, &*error, due) {
            last = Some(Instant::now());
            Python::attach(|py| {
                if let Err(e) = cb.call1(py, (s, steps)) {
                    *error = Some(e);
                    stop.request();
                }
            });
        }
    }
}

/// Runs `trials` of `exp` on the backend `choice` picks (on the GPU
/// adapter `device` names, else `simulation.device`'s), without the GIL,
/// interruptible, reporting to `progress`: the recordings and the note on
/// the backend picked.
fn run_trials(
    py: Python<'_>,
    exp: &Experiment,
    choice: BackendChoice,
    device: Option<&str>,
    trials: &[Trial],
    progress: &Option<Py<PyAny>>,
) -> PyResult<(Vec<Recording>, Option<String>)> {
    let steps = exp.simulation.steps;
    let mut callback_error: Option<PyErr> = None;
    let outcome = interruptible(py, |stop| {
        let device = sim::choice::device_of(
            device.map(|d| ("device", d)),
            exp.simulation.device.as_deref(),
        );
        let (mut b, note) = sim::choice::select(choice, device)?;
        let mut tell = progress_fn(progress, steps, &mut callback_error, stop);
        Ok((b.run_batch_until(exp, trials, &mut tell, stop)?, note))
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    outcome.map_err(|e| err(py, e))
}

/// Runs `experiment` on `backend` ("auto", "cpu", "gpu"; the experiment's
/// own `simulation.backend` when None), calling `progress(steps_done,
/// steps)` now and then, and writing the usual output folder to `out` when
/// given. The GIL is released while the network is stepped.
#[pyfunction]
#[pyo3(signature = (experiment, backend=None, out=None, progress=None, device=None))]
fn run<'py>(
    py: Python<'py>,
    experiment: &NativeExperiment,
    backend: Option<&str>,
    out: Option<PathBuf>,
    progress: Option<Py<PyAny>>,
    device: Option<&str>,
) -> PyResult<Bound<'py, PyDict>> {
    let exp = &experiment.exp;
    let choice = choose(py, exp, backend)?;
    if let Some(o) = &out {
        // Before the run: a folder that cannot take the outputs fails now.
        output::prepare_dir("out", o).map_err(|e| err(py, e))?;
    }
    let (mut recs, note) = run_trials(py, exp, choice, device, &[Trial::of(exp)], &progress)?;
    let rec = recs.remove(0);
    let written = match &out {
        Some(o) => {
            let w = py
                .detach(|| output::write_run(o, exp, &rec))
                .map_err(|e| err(py, e))?;
            Some(w.files)
        }
        None => None,
    };
    let d = recording(py, exp, rec, written)?;
    d.set_item("note", note)?;
    Ok(d)
}

/// Runs the trials given column by column (seed, trial word of the noise
/// counter, M scale, h scale, noise sigma, initial state or None for the
/// experiment's) together, sharing one copy of M (on the GPU one batch):
/// one result dict per trial, in order.
#[pyfunction]
#[pyo3(signature = (experiment, seeds, words, m_scales, h_scales, noises, initials, backend=None, progress=None, device=None))]
#[allow(clippy::too_many_arguments)]
fn run_batch<'py>(
    py: Python<'py>,
    experiment: &NativeExperiment,
    seeds: Vec<u64>,
    words: Vec<u32>,
    m_scales: Vec<f64>,
    h_scales: Vec<f64>,
    noises: Vec<f64>,
    initials: Vec<Option<PyReadonlyArray1<'py, f64>>>,
    backend: Option<&str>,
    progress: Option<Py<PyAny>>,
    device: Option<&str>,
) -> PyResult<Vec<Bound<'py, PyDict>>> {
    let exp = &experiment.exp;
    let choice = choose(py, exp, backend)?;
    let count = seeds.len();
    if [
        words.len(),
        m_scales.len(),
        h_scales.len(),
        noises.len(),
        initials.len(),
    ]
    .iter()
    .any(|&l| l != count)
    {
        return Err(raise(
            py,
            "AttractorError",
            "run_batch: the trial columns differ in length".into(),
        ));
    }
    let mut trials = Vec::with_capacity(count);
    for k in 0..count {
        let initial = initials[k]
            .as_ref()
            .map(|a| a.as_array().iter().copied().collect::<Vec<f64>>());
        trials.push(Trial {
            seed: seeds[k],
            trial: words[k],
            m_scale: m_scales[k],
            h_scale: h_scales[k],
            noise: noises[k],
            initial,
        });
    }
    let (recs, note) = run_trials(py, exp, choice, device, &trials, &progress)?;
    recs.into_iter()
        .map(|rec| {
            let d = recording(py, exp, rec, None)?;
            d.set_item("note", note.clone())?;
            Ok(d)
        })
        .collect()
}

/// Runs the sweep file `path` (`attractor sweep`) into `out` (default
/// runs/<name>, or its shard folder): the shard "K/N" or "slurm" when
/// given, `resume` continuing an interrupted sweep there. Calls
/// `progress(runs_done, runs)`. `device` chooses the GPU adapter; `devices`
/// (`"all"` or `"0,1"`) runs batches on several at once. Returns the folder
/// and what ran.
#[pyfunction]
#[pyo3(signature = (path, out=None, shard=None, resume=false, backend=None, progress=None, device=None, devices=None))]
#[allow(clippy::too_many_arguments)]
fn sweep<'py>(
    py: Python<'py>,
    path: PathBuf,
    out: Option<PathBuf>,
    shard: Option<&str>,
    resume: bool,
    backend: Option<&str>,
    progress: Option<Py<PyAny>>,
    device: Option<String>,
    devices: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    use attractor::sweep::{self, folder::SweepFolder, Shard, Sweep};
    let sw = Sweep::load(&path).map_err(|e| err(py, e))?;
    let shard = match shard {
        Some(s) => Shard::parse(s).map_err(|e| err(py, e))?,
        None => Shard::ALL,
    };
    let base = sw.base_experiment().map_err(|e| err(py, e))?;
    let choice = choose(py, &base, backend)?;
    let out = out.unwrap_or_else(|| SweepFolder::default_dir(&sw, shard));
    let total = sw.runs_in(shard) as u64;
    let mut callback_error: Option<PyErr> = None;
    let started = Instant::now();
    let outcome = interruptible(py, |stop| -> Result<sweep::SweepReport, Error> {
        let mut folder = SweepFolder::open(&out, &sw, &path, shard, resume)?;
        let placement = attractor::jobs::Placement {
            keys: ("device", "devices"),
            backend: Some(choice),
            device,
            devices,
        };
        let (mut backends, _note) = placement.sweep_backends(&base)?;
        let mut runs = folder.done.len() as u64;
        let mut tell = progress_fn(&progress, total, &mut callback_error, stop);
        tell(runs);
        let report = folder.run(
            &sw,
            shard,
            &mut backends,
            &mut |k| {
                runs += k as u64;
                tell(runs);
            },
            stop,
        )?;
        folder.summarize(&sw.keys)?;
        Ok(report)
    });
    if let Some(e) = callback_error {
        return Err(e);
    }
    let report = outcome.map_err(|e| err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("out", out)?;
    d.set_item("name", sw.name.clone())?;
    d.set_item("keys", sw.keys.clone())?;
    d.set_item("ran", report.ran)?;
    d.set_item("skipped", report.skipped)?;
    d.set_item("batches", report.batches)?;
    d.set_item("seconds", started.elapsed().as_secs_f64())?;
    Ok(d)
}

/// The eigen-analysis of M (`attractor modes --json`), as JSON text.
#[pyfunction]
fn modes_json(py: Python<'_>, experiment: &NativeExperiment) -> PyResult<String> {
    let exp = &experiment.exp;
    let report = py.detach(|| modes::analyse(exp)).map_err(|e| err(py, e))?;
    serde_json::to_string(&report).map_err(|e| raise(py, "AttractorError", e.to_string()))
}

/// The GPU adapters wgpu sees (`attractor devices --json`), as JSON text;
/// the first is the one `auto` and `gpu` use.
#[pyfunction]
fn devices_json(py: Python<'_>) -> PyResult<String> {
    use attractor::sim::gpu::devices;
    let list = py.detach(|| devices::summaries(&devices::adapters()));
    serde_json::to_string(&list).map_err(|e| raise(py, "AttractorError", e.to_string()))
}

/// The engine's version.
#[pyfunction]
fn engine_version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeExperiment>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(json_to_toml, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(run_batch, m)?)?;
    m.add_function(wrap_pyfunction!(sweep, m)?)?;
    m.add_function(wrap_pyfunction!(modes_json, m)?)?;
    m.add_function(wrap_pyfunction!(devices_json, m)?)?;
    m.add_function(wrap_pyfunction!(engine_version, m)?)?;
    Ok(())
}
