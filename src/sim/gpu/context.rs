//! The one owner of GPU state: instance, adapter choice, device and queue.

use super::devices::{self, AdapterSummary, NO_ADAPTER};
use super::pick;
use crate::error::{Error, Result};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wgpu::util::DeviceExt;

/// Longest wait for one submit before the run fails with a timeout.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Device, queue and the adapter they came from, with errors the device
/// reports outside any call (validation, loss) collected for the next check.
pub struct GpuContext {
    /// The adapter.
    pub adapter: wgpu::Adapter,
    /// The device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's description.
    pub summary: AdapterSummary,
    /// Why this adapter: `--device 1`, `CUDA_VISIBLE_DEVICES=2`, or `the
    /// first adapter listed`.
    pub chosen_by: String,
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Opens the first adapter listed, or the one the scheduler bound to
    /// this process (see [`pick::binding`]).
    pub fn new() -> Result<Self> {
        Self::open(None)
    }

    /// Opens the adapter `device` (a key, for errors, and its value)
    /// names, else as [`GpuContext::new`].
    pub fn open(device: Option<(&str, &str)>) -> Result<Self> {
        let mut adapters = devices::adapters();
        let list = devices::summaries(&adapters);
        let chosen = pick::pick(&list, device, &pick::process_env)?
            .ok_or_else(|| Error::Unavailable(NO_ADAPTER.into()))?;
        let adapter = adapters.swap_remove(chosen.index);
        Self::with_adapter(adapter, list[chosen.index].clone(), chosen.chosen_by)
    }

    /// Opens `adapter`, described by `summary`, chosen as `chosen_by` says.
    pub fn with_adapter(
        adapter: wgpu::Adapter,
        summary: AdapterSummary,
        chosen_by: String,
    ) -> Result<Self> {
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("attractor device"),
            // GPU time measured on the GPU (see `timing`) and subgroup sums
            // in the structured kernels, where the adapter can.
            required_features: adapter.features()
                & (wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP),
            required_limits: adapter.limits(),
            experimental_features: wgpu::ExperimentalFeatures::default(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Gpu(format!("cannot open {}: {e}", summary.name)))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            sink.lock().expect("error list").push(e.to_string());
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, message| {
            sink.lock()
                .expect("error list")
                .push(format!("device lost ({reason:?}): {message}"));
        });
        Ok(GpuContext {
            adapter,
            device,
            queue,
            summary,
            chosen_by,
            errors,
        })
    }

    /// The narrowest and widest subgroups of the adapter, where the device
    /// has subgroup operations (`Features::SUBGROUP`).
    pub fn subgroup_sizes(&self) -> Option<(u32, u32)> {
        let info = self.adapter.get_info();
        self.device
            .features()
            .contains(wgpu::Features::SUBGROUP)
            .then_some((info.subgroup_min_size, info.subgroup_max_size))
    }

    /// Fails with the first error the device reported since the last check.
    pub fn check(&self) -> Result<()> {
        let mut errors = self.errors.lock().expect("error list");
        if errors.is_empty() {
            Ok(())
        } else {
            let all = errors.drain(..).collect::<Vec<_>>().join("; ");
            Err(Error::Gpu(all))
        }
    }

    /// Runs `f` inside a validation and out-of-memory error scope.
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        if let Some(e) = v.or(o) {
            return Err(Error::Gpu(format!("{what}: {e}")));
        }
        self.check()?;
        Ok(value)
    }
}

/// A labelled storage buffer holding `data` (one zero when empty: WebGPU
/// has no empty bindings).
pub fn storage_buffer(ctx: &GpuContext, label: &str, data: &[f32]) -> wgpu::Buffer {
    let data: &[f32] = if data.is_empty() { &[0.0] } else { data };
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
        })
}

/// A labelled storage buffer of 32-bit words (one zero when empty).
pub fn storage_words(ctx: &GpuContext, label: &str, data: &[u32]) -> wgpu::Buffer {
    let data: &[u32] = if data.is_empty() { &[0] } else { data };
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: bytemuck::cast_slice(data),
            usage: wgpu::BufferUsages::STORAGE,
        })
}
