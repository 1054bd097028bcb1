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
