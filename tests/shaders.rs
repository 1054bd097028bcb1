//! Every WGSL module parses and validates with naga, without a GPU.

use attractor::sim::gpu::operator::SOURCES;

#[test]
fn every_shader_parses_and_validates() {
    for (name, source) in SOURCES {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        // Only the module built for adapters with subgroups may use them.
        let subgroups = name.ends_with("subgroups");
        let caps = if subgroups {
            naga::valid::Capabilities::SUBGROUP
        } else {
            naga::valid::Capabilities::empty()
        };
        let mut v = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
        if subgroups {
            v.subgroup_stages(naga::valid::ShaderStages::COMPUTE)
                .subgroup_operations(
                    naga::valid::SubgroupOperationSet::ARITHMETIC
                        | naga::valid::SubgroupOperationSet::SHUFFLE,
                );
        }
        v.validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    }
}

#[test]
fn every_shader_file_is_used() {
    // A new file in shaders/ must be part of a module validated above.
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/shaders")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            SOURCES.iter().any(|(_, s)| s.contains(&text)),
            "a shader file is not in any module"
        );
    }
}

#[test]
fn workgroup_constants_match_the_shaders() {
    use attractor::sim::gpu::kernels::*;
    let has = |src: &str, line: String| assert!(src.contains(&line), "missing `{line}`");
    has(&DENSE_SOURCE, "override DENSE_WORKGROUP: u32".into());
    has(&DENSE_SOURCE, "override DENSE_ROWS: u32".into());
    has(&DENSE_SOURCE, "@workgroup_size(DENSE_WORKGROUP)".into());
    has(
        &DENSE_SOURCE,
        format!("const DENSE_TILE: u32 = {DENSE_TILE}u;"),
    );
    // The tile's sums sized by the generated constant.
    has(&DENSE_SOURCE, "var s = array<f32, DENSE_TILE>()".into());
    has(
        &DENSE_SOURCE,
        format!("const SPARSE_THREADS: u32 = {SPARSE_THREADS}u;"),
    );
    has(&DENSE_SOURCE, "@workgroup_size(SPARSE_THREADS)".into());
    has(
        &STRUCTURED_SOURCE,
        format!("const STRUCTURED_WORKGROUP: u32 = {STRUCTURED_WORKGROUP}u;"),
    );
    // The structured kernels' workgroup is the generated constant (its
    // value in every entry point: `entry_points_have_the_rust_workgroups`).
    has(
        &STRUCTURED_SOURCE,
        format!("const STRUCTURED_WORKGROUP: u32 = {STRUCTURED_WORKGROUP}u;"),
    );
    has(
        &STRUCTURED_SOURCE,
        "@workgroup_size(STRUCTURED_WORKGROUP)".into(),
    );
    has(
        &STRUCTURED_SOURCE,
        format!("const PROJECT_CHUNK: u32 = {PROJECT_CHUNK}u;"),
    );
    has(
        &STRUCTURED_SOURCE,
        format!("const NEURONS_PER_THREAD: u32 = {NEURONS_PER_THREAD}u;"),
    );
    assert_eq!(PROJECT_CHUNK, STRUCTURED_WORKGROUP * NEURONS_PER_THREAD);
    has(
        &STRUCTURED_SOURCE,
        format!("const PACKED_STAGE: u32 = {PACKED_STAGE}u;"),
    );
    has(
        &STRUCTURED_SOURCE,
        format!("const CONVOLUTION_BLOCK: u32 = {CONVOLUTION_BLOCK}u;"),
    );
    has(
        &METRICS_SOURCE,
        format!("const METRIC_CHUNK: u32 = {METRIC_CHUNK}u;"),
    );
}

#[test]
fn metric_constants_match_the_shaders() {
    use attractor::sim::gpu::kernels::*;
    // The metric pass shares the projection pass's workgroup count.
    assert!(METRICS_SOURCE.contains(&format!("const METRIC_CHUNK: u32 = {METRIC_CHUNK}u;")));
    assert!(METRICS_SOURCE.contains(&format!(
        "const METRIC_WORKGROUP: u32 = {STRUCTURED_WORKGROUP}u;"
    )));
}

