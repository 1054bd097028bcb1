//! Which adapter a run opens: `--device` (an index as `attractor devices`
//! lists it, a PCI bus id, a UUID or a name substring), else the GPUs the
//! scheduler bound to the job (`CUDA_VISIBLE_DEVICES`,
//! `ROCR_VISIBLE_DEVICES`, `SLURM_STEP_GPUS`, `SLURM_JOB_GPUS`), else the
//! best adapter. The choice works on plain descriptions of adapters
//! ([`AdapterSummary`]), so that the mapping is tested over made-up machines.
//!
//! The scheduler's numbers are the vendor's: NVIDIA's tools (nvidia-smi,
//! Slurm's `gres.conf` over `/dev/nvidia*`) and AMD's (rocm-smi) number a
//! node's GPUs in PCI bus order, and so does this mapping (CUDA programs
//! agree with `CUDA_DEVICE_ORDER=PCI_BUS_ID`). Vulkan does not read these
//! variables, so without this every task of a node would open its first GPU.

use super::devices::{canonical_bus_id, listing, AdapterSummary, AMD, NO_ADAPTER, NVIDIA};
use crate::error::{Error, Result};

/// The adapter `choice` names (`--device`, `simulation.device`,
/// `device=`): an index as listed, a PCI bus id, a UUID (`GPU-…`, or its
/// start) or a substring of one name (case-insensitive). Matching nothing,
/// or more than one adapter, is an error naming `key` and listing the
/// adapters.
pub fn choose(list: &[AdapterSummary], key: &str, choice: &str) -> Result<usize> {
    let c = choice.trim();
    let fail = |why: String| {
        Error::invalid(
            key,
            format!("{choice:?}"),
            format!("{why}; {}", listing(list)),
        )
    };
    if c.is_empty() {
        return Err(fail("is empty".into()));
    }
    if let Ok(i) = c.parse::<usize>() {
        return if i < list.len() {
            Ok(i)
        } else {
            Err(fail(format!(
                "is past the last index, {}",
                list.len() as i64 - 1
            )))
        };
    }
    let hits: Vec<usize> = if let Some(bus) = canonical_bus_id(c) {
        list.iter()
            .filter(|a| a.pci_bus_id == bus)
            .map(|a| a.index)
            .collect()
    } else if is_uuid(c) {
        list.iter()
            .filter(|a| uuid_matches(a, c))
            .map(|a| a.index)
            .collect()
    } else {
        let lower = c.to_lowercase();
        list.iter()
            .filter(|a| a.name.to_lowercase().contains(&lower))
            .map(|a| a.index)
            .collect()
    };
    match hits[..] {
        [i] => Ok(i),
        [] => Err(fail(
            "matches no adapter (an index, a PCI bus id, a GPU- UUID or part of a name)".into(),
        )),
        _ => Err(fail(format!(
            "matches {} adapters ({}); name one by its index or PCI bus id",
            hits.len(),
            hits.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn is_uuid(s: &str) -> bool {
    starts_with_ignoring_case(s, "GPU-") && s.len() > 4
}

fn starts_with_ignoring_case(s: &str, start: &str) -> bool {
    s.get(..start.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(start))
}

/// CUDA takes a UUID's unambiguous start as well as the whole of it.
fn uuid_matches(a: &AdapterSummary, wanted: &str) -> bool {
    a.uuid
        .as_deref()
        .is_some_and(|u| starts_with_ignoring_case(u, wanted))
}

/// The GPUs a scheduler bound to this process, as indices into the list.
#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    /// The variable that named them.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// The adapters it names, in its order.
    pub adapters: Vec<usize>,
}

/// The variables read, first first: the vendors' own (which apply only
/// where an adapter of that vendor is listed), then Slurm's (global
/// indices over the node's hardware GPUs).
pub const BINDING_VARIABLES: [&str; 4] = [
    "CUDA_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES",
    "SLURM_STEP_GPUS",
    "SLURM_JOB_GPUS",
];

/// The scheduler's binding: the first of [`BINDING_VARIABLES`] that `env`
/// gives a value to and that applies to the listed adapters. An index
/// counts the vendor's adapters (for Slurm's variables, every hardware
/// adapter) in PCI bus order; `GPU-…` is a UUID. As CUDA does, the list
/// ends at the first entry that names no adapter (a variable naming more
/// GPUs than exist gives those that do). A variable whose every entry
/// names nothing is an error naming it and listing the adapters, and so is
/// a MIG instance (`MIG-…`), which Vulkan cannot open. Empty values and
/// Slurm's `NoDevFiles` bind nothing; `Ok(None)` when nothing applies.
pub fn binding(
    list: &[AdapterSummary],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Binding>> {
    for variable in BINDING_VARIABLES {
        let Some(value) = env(variable) else { continue };
        let v = value.trim();
        if v.is_empty() || v == "NoDevFiles" {
            continue;
        }
        let vendor = match variable {
            "CUDA_VISIBLE_DEVICES" => Some(NVIDIA),
            "ROCR_VISIBLE_DEVICES" => Some(AMD),
            _ => None,
        };
        // The adapters the variable counts, in PCI bus order.
        let mut counted: Vec<&AdapterSummary> = list
            .iter()
            .filter(|a| a.hardware() && vendor.is_none_or(|id| a.vendor == id))
            .collect();
        if counted.is_empty() {
            // CUDA_VISIBLE_DEVICES on a machine whose GPUs wgpu lists are
            // not NVIDIA's does not bind them.
            continue;
        }
        counted.sort_by(|a, b| a.pci_bus_id.cmp(&b.pci_bus_id));
        let mut adapters = Vec::new();
        for entry in v.split(',').map(str::trim) {
            if starts_with_ignoring_case(entry, "MIG-") {
                return Err(Error::invalid(
                    variable,
                    format!("{value:?}"),
                    format!(
                        "names a MIG instance ({entry}), which Vulkan cannot open: give the \
                         job a whole GPU, or choose one with --device; {}",
                        listing(list)
                    ),
                ));
            }
            let hit = if is_uuid(entry) {
                counted.iter().find(|a| uuid_matches(a, entry))
            } else {
                entry.parse::<usize>().ok().and_then(|i| counted.get(i))
            };
            match hit {
                Some(a) if !adapters.contains(&a.index) => adapters.push(a.index),
                Some(_) => {}
                None => break,
            }
        }
        if adapters.is_empty() {
            return Err(Error::invalid(
                variable,
                format!("{value:?}"),
                format!(
                    "names no adapter wgpu lists (indices count {} in PCI \
                 bus order, from 0); --device chooses one instead; {}",
                    match vendor {
                        Some(NVIDIA) => "the NVIDIA GPUs",
                        Some(_) => "the AMD GPUs",
                        None => "the hardware GPUs",
                    },
                    listing(list)
                ),
            ));
        }
        return Ok(Some(Binding {
            variable,
            value: value.clone(),
            adapters,
        }));
    }
    Ok(None)
}

/// The adapter a run opens and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Pick {
    /// Its index in the list.
    pub index: usize,
    /// Why: `--device 1`, `CUDA_VISIBLE_DEVICES=2`, or `the first adapter
    /// listed`; recorded in the run's summary.
    pub chosen_by: String,
    /// Whether a choice or a binding named it (`auto` then keeps it even if
    /// it is a software adapter).
    pub named: bool,
}

/// The adapter to open: the one `device` (a key and its value) names, else
/// the first the scheduler bound (see [`binding`]), else the first listed;
/// `None` when the list is empty.
pub fn pick(
    list: &[AdapterSummary],
    device: Option<(&str, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Pick>> {
    if let Some((key, value)) = device {
        let index = choose(list, key, value)?;
        let sep = if key.starts_with("--") { " " } else { " = " };
        return Ok(Some(Pick {
            index,
            chosen_by: format!("{key}{sep}{value}"),
            named: true,
        }));
    }
    if let Some(b) = binding(list, env)? {
        return Ok(Some(Pick {
            index: b.adapters[0],
            chosen_by: format!("{}={}", b.variable, b.value),
            named: true,
        }));
    }
    Ok((!list.is_empty()).then(|| Pick {
        index: 0,
        chosen_by: "the first adapter listed".into(),
        named: false,
    }))
}

/// The process's environment, as [`binding`] and [`pick`] read it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The adapters a sweep runs on: `all` (those the scheduler bound, else
/// every hardware adapter, else the first adapter) or a comma-separated
/// list of choices as [`choose`] takes them (`0,1`, and `0,0` for two
/// devices on one adapter). Errors name `key`.
pub fn choose_many(
    list: &[AdapterSummary],
    key: &str,
    choice: &str,
    bound: Option<&Binding>,
) -> Result<Vec<usize>> {
    if choice.trim() == "all" {
        if let Some(b) = bound {
            return Ok(b.adapters.clone());
        }
        let hardware: Vec<usize> = list
            .iter()
            .filter(|a| a.hardware())
            .map(|a| a.index)
            .collect();
        return match (hardware.is_empty(), list.first()) {
            (false, _) => Ok(hardware),
            (true, Some(a)) => Ok(vec![a.index]),
            (true, None) => Err(Error::Unavailable(NO_ADAPTER.into())),
        };
    }
    choice.split(',').map(|c| choose(list, key, c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(index: usize, name: &str, vendor: u32, bus: &str, uuid: &str) -> AdapterSummary {
        AdapterSummary {
            index,
            name: name.into(),
            backend: "vulkan".into(),
            device_type: "discrete".into(),
            driver: String::new(),
            max_storage_buffer_binding_size: 1 << 31,
            max_buffer_size: 1 << 40,
            max_compute_invocations_per_workgroup: 1024,
            max_compute_workgroups_per_dimension: 65535,
            vendor,
            pci_bus_id: bus.into(),
            uuid: (!uuid.is_empty()).then(|| uuid.into()),
            memory_bytes: None,
        }
    }

    /// Four NVIDIA GPUs listed out of bus order (as a driver may), and a
    /// software adapter last.
    fn node() -> Vec<AdapterSummary> {
        vec![
            gpu(0, "NVIDIA H200", NVIDIA, "0000:9a:00.0", "GPU-cc"),
            gpu(1, "NVIDIA H200", NVIDIA, "0000:18:00.0", "GPU-aa11"),
            gpu(2, "NVIDIA H200", NVIDIA, "0000:bb:00.0", "GPU-dd"),
            gpu(3, "NVIDIA H200", NVIDIA, "0000:2a:00.0", "GPU-bb"),
            AdapterSummary {
                device_type: "cpu (software)".into(),
                vendor: 0x10005,
                ..gpu(4, "llvmpipe (LLVM 15.0.6, 256 bits)", 0, "", "")
            },
        ]
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn bound(pairs: &[(&str, &str)]) -> Result<Option<Vec<usize>>> {
        Ok(binding(&node(), &env(pairs))?.map(|b| b.adapters))
    }

    #[test]
    fn a_choice_names_one_adapter_or_lists_them_all() {
        let l = node();
        assert_eq!(choose(&l, "--device", "2").unwrap(), 2);
        assert_eq!(choose(&l, "--device", "18:00.0").unwrap(), 1);
        assert_eq!(choose(&l, "--device", "00000000:2A:00.0").unwrap(), 3);
        assert_eq!(choose(&l, "--device", "GPU-aa").unwrap(), 1);
        assert_eq!(choose(&l, "--device", "llvmpipe").unwrap(), 4);
        assert_eq!(choose(&l, "--device", "LLVMPIPE").unwrap(), 4);
        for (bad, why) in [
            ("5", "past the last index, 4"),
            ("h200", "matches 4 adapters (0, 1, 2, 3)"),
            ("A100", "matches no adapter"),
            ("0000:01:00.0", "matches no adapter"),
            ("", "is empty"),
        ] {
            let e = choose(&l, "--device", bad).unwrap_err().to_string();
            assert!(e.contains("--device") && e.contains(why), "{bad}: {e}");
            // Every error lists the adapters to choose from.
            assert!(e.contains("1: NVIDIA H200 (discrete, 0000:18:00.0)"), "{e}");
            assert!(e.contains("4: llvmpipe"), "{e}");
        }
    }

    #[test]
    fn cuda_indices_count_nvidia_gpus_in_pci_bus_order() {
        // Bus order: 18 (adapter 1), 2a (3), 9a (0), bb (2).
        assert_eq!(
            bound(&[("CUDA_VISIBLE_DEVICES", "0")]).unwrap(),
            Some(vec![1])
        );
        assert_eq!(
            bound(&[("CUDA_VISIBLE_DEVICES", "2")]).unwrap(),
            Some(vec![0])
        );
        assert_eq!(
            bound(&[("CUDA_VISIBLE_DEVICES", "3,1")]).unwrap(),
            Some(vec![2, 3])
        );
        // UUIDs, whole or their start, as CUDA takes them.
        assert_eq!(
            bound(&[("CUDA_VISIBLE_DEVICES", "GPU-dd")]).unwrap(),
            Some(vec![2])
        );
        assert_eq!(
            bound(&[("CUDA_VISIBLE_DEVICES", "GPU-aa,1")]).unwrap(),
            Some(vec![1, 3])
        );
        // The vendor's variable comes before Slurm's.
        let both = [("SLURM_STEP_GPUS", "3"), ("CUDA_VISIBLE_DEVICES", "0")];
        assert_eq!(bound(&both).unwrap(), Some(vec![1]));
    }

    #[test]
    fn a_variable_naming_more_gpus_than_exist_gives_those_that_do() {
        // As CUDA: the list ends at the first entry that names nothing.
        let b = bound(&[("CUDA_VISIBLE_DEVICES", "1,0,7,2")]).unwrap();
        assert_eq!(b, Some(vec![3, 1]));
        let b = bound(&[("SLURM_JOB_GPUS", "0,1,2,3,4,5,6,7")]).unwrap();
        assert_eq!(b, Some(vec![1, 3, 0, 2]));
        for (var, value) in [
            ("CUDA_VISIBLE_DEVICES", "4"),
            ("SLURM_STEP_GPUS", "9,0"),
            ("CUDA_VISIBLE_DEVICES", "GPU-ff"),
        ] {
            let e = bound(&[(var, value)]).unwrap_err().to_string();
            assert!(
                e.contains(var) && e.contains(value) && e.contains("names no adapter"),
                "{e}"
            );
            assert!(e.contains("the adapters are"), "{e}");
        }
    }

    #[test]
    fn mig_instances_are_refused_by_name() {
        let e = bound(&[(
            "CUDA_VISIBLE_DEVICES",
            "MIG-4f1c8e2a-1b2c-5d3e-9f00-0123456789ab",
        )])
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("CUDA_VISIBLE_DEVICES") && e.contains("MIG instance"),
            "{e}"
        );
        let e = bound(&[("CUDA_VISIBLE_DEVICES", "MIG-GPU-aa11/1/0")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("MIG instance"), "{e}");
    }

    #[test]
    fn variables_that_bind_nothing_leave_the_choice_alone() {
        assert_eq!(bound(&[]).unwrap(), None);
        assert_eq!(bound(&[("CUDA_VISIBLE_DEVICES", "")]).unwrap(), None);
        assert_eq!(bound(&[("SLURM_JOB_GPUS", "NoDevFiles")]).unwrap(), None);
        // AMD's variable on a node of NVIDIA GPUs: not theirs.
        assert_eq!(bound(&[("ROCR_VISIBLE_DEVICES", "1")]).unwrap(), None);
        // And on a machine with only a software adapter nothing binds it.
        let soft = vec![node().remove(4)];
        let b = binding(
            &soft,
            &env(&[("CUDA_VISIBLE_DEVICES", "0"), ("SLURM_STEP_GPUS", "0")]),
        );
        assert_eq!(b.unwrap(), None);
    }

    #[test]
    fn amd_and_slurm_variables_count_their_own_gpus() {
        let mut l = node();
        l[0].vendor = AMD;
        l[2].vendor = AMD;
        // AMD GPUs in bus order: 9a (adapter 0), bb (2).
        let b = binding(&l, &env(&[("ROCR_VISIBLE_DEVICES", "1")]))
            .unwrap()
            .unwrap();
        assert_eq!((b.variable, b.adapters), ("ROCR_VISIBLE_DEVICES", vec![2]));
        // Slurm's count every hardware GPU, whatever its vendor.
        let b = binding(&l, &env(&[("SLURM_STEP_GPUS", "1,2")]))
            .unwrap()
            .unwrap();
        assert_eq!((b.variable, b.adapters), ("SLURM_STEP_GPUS", vec![3, 0]));
    }

    #[test]
    fn a_sweep_takes_every_bound_or_hardware_gpu() {
        let l = node();
        assert_eq!(
            choose_many(&l, "--devices", "all", None).unwrap(),
            vec![0, 1, 2, 3]
        );
        let b = binding(&l, &env(&[("CUDA_VISIBLE_DEVICES", "1,0")])).unwrap();
        assert_eq!(
            choose_many(&l, "--devices", "all", b.as_ref()).unwrap(),
            vec![3, 1]
        );
        assert_eq!(
            choose_many(&l, "--devices", "4,4", None).unwrap(),
            vec![4, 4]
        );
        assert_eq!(
            choose_many(&l, "--devices", "0,18:00.0", None).unwrap(),
            vec![0, 1]
        );
        let soft = vec![AdapterSummary {
            index: 0,
            ..node().remove(4)
        }];
        assert_eq!(
            choose_many(&soft, "--devices", "all", None).unwrap(),
            vec![0]
        );
        let e = choose_many(&l, "--devices", "0,9", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`--devices` = \"9\""), "{e}");
    }

    #[test]
    fn a_run_opens_the_named_then_the_bound_then_the_first_adapter() {
        let l = node();
        let none = env(&[]);
        let cuda = env(&[("CUDA_VISIBLE_DEVICES", "1")]);
        let p = pick(&l, Some(("--device", "4")), &cuda).unwrap().unwrap();
        assert_eq!(
            (p.index, p.chosen_by.as_str(), p.named),
            (4, "--device 4", true)
        );
        let p = pick(&l, Some(("simulation.device", "2")), &none)
            .unwrap()
            .unwrap();
        assert_eq!(p.chosen_by, "simulation.device = 2");
        let p = pick(&l, None, &cuda).unwrap().unwrap();
        assert_eq!(
            (p.index, p.chosen_by.as_str()),
            (3, "CUDA_VISIBLE_DEVICES=1")
        );
        let p = pick(&l, None, &none).unwrap().unwrap();
        assert_eq!((p.index, p.named), (0, false));
        assert_eq!(pick(&[], None, &none).unwrap(), None);
        assert!(pick(&l, Some(("--device", "9")), &none).is_err());
    }
}
