//! Writing a run's outputs (SPEC §4): summary.json, rates.npy, metrics.csv,
//! the experiment as run, and PNG plots. Every file is written to a
//! temporary file in the same folder, flushed, synced and renamed, so a
//! crash never leaves a half-written file under its final name.

pub mod bench_plot;
pub mod legend;
pub mod plots;
pub mod sheet;

use crate::error::{Error, Result};
use crate::model::Experiment;
use crate::sim::Recording;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Makes `dir` ready for a run's outputs before anything is computed: it is
/// created if missing, and must be a folder this process can write in (a
/// file in the way, or a folder without write permission, is an error
/// naming `key` and the path).
pub fn prepare_dir(key: &str, dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::invalid(
            key,
            dir.display(),
            "is a file, not a folder; give a folder for the outputs (it is created if missing)",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::invalid(
            key,
            dir.display(),
            format!("cannot be created as a folder: {e}"),
        )
    })?;
    tempfile::Builder::new()
        .prefix(".attractor-probe-")
        .tempfile_in(dir)
        .map_err(|e| Error::invalid(key, dir.display(), format!("cannot be written in: {e}")))?;
    Ok(())
}

/// Writes `path` atomically with the bytes that `fill` produces.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".attractor-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, e))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        fill(&mut w).map_err(|e| Error::io(path, e))?;
        w.flush().map_err(|e| Error::io(path, e))?;
    }
    finish_atomic(tmp, path)
}

/// Syncs a finished temporary file, makes it readable like any other output
/// (temporary files start private), and renames it to `path`.
pub fn finish_atomic(tmp: tempfile::NamedTempFile, path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(|e| Error::io(path, e))?;
    }
    tmp.as_file().sync_all().map_err(|e| Error::io(path, e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

/// Writes a float32 .npy array of `shape` (C order).
pub fn write_npy_f32(path: &Path, shape: &[u64], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    write_atomic(path, |w| {
        let mut npy = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(w)
            .begin_nd()?;
        npy.extend(data.iter().copied())?;
        npy.finish()
    })
}

/// Formats a float for CSV: shortest round-trip form, `inf`/`-inf`/`nan` spelled out.
pub fn csv_float(x: f64) -> String {
    if x.is_nan() {
        "nan".into()
    } else if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        format!("{x}")
    }
}

/// Writes metrics.csv: `t` then the metric columns, a row per record.
pub fn write_metrics_csv(path: &Path, rec: &Recording) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let mut header = vec!["t".to_string()];
        header.extend(rec.metric_names.iter().cloned());
        csv.write_record(&header)?;
        for (t, row) in rec.t.iter().zip(&rec.metrics) {
            let mut fields = vec![csv_float(*t)];
            fields.extend(row.iter().map(|&x| csv_float(x)));
            csv.write_record(&fields)?;
        }
        csv.flush()
    })
}

/// The summary.json object of a run.
pub fn summary(exp: &Experiment, rec: &Recording) -> Value {
    let finals: serde_json::Map<String, Value> = rec
        .final_metrics()
        .into_iter()
        .map(|(k, v)| (k, if v.is_finite() { json!(v) } else { Value::Null }))
        .collect();
    let sim = &exp.simulation;
    let mut summary = json!({
        "name": exp.name,
        "backend": rec.backend,
        "adapter": rec.adapter,
        "adapter_pci_bus_id": rec.adapter_pci_bus_id,
        "adapter_chosen_by": rec.adapter_chosen_by,
        "precision": rec.precision,
        "n": exp.network.n,
        "tau": exp.network.tau,
        "dynamics": exp.network.dynamics,
        "activation": exp.network.activation.kind(),
        "weights": exp.network.weights.kind(),
        "method": sim.method,
        "steps": sim.steps,
        "steps_done": rec.steps_done,
        "dt": sim.dt,
        "duration": sim.duration,
        "noise": sim.noise,
        "seed": sim.seed,
        "records": rec.t.len(),
        "rates_shape": if rec.kept > 0 { json!([rec.t.len(), rec.kept]) } else { Value::Null },
        "rates_stride": exp.record.stride,
        "wall_seconds": rec.wall_seconds,
        "steps_per_second": if rec.wall_seconds > 0.0 { rec.steps_done as f64 / rec.wall_seconds } else { 0.0 },
        "final": finals,
        "diverged": rec.divergence.map(|d| json!({"step": d.step, "t": d.t, "nan": d.nan})),
        "fault": rec.fault,
    });
    if exp.network.has_populations() {
        summary["populations"] = json!(exp
            .network
            .populations
            .iter()
            .map(|p| json!({
                "name": p.name,
                "n": p.n,
                "first_neuron": p.start,
                "tau": p.tau,
                "dynamics": p.dynamics,
                "activation": p.activation.kind(),
                "noise": p.noise.unwrap_or(sim.noise),
            }))
            .collect::<Vec<_>>());
    }
    summary
}