/// Every binding a shader module declares exists in its family's Rust
/// layout with the same type (uniform with a dynamic offset, read-only or
/// read-write storage), found by reflecting the WGSL with naga.
#[test]
fn shader_bindings_match_the_rust_layouts() {
    use attractor::sim::gpu::kernels::{layout_entries, Family};
    use naga::{AddressSpace, StorageAccess};
    let mut modules = vec![
        ("dense", DENSE_SOURCE_REF.as_str(), Family::Dense),
        (
            "structured",
            STRUCTURED_SOURCE_REF.as_str(),
            Family::Structured,
        ),
        ("metrics", METRICS_SOURCE_REF.as_str(), Family::Metrics),
    ];
    // The tiled batch kernel shares the dense layout, at every shape.
    for (name, s) in attractor::sim::gpu::kernels::DENSE_BATCH_SOURCES.iter() {
        modules.push((name.as_str(), s.as_str(), Family::Dense));
    }
    for (name, source, family) in modules {
        let module = naga::front::wgsl::parse_str(source).expect("parses");
        let layout = layout_entries(family);
        let mut declared = 0;
        for (_, var) in module.global_variables.iter() {
            let Some(b) = &var.binding else { continue };
            declared += 1;
            assert_eq!(b.group, 0, "{name}: binding {} is in group 0", b.binding);
            let entry = layout
                .iter()
                .find(|e| e.binding == b.binding)
                .unwrap_or_else(|| {
                    panic!(
                        "{name}: binding {} ({:?}) is not in the Rust layout",
                        b.binding, var.name
                    )
                });
            let wgpu::BindingType::Buffer {
                ty,
                has_dynamic_offset,
                ..
            } = entry.ty
            else {
                panic!(
                    "{name}: binding {} is not a buffer in the Rust layout",
                    b.binding
                )
            };
            match var.space {
                AddressSpace::Uniform => {
                    assert_eq!(
                        ty,
                        wgpu::BufferBindingType::Uniform,
                        "{name}: binding {}",
                        b.binding
                    );
                    assert!(
                        has_dynamic_offset,
                        "{name}: the params are at dynamic offsets"
                    );
                }
                AddressSpace::Storage { access } => {
                    let read_only = !access.contains(StorageAccess::STORE);
                    assert_eq!(
                        ty,
                        wgpu::BufferBindingType::Storage { read_only },
                        "{name}: binding {} ({:?})",
                        b.binding,
                        var.name
                    );
                }
                other => panic!("{name}: binding {} in address space {other:?}", b.binding),
            }
        }
        assert!(declared >= 10, "{name}: {declared} bindings reflected");
    }
}

use attractor::sim::gpu::kernels::{
    DENSE_SOURCE as DENSE_SOURCE_REF, METRICS_SOURCE as METRICS_SOURCE_REF,
    STRUCTURED_SOURCE as STRUCTURED_SOURCE_REF,
};

/// The WGSL header carries every code of the Rust tables, and the update
/// has an arm for every integration stage (an unknown one is reported, not
/// run as another integrator).
#[test]
fn every_stage_and_activation_code_reaches_the_shaders() {
    use attractor::analysis::metrics::SumLayout;
    use attractor::model::{Activation, Stage};
    let header = attractor::sim::gpu::kernels::header();
    for (_, source) in SOURCES {
        assert!(
            source.starts_with(&header),
            "every module starts with the header"
        );
    }
    for (stage, name) in Stage::ALL {
        assert!(header.contains(&format!("const {name}: u32 = {}u;", stage.code())));
        assert!(
            STRUCTURED_SOURCE_REF.contains(&format!("case {name}: {{")),
            "finish() has no arm for {name}"
        );
    }
    let codes: std::collections::HashSet<u32> = Stage::ALL.iter().map(|(s, _)| s.code()).collect();
    assert_eq!(codes.len(), Stage::ALL.len(), "stage codes are distinct");
    for (code, (kind, body)) in Activation::WGSL.iter().enumerate() {
        let constant = format!("ACT_{}", kind.to_uppercase());
        assert!(header.contains(&format!("const {constant}: u32 = {code}u;")));
        assert!(header.contains(&format!("case {constant}: {{ return {body}; }}")));
    }
    for a in [
        Activation::Linear {},
        Activation::Relu {},
        Activation::Tanh { beta: 2.0 },
        Activation::Sigmoid {
            beta: 1.0,
            threshold: 0.5,
        },
        Activation::Clip {
            min: -1.0,
            max: 1.0,
        },
        Activation::Step { threshold: 0.0 },
    ] {
        let (code, _, _) = a.gpu_params();
        assert_eq!(Activation::WGSL[code as usize].0, a.kind());
    }
    for (name, pos) in [
        ("SUM_RATES", SumLayout::RATES),
        ("SUM_TABLE", SumLayout::TABLE),
        ("ENERGY_SELF", SumLayout::ENERGY_SELF),
        ("ENERGY_INPUT", SumLayout::ENERGY_INPUT),
        ("ENERGY_INTEGRAL", SumLayout::ENERGY_INTEGRAL),
        ("ENERGY_SUMS", SumLayout::ENERGY_SUMS),
    ] {
        assert!(header.contains(&format!("const {name}: u32 = {pos}u;")));
    }
    assert!(METRICS_SOURCE_REF.contains("if (k == SUM_RATES)"));
}

