//! The adapters wgpu sees, as `attractor devices` lists them: best first,
//! each with its index, PCI bus id and, where the vendor's tools say, its
//! UUID and memory. Which of them a run opens is [`super::pick`]'s.

use serde::Serialize;

/// What `attractor devices` shows of an adapter.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AdapterSummary {
    /// Its index in the list [`adapters`] gives: best first (discrete,
    /// integrated, virtual, other, software), then by PCI bus id.
    pub index: usize,
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
    /// The PCI vendor id.
    pub vendor: u32,
    /// The PCI bus id, `domain:bus:device.function` in lowercase hex
    /// (`0000:18:00.0`), or empty where the driver does not say.
    pub pci_bus_id: String,
    /// The vendor's UUID (`GPU-…`), where its tools give one.
    pub uuid: Option<String>,
    /// Memory on the device, bytes, where its vendor's tools or the kernel
    /// say (wgpu does not).
    pub memory_bytes: Option<u64>,
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

/// Describes the adapter listed at `index` (without the vendor's details,
/// which [`summaries`] adds).
pub fn summary(index: usize, adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    let limits = adapter.limits();
    AdapterSummary {
        index,
        vendor: info.vendor,
        pci_bus_id: canonical_bus_id(&info.device_pci_bus_id).unwrap_or_default(),
        uuid: None,
        memory_bytes: None,
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
/// integrated, virtual, other, and software adapters last; in PCI bus order
/// within each kind.
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
    list.sort_by_cached_key(|a| {
        let info = a.get_info();
        let bus = canonical_bus_id(&info.device_pci_bus_id).unwrap_or_default();
        (kind(info.device_type).1, bus)
    });
    list
}

/// Every adapter's summary, with what the vendors' tools add.
pub fn summaries(adapters: &[wgpu::Adapter]) -> Vec<AdapterSummary> {
    let mut list: Vec<AdapterSummary> = adapters
        .iter()
        .enumerate()
        .map(|(i, a)| summary(i, a))
        .collect();
    add_vendor_details(&mut list);
    list
}

/// The memory a run on the adapter `summary` describes may use: `set`
/// (`ATTRACTOR_GPU_MEMORY_BYTES`) where given, else what the vendor's
/// tools report ([`add_vendor_details`]); `None` where neither says.
pub fn memory_of(summary: &AdapterSummary, set: Option<u64>) -> Option<u64> {
    set.or(summary.memory_bytes)
}

/// The message for a machine without an adapter.
pub const NO_ADAPTER: &str = "no GPU adapter found: wgpu sees no Vulkan, Metal or DX12 device. \
    On Linux install a Vulkan driver: your GPU vendor's, or Mesa's (`apt-get install \
    mesa-vulkan-drivers`, which includes the lavapipe software adapter); or run with --backend cpu";

/// PCI vendor id of NVIDIA.
pub const NVIDIA: u32 = 0x10de;
/// PCI vendor id of AMD.
pub const AMD: u32 = 0x1002;

impl AdapterSummary {
    /// Whether it is a hardware adapter (not a software one such as
    /// lavapipe).
    pub fn hardware(&self) -> bool {
        self.device_type != "cpu (software)"
    }

    fn line(&self) -> String {
        let bus = if self.pci_bus_id.is_empty() {
            "no PCI bus id".to_string()
        } else {
            self.pci_bus_id.clone()
        };
        format!(
            "{}: {} ({}, {bus})",
            self.index, self.name, self.device_type
        )
    }
}

/// The adapters, one per line, for errors.
pub fn listing(list: &[AdapterSummary]) -> String {
    if list.is_empty() {
        return "wgpu lists no adapter".into();
    }
    let lines: Vec<String> = list.iter().map(AdapterSummary::line).collect();
    format!("the adapters are:\n  {}", lines.join("\n  "))
}

/// A PCI bus id in the canonical form, `dddd:bb:dd.f` in lowercase hex,
/// from the forms drivers and tools write (`00000000:18:00.0` from
/// nvidia-smi, `18:00.0` without a domain, upper case); `None` if `s` is
/// not one.
pub fn canonical_bus_id(s: &str) -> Option<String> {
    let s = s.trim();
    let (rest, function) = s.rsplit_once('.')?;
    let parts: Vec<&str> = rest.split(':').collect();
    let (domain, bus, device) = match parts[..] {
        [d, b, v] => (d, b, v),
        [b, v] => ("0", b, v),
        _ => return None,
    };
    let hex = |t: &str, max: u64| {
        (!t.is_empty() && t.len() <= 8 && t.chars().all(|c| c.is_ascii_hexdigit()))
            .then(|| u64::from_str_radix(t, 16).ok())
            .flatten()
            .filter(|&v| v <= max)
    };
    Some(format!(
        "{:04x}:{:02x}:{:02x}.{:x}",
        hex(domain, 0xffff_ffff)?,
        hex(bus, 0xff)?,
        hex(device, 0x1f)?,
        hex(function, 7)?
    ))
}

/// Parses `nvidia-smi --query-gpu=pci.bus_id,uuid,memory.total
/// --format=csv,noheader,nounits`: each GPU's canonical PCI bus id, UUID
/// and memory in bytes (the tool writes MiB).
pub fn parse_nvidia_smi(text: &str) -> Vec<(String, String, Option<u64>)> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            let [bus, uuid, mib] = f[..] else { return None };
            let bus = canonical_bus_id(bus)?;
            let bytes = mib.parse::<u64>().ok().map(|m| m << 20);
            Some((bus, uuid.to_string(), bytes))
        })
        .collect()
}

