//! The `attractor` command line: a thin layer over the library.

use anyhow::{Context, Result};
use attractor::analysis::{modes, modes_table};
use attractor::jobs;
use attractor::sim::BackendChoice;
use attractor::Experiment;
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

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulate an experiment and write summary.json, rates.npy, metrics.csv and plots.
    Run {
        /// The experiment file (TOML).
        experiment: PathBuf,
        /// Output folder [default: runs/<name>].
        #[arg(long)]
        out: Option<PathBuf>,
        /// Backend (auto, cpu or gpu); overrides simulation.backend.
        #[arg(long)]
        backend: Option<BackendChoice>,
        /// The GPU adapter: an index as `attractor devices` lists it, a PCI
        /// bus id, a UUID or part of a name; overrides simulation.device and
        /// the GPUs a scheduler bound (CUDA_VISIBLE_DEVICES, SLURM_STEP_GPUS).
        #[arg(long)]
        device: Option<String>,
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
        /// Backend (auto, cpu or gpu); overrides the base experiment's simulation.backend.
        #[arg(long)]
        backend: Option<BackendChoice>,
        /// The GPU adapter: an index as `attractor devices` lists it, a PCI
        /// bus id, a UUID or part of a name; overrides simulation.device and
        /// the GPUs a scheduler bound (CUDA_VISIBLE_DEVICES, SLURM_STEP_GPUS).
        #[arg(long)]
        device: Option<String>,
        /// Run batches on several GPU adapters at once, each from its own
        /// thread: `all` (the GPUs the scheduler bound, else every hardware
        /// adapter) or a list of devices as --device takes them (`0,1`).
        #[arg(long, value_name = "all|LIST", conflicts_with = "device")]
        devices: Option<String>,
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
        /// Print JSON instead of a table (every mode).
        #[arg(long)]
        json: bool,
        /// How many modes of largest real part the table lists.
        #[arg(long, value_name = "K", default_value_t = modes_table::TOP)]
        top: usize,
        /// List every mode (the table of the whole spectrum).
        #[arg(long)]
        all: bool,
        /// Also draw the eigenvalues in the complex plane into this PNG.
        #[arg(long, value_name = "PNG")]
        plot: Option<PathBuf>,
        /// Override any key of the file (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        overrides: Vec<String>,
    },
}

/// `--dynamics`: rate or current, listed in errors and help.
fn dynamics_parser() -> impl clap::builder::TypedValueParser<Value = attractor::model::Dynamics> {
    use attractor::model::Dynamics;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(["rate", "current"]).map(|s| {
        if s == "current" {
            Dynamics::Current
        } else {
            Dynamics::Rate
        }
    })
}

/// `--degree-spread`: the names of the spreads, listed in errors and help.
fn spread_parser() -> impl clap::builder::TypedValueParser<Value = attractor::bench::DegreeSpread> {
    use attractor::bench::DegreeSpread;
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(DegreeSpread::ALL.map(DegreeSpread::name))
        .map(|s| s.parse::<DegreeSpread>().expect("a listed spread"))
}

