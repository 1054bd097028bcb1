//! The crate's shape, read from its sources:
//! - its modules form layers: data flows one way (experiment file → plan
//!   → backend → recording → outputs), so no module imports one that
//!   imports it back, and `model` (what is simulated, the plan of a run)
//!   imports nothing above it;
//! - inside `sim/` and `sweep/`, no file imports one that imports it back;
//! - no `match` over the forms of M, their shapes or the weight kinds has
//!   a catch-all arm (`_ =>` or a bare binding), nor does a `matches!`
//!   name them: the compiler lists every place a new form must be handled;
//! - those matches are in the files listed for each enum ([`MATCHED_IN`]),
//!   the places a new form or GPU kernel family is handled;
//! - no source file is over 700 lines.
//!
//! An edge is a `crate::`, `super::`, `self::` or child-module path
//! outside comments, strings and `#[cfg(test)]` blocks (module
//! declarations are not edges).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The top-level modules: every file and folder of src/ but lib.rs and
/// main.rs.
fn modules() -> BTreeSet<String> {
    std::fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_string_lossy().to_string();
            (p.is_dir() || p.extension().is_some_and(|e| e == "rs")).then_some(name)
        })
        .filter(|m| m != "lib" && m != "main")
        .collect()
}

/// `text` with comments, string and char literals blanked out (the
/// same length, newlines kept), and cut at its first `#[cfg(test)]` that
/// starts a line (the test module; a test-only method inside an `impl`
/// is indented, and what follows it is read).
fn code(text: &str) -> String {
    let text = text.split("\n#[cfg(test)]").next().unwrap();
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, a: usize, z: usize| {
        for c in &mut out[a..z] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let z = text[i..].find('\n').map_or(b.len(), |k| i + k);
                blank(&mut out, i, z);
                i = z;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let z = text[i + 2..].find("*/").map_or(b.len(), |k| i + 2 + k + 2);
                blank(&mut out, i, z);
                i = z;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                let z = text[start..]
                    .find(&close)
                    .map_or(b.len(), |k| start + k + close.len());
                blank(&mut out, i, z);
                i = z;
            }
            b'"' => {
                let mut z = i + 1;
                while z < b.len() && b[z] != b'"' {
                    z += if b[z] == b'\\' { 2 } else { 1 };
                }
                blank(&mut out, i, (z + 1).min(b.len()));
                i = z + 1;
            }
            b'\'' => {
                // A char literal ('x', '\n', '\u{..}'), not a lifetime.
                let z = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 3..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|k| i + 3 + k)
                } else if b.get(i + 1).is_some_and(|c| *c >= 0x80) {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|k| i + 2 + k)
                } else if b.get(i + 2) == Some(&b'\'') {
                    Some(i + 2)
                } else {
                    None
                };
                match z {
                    Some(z) => {
                        blank(&mut out, i, z + 1);
                        i = z + 1;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    String::from_utf8(out).unwrap()
}

/// The module path of a source file: src/sim/gpu/run.rs → [sim, gpu, run],
/// src/sim/mod.rs → [sim].
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// The paths a file names: every `a::b::c` token of its code, with the
/// `use` trees' braces expanded (`use super::{x::A, y}` names `super::x::A`
/// and `super::y`).
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    // Expand `use` trees first.
    let mut rest = code;
    let mut plain = String::new();
    while let Some(k) = find_word(rest, "use") {
        plain.push_str(&rest[..k]);
        let end = rest[k..].find(';').map_or(rest.len(), |e| k + e);
        expand(rest[k + 3..end].trim(), &mut Vec::new(), &mut out);
        rest = &rest[end..];
    }
    plain.push_str(rest);
    let bytes = plain.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if (c.is_ascii_alphabetic() || c == b'_') && boundary && (i < 2 || &plain[i - 2..i] != "::")
        {
            let mut j = i;
            let mut segs = Vec::new();
            loop {
                let s = j;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                segs.push(plain[s..j].to_string());
                if plain[j..].starts_with("::")
                    && plain[j + 2..]
                        .bytes()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
                {
                    j += 2;
                } else {
                    break;
                }
            }
            if segs.len() > 1 {
                out.push(segs);
            }
            i = j.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// The start of `word` as a whole word in `text`.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(k) = text[from..].find(word) {
        let at = from + k;
        let before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let after = b
            .get(at + word.len())
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
        if before && after {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

/// The paths of a `use` tree, `prefix` first.
fn expand(tree: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head: Vec<String> = tree[..open]
            .split("::")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
        let n = prefix.len();
        prefix.extend(head);
        // Split at the top-level commas.
        let (mut depth, mut start) = (0, 0);
        for (k, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..k], prefix, out);
                    start = k + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], prefix, out);
        prefix.truncate(n);
        return;
    }
    let item = tree.split(" as ").next().unwrap().trim();
    if item.is_empty() {
        return;
    }
    let mut p = prefix.clone();
    p.extend(item.split("::").map(|s| s.trim().to_string()));
    if p.len() > 1 {
        out.push(p);
    }
}

