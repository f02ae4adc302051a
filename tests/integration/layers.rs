//! The layering that `src/lib.rs` states, checked on the source: no import circle among the
//! crate's top-level modules (tests included), and the pure core never names an edge.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The edges: the only modules that touch files, sockets or the command line.
const EDGES: [&str; 5] = ["data", "bundle", "http", "cli", "commands"];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Each top-level module's uses of another, with the first place each is made.
fn module_graph() -> BTreeMap<String, BTreeMap<String, String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for file in files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (line_no, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for (at, _) in line.match_indices("crate::") {
                let used: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !used.is_empty() && used != module {
                    graph
                        .entry(module.clone())
                        .or_default()
                        .entry(used)
                        .or_insert_with(|| format!("src/{rel}:{}", line_no + 1));
                }
            }
        }
    }
    graph
}

/// A circle through `start`, if there is one (depth-first, modules in name order).
fn circle_through(
    graph: &BTreeMap<String, BTreeMap<String, String>>,
    start: &str,
) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, BTreeMap<String, String>>,
        start: &str,
        at: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flat_map(|m| m.keys()) {
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if walk(graph, start, next, path, seen) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

#[test]
fn no_module_imports_itself_through_others() {
    let graph = module_graph();
    assert!(graph.len() > 10, "the source was not found: {graph:?}");
    for module in graph.keys() {
        if let Some(circle) = circle_through(&graph, module) {
            let steps: Vec<String> = circle
                .iter()
                .zip(circle.iter().skip(1).chain([&circle[0]]))
                .map(|(a, b)| format!("{a} -> {b} ({})", graph[a][b]))
                .collect();
            panic!("import circle:\n  {}", steps.join("\n  "));
        }
    }
}

#[test]
fn the_core_never_names_an_edge() {
    let graph = module_graph();
    for (module, uses) in &graph {
        if EDGES.contains(&module.as_str()) {
            continue;
        }
        for (used, place) in uses {
            assert!(
                !EDGES.contains(&used.as_str()),
                "{module} uses the edge {used} at {place}"
            );
        }
    }
}
