//! The `attractor` command line: a thin layer over the library.

use anyhow::{Context, Result};
use attractor::analysis::modes;
use attractor::sim::{self, BackendChoice};
use attractor::{output, Experiment};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Firing-rate recurrent networks (linear, ring, Hopfield) on the CPU and GPU.
#[derive(Parser, Debug)]
#[command(name = "attractor", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// A backend to benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum BenchBackend {
    Cpu,
    Gpu,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate an experiment and write summary.json, rates.npy, metrics.csv and plots.
    Run {
        /// The experiment file (TOML).
        experiment: PathBuf,
        /// Output folder [default: runs/<name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Backend; overrides simulation.backend.
        #[arg(long, value_enum)]
        backend: Option<BackendChoice>,
        /// Override any key of the file, e.g. --set network.weights.lambda1=2.0 (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
        /// No progress bar or messages on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Run a sweep: a grid of experiments, seeded trials, retention times.
    Sweep {
        /// The sweep file (TOML).
        sweep: PathBuf,
        /// Output folder [default: runs/<name>, or runs/<name>/shard-K-of-N].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run every N-th grid point from K (K/N, 0-based), or `slurm` to
        /// take K and N from the Slurm job array's environment.
        #[arg(long)]
        shard: Option<String>,
        /// Continue an interrupted sweep in --out, skipping finished runs.
        #[arg(long)]
        resume: bool,
        /// Backend; overrides the base experiment's simulation.backend.
        #[arg(long, value_enum)]
        backend: Option<BackendChoice>,
        /// No progress bar or summary table on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Join the results of shards of one sweep.
    Merge {
        /// Shard folders.
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
    },
    /// Time per step, bytes streamed, GB/s and the fraction of the measured bandwidth.
    Bench(BenchArgs),
    /// List the GPU adapters wgpu sees and which one `auto` picks.
    Devices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Eigen-analysis of M: eigenvalues, gains, time constants, regimes, linear steady states.
    Modes {
        /// The experiment file (TOML).
        experiment: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Override any key of the file (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            for cause in e.chain().skip(1) {
                msg.push_str(&format!(": {cause}"));
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run {
            experiment,
            out,
            backend,
            overrides,
            quiet,
        } => run(experiment, out, backend, overrides, quiet),
        Command::Devices { json } => devices(json),
        Command::Bench(args) => bench(args),
        Command::Sweep {
            sweep,
            out,
            shard,
            resume,
            backend,
            quiet,
        } => run_sweep(sweep, out, shard, resume, backend, quiet),
        Command::Merge { shards, out } => merge(shards, out),
        Command::Modes {
            experiment,
            json,
            overrides,
        } => {
            let exp = load(&experiment, &overrides)?;
            let report = modes::analyse(&exp)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!("{}", modes::format_table(&report));
            }
            Ok(())
        }
    }
}

fn run_sweep(
    path: PathBuf,
    out: Option<PathBuf>,
    shard: Option<String>,
    resume: bool,
    backend: Option<BackendChoice>,
    quiet: bool,
) -> Result<()> {
    use attractor::sweep::{self, results::ResultsFile, Shard, Sweep};
    let sw = Sweep::load(&path).with_context(|| path.display().to_string())?;
    let shard = match &shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    let out = out.unwrap_or_else(|| {
        let base = PathBuf::from("runs").join(&sw.name);
        if shard == Shard::ALL {
            base
        } else {
            base.join(format!("shard-{}-of-{}", shard.k, shard.n))
        }
    });
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    // sweep.json identifies the sweep (hash of the sweep and base files).
    let info_path = out.join("sweep.json");
    if resume && info_path.exists() {
        let old = sweep::merge::shard_info(&out)?;
        if old["hash"] != sw.hash.as_str() {
            anyhow::bail!(
                "--resume: {} holds a sweep whose files differ from {} (hash {} vs {}); resume with the same files or choose another --out",
                out.display(),
                path.display(),
                old["hash"],
                sw.hash
            );
        }
    }
    let info = serde_json::json!({
        "name": sw.name,
        "sweep": path.display().to_string(),
        "base": sw.base.display().to_string(),
        "hash": sw.hash,
        "keys": sw.keys,
        "points": sw.points.len(),
        "trials": sw.trials,
        "shard": {"k": shard.k, "n": shard.n},
    });
    let header = sw.header();
    let (mut results, rows) = ResultsFile::open(&out.join("results.csv"), &header, resume)?;
    let trial_col = header
        .iter()
        .position(|h| h == "trial")
        .expect("trial column");
    let done = sweep::results::finished(&rows, trial_col);
    let mut drift_file = if sw.ring {
        let h: Vec<String> = ["point", "trial", "t", "drift"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Some(ResultsFile::open(&out.join("drift.csv"), &h, resume)?.0)
    } else {
        None
    };
    output::write_atomic(&info_path, |w| {
        writeln!(w, "{}", serde_json::to_string_pretty(&info).expect("json"))
    })?;

    let choice = backend.unwrap_or(Experiment::load(&sw.base, &[])?.simulation.backend);
    let (mut backend, note) = attractor::sim::select(choice)?;
    let total = sw.runs_in(shard);
    if let (Some(n), false) = (note, quiet) {
        eprintln!("{n}");
    }
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} runs, {per_sec}, eta {eta}",
            )
            .expect("valid template"),
        );
        bar.set_position(done.len() as u64);
        bar
    });
    let started = std::time::Instant::now();
    let report = sweep::run(
        &sw,
        shard,
        backend.as_mut(),
        &done,
        &mut |f| {
            if let Some(d) = drift_file.as_mut() {
                for (t, x) in &f.drift {
                    d.append(&[
                        f.point.to_string(),
                        f.trial.to_string(),
                        output::csv_float(*t),
                        output::csv_float(*x),
                    ])?;
                }
            }
            results.append(&f.row)
        },
        &mut |k| {
            if let Some(b) = &bar {
                b.inc(k as u64);
            }
        },
    )?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let summaries = sweep::summary::write_outputs(&out, &sw.keys)?;
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {} runs in {} batches in {:.2} s ({:.1} runs/s), {} already done; results in {}\n{}",
            sw.name,
            report.ran,
            report.batches,
            secs,
            report.ran as f64 / secs.max(1e-9),
            report.skipped,
            out.display(),
            sweep::summary::table(&sw.keys, &summaries)
        );
    }
    Ok(())
}