/// The files of src/ by module path.
fn by_module() -> BTreeMap<Vec<String>, PathBuf> {
    files(&src())
        .into_iter()
        .map(|f| (module_path(&f), f))
        .collect()
}

/// The file a path of `from` (a module path) leads to: the deepest module
/// it names; `None` outside the crate.
fn target(
    from: &[String],
    path: &[String],
    modules: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = match path[0].as_str() {
        "crate" => Vec::new(),
        "self" => from.to_vec(),
        "super" => from[..from.len().saturating_sub(1)].to_vec(),
        first => {
            // A child module of this one, named without a prefix.
            let mut child = from.to_vec();
            child.push(first.to_string());
            if !modules.contains_key(&child) {
                return None;
            }
            from.to_vec()
        }
    };
    let skip = usize::from(matches!(path[0].as_str(), "crate" | "self" | "super"));
    let mut rest = &path[skip..];
    while rest.first().is_some_and(|s| s == "super") {
        at.pop();
        rest = &rest[1..];
    }
    for seg in rest {
        let mut next = at.clone();
        next.push(seg.clone());
        if modules.contains_key(&next) {
            at = next;
        } else {
            break;
        }
    }
    (!at.is_empty()).then_some(at)
}

/// The file-level import graph: each file's module path to the module
/// paths (files) it names.
fn file_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = by_module();
    let mut graph = BTreeMap::new();
    for (from, file) in &modules {
        let text = code(&std::fs::read_to_string(file).unwrap());
        let deps: BTreeSet<Vec<String>> = paths(&text)
            .iter()
            .filter_map(|p| target(from, p, &modules))
            .filter(|t| t != from)
            .collect();
        graph.insert(from.clone(), deps);
    }
    graph
}

/// A cycle of `graph`, if it has one.
fn cycle<K: Ord + Clone + std::fmt::Debug>(graph: &BTreeMap<K, BTreeSet<K>>) -> Option<Vec<K>> {
    fn visit<K: Ord + Clone>(
        m: &K,
        graph: &BTreeMap<K, BTreeSet<K>>,
        path: &mut Vec<K>,
        done: &mut BTreeSet<K>,
    ) -> Option<Vec<K>> {
        if let Some(k) = path.iter().position(|p| p == m) {
            let mut c = path[k..].to_vec();
            c.push(m.clone());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.clone());
        for d in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut Vec::new(), &mut done))
}

/// The top-level modules each top-level module names.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, deps) in file_graph() {
        if !known.contains(&from[0]) {
            continue; // lib.rs re-exports, main.rs is the command line
        }
        let entry = graph.entry(from[0].clone()).or_default();
        entry.extend(
            deps.into_iter()
                .map(|d| d[0].clone())
                .filter(|d| *d != from[0]),
        );
    }
    graph
}

