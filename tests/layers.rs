//! The layering rules of ARCHITECTURE.md, checked on the source: which top-level module
//! may use which, no import cycles between top-level modules, and the size limits (no
//! file over 600 lines, no function over 100). What breaks a rule today is listed in
//! `DEBTS`, each entry a piece of the redesign still to do; the check fails on a new
//! breach *and* on a listed one that no longer holds, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Breaches that exist today, one line each, in the form the check reports them.
const DEBTS: &[&str] = &[];

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/store/memory.rs` → `store`).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_string()
}

/// The top-level modules `text` names through `crate::` (code only, not comments).
fn uses(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            // `crate::{a, b::c}` names several; `crate::a::b` one.
            let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                group[..end]
                    .split(',')
                    .filter_map(|part| part.trim().split("::").next())
                    .collect()
            } else {
                rest.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .next()
                    .into_iter()
                    .collect()
            };
            found.extend(
                names
                    .into_iter()
                    .map(str::trim)
                    .filter(|n| modules.contains(*n))
                    .map(str::to_string),
            );
        }
    }
    // `crate::Error` and `crate::Result` are the `error` module's.
    if text.lines().any(|l| {
        let code = l.split("//").next().unwrap_or("");
        code.contains("crate::Error") || code.contains("crate::Result")
    }) {
        found.insert("error".into());
    }
    found
}

/// Functions longer than `max` lines in rustfmt-formatted `text`: from the `fn` line to
/// the closing brace at the same indentation.
fn long_functions(text: &str, max: usize) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "fn") else {
            continue;
        };
        let before_ok = words[..at].iter().all(|w| {
            matches!(*w, "pub" | "async" | "const" | "unsafe" | "extern") || w.starts_with("pub(")
        });
        if !before_ok || trimmed.ends_with(';') {
            continue;
        }
        let closing = " ".repeat(indent) + "}";
        if let Some(len) = lines[i + 1..].iter().position(|l| *l == closing)
            && len + 2 > max
        {
            let name = words.get(at + 1).unwrap_or(&"?");
            let name = name.split(['(', '<']).next().unwrap_or(name);
            out.push((name.to_string(), len + 2));
        }
    }
    out
}

/// Edges of the module graph that lie on a cycle: `a -> b` where `b` reaches `a`.
fn cycle_edges(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<(String, String)> {
    let reaches = |from: &str, to: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_string()];
        while let Some(m) = todo.pop() {
            if m == to {
                return true;
            }
            if seen.insert(m.clone()) {
                todo.extend(graph.get(&m).into_iter().flatten().cloned());
            }
        }
        false
    };
    let mut out = Vec::new();
    for (a, targets) in graph {
        for b in targets {
            if reaches(b, a) {
                out.push((a.clone(), b.clone()));
            }
        }
    }
    out
}

#[test]
fn modules_import_along_the_layers_and_stay_small() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    files.sort();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| m != "lib" && m != "bin")
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut breaches = BTreeSet::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" || module == "bin" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read a source file");
        let rel = format!("src/{}", file.strip_prefix(&src).unwrap().display());
        let mut used = uses(&text, &modules);
        used.remove(&module);
        // Rule: transport is a protocol layer; of the crate it uses ids only.
        if module == "transport" {
            for m in used.iter().filter(|m| *m != "ids") {
                breaches.insert(format!("transport uses {m}"));
            }
        }
        // Rule: store and tasks use nothing of the node, the composition root, the actors,
        // the dashboard or compiled graphs.
        if module == "store" || module == "tasks" {
            for m in used.iter().filter(|m| {
                matches!(
                    m.as_str(),
                    "node" | "runtime" | "actors" | "dashboard" | "dag"
                )
            }) {
                breaches.insert(format!("{module} uses {m}"));
            }
        }
        // Rule: `lifecycle` is the composition root; nothing names it.
        if module != "runtime" && text.contains("lifecycle::") {
            breaches.insert(format!("{rel} names runtime::lifecycle"));
        }
        let lines = text.lines().count();
        if lines > 600 {
            breaches.insert(format!("file over 600 lines: {rel}"));
        }
        for (name, _) in long_functions(&text, 100) {
            breaches.insert(format!("function over 100 lines: {rel} {name}"));
        }
        graph.entry(module).or_default().extend(used);
    }
    for (a, b) in cycle_edges(&graph) {
        breaches.insert(format!("cycle: {a} -> {b}"));
    }
    let debts: BTreeSet<String> = DEBTS.iter().map(|d| d.to_string()).collect();
    let new: Vec<_> = breaches.difference(&debts).collect();
    let paid: Vec<_> = debts.difference(&breaches).collect();
    assert!(
        new.is_empty() && paid.is_empty(),
        "layering (ARCHITECTURE.md, \"Layers\"):\n  new breaches (fix them): {new:#?}\n  \
         listed debts that no longer hold (remove them from DEBTS): {paid:#?}"
    );
}

#[test]
fn the_checks_catch_what_they_look_for() {
    let modules: BTreeSet<String> = ["store", "actors", "ids", "error"]
        .into_iter()
        .map(String::from)
        .collect();
    let used = uses(
        "use crate::{actors::Ask, ids::NodeId};\n// crate::store in a comment\nfn f() -> crate::Result<()> {}",
        &modules,
    );
    assert_eq!(
        used.into_iter().collect::<Vec<_>>(),
        ["actors", "error", "ids"]
    );
    let long = format!(
        "fn big() {{\n{}}}\n    fn small() {{\n    }}\n",
        "    x();\n".repeat(120)
    );
    assert_eq!(long_functions(&long, 100), [("big".to_string(), 122)]);
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert(
        "b".to_string(),
        BTreeSet::from(["a".to_string(), "c".to_string()]),
    );
    assert_eq!(
        cycle_edges(&graph),
        [("a".into(), "b".into()), ("b".into(), "a".into())]
    );
}