fn main() -> ExitCode {
    // Output piped into a reader that stops early (`attractor modes ... |
    // head`) ends the process quietly, as other command-line tools do,
    // instead of a panic in print!.
    #[cfg(target_os = "linux")]
    // SAFETY: restoring the default disposition of SIGPIPE before any
    // thread starts; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
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
            device,
            overrides,
            quiet,
        } => run(
            experiment,
            out,
            jobs::Placement {
                backend,
                device,
                ..Default::default()
            },
            overrides,
            quiet,
        ),
        Command::Devices { json } => devices(json),
        Command::Bench(args) => bench(args),
        Command::Sweep {
            sweep,
            out,
            shard,
            resume,
            backend,
            device,
            devices,
            quiet,
        } => run_sweep(
            sweep,
            out,
            shard,
            resume,
            jobs::Placement {
                backend,
                device,
                devices,
                ..Default::default()
            },
            quiet,
        ),
        Command::Merge { shards, out } => merge(shards, out),
        Command::Modes {
            experiment,
            json,
            top,
            all,
            plot,
            overrides,
        } => {
            let exp = load(&experiment, &overrides)?;
            let report = modes::analyse(&exp)?;
            if let Some(path) = &plot {
                attractor::output::plots::spectrum(path, &report)?;
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print!(
                    "{}",
                    modes_table::format_table(&report, (!all).then_some(top))
                );
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
    placement: jobs::Placement,
    quiet: bool,
) -> Result<()> {
    use attractor::sweep::{summary, Shard, Sweep};
    let sw = Sweep::load(&path).with_context(|| path.display().to_string())?;
    let shard = match &shard {
        Some(s) => Shard::parse(s)?,
        None => Shard::ALL,
    };
    let bar = std::cell::OnceCell::new();
    let started = std::time::Instant::now();
    let done = jobs::run_sweep(
        &sw,
        &path,
        out,
        shard,
        resume,
        &placement,
        &mut |note| {
            if !quiet {
                eprintln!("{note}");
            }
        },
        &mut |total, done| {
            if !quiet && std::io::stderr().is_terminal() {
                let b = indicatif::ProgressBar::new(total as u64);
                b.set_style(
                    indicatif::ProgressStyle::with_template(
                        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} runs, {per_sec}, eta {eta}",
                    )
                    .expect("valid template"),
                );
                b.set_position(done as u64);
                let _ = bar.set(b);
            }
        },
        &mut |k| {
            if let Some(b) = bar.get() {
                b.inc(k as u64);
            }
        },
    )?;
    if let Some(b) = bar.get() {
        b.finish_and_clear();
    }
    if !quiet {
        let secs = started.elapsed().as_secs_f64();
        let r = &done.report;
        eprintln!(
            "{}: {} runs in {} batches in {:.2} s ({:.1} runs/s), {} already done; results in {}\n{}",
            sw.name,
            r.ran,
            r.batches,
            secs,
            r.ran as f64 / secs.max(1e-9),
            r.skipped,
            done.dir.display(),
            summary::table(&sw.keys, &done.summaries)
        );
    }
    Ok(())
}

fn merge(shards: Vec<PathBuf>, out: PathBuf) -> Result<()> {
    let m = attractor::sweep::merge::merge_into(&shards, &out)?;
    eprintln!(
        "merged {} shards: {} rows into {}\n{}",
        shards.len(),
        m.rows,
        out.display(),
        attractor::sweep::summary::table(&m.info.keys, &m.summaries)
    );
    Ok(())
}

/// Options of `attractor bench`.
#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Backends to measure [default: cpu, and gpu when an adapter exists].
    #[arg(long, value_enum)]
    backend: Vec<attractor::bench::BenchBackend>,
    /// Operators [default: dense, ring, hebbian; the others on request].
    #[arg(long, value_enum)]
    operator: Vec<attractor::bench::OperatorKind>,
    /// Sizes N [default: dense 1024 4096, ring 65536 1048576, hebbian and packed 16384, random 1024 4096, sparse 100000].
    #[arg(long)]
    n: Vec<usize>,
    /// Patterns of the Hebbian and packed cases.
    #[arg(long, default_value_t = attractor::bench::HEBBIAN_PATTERNS)]
    patterns: usize,
    /// Partners per neuron of the sparse cases.
    #[arg(long, default_value_t = attractor::bench::SPARSE_DEGREE)]
    degree: usize,
    /// How the sparse cases' in-degrees spread: fixed, or lognormal (mean
    /// --degree, heavy-tailed).
    #[arg(long, default_value = "fixed", value_parser = spread_parser())]
    degree_spread: attractor::bench::DegreeSpread,
    /// The activation F of every case: a kind (linear, relu, tanh,
    /// sigmoid, clip, step) or an inline table as in an experiment file,
    /// `{ kind = "tanh", beta = 4.0 }`.
    #[arg(long, default_value = "relu")]
    activation: String,
    /// The dynamics of every case: rate (tau dv/dt = -v + F(h + M v)) or
    /// current (tau dI/dt = -I + h + M F(I)).
    #[arg(long, default_value = "rate", value_parser = dynamics_parser())]
    dynamics: attractor::model::Dynamics,
    /// Trials stepped together.
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// The GPU adapter of the GPU cases: an index as `attractor devices`
    /// lists it, a PCI bus id, a UUID or part of a name.
    #[arg(long)]
    device: Option<String>,
    /// Timed repetitions per case (the median is reported).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    /// Seconds one timed run should take (sets the steps per submit).
    #[arg(long, default_value_t = 0.2)]
    seconds: f64,
    /// GPU cases: time every shape of the dense kernel (threads per
    /// workgroup × rows per workgroup) the adapter allows, the batch
    /// kernel's column spans, the convolution staged or not, packed
    /// projections by pattern or by block, and sparse rows' lanes (1 to
    /// 32), not only the default choice, and name the fastest.
    #[arg(long)]
    tune: bool,
    /// GPU cases: also run the counting build of the kernels (each load and
    /// store adds its bytes to its binding's counter) for a few steps and
    /// report the bytes counted per step (measured_bytes_per_step,
    /// measured_weight_bytes_per_step).
    #[arg(long)]
    count: bool,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Plan the GPU cases instead of timing them: every buffer's bytes and
    /// every dispatch's grid, within the limits of --limits, without
    /// allocating or running anything; exits non-zero naming any limit a
    /// case would exceed.
    #[arg(long)]
    plan: bool,
    /// The limits --plan keeps within: h200 or webgpu [default: this
    /// machine's GPU adapter's].
    #[arg(long, value_name = "NAME", requires = "plan")]
    limits: Option<String>,
    /// Also draw time per step against N into this PNG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