#[test]
fn every_module_is_read_and_declared() {
    let known = modules();
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    assert_eq!(known, declared, "src/ against lib.rs's modules");
    assert!(
        known.contains("memory") && known.contains("sim"),
        "{known:?}"
    );
    let graph = imports();
    for m in &known {
        assert!(graph.contains_key(m), "{m} was not read: {graph:?}");
    }
    // The graph sees edges of every kind of path.
    assert!(graph["experiment"].contains("memory"), "{graph:?}");
    assert!(graph["sim"].contains("model"), "{graph:?}");
}

#[test]
fn modules_import_each_other_one_way() {
    let graph = imports();
    if let Some(c) = cycle(&graph) {
        panic!("import loop: {}", c.join(" -> "));
    }
}

#[test]
fn files_of_the_backends_and_sweeps_import_each_other_one_way() {
    let graph = file_graph();
    for top in ["sim", "sweep"] {
        let inside: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = graph
            .iter()
            .filter(|(k, _)| k[0] == top)
            .map(|(k, v)| {
                let v = v.iter().filter(|d| d[0] == top).cloned().collect();
                (k.clone(), v)
            })
            .collect();
        assert!(inside.len() > 3, "read {top}: {inside:?}");
        if let Some(c) = cycle(&inside) {
            let names: Vec<String> = c.iter().map(|p| p.join("/")).collect();
            panic!("file-level import loop: {}", names.join(" -> "));
        }
    }
    // The reader sees file-level edges: the GPU's run reads its schedule.
    let run = vec!["sim".to_string(), "gpu".into(), "run".into()];
    let schedule = vec!["sim".to_string(), "gpu".into(), "schedule".into()];
    assert!(graph[&run].contains(&schedule), "{:?}", graph[&run]);
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
    // Nor the GPU API, the command line's parser or the thread pool's size.
    for path in files(&src().join("model")) {
        let text = std::fs::read_to_string(&path).unwrap();
        for word in ["wgpu::", "clap::", "current_num_threads"] {
            assert!(!text.contains(word), "{} uses {word}", path.display());
        }
    }
    // The analysis layer (metrics, modes) sits between the model and the engine.
    assert!(!graph["analysis"].contains("sim"), "analysis imports sim");
    assert!(!graph["output"].contains("sweep"), "output imports sweep");
    // The backends' generic part knows neither backend: no file of sim/
    // but choice.rs (which opens one) imports a file of sim/cpu or sim/gpu.
    let files = file_graph();
    let backend = |f: &[String]| f.len() >= 2 && f[0] == "sim" && (f[1] == "cpu" || f[1] == "gpu");
    let mut generic = 0;
    for (file, deps) in &files {
        if file[0] != "sim" || backend(file) || file.last().is_some_and(|f| f == "choice") {
            continue;
        }
        generic += 1;
        for dep in deps {
            assert!(
                !backend(dep),
                "{} imports {}",
                file.join("/"),
                dep.join("/")
            );
        }
    }
    assert!(
        generic >= 4,
        "sim/mod.rs, cost.rs, inputs.rs and recording.rs are read"
    );
}

/// The arms of every `match` in `code`: (patterns, whether one is a
/// catch-all).
fn matches_of(code: &str) -> Vec<Vec<String>> {
    let b = code.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(k) = find_word(&code[from..], "match") {
        let at = from + k;
        from = at + 5;
        // The body: the first `{` at depth 0 after the scrutinee.
        let mut depth = 0i32;
        let mut open = None;
        for (j, &c) in b.iter().enumerate().skip(at + 5) {
            match c {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b'{' if depth == 0 => {
                    open = Some(j);
                    break;
                }
                b';' if depth == 0 => break,
                _ => {}
            }
        }
        let Some(open) = open else { continue };
        // Arms: pattern `=>` body, the body a block (then an optional
        // comma) or an expression up to a comma at depth 0.
        let mut arms = Vec::new();
        let mut j = open + 1;
        let mut start = j;
        let mut depth = 0i32;
        while j < b.len() {
            match b[j] {
                b'(' | b'[' | b'{' => depth += 1,
                b')' | b']' => depth -= 1,
                b'}' if depth == 0 => break,
                b'}' => depth -= 1,
                b'=' if depth == 0 && b.get(j + 1) == Some(&b'>') => {
                    arms.push(code[start..j].trim().to_string());
                    j = arm_end(b, j + 2);
                    start = j;
                    continue;
                }
                _ => {}
            }
            j += 1;
        }
        out.push(arms);
    }
    out
}