/// Every shape of the tiled batch kernel fits the workgroup limits every
/// WebGPU adapter has (256 invocations, 16 KiB of workgroup memory), covers
/// its threads exactly, and the shapes cover batches of 5 to 256 trials in
/// one tile (so M is read once per step).
#[test]
fn every_dense_batch_shape_fits_webgpu_limits() {
    use attractor::sim::gpu::kernels::{BatchShape, DENSE_BATCH_SOURCES};
    let limits = wgpu::Limits::default();
    for (s, (_, source)) in BatchShape::ALL.iter().zip(DENSE_BATCH_SOURCES.iter()) {
        assert_eq!(s.trial_threads * s.row_threads(), BatchShape::THREADS);
        assert!(BatchShape::THREADS <= limits.max_compute_invocations_per_workgroup);
        let floats = (s.rows() + s.trials()) * s.k();
        assert!(
            4 * floats <= limits.max_compute_workgroup_storage_size,
            "{s:?}"
        );
        assert!(source.contains(&format!("const DB_TRIALS: u32 = {}u;", s.trials())));
    }
    for b in 5..=256 {
        let s = BatchShape::for_batch(b);
        assert!(
            s.trials() >= b && s.trials() < 2 * b.max(8),
            "B = {b}: {s:?}"
        );
    }
}

/// The Rust parameter structs have the WGSL structs' layout in every
/// module: the same size, and `kappa` and `moving` (the vec4 members WGSL
/// aligns to 16 bytes) at the same offsets; the same for the populations'
/// `Segment`.
#[test]
fn parameter_structs_match_the_wgsl_layout() {
    use attractor::sim::gpu::kernels::{FactorTerm, Segment, StepParams, TrialParams};
    let mut factor_terms = 0;
    for (name, source) in SOURCES {
        let module = naga::front::wgsl::parse_str(source).expect("parses");
        let mut seen = 0;
        for (_, ty) in module.types.iter() {
            let naga::TypeInner::Struct { members, span } = &ty.inner else {
                continue;
            };
            let offset = |m: &str| {
                members
                    .iter()
                    .find(|x| x.name.as_deref() == Some(m))
                    .map(|x| x.offset as usize)
            };
            match ty.name.as_deref() {
                Some("StepParams") => {
                    seen += 1;
                    assert_eq!(*span as usize, std::mem::size_of::<StepParams>(), "{name}");
                    assert_eq!(
                        offset("kappa"),
                        Some(std::mem::offset_of!(StepParams, kappa)),
                        "{name}"
                    );
                    assert_eq!(
                        offset("moving"),
                        Some(std::mem::offset_of!(StepParams, moving)),
                        "{name}"
                    );
                    assert_eq!(
                        offset("unit_row0"),
                        Some(std::mem::offset_of!(StepParams, unit_row0)),
                        "{name}"
                    );
                }
                Some("TrialParams") => {
                    seen += 1;
                    assert_eq!(*span as usize, std::mem::size_of::<TrialParams>(), "{name}");
                }
                Some("Segment") => {
                    seen += 1;
                    assert_eq!(*span as usize, std::mem::size_of::<Segment>(), "{name}");
                    assert_eq!(
                        offset("noise"),
                        Some(std::mem::offset_of!(Segment, noise)),
                        "{name}"
                    );
                }
                Some("FactorTerm") => {
                    factor_terms += 1;
                    assert_eq!(*span as usize, std::mem::size_of::<FactorTerm>(), "{name}");
                    assert_eq!(
                        offset("coef"),
                        Some(std::mem::offset_of!(FactorTerm, coef)),
                        "{name}"
                    );
                }
                _ => {}
            }
        }
        assert_eq!(seen, 3, "{name} declares the three parameter structs");
    }
    assert!(factor_terms > 0, "the sparse module declares FactorTerm");
}