fn merge(shards: Vec<PathBuf>, out: PathBuf) -> Result<()> {
    use attractor::sweep::merge;
    let dirs: Vec<&std::path::Path> = shards.iter().map(|p| p.as_path()).collect();
    let (info, header, rows, drift) = merge::gather(&dirs)?;
    std::fs::create_dir_all(&out).with_context(|| out.display().to_string())?;
    merge::write(&out.join("results.csv"), &header, &rows)?;
    if !drift.is_empty() {
        let h: Vec<String> = ["point", "trial", "t", "drift"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        merge::write(&out.join("drift.csv"), &h, &drift)?;
    }
    let mut info = info;
    info["shard"] = serde_json::json!({"merged": shards.iter().map(|s| s.display().to_string()).collect::<Vec<_>>()});
    output::write_atomic(&out.join("sweep.json"), |w| {
        writeln!(w, "{}", serde_json::to_string_pretty(&info).expect("json"))
    })?;
    let keys: Vec<String> = info["keys"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let s = attractor::sweep::summary::write_outputs(&out, &keys)?;
    eprintln!(
        "merged {} shards: {} rows into {}\n{}",
        shards.len(),
        rows.len(),
        out.display(),
        attractor::sweep::summary::table(&keys, &s)
    );
    Ok(())
}

/// Options of `attractor bench`.
#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Backends to measure [default: cpu, and gpu when an adapter exists].
    #[arg(long, value_enum)]
    backend: Vec<BenchBackend>,
    /// Operators [default: dense, ring, hebbian].
    #[arg(long, value_enum)]
    operator: Vec<attractor::bench::Operator>,
    /// Sizes N [default: dense 1024 4096, ring 65536 1048576, hebbian 16384].
    #[arg(long)]
    n: Vec<usize>,
    /// Trials stepped together.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Timed repetitions per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Seconds one timed run should take (sets the steps per submit).
    #[arg(long, default_value_t = 0.2)]
    seconds: f64,
    /// GPU dense cases: time every shape of the dense kernel (threads per
    /// workgroup × rows per workgroup) the adapter allows, not only the
    /// default choice, and name the fastest.
    #[arg(long)]
    tune: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw time per step against N into this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// The dense kernel shapes `bench --tune` tries on an adapter whose largest
/// workgroup is `cap`: workgroups of 64 to 1024 threads, 16 to 256 lanes
/// per row.
fn tune_shapes(cap: u32) -> Vec<(u32, u32)> {
    let mut v = Vec::new();
    for wg in [64u32, 128, 256, 512, 1024]
        .into_iter()
        .filter(|&w| w <= cap)
    {
        for lanes in [16u32, 32, 64, 128, 256].into_iter().filter(|&l| l <= wg) {
            v.push((wg, wg / lanes));
        }
    }
    v
}

fn bench(args: BenchArgs) -> Result<()> {
    use attractor::bench::{self, BenchResult, Operator};
    use attractor::sim::gpu::{context, kernels, GpuBackend};
    let BenchArgs {
        backend: backends,
        operator: operators,
        n: sizes,
        batch,
        reps,
        seconds,
        tune,
        json,
        plot,
    } = args;
    anyhow::ensure!(batch >= 1, "--batch must be at least 1");
    anyhow::ensure!(reps >= 1, "--reps must be at least 1");
    let backends = if backends.is_empty() {
        let mut b = vec![BenchBackend::Cpu];
        if !context::adapters().is_empty() {
            b.push(BenchBackend::Gpu);
        }
        b
    } else {
        backends
    };
    let operators = if operators.is_empty() {
        vec![Operator::Dense, Operator::Ring, Operator::Hebbian]
    } else {
        operators
    };
    let sizes_of = |op: Operator| -> Vec<usize> {
        if !sizes.is_empty() {
            return sizes.clone();
        }
        match op {
            Operator::Dense => vec![1024, 4096],
            Operator::Ring => vec![65536, 1 << 20],
            Operator::Hebbian => vec![16384],
        }
    };
    if !json {
        println!(
            "{:<4} {:<8} {:>9} {:>6} {:>6} {:>11} {:>11} {:>8} {:>8} {:>9} {:>9} {:>7}",
            "",
            "operator",
            "n",
            "batch",
            "steps",
            "s/step",
            "bytes/step",
            "GB/s",
            "bw GB/s",
            "fraction",
            "GFLOP/s",
            "shape"
        );
    }
    let report = |r: &BenchResult| -> Result<()> {
        if json {
            println!("{}", serde_json::to_string(r)?);
        } else {
            let shape = match (r.workgroup, r.rows_per_workgroup) {
                (Some(w), Some(k)) => format!("{w}x{k}"),
                _ => "-".to_string(),
            };
            println!(
                "{:<4} {:<8} {:>9} {:>6} {:>6} {:>11.3e} {:>11.3e} {:>8.2} {:>8.1} {:>9.3} {:>9.2} {:>7}",
                r.backend,
                format!("{:?}", r.operator).to_lowercase(),
                r.n,
                r.batch,
                r.steps_per_submit,
                r.seconds_per_step,
                r.bytes_per_step,
                r.gbytes_per_second,
                r.bandwidth_gbytes_per_second,
                r.fraction_of_bandwidth,
                r.gflops_per_second,
                shape
            );
        }
        Ok(())
    };
    let mut all = Vec::new();
    for b in backends {
        match b {
            BenchBackend::Cpu => {
                let adapter = format!("{} threads", rayon::current_num_threads());
                let reader = bench::CpuBandwidth::new();
                if !json {
                    println!(
                        "cpu: {adapter} ({}); bandwidth measured before each case",
                        if attractor::sim::matvec::simd_available() {
                            "AVX2+FMA dense kernel"
                        } else {
                            "portable dense kernel"
                        }
                    );
                }
                for &op in &operators {
                    for n in sizes_of(op) {
                        let bandwidth = reader.measure();
                        let mut cpu = attractor::sim::cpu::CpuBackend;
                        let r = bench::measure(
                            &mut cpu, &adapter, op, n, batch, reps, seconds, bandwidth,
                        )?;
                        report(&r)?;
                        all.push(r);
                    }
                }
            }
            BenchBackend::Gpu => {
                let mut g = GpuBackend::new()?;
                let bandwidth = bench::gpu_bandwidth(g.context());
                let adapter = g.context().summary.name.clone();
                if !json {
                    println!("gpu: {adapter}, measured bandwidth {bandwidth:.1} GB/s");
                }
                let cap = kernels::dense_workgroup_cap(&g.context().device.limits());
                for &op in &operators {
                    for n in sizes_of(op) {
                        // The default shape first, then (--tune) every other one.
                        let mut shapes = vec![None];
                        if tune && op == Operator::Dense {
                            let default = g.dense_shape(n);
                            shapes.extend(
                                tune_shapes(cap)
                                    .into_iter()
                                    .filter(|&s| s != default)
                                    .map(Some),
                            );
                        }
                        let mut best: Option<BenchResult> = None;
                        for shape in shapes {
                            g.set_dense_shape(shape)?;
                            let mut r = bench::measure(
                                &mut g, &adapter, op, n, batch, reps, seconds, bandwidth,
                            )?;
                            if op == Operator::Dense {
                                let (w, k) = g.dense_shape(n);
                                (r.workgroup, r.rows_per_workgroup) = (Some(w), Some(k));
                            }
                            report(&r)?;
                            if best
                                .as_ref()
                                .is_none_or(|b| r.seconds_per_step < b.seconds_per_step)
                            {
                                best = Some(r.clone());
                            }
                            // The plot shows the default shape only.
                            if shape.is_none() {
                                all.push(r);
                            }
                        }
                        g.set_dense_shape(None)?;
                        if let (true, Some(b)) = (tune && op == Operator::Dense, best) {
                            let (w, k) = g.dense_shape(n);
                            if !json {
                                println!(
                                    "gpu  dense N = {n}: fastest shape {}x{} ({:.3e} s/step); \
                                     the default for this N is {w}x{k}",
                                    b.workgroup.unwrap_or(0),
                                    b.rows_per_workgroup.unwrap_or(0),
                                    b.seconds_per_step
                                );
                            }
                        }
                    }
                }
            }
        }
    }
    if let Some(p) = plot {
        output::plots::bench_plot(&p, &all)?;
    }
    Ok(())
}

fn devices(json: bool) -> Result<()> {
    use attractor::sim::gpu::context;
    let list: Vec<context::AdapterSummary> =
        context::adapters().iter().map(context::summary).collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!(
            "{}
auto runs on the CPU.",
            context::NO_ADAPTER
        );
        return Ok(());
    }
    for (k, a) in list.iter().enumerate() {
        println!(
            "{} {}
    type {}, backend {}, driver {}
    max storage binding {} MiB, max buffer {} MiB, \
             {} invocations per workgroup, {} workgroups per dimension",
            if k == 0 { "*" } else { " " },
            a.name,
            a.device_type,
            a.backend,
            a.driver,
            a.max_storage_buffer_binding_size >> 20,
            a.max_buffer_size >> 20,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroups_per_dimension
        );
    }
    println!("* = the adapter `auto` and `--backend gpu` use");
    Ok(())
}

/// Loads an experiment; errors start with the file's name.
fn load(path: &std::path::Path, overrides: &[String]) -> Result<Experiment> {
    Experiment::load(path, overrides).map_err(|e| match e {
        // An I/O error already names its file.
        attractor::Error::Io { .. } => anyhow::Error::new(e),
        other => anyhow::Error::new(other).context(path.display().to_string()),
    })
}

fn run(
    path: PathBuf,
    out: Option<PathBuf>,
    backend: Option<BackendChoice>,
    overrides: Vec<String>,
    quiet: bool,
) -> Result<()> {
    let exp = load(&path, &overrides)?;
    let choice = backend.unwrap_or(exp.simulation.backend);
    let (mut backend, note) = sim::select(choice)?;
    let out = out.unwrap_or_else(|| PathBuf::from("runs").join(&exp.name));
    let chatty = !quiet;
    if let (Some(note), true) = (note, chatty) {
        eprintln!("{note}");
    }
    let steps = exp.simulation.steps;
    let bar = (chatty && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new(steps);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} steps, {per_sec}, eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    });
    let rec = backend.run(&exp, &mut |s| {
        if let Some(b) = &bar {
            b.set_position(s);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let written = output::write_run(&out, &exp, &rec)
        .with_context(|| format!("writing the outputs to {}", out.display()))?;
    if let Some(d) = rec.divergence {
        return Err(anyhow::Error::new(d.error()).context(format!(
            "run `{}` stopped; {} records written to {}",
            exp.name,
            rec.t.len(),
            out.display()
        )));
    }
    if chatty {
        let finals: Vec<String> = rec
            .final_metrics()
            .iter()
            .map(|(k, v)| format!("{k} = {v:.6}"))
            .collect();
        eprintln!(
            "{}: {} steps of N = {} on {} ({}) in {:.3} s ({:.0} steps/s)\n  final: {}\n  wrote {} files to {}",
            exp.name,
            rec.steps_done,
            exp.network.n,
            rec.backend,
            rec.precision,
            rec.wall_seconds,
            rec.steps_done as f64 / rec.wall_seconds.max(1e-12),
            finals.join(", "),
            written.files.len(),
            out.display()
        );
    }
    Ok(())
}