/// Where an arm whose body starts at `j` ends: after a block body (and
/// its comma), or after the comma closing an expression body, or at the
/// `}` closing the match.
fn arm_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && b[j].is_ascii_whitespace() {
        j += 1;
    }
    if b.get(j) == Some(&b'{') {
        let mut d = 0i32;
        while j < b.len() {
            match b[j] {
                b'(' | b'[' | b'{' => d += 1,
                b')' | b']' | b'}' => d -= 1,
                _ => {}
            }
            j += 1;
            if d == 0 {
                break;
            }
        }
        let mut k = j;
        while k < b.len() && b[k].is_ascii_whitespace() {
            k += 1;
        }
        match b.get(k) {
            Some(b',') => return k + 1,
            // `{ .. }.method()` or `{ .. }?`: the expression goes on.
            Some(b'.') | Some(b'?') => {}
            _ => return j,
        }
    }
    let mut d = 0i32;
    while j < b.len() {
        match b[j] {
            b'(' | b'[' | b'{' => d += 1,
            b')' | b']' => d -= 1,
            b'}' if d == 0 => return j,
            b'}' => d -= 1,
            b',' if d == 0 => return j + 1,
            _ => {}
        }
        j += 1;
    }
    j
}

/// Whether an arm's pattern matches anything: `_`, or a bare lowercase
/// binding, with or without a guard.
fn catch_all(pattern: &str) -> bool {
    let p = pattern.split(" if ").next().unwrap().trim();
    p == "_"
        || (!p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && p.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
}

/// The forms of M (the model's, and the CPU's `Operator`), the weight
/// kinds and bench's operators.
const FORMS: [&str; 6] = [
    "Form::",
    "Shape::",
    "Weights::",
    "Operator::",
    "WeightsSpec::",
    "OperatorKind::",
];

#[test]
fn no_catch_all_arm_over_the_forms_of_m() {
    let mut bad = Vec::new();
    let mut seen = 0;
    for file in files(&src()) {
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for arms in matches_of(&text) {
            let over = arms.iter().any(|a| FORMS.iter().any(|f| a.contains(f)));
            if !over {
                continue;
            }
            seen += 1;
            if let Some(a) = arms.iter().find(|a| catch_all(a)) {
                bad.push(format!(
                    "{}: `{a} =>` in a match over {arms:?}",
                    file.display()
                ));
            }
        }
        for (k, _) in text.match_indices("matches!(") {
            let args = &text[k..k + text[k..].find(')').unwrap_or(0)];
            if FORMS.iter().any(|f| args.contains(f)) {
                bad.push(format!("{}: {args}", file.display()));
            }
        }
        // Nor an `==` or `!=` against one form: a test that picks out one
        // form says nothing of a new one.
        for c in comparisons_with_a_form(&text) {
            bad.push(format!("{}: `{c}`", file.display()));
        }
    }
    assert!(seen > 20, "found only {seen} matches over forms");
    assert!(
        bad.is_empty(),
        "catch-alls over the forms of M:\n{}",
        bad.join("\n")
    );
    // The reader itself: a catch-all is seen, a full list is not.
    let sample = code(
        "fn f(w: &Weights) -> u8 { match w { Weights::Ring { .. } => 1, _ => 0 } }\n\
         fn g(f: Form) -> u8 { match f { Form::Dense { n, .. } => { n } other => 0, } }\n\
         fn h(s: Shape) -> u8 { match s { Shape::Dense { .. } | Shape::Packed { .. } => 0 } }",
    );
    let found: Vec<bool> = matches_of(&sample)
        .iter()
        .map(|arms| arms.iter().any(|a| catch_all(a)))
        .collect();
    assert_eq!(found, [true, true, false]);
    let sample = code(
        "let d = op == OperatorKind::Dense; let s = k != crate::model::Form::Sparse; \
         let t = a == b; let u = OperatorShape::Dense != x; let v = y == &Form::Packed;",
    );
    assert_eq!(
        comparisons_with_a_form(&sample),
        [
            "== OperatorKind::Dense",
            "== Form::Packed",
            "!= crate::model::Form::Sparse",
            "!= OperatorShape::Dense",
        ]
    );
}

/// Each comparison (`==`, `!=`) in `code` with one of the [`FORMS`] on
/// either side (`op == Kind::X`, `Kind::X != op`, `x == &crate::a::Form::Y`,
/// `OperatorShape::…`).
fn comparisons_with_a_form(code: &str) -> Vec<String> {
    let word_char = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    for op in ["==", "!="] {
        for (k, _) in code.match_indices(op) {
            let rhs = code[k + op.len()..].trim_start_matches([' ', '&', '(']);
            let rhs = &rhs[..rhs.find(|c: char| !word_char(c)).unwrap_or(rhs.len())];
            let lhs = code[..k].trim_end();
            let lhs = &lhs[lhs.rfind(|c: char| !word_char(c)).map_or(0, |i| i + 1)..];
            for word in [lhs, rhs] {
                if FORMS.iter().any(|f| word.contains(f)) {
                    out.push(format!("{op} {word}"));
                }
            }
        }
    }
    out
}

#[test]
fn no_source_file_is_over_700_lines() {
    for file in files(&src()) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 700, "{} has {lines} lines", file.display());
    }
}

