//! The module layout has no import cycles: each module of src/ uses only modules below it, so
//! types several layers share live in a module of their own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module name -> the crate modules its files name with `crate::`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let module = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string();
            if module == "lib" || module == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let used = out.entry(module.clone()).or_default();
            for (i, _) in text.match_indices("crate::") {
                let name: String = text[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    used.insert(name);
                }
            }
        }
    }
    out
}

#[test]
fn modules_import_each_other_without_cycles() {
    let graph = imports();
    assert!(graph.contains_key("session") && graph.contains_key("backend"));
    // Depth-first search for a back edge.
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

/// Inside each folder of src/ (a scheme's backend, dispatch, config, ...), the files use each
/// other without cycles too: `super::file` imports between sibling files form no circle, so a
/// folder also reads from its bottom (the connection) to its top (`mod.rs`).
#[test]
fn files_of_each_folder_import_each_other_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut folders = vec![src.clone()];
    let mut checked = 0;
    while let Some(dir) = folders.pop() {
        let mut files = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.file_stem().unwrap().to_string_lossy().to_string();
                if !["mod", "lib", "main", "tests"].contains(&name.as_str()) {
                    files.insert(name, std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        if dir == src || files.len() < 2 {
            continue;
        }
        let graph: BTreeMap<String, BTreeSet<String>> = files
            .iter()
            .map(|(name, text)| {
                let used = text
                    .match_indices("super::")
                    .map(|(i, _)| {
                        text[i + 7..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect::<String>()
                    })
                    .filter(|m| m != name && files.contains_key(m))
                    .collect();
                (name.clone(), used)
            })
            .collect();
        let mut done = BTreeSet::new();
        for m in graph.keys() {
            visit(m, &graph, &mut Vec::new(), &mut done, &dir);
        }
        checked += 1;
    }
    assert!(checked >= 8, "the folders of src/ were found ({checked})");

    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
        dir: &Path,
    ) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!(
                "import cycle in {}: {} -> {m}",
                dir.display(),
                path[at..].join(" -> ")
            );
        }
        path.push(m.to_string());
        for next in graph.get(m).into_iter().flatten() {
            visit(next, graph, path, done, dir);
        }
        path.pop();
        done.insert(m.to_string());
    }
}

/// Every .rs file of src/ with its text, excluding tests.
fn sources() -> Vec<(String, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(&src)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if rel.ends_with("tests.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests at the end of a file are not what the invariants are about.
                let text = match text.find("#[cfg(test)]\nmod tests") {
                    Some(i) => text[..i].to_string(),
                    None => text,
                };
                out.push((rel, text));
            }
        }
    }
    out
}

/// The architecture's invariants (src/lib.rs), each where a text search can hold it.
#[test]
fn the_invariants_of_the_layout_hold() {
    for (file, text) in sources() {
        // Only dispatch refuses a request for a capability the route lacks.
        if !file.starts_with("dispatch/") && !file.starts_with("error.rs") {
            assert!(
                !text.contains("GatewayError::Unsupported"),
                "{file}: capability errors are dispatch's"
            );
        }
        // Backends deliver only through the push sink: none writes to a connection itself.
        if file.starts_with("backend/") && file != "backend/sink.rs" {
            for word in ["Outbox", "send_frame", "try_send_frame"] {
                assert!(
                    !text.contains(word),
                    "{file}: {word} (backends push through PushSink)"
                );
            }
        }
        // Frames are encoded in codec.rs, messages once in record.rs.
        if file != "codec.rs" && file != "record.rs" {
            assert!(
                !text.contains("encode_key("),
                "{file}: protobuf written by hand outside codec.rs and record.rs"
            );
            assert!(
                !text.contains("KafkaMessage {"),
                "{file}: a message built outside record.rs (records are encoded once)"
            );
        }
    }
}
