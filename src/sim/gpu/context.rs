//! The one owner of GPU state: instance, adapter choice, device and queue.

use crate::error::{Error, Result};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait for one submit before the run fails with a timeout.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(600);

/// What `attractor devices` shows of an adapter.
#[derive(Clone, Debug, Serialize)]
pub struct AdapterSummary {
    /// Adapter name, e.g. "NVIDIA H100" or "llvmpipe (LLVM 15.0.6, 256 bits)".
    pub name: String,
    /// Graphics API: vulkan, metal, dx12, ...
    pub backend: String,
    /// discrete, integrated, virtual, cpu (software) or other.
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest storage buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Most invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Most workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
}

fn kind(t: wgpu::DeviceType) -> (&'static str, u8) {
    match t {
        wgpu::DeviceType::DiscreteGpu => ("discrete", 0),
        wgpu::DeviceType::IntegratedGpu => ("integrated", 1),
        wgpu::DeviceType::VirtualGpu => ("virtual", 2),
        wgpu::DeviceType::Other => ("other", 3),
        wgpu::DeviceType::Cpu => ("cpu (software)", 4),
    }
}

/// Describes an adapter.
pub fn summary(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend).to_lowercase(),
        device_type: kind(info.device_type).0.into(),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
        max_buffer_size: limits.max_buffer_size,
        max_compute_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
        max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
    }
}

/// Points `XDG_RUNTIME_DIR` at a private folder when it is unset or not a
/// folder, once per process, before the first wgpu instance. Mesa's Vulkan
/// drivers (their Wayland support) otherwise print `error: XDG_RUNTIME_DIR
/// is invalid or not set in the environment.` on headless machines each time
/// adapters are enumerated; an empty folder of our own has no display in it,
/// so nothing changes but the message.
pub fn quiet_headless() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let valid =
            std::env::var_os("XDG_RUNTIME_DIR").is_some_and(|d| std::path::Path::new(&d).is_dir());
        if valid {
            return;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::{DirBuilderExt, MetadataExt};
            // Set once, before any wgpu instance (whose driver threads read
            // the environment) exists.
            let uid = std::fs::metadata("/proc/self").map_or(0, |m| m.uid());
            let dir = std::env::temp_dir().join(format!("attractor-runtime-{uid}"));
            let made = std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&dir)
                .or_else(|e| if dir.is_dir() { Ok(()) } else { Err(e) });
            if made.is_ok() {
                std::env::set_var("XDG_RUNTIME_DIR", &dir);
            }
        }
    });
}

/// Every compute-capable adapter wgpu finds, best first: discrete GPUs, then
/// integrated, virtual, other, and software adapters last.
pub fn adapters() -> Vec<wgpu::Adapter> {
    quiet_headless();
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    list.retain(|a| {
        a.get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
    });
    list.sort_by_key(|a| kind(a.get_info().device_type).1);
    list
}

/// The message for a machine without an adapter.
pub const NO_ADAPTER: &str = "no GPU adapter found: wgpu sees no Vulkan, Metal or DX12 device. \
    On Linux install a Vulkan driver: your GPU vendor's, or Mesa's (`apt-get install \
    mesa-vulkan-drivers`, which includes the lavapipe software adapter); or run with --backend cpu";

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
    errors: Arc<Mutex<Vec<String>>>,
}

impl GpuContext {
    /// Opens the best adapter (see [`adapters`]) with its full limits.
    pub fn new() -> Result<Self> {
        let adapter = adapters()
            .into_iter()
            .next()
            .ok_or_else(|| Error::Unavailable(NO_ADAPTER.into()))?;
        Self::with_adapter(adapter)
    }

    /// Opens `adapter`.
    pub fn with_adapter(adapter: wgpu::Adapter) -> Result<Self> {
        let summary = summary(&adapter);
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