/// The command line parses and prints: it steps nothing and writes no
/// outputs itself. What a command does is a library call (`jobs`, `bench`,
/// `modes`, `sweep::merge`), so main.rs names no backend, no recording and
/// no writer.
#[test]
fn the_command_line_parses_and_prints_only() {
    let main = std::fs::read_to_string(src().join("main.rs")).unwrap();
    let text = code(&main);
    for word in [
        "dyn Backend",
        "CpuBackend",
        "GpuBackend",
        "choice::select",
        "run_batch",
        ".run(",
        "Recording",
        "write_run",
        "write_atomic",
        "SweepFolder",
        "prepare_dir",
    ] {
        assert!(!text.contains(word), "main.rs uses {word}");
    }
    assert!(text.contains("jobs::run_experiment") && text.contains("jobs::run_sweep"));
}

/// Where each form of M is matched on, by file: the places a new form must
/// be handled (the model's `Form` and `Shape`, the CPU's `Operator`). On
/// the GPU, M's shape and buffers are no enums: each kernel family
/// implements `KernelFamily` and uploads its `GpuOperator` in its own file
/// (`sim/gpu/operator/`), and `sim/gpu/operator/mod.rs` chooses the family
/// of each form. docs/architecture.md's "where a change goes" counts
/// these files; a match in another file would be one more place to touch.
const MATCHED_IN: [(&str, &[&str]); 3] = [
    (
        "Form",
        &[
            "analysis/modes.rs",
            "model/form.rs",
            "model/weights.rs",
            "sim/cpu/operator.rs",
            "sim/gpu/operator/mod.rs",
        ],
    ),
    (
        "Shape",
        &[
            "model/form.rs",
            "sim/cpu/operator.rs",
            "sim/gpu/operator/mod.rs",
        ],
    ),
    ("Operator", &["sim/cpu/operator.rs"]),
];

