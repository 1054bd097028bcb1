//! The documentation holds together: the README is a short front page
//! (at most 250 lines) whose links reach every page of the user guide in
//! docs/guide/, and every relative link of every Markdown file (README,
//! BENCHMARKS, docs/, python/) names a file that exists and, with a
//! `#fragment`, a heading of that file (GitHub's anchors).

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files of the repository's documentation.
fn markdown_files() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut stack = vec![root().join("docs"), root().join("python")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && !name.contains("venv") {
                    stack.push(path);
                }
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The text outside fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            out.push('\n');
            continue;
        }
        if !fenced {
            // Inline code: drop what is between pairs of backticks.
            let mut code = false;
            for c in line.chars() {
                if c == '`' {
                    code = !code;
                } else if !code {
                    out.push(c);
                }
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links and images `[text](target)`.
fn links(text: &str) -> Vec<String> {
    let text = prose(text);
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].trim();
        // `[text](target "title")`: the target is the first word.
        let target = target.split_whitespace().next().unwrap_or("");
        out.push(target.trim_matches(['<', '>']).to_string());
        rest = &after[end..];
    }
    out
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_`
/// dropped, spaces as `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of the headings of a Markdown text (a repeated heading's
/// later anchors with -1, -2, ...).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || !line.starts_with('#') {
            continue;
        }
        let heading = line.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let heading: String = heading.chars().filter(|&c| c != '`' && c != '*').collect();
        let base = slug(&heading);
        let mut a = base.clone();
        let mut k = 0;
        while out.contains(&a) {
            k += 1;
            a = format!("{base}-{k}");
        }
        out.insert(a);
    }
    out
}

/// `path` without `.` and `..` components.
fn normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Every broken relative link of `file`: (target, why).
fn broken(file: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(file).unwrap();
    let mut out = Vec::new();
    for target in links(&text) {
        if target.is_empty()
            || target.contains("://")
            || target.starts_with("mailto:")
            || target.starts_with('{')
        {
            continue;
        }
        let (path, fragment) = match target.split_once('#') {
            Some((p, f)) => (p, Some(f)),
            None => (target.as_str(), None),
        };
        let dest = if path.is_empty() {
            file.to_path_buf()
        } else {
            normal(&file.parent().unwrap().join(path))
        };
        if !dest.exists() {
            out.push((target.clone(), format!("{} does not exist", dest.display())));
            continue;
        }
        if let Some(f) = fragment {
            if dest.extension().is_some_and(|e| e == "md") {
                let names = anchors(&std::fs::read_to_string(&dest).unwrap());
                if !names.contains(f) {
                    out.push((
                        target.clone(),
                        format!("no heading #{f} in {}", dest.display()),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn the_checker_finds_broken_links_and_knows_githubs_anchors() {
    assert_eq!(slug("Which GPU"), "which-gpu");
    assert_eq!(
        slug("Sweeps: how long does a memory last?"),
        "sweeps-how-long-does-a-memory-last"
    );
    assert_eq!(slug("Outputs of run"), "outputs-of-run");
    let a = anchors("# A\n```\n# not a heading\n```\n## B b\n## B b\n#hashtag\n");
    assert_eq!(
        a,
        ["a", "b-b", "b-b-1"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(
        links("see [x](a.md#b), `[y](no.md)`, ![p](../p.png \"t\")"),
        vec!["a.md#b", "../p.png"]
    );
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "# Top\n[ok](page.md#top) [self](#top) [gone](missing.md) [bad](#nowhere) [web](https://x.org)\n",
    )
    .unwrap();
    let found: Vec<String> = broken(&page).into_iter().map(|b| b.0).collect();
    assert_eq!(found, ["missing.md", "#nowhere"]);
}

#[test]
fn every_relative_link_of_the_docs_resolves() {
    let files = markdown_files();
    assert!(files.len() > 5, "{files:?}");
    let mut all = Vec::new();
    for f in &files {
        for (target, why) in broken(f) {
            all.push(format!("{}: ({target}): {why}", f.display()));
        }
    }
    assert!(all.is_empty(), "broken links:\n{}", all.join("\n"));
}

#[test]
fn the_readme_is_short_and_reaches_every_guide_page() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md has {lines} lines");
    // The two commands of the quick start.
    assert!(readme.contains("cargo run --release -- run examples/ring_memory.toml"));
    assert!(readme.contains("bash scripts/test.sh"));
    // Every page of the guide is reached from the README, directly or
    // through the guide's index.
    let guide = root().join("docs/guide");
    let mut reached: BTreeSet<PathBuf> = BTreeSet::new();
    let mut todo = vec![root().join("README.md")];
    while let Some(page) = todo.pop() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in links(&text) {
            let path = target.split('#').next().unwrap();
            if path.is_empty() || path.contains("://") || !path.ends_with(".md") {
                continue;
            }
            let dest = normal(&page.parent().unwrap().join(path));
            if dest.starts_with(&guide) && reached.insert(dest.clone()) {
                todo.push(dest);
            }
        }
    }
    let pages: BTreeSet<PathBuf> = std::fs::read_dir(&guide)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert!(pages.len() >= 8, "{pages:?}");
    let unreached: Vec<_> = pages.difference(&reached).collect();
    assert!(
        unreached.is_empty(),
        "guide pages no link reaches: {unreached:?}"
    );
}