/// Every entry point the backend dispatches exists in its module and runs
/// with the workgroup size the Rust side divides its grid by: naga
/// resolves each `@workgroup_size` from the generated header, and no
/// number is copied by hand. The dense kernel's size is an override (set
/// per pipeline), checked by name.
#[test]
fn entry_points_have_the_rust_workgroups() {
    use attractor::sim::gpu::kernels::*;
    use attractor::sim::gpu::operator::{dense, sparse, structured};
    use attractor::sim::gpu::pipelines::PipelineKey;
    let workgroup = |k: Kernel| match k {
        Kernel::STRUCTURED_STEP
        | Kernel::PROJECT_PARTIAL
        | Kernel::PROJECT_REST
        | Kernel::PACKED_PROJECT
        | Kernel::PROJECT_FINISH => Some(STRUCTURED_WORKGROUP),
        Kernel::METRIC_PARTIAL | Kernel::METRIC_FINISH => Some(METRIC_WORKGROUP),
        Kernel::CONV_ROWS | Kernel::CONV_STEP => Some(CONVOLUTION_WORKGROUP),
        Kernel::READ_PROBE | Kernel::FLOPS_PROBE => Some(PROBE_WORKGROUP),
        Kernel::DENSE_BATCH | Kernel::DENSE_BATCH_FINISH => Some(BatchShape::THREADS),
        Kernel::DENSE_ROW | Kernel::DENSE_STACKED => None,
        Kernel::SPARSE_STEP | Kernel::FACTOR_PROJECT => {
            Some(attractor::sim::gpu::kernels::SPARSE_THREADS)
        }
        // Kernels are constants of their families: a new one joins the table.
        other => panic!("{other:?} has no workgroup in this table"),
    };
    let row = |rows, stack, subgroups| {
        dense::row_pipeline(
            DenseShape {
                workgroup: 256,
                rows,
                stack,
            },
            None,
            subgroups,
        )
    };
    let keys = [
        row(4, 1, false),
        row(16, 8, false),
        row(16, 8, true),
        dense::batch_pipeline(BatchShape::ALL[0]),
        sparse::pipeline(4, 2, 1, 0),
        sparse::pipeline(32, 1, 2, 32),
        dense::batch_pipeline(BatchShape::ALL[3].with_split(4)),
        structured::pipeline(false, None, false),
        structured::pipeline(true, None, true),
        PipelineKey::metrics(None),
        PipelineKey::probe(),
    ];
    let mut seen = 0;
    for key in keys {
        let source = key.source();
        let module = naga::front::wgsl::parse_str(source).expect("parses");
        for &k in key.kernels() {
            let ep = module
                .entry_points
                .iter()
                .find(|e| e.name == k.entry_point())
                .unwrap_or_else(|| panic!("{k:?}: no entry point {}", k.entry_point()));
            // The kernel states the workgroup its family divides its grid by.
            assert_eq!(k.workgroup(), workgroup(k), "{k:?}");
            match workgroup(k) {
                Some(w) => assert_eq!(ep.workgroup_size, [w, 1, 1], "{k:?}"),
                None => assert!(source.contains("@workgroup_size(DENSE_WORKGROUP)")),
            }
            seen += 1;
        }
    }
    assert_eq!(seen, 28, "every kernel of every family");
}

#[test]
fn every_storage_access_is_counted() {
    // The counting build counts what goes through `count` (common.wgsl):
    // every load or store of a storage binding of the kernels (the probes
    // excepted: they measure the adapter, not the engine) must come after a
    // `count` call in its function, so none escapes tests/counting.rs.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/shaders");
    let files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "probe.wgsl")
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    // The storage bindings of every module (common.wgsl's are in all).
    let mut storage = Vec::new();
    for (_, text) in &files {
        for line in text.lines() {
            if let Some(rest) = line.trim().strip_prefix("@group(0)") {
                if rest.contains("var<storage") {
                    let name = rest.split('>').nth(1).unwrap().split(':').next().unwrap();
                    storage.push(name.trim().to_string());
                }
            }
        }
    }
    assert!(storage.len() >= 20, "{storage:?}");
    let mut checked = 0;
    for (file, text) in &files {
        let lines: Vec<&str> = text
            .lines()
            .map(|l| l.split("//").next().unwrap())
            .collect();
        for (k, line) in lines.iter().enumerate() {
            for name in &storage {
                if name == "counted" {
                    continue;
                }
                // A local of the same name (dense_batch's register `sums`).
                let local = format!("var {name}:");
                if text.contains(&local) && !text.contains(&format!("> {name}:")) {
                    continue;
                }
                let at = line.find(&format!("{name}[")).filter(|&i| {
                    i == 0
                        || !line.as_bytes()[i - 1].is_ascii_alphanumeric()
                            && line.as_bytes()[i - 1] != b'_'
                });
                if at.is_none() {
                    continue;
                }
                checked += 1;
                let counted = lines[..k]
                    .iter()
                    .rev()
                    .take_while(|l| !l.trim_start().starts_with("fn "))
                    .any(|l| l.contains("count("));
                assert!(
                    counted,
                    "{file}:{}: `{name}` is read or written without a `count` before it in its function",
                    k + 1
                );
            }
        }
    }
    assert!(checked >= 20, "{checked} accesses found");
}
