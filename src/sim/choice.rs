//! Which backend runs an experiment: `simulation.backend` or `--backend`
//! (auto, cpu, gpu) turned into a backend.

use super::cpu::CpuBackend;
use super::gpu::{self, GpuBackend};
use super::Backend;
use crate::error::Result;
use crate::model::BackendChoice;

/// The backend for `choice`, with a note for stderr saying what was picked:
/// `auto` takes the best hardware GPU adapter (discrete, then integrated,
/// then virtual) and otherwise the CPU backend, which outruns a software
/// adapter such as lavapipe; `--backend gpu` takes the best adapter of any kind.
pub fn select(choice: BackendChoice) -> Result<(Box<dyn Backend>, Option<String>)> {
    let describe =
        |s: &gpu::context::AdapterSummary| format!("{} ({}, {})", s.name, s.device_type, s.backend);
    match choice {
        BackendChoice::Cpu => Ok((Box::new(CpuBackend), None)),
        BackendChoice::Gpu => {
            let b = GpuBackend::new()?;
            let note = format!("backend gpu: {}", describe(&b.context().summary));
            Ok((Box::new(b), Some(note)))
        }
        BackendChoice::Auto => {
            let best = gpu::context::adapters().into_iter().next();
            let cpu = |why: String| -> Result<(Box<dyn Backend>, Option<String>)> {
                Ok((
                    Box::new(CpuBackend),
                    Some(format!("backend auto: {why}; running on the CPU")),
                ))
            };
            match best {
                None => cpu("no GPU adapter found".into()),
                Some(a) if a.get_info().device_type == wgpu::DeviceType::Cpu => cpu(format!(
                    "the only adapter is the software one {} (--backend gpu uses it; the CPU backend is faster)",
                    a.get_info().name
                )),
                Some(a) => match GpuBackend::with_adapter(a) {
                    Ok(b) => {
                        let note = format!("backend auto: GPU {}", describe(&b.context().summary));
                        Ok((Box::new(b), Some(note)))
                    }
                    Err(e) => cpu(format!("the GPU could not be opened ({e})")),
                },
            }
        }
    }
}
