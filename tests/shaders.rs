//! Every WGSL module parses and validates with naga, without a GPU.

use attractor::sim::gpu::kernels::SOURCES;

#[test]
fn every_shader_parses_and_validates() {
    for (name, source) in SOURCES {
        let module = naga::front::wgsl::parse_str(source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
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
    has(DENSE_SOURCE, "override DENSE_WORKGROUP: u32".into());
    has(DENSE_SOURCE, "override DENSE_ROWS: u32".into());
    has(DENSE_SOURCE, "@workgroup_size(DENSE_WORKGROUP)".into());
    has(
        DENSE_SOURCE,
        format!("const DENSE_TILE: u32 = {DENSE_TILE}u;"),
    );
    has(DENSE_SOURCE, format!("var s = array<f32, {DENSE_TILE}>"));
    has(
        STRUCTURED_SOURCE,
        format!("const STRUCTURED_WORKGROUP: u32 = {STRUCTURED_WORKGROUP}u;"),
    );
    has(
        STRUCTURED_SOURCE,
        format!("@workgroup_size({STRUCTURED_WORKGROUP})"),
    );
    has(
        STRUCTURED_SOURCE,
        format!("const PROJECT_CHUNK: u32 = {PROJECT_CHUNK}u;"),
    );
}

#[test]
fn metric_constants_match_the_shaders() {
    use attractor::sim::gpu::kernels::*;
    // The metric pass shares the projection pass's workgroup count.
    assert!(METRICS_SOURCE.contains(&format!("const METRIC_CHUNK: u32 = {PROJECT_CHUNK}u;")));
    assert!(METRICS_SOURCE.contains(&format!(
        "const METRIC_WORKGROUP: u32 = {STRUCTURED_WORKGROUP}u;"
    )));
}
