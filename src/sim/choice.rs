//! Which backend runs an experiment: `simulation.backend` or `--backend`
//! (auto, cpu, gpu) turned into a backend, on the adapter `--device` or
//! `simulation.device` names, or the one the scheduler bound.

use super::cpu::CpuBackend;
use super::gpu::context::GpuContext;
use super::gpu::devices::{self, AdapterSummary};
use super::gpu::pick;
use super::gpu::GpuBackend;
use super::Backend;
use crate::error::{Error, Result};
use crate::model::BackendChoice;

/// One backend per device.
pub type Backends = Vec<Box<dyn Backend>>;

/// The key and value that name a GPU adapter: `("--device", "1")` or
/// `("simulation.device", "H200")`.
pub type Device<'a> = Option<(&'a str, &'a str)>;

/// The device a run asks for: `given` (its key, `--device` or `device`,
/// and value) over the experiment's `simulation.device`.
pub fn device_of<'a>(given: Device<'a>, experiment_device: Option<&'a str>) -> Device<'a> {
    given.or(experiment_device.map(|d| ("simulation.device", d)))
}

fn describe(s: &AdapterSummary, chosen_by: &str) -> String {
    let bus = if s.pci_bus_id.is_empty() {
        String::new()
    } else {
        format!(", {}", s.pci_bus_id)
    };
    format!(
        "{} ({}, {}{bus}; {chosen_by})",
        s.name, s.device_type, s.backend
    )
}

/// The backend for `choice` on `device`, with a note for stderr saying
/// what was picked: `auto` takes the adapter `device` names or the
/// scheduler bound, else the best hardware GPU adapter (discrete, then
/// integrated, then virtual), and otherwise the CPU backend, which outruns
/// a software adapter such as lavapipe; `--backend gpu` takes the named,
/// bound or best adapter of any kind. A device with `cpu` is an error.
pub fn select(choice: BackendChoice, device: Device) -> Result<(Box<dyn Backend>, Option<String>)> {
    match choice {
        BackendChoice::Cpu => match device {
            Some((key, value)) => Err(Error::invalid(
                key,
                format!("{value:?}"),
                "chooses a GPU adapter, but the backend is cpu (use --backend gpu or auto, \
                 or leave the device out)",
            )),
            None => Ok((Box::new(CpuBackend), None)),
        },
        BackendChoice::Gpu => {
            let b = GpuBackend::open(device)?;
            let c = b.context();
            let note = format!("backend gpu: {}", describe(&c.summary, &c.chosen_by));
            Ok((Box::new(b), Some(note)))
        }
        BackendChoice::Auto => {
            let mut adapters = devices::adapters();
            let list = devices::summaries(&adapters);
            let chosen = pick::pick(&list, device, &pick::process_env)?;
            let cpu = |why: String| -> Result<(Box<dyn Backend>, Option<String>)> {
                Ok((
                    Box::new(CpuBackend),
                    Some(format!("backend auto: {why}; running on the CPU")),
                ))
            };
            let Some(chosen) = chosen else {
                return cpu("no GPU adapter found".into());
            };
            let summary = list[chosen.index].clone();
            if !chosen.named && summary.device_type == "cpu (software)" {
                return cpu(format!(
                    "the only adapter is the software one {} (--backend gpu uses it; the CPU backend is faster)",
                    summary.name
                ));
            }
            let adapter = adapters.swap_remove(chosen.index);
            let opened = GpuContext::with_adapter(adapter, summary, chosen.chosen_by)
                .and_then(GpuBackend::on);
            match opened {
                Ok(b) => {
                    let c = b.context();
                    let note = format!("backend auto: GPU {}", describe(&c.summary, &c.chosen_by));
                    Ok((Box::new(b), Some(note)))
                }
                // A named adapter that fails to open is an error, not a
                // reason to run elsewhere.
                Err(e) if chosen.named => Err(e),
                Err(e) => cpu(format!("the GPU could not be opened ({e})")),
            }
        }
    }
}

/// One backend per entry of `devices` (`all`, or a list as
/// [`pick::choose_many`] takes it) for a sweep, with a note naming
/// them: each a GPU backend of its own (two entries naming one adapter
/// open it twice). `--devices` needs the GPU: with `cpu` it is an error.
pub fn select_many(
    choice: BackendChoice,
    key: &str,
    list_of_devices: &str,
) -> Result<(Backends, String)> {
    if choice == BackendChoice::Cpu {
        return Err(Error::invalid(
            key,
            format!("{list_of_devices:?}"),
            "spreads a sweep over GPU adapters, but the backend is cpu",
        ));
    }
    let adapters = devices::adapters();
    let list = devices::summaries(&adapters);
    let bound = pick::binding(&list, &pick::process_env)?;
    let chosen = pick::choose_many(&list, key, list_of_devices, bound.as_ref())?;
    let why = match &bound {
        Some(b) if list_of_devices.trim() == "all" => format!("{}={}", b.variable, b.value),
        _ => format!("{key} {list_of_devices}"),
    };
    let mut backends: Backends = Vec::new();
    let mut names = Vec::new();
    for &i in &chosen {
        // One device per entry: two entries naming one adapter open two
        // devices on it.
        let ctx = GpuContext::with_adapter(adapters[i].clone(), list[i].clone(), why.clone())?;
        names.push(describe(&ctx.summary, &why));
        backends.push(Box::new(GpuBackend::on(ctx)?));
    }
    let note = format!(
        "backend gpu on {} devices: {}",
        backends.len(),
        names.join("; ")
    );
    Ok((backends, note))
}