/// The files written by [`write_run`].
#[derive(Clone, Debug, Default)]
pub struct Written {
    /// Paths written, in order.
    pub files: Vec<PathBuf>,
}

/// Writes every output of a run to `dir`: experiment.toml, metrics.csv,
/// rates.npy (and rates_NAME.npy and rates_NAME.png for each population),
/// rates.png, profiles.png (ring networks), sheet.png and
/// sheet.gif (torus networks, every neuron kept) and state_space.png (two
/// neurons) when rates are kept, metrics.png and, last, summary.json.
pub fn write_run(dir: &Path, exp: &Experiment, rec: &Recording) -> Result<Written> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut out = Written::default();
    let mut put = |name: &str| {
        let p = dir.join(name);
        out.files.push(p.clone());
        p
    };
    let p = put("experiment.toml");
    write_atomic(&p, |w| w.write_all(exp.toml.as_bytes()))?;
    let p = put("metrics.csv");
    write_metrics_csv(&p, rec)?;
    if rec.kept > 0 {
        let p = put("rates.npy");
        write_npy_f32(&p, &[rec.t.len() as u64, rec.kept as u64], &rec.rates)?;
        for pop in &exp.network.populations {
            // The kept neurons (every stride-th of the network) of this population.
            let stride = exp.record.stride;
            let cols: Vec<usize> = (0..rec.kept)
                .filter(|k| pop.range().contains(&(k * stride)))
                .collect();
            let data: Vec<f32> = rec
                .rates
                .chunks(rec.kept)
                .flat_map(|row| cols.iter().map(move |&k| row[k]))
                .collect();
            let p = put(&format!("rates_{}.npy", pop.name));
            write_npy_f32(&p, &[rec.t.len() as u64, cols.len() as u64], &data)?;
            // Its picture, where its kept neurons are every stride-th of its own.
            if !rec.t.is_empty() && !cols.is_empty() && pop.start % stride == 0 {
                let mut sub = exp.clone();
                sub.name = format!("{}, population {}", exp.name, pop.name);
                sub.network.n = pop.n;
                let mut part = rec.clone();
                part.rates = data;
                part.kept = cols.len();
                let p = put(&format!("rates_{}.png", pop.name));
                plots::rates_image(&p, &sub, &part)?;
            }
        }
        if !rec.t.is_empty() {
            let p = put("rates.png");
            plots::rates_image(&p, exp, rec)?;
            // A ring's profiles (a torus's are its sheet).
            if exp.network.weights.geometry().dims == 1 {
                let p = put("profiles.png");
                plots::ring_profiles(&p, exp, rec)?;
            }
            if exp.network.weights.geometry().dims == 2 && rec.kept == exp.network.n {
                let p = put("sheet.png");
                sheet::torus_sheet(&p, exp, rec)?;
                let p = put("sheet.gif");
                sheet::torus_gif(&p, exp, rec)?;
            }
            if exp.network.n == 2 && rec.kept == 2 {
                let p = put("state_space.png");
                plots::state_space(&p, exp, rec)?;
            }
        }
    }
    if !rec.t.is_empty() {
        let p = put("metrics.png");
        plots::metrics_plot(&p, exp, rec)?;
    }
    let p = put("summary.json");
    let text = serde_json::to_string_pretty(&summary(exp, rec)).expect("summary serialises");
    write_atomic(&p, |w| writeln!(w, "{text}"))?;
    Ok(out)
}