/// Fills in the UUIDs and memory the vendors' tools know: `nvidia-smi`
/// for NVIDIA GPUs, the amdgpu driver's sysfs files for AMD's. Adapters
/// neither knows keep `None`.
pub fn add_vendor_details(list: &mut [AdapterSummary]) {
    if list.iter().any(|a| a.vendor == NVIDIA) {
        let out = std::process::Command::new("nvidia-smi")
            .args([
                "--query-gpu=pci.bus_id,uuid,memory.total",
                "--format=csv,noheader,nounits",
            ])
            .stderr(std::process::Stdio::null())
            .output();
        if let Some(out) = out.ok().filter(|o| o.status.success()) {
            for (bus, uuid, bytes) in parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout)) {
                for a in list.iter_mut().filter(|a| a.pci_bus_id == bus) {
                    a.uuid = Some(uuid.clone());
                    a.memory_bytes = bytes;
                }
            }
        }
    }
    for a in list
        .iter_mut()
        .filter(|a| a.vendor == AMD && !a.pci_bus_id.is_empty())
    {
        let file = format!("/sys/bus/pci/devices/{}/mem_info_vram_total", a.pci_bus_id);
        if let Ok(s) = std::fs::read_to_string(file) {
            a.memory_bytes = s.trim().parse().ok();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_uses_the_memory_the_vendor_reports_unless_set() {
        let mut a = summary_of_nothing();
        assert_eq!(memory_of(&a, None), None);
        assert_eq!(memory_of(&a, Some(1 << 30)), Some(1 << 30));
        // nvidia-smi's 143771 MiB of an H200.
        a.memory_bytes = Some(143_771 << 20);
        assert_eq!(memory_of(&a, None), Some(143_771 << 20));
        assert_eq!(memory_of(&a, Some(1 << 30)), Some(1 << 30));
    }

    fn summary_of_nothing() -> AdapterSummary {
        AdapterSummary {
            index: 0,
            name: "a GPU".into(),
            backend: "vulkan".into(),
            device_type: "discrete".into(),
            driver: String::new(),
            max_storage_buffer_binding_size: 1 << 31,
            max_buffer_size: 1 << 40,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroups_per_dimension: 65535,
            vendor: NVIDIA,
            pci_bus_id: "0000:18:00.0".into(),
            uuid: None,
            memory_bytes: None,
        }
    }

    #[test]
    fn bus_ids_read_in_every_form_tools_write() {
        for s in [
            "0000:18:00.0",
            "00000000:18:00.0",
            "18:00.0",
            "0000:18:00.0 ",
            "0000:18:0.0",
        ] {
            assert_eq!(canonical_bus_id(s).as_deref(), Some("0000:18:00.0"), "{s}");
        }
        assert_eq!(
            canonical_bus_id("0000:9A:00.0").as_deref(),
            Some("0000:9a:00.0")
        );
        for s in [
            "H200",
            "1",
            "0000:18:00",
            "0000:18:20.0",
            "0000:18:00.8",
            "a:b:c:d.0",
        ] {
            assert_eq!(canonical_bus_id(s), None, "{s}");
        }
    }

    #[test]
    fn nvidia_smi_lines_give_bus_ids_uuids_and_bytes() {
        let text =
            "00000000:18:00.0, GPU-aa11, 143771\n00000000:9A:00.0, GPU-cc, [N/A]\nbad line\n";
        assert_eq!(
            parse_nvidia_smi(text),
            vec![
                (
                    "0000:18:00.0".to_string(),
                    "GPU-aa11".to_string(),
                    Some(143771 << 20)
                ),
                ("0000:9a:00.0".to_string(), "GPU-cc".to_string(), None),
            ]
        );
    }
}