fn bench(args: BenchArgs) -> Result<()> {
    use attractor::bench::{self, BenchEvent, BenchPlan, BenchResult};
    let BenchArgs {
        backend,
        operator,
        n,
        patterns,
        degree,
        degree_spread,
        activation,
        dynamics,
        batch,
        reps,
        seconds,
        tune,
        count,
        device,
        json,
        plan: planned,
        limits,
        plot,
    } = args;
    let plan = BenchPlan {
        backends: backend,
        operators: operator,
        sizes: n,
        patterns,
        degree,
        spread: degree_spread,
        activation: bench::parse_activation(&activation)?,
        dynamics,
        batch,
        reps,
        seconds,
        tune,
        count,
        device,
    };
    // Bad counts are refused before anything is printed.
    plan.check()?;
    if planned {
        return print_plans(&bench::plans(&plan, limits.as_deref())?, json);
    }
    if !json {
        println!(
            "{:<4} {:<12} {:>9} {:>6} {:>6} {:>11} {:>11} {:>5} {:>11} {:>8} {:>8} {:>9} {:>9}  shape",
            "",
            "operator",
            "n",
            "batch",
            "steps",
            "s/step",
            "gpu s/step",
            "disp",
            "bytes/step",
            "GB/s",
            "bw GB/s",
            "fraction",
            "GFLOP/s",
        );
    }
    let row = |r: &BenchResult| {
        let shape = r.shape_label();
        println!(
            "{:<4} {:<12} {:>9} {:>6} {:>6} {:>11.3e} {:>11} {:>5} {:>11.3e} {:>8.2} {:>8.1} {:>9} {:>9.2}  {}",
            r.backend,
            r.case_label(),
            r.n,
            r.batch,
            r.steps_per_submit,
            r.seconds_per_step,
            r.gpu_seconds_per_step
                .map_or("-".to_string(), |s| format!("{s:.3e}")),
            r.dispatches_per_step
                .map_or("-".to_string(), |d| format!("{d}")),
            r.bytes_per_step,
            r.gbytes_per_second,
            r.bandwidth_gbytes_per_second,
            format!(
                "{:.3}{}",
                r.fraction_of_bandwidth,
                if r.cache_resident { "*" } else { " " }
            ),
            r.gflops_per_second,
            shape
        );
        if let (Some(m), Some(w)) = (r.measured_bytes_per_step, r.measured_weight_bytes_per_step) {
            println!(
                "{:<4} counted {m:.4e} bytes/step ({w:.4e} of the weights); the schedule requests {:.4e}",
                "",
                r.requested_bytes_per_step.unwrap_or(f64::NAN)
            );
        }
    };
    let all = bench::run(&plan, &mut |event| {
        match event {
            BenchEvent::Case(r) if json => {
                println!(
                    "{}",
                    serde_json::to_string(r).expect("bench results serialise")
                )
            }
            BenchEvent::Case(r) => row(r),
            _ if json => {}
            BenchEvent::Backend {
                backend,
                description,
            } => println!("{backend}: {description}"),
            BenchEvent::Fastest { n, best, default } => println!(
                "gpu  {} N = {n}: fastest shape {} ({:.3e} s/step); \
                 the default for this N is {default}",
                format!("{:?}", best.operator).to_lowercase(),
                best.shape_label(),
                best.seconds_per_step,
            ),
        }
        Ok(())
    })?;
    if let Some(p) = plot {
        bench::bench_plot(&p, &all)?;
    }
    Ok(())
}

