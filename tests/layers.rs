//! The crate's modules form layers: data flows one way (experiment file →
//! plan → backend → recording → outputs), so no module imports one that
//! imports it back, and `model` (what is simulated, the plan of a run)
//! imports nothing above it. Read from the sources: every `crate::NAME`
//! path outside comments and `#[cfg(test)]` blocks is an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const MODULES: [&str; 10] = [
    "analysis",
    "bench",
    "error",
    "experiment",
    "model",
    "output",
    "real",
    "rng",
    "sim",
    "sweep",
];

/// The top-level modules each top-level module names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let first = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let module = first.trim_end_matches(".rs").to_string();
            if !MODULES.contains(&module.as_str()) {
                continue; // lib.rs re-exports, main.rs is the command line
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for line in code.lines() {
                let line = line.trim_start();
                if line.starts_with("//") {
                    continue;
                }
                for (i, _) in line.match_indices("crate::") {
                    let rest = &line[i + "crate::".len()..];
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if MODULES.contains(&name.as_str()) && name != module {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn modules_import_each_other_one_way() {
    let graph = imports();
    assert!(graph.len() >= 9, "read the modules: {graph:?}");
    // Depth-first search for a cycle, reporting it.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(k) = path.iter().position(|p| p == m) {
            panic!("import loop: {} -> {m}", path[k..].join(" -> "));
        }
        if done.contains(m) {
            return;
        }
        path.push(m.to_string());
        for d in graph.get(m).into_iter().flatten() {
            visit(d, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

#[test]
fn the_model_layer_imports_nothing_above_it() {
    let graph = imports();
    let allowed: BTreeSet<String> = ["error", "real", "rng"].map(String::from).into();
    let model = &graph["model"];
    assert!(
        model.is_subset(&allowed),
        "model imports {model:?}; it may import only {allowed:?}"
    );
    // Nor the GPU API or the command line's parser.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for word in ["wgpu::", "clap::"] {
            assert!(!text.contains(word), "{} uses {word}", path.display());
        }
    }
    // The analysis layer (metrics, modes) sits between the model and the engine.
    assert!(!graph["analysis"].contains("sim"), "analysis imports sim");
    assert!(!graph["output"].contains("sweep"), "output imports sweep");
}
