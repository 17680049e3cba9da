//! No import circle inside the sync crate: the steps of a pass share their vocabulary
//! through a leaf module (`pass`), never through the orchestrator that runs them. Read
//! from the sources, so a new `use crate::executor` in a step fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn modules() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        // Tests may reach anywhere; the module's own code may not. Comments (and the
        // links in doc comments) are not imports.
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps: BTreeSet<String> = code
            .match_indices("crate::")
            .map(|(at, _)| {
                code[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect::<String>()
            })
            .filter(|d| !d.is_empty() && *d != name)
            .collect();
        graph.insert(name, deps);
    }
    graph
}

/// A circle through `from`, if there is one.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == from {
                let mut circle = path.clone();
                circle.push(next.clone());
                return Some(circle);
            }
            if graph.contains_key(next) && seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

#[test]
fn no_module_of_the_sync_crate_imports_itself_through_another() {
    let graph = modules();
    assert!(graph.contains_key("executor") && graph.contains_key("pass"));
    let circles: Vec<String> = graph
        .keys()
        .filter_map(|m| circle(&graph, m))
        .map(|c| c.join(" -> "))
        .collect();
    assert!(circles.is_empty(), "import circles: {circles:#?}");
    // The steps reach their vocabulary in the leaf, never through the orchestrator.
    for step in [
        "scan",
        "recovery",
        "lifecycle",
        "target_folders",
        "apply",
        "copy",
    ] {
        assert!(
            !graph[step].contains("executor"),
            "{step} imports the orchestrator"
        );
    }
}