/// Prints the plans of `bench --plan`; fails naming the first limit a case
/// would exceed.
fn print_plans(plans: &[attractor::bench::plan::CasePlan], json: bool) -> Result<()> {
    for p in plans {
        if json {
            println!("{}", serde_json::to_string(p)?);
        } else {
            print!("{}", p.describe());
        }
    }
    match plans.iter().find(|p| !p.fits) {
        None => Ok(()),
        Some(p) => Err(anyhow::anyhow!(
            "{:?} N = {} does not fit within {}: {}",
            p.operator,
            p.n,
            p.limits,
            p.exceeded[0]
        )),
    }
}

fn devices(json: bool) -> Result<()> {
    use attractor::sim::gpu::{devices, pick};
    let list = devices::summaries(&devices::adapters());
    // The adapter a run without --device opens, and why.
    let pick = pick::pick(&list, None, &pick::process_env);
    if json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if list.is_empty() {
        println!(
            "{}
auto runs on the CPU.",
            devices::NO_ADAPTER
        );
        return Ok(());
    }
    let chosen = pick.as_ref().ok().and_then(|p| p.as_ref()).map(|p| p.index);
    for a in &list {
        let bus = if a.pci_bus_id.is_empty() {
            "no PCI bus id".to_string()
        } else {
            format!("PCI {}", a.pci_bus_id)
        };
        let memory = a
            .memory_bytes
            .map(|b| format!(", {} MiB", b >> 20))
            .unwrap_or_default();
        let uuid = a
            .uuid
            .as_ref()
            .map(|u| format!(", {u}"))
            .unwrap_or_default();
        println!(
            "{} {}: {}
    type {}, backend {}, {bus}{uuid}{memory}, driver {}
    max storage binding {} MiB, max buffer {} MiB, \
             {} invocations per workgroup, {} workgroups per dimension",
            if Some(a.index) == chosen { "*" } else { " " },
            a.index,
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
    match pick {
        Ok(Some(p)) => println!(
            "* = the adapter --backend gpu opens ({}); auto too unless it is a software adapter \
             (auto then runs on the CPU). --device INDEX|PCI-BUS-ID|NAME chooses another.",
            p.chosen_by
        ),
        Ok(None) => {}
        Err(e) => println!("{e}"),
    }
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
    placement: jobs::Placement,
    overrides: Vec<String>,
    quiet: bool,
) -> Result<()> {
    let exp = load(&path, &overrides)?;
    let out = jobs::run_dir(&exp, out);
    let chatty = !quiet;
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
    let done = jobs::run_experiment(
        &exp,
        &placement,
        &out,
        &mut |note| {
            if chatty {
                eprintln!("{note}");
            }
        },
        &mut |s| {
            if let Some(b) = &bar {
                b.set_position(s);
            }
        },
    )
    .with_context(|| format!("running `{}` into {}", exp.name, out.display()))?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (rec, written) = (&done.recording, &done.written);
    if let Some(f) = &rec.fault {
        return Err(anyhow::anyhow!("{f}").context(format!(
            "run `{}` stopped: the {} failed; {} records written to {}",
            exp.name,
            rec.backend,
            rec.t.len(),
            out.display()
        )));
    }
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