/// Whether an arm's pattern names a variant of the enum `name` (`name::`
/// not preceded by a letter, digit or `_`: `Shape::` is not
/// `OperatorShape::`).
fn names_variant(pattern: &str, name: &str) -> bool {
    let path = format!("{name}::");
    pattern.match_indices(&path).any(|(k, _)| {
        !pattern[..k]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn the_forms_of_m_are_matched_on_in_their_files_only() {
    let root = src();
    let mut found: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for file in files(&root) {
        let rel = file
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = code(&std::fs::read_to_string(&file).unwrap());
        let lets = let_patterns(&text);
        for pats in matches_of(&text).iter().chain(std::iter::once(&lets)) {
            for (name, _) in MATCHED_IN {
                if pats.iter().any(|a| names_variant(a, name)) {
                    found.entry(name).or_default().insert(rel.clone());
                }
            }
        }
    }
    for (name, allowed) in MATCHED_IN {
        let allowed: BTreeSet<String> = allowed.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            found.get(name).cloned().unwrap_or_default(),
            allowed,
            "the files with a match over `{name}`"
        );
    }
    // The reader: `Shape::` is a variant of Shape, not of OperatorShape.
    assert!(names_variant("crate::model::Shape::Dense { .. }", "Shape"));
    assert!(!names_variant("OperatorShape::Dense { .. }", "Shape"));
    assert!(names_variant(
        "OperatorShape::Dense { .. }",
        "OperatorShape"
    ));
    assert!(!names_variant("GpuOperator::Dense(_)", "Operator"));
    assert_eq!(
        let_patterns(&code(
            "if let Some(Form::Sparse(c, _)) = f { }\n\
             let Shape::Dense { n } = s else { return };\n\
             let x: Shape = Shape::Dense { n: 1 };"
        )),
        ["Some(Form::Sparse(c, _))", "Shape::Dense { n }", "x: Shape"]
    );
}

/// The pattern of every `let` in `code` (`if let`, `while let`, `let …
/// else` and plain bindings): the text between `let` and its ` = `.
fn let_patterns(code: &str) -> Vec<String> {
    code.match_indices("let ")
        .filter(|&(k, _)| {
            !code[..k]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .filter_map(|(k, _)| {
            let rest = &code[k + 4..];
            let end = rest.find(" = ")?;
            (!rest[..end].contains(';')).then(|| rest[..end].trim().to_string())
        })
        .collect()
}

/// Each GPU kernel family is a file of `sim/gpu/operator/` that states
/// every fact of its kernels (`KernelFamily`): its family type and its
/// kernels (`Kernel` constants) are named in `sim/gpu/operator/` only
/// (`mod.rs` chooses the family for M's shape), so that no other file of
/// the backend changes with a new family. docs/architecture.md's "where a
/// change goes" counts on it.
#[test]
fn each_kernel_family_is_named_in_its_folder_only() {
    let root = src();
    let folder = root.join("sim/gpu/operator");
    let mut names = Vec::new();
    for file in files(&folder) {
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for line in text.lines().map(str::trim) {
            // `pub struct DenseFamily {`, `pub const DENSE_ROW: Kernel =`.
            let words: Vec<&str> = line.split([' ', ':', '{', '(', '=']).collect();
            match words.as_slice() {
                ["pub", "struct", name, ..] if name.ends_with("Family") => {
                    names.push(name.to_string())
                }
                ["pub", "const", name, "", "Kernel", ..] => names.push(name.to_string()),
                _ => {}
            }
        }
    }
    for family in [
        "DenseFamily",
        "StructuredFamily",
        "ConvolutionFamily",
        "SparseFamily",
    ] {
        assert!(names.iter().any(|n| n == family), "{family} in {names:?}");
    }
    assert!(names.iter().any(|n| n == "SPARSE_STEP"), "{names:?}");
    for file in files(&root) {
        if file.starts_with(&folder) {
            continue;
        }
        let text = code(&std::fs::read_to_string(&file).unwrap());
        for name in &names {
            let named = text.match_indices(name.as_str()).any(|(k, _)| {
                let before = text[..k].chars().next_back();
                let after = text[k + name.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            assert!(!named, "{} names {name}", file.display());
        }
    }
}
