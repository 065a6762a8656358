//! The workspace's stack holds: inside `harness/` and `sim/`, a top-level module imports only modules on
//! lower lines of its crate's `LAYERS` file, and the crates depend only downward
//! (core ← oracle, helm ← harness; sim stands alone). Test modules obey the same rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `LAYERS`: one line per level, bottom first; `#` comments. Module → level.
fn read_layers(text: &str) -> BTreeMap<String, usize> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .enumerate()
        .flat_map(|(level, l)| l.split_whitespace().map(move |m| (m.to_string(), level)))
        .collect()
}

/// Top-level modules a source text names through `crate::`, including `use crate::{a::x, b}` groups.
fn crate_refs(src: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in src.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(p) = rest.find("crate::") {
            let after = &rest[p + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                // Only the first segment of each comma-separated path at depth 0 names a module.
                let (mut depth, mut start) = (0, true);
                let mut word = String::new();
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => start = true,
                        c if start && (c.is_alphanumeric() || c == '_') => word.push(c),
                        _ if !word.is_empty() => {
                            out.push((i + 1, std::mem::take(&mut word)));
                            start = false;
                        }
                        _ => {}
                    }
                }
                if !word.is_empty() {
                    out.push((i + 1, word));
                }
            } else {
                let word: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !word.is_empty() {
                    out.push((i + 1, word));
                }
            }
            rest = &rest[p + "crate::".len()..];
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every upward or sideways import in a crate, as `file:line: a (level n) imports b (level m)`.
fn violations(crate_dir: &Path) -> Vec<String> {
    let layers = read_layers(&std::fs::read_to_string(crate_dir.join("LAYERS")).unwrap());
    let src = crate_dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if ["lib", "main"].contains(&first.as_str()) {
            continue;
        }
        let Some(&from) = layers.get(&first) else {
            out.push(format!("{}: module `{first}` is not listed in LAYERS", f.display()));
            continue;
        };
        for (line, target) in crate_refs(&std::fs::read_to_string(&f).unwrap()) {
            if target == first || ["self", "super"].contains(&target.as_str()) || target.chars().next().is_some_and(|c| c.is_uppercase()) {
                continue; // crate-root items (constants, re-exported types) sit below every module
            }
            match layers.get(&target) {
                Some(&to) if to < from => {}
                Some(&to) => out.push(format!(
                    "{}:{line}: `{first}` (level {from}) imports `{target}` (level {to}): imports must go down the stack",
                    f.display()
                )),
                None if target.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {}
                None => out.push(format!("{}:{line}: `{first}` imports `{target}`, which LAYERS does not list", f.display())),
            }
        }
    }
    out
}

#[test]
fn harness_imports_only_downward() {
    let v = violations(&workspace().join("harness"));
    assert!(v.is_empty(), "imports that go up the stack:\n{}", v.join("\n"));
}

#[test]
fn sim_imports_only_downward() {
    let v = violations(&workspace().join("sim"));
    assert!(v.is_empty(), "imports that go up the stack:\n{}", v.join("\n"));
}

/// The crates' own dependencies go down: core ← oracle, helm ← harness; sim depends on none of ours.
#[test]
fn crates_depend_only_downward() {
    let allowed: &[(&str, &[&str])] = &[
        ("core", &[]),
        ("oracle", &["cleanroom-core"]),
        ("helm", &[]),
        ("sim", &[]),
        ("harness", &["cleanroom-core", "cleanroom-oracle", "cleanroom-helm", "cleanroom-sim"]),
    ];
    for (dir, ok) in allowed {
        let toml = std::fs::read_to_string(workspace().join(dir).join("Cargo.toml")).unwrap();
        let deps = toml.split("[dependencies]").nth(1).unwrap_or("").split("\n[").next().unwrap_or("");
        for line in deps.lines() {
            let name = line.split(['=', ' ']).next().unwrap_or("");
            if name.starts_with("cleanroom") {
                assert!(ok.contains(&name), "{dir}/Cargo.toml depends on {name}: crates may depend only on those below them");
            }
        }
    }
}

/// The check itself can fail: an upward import in a scratch crate is caught, with file and line.
#[test]
fn an_upward_import_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/low")).unwrap();
    std::fs::write(dir.path().join("LAYERS"), "low\nhigh\n").unwrap();
    std::fs::write(dir.path().join("src/high.rs"), "use crate::low::x;\n").unwrap();
    std::fs::write(dir.path().join("src/low/mod.rs"), "use crate::{high::y, low};\nfn f() { crate::high::z(); }\n").unwrap();
    let v = violations(dir.path());
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v.iter().all(|l| l.contains("src/low/mod.rs:") && l.contains("`low` (level 0) imports `high` (level 1)")), "{v:?}");
}
