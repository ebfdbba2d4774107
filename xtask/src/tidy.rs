//! `cargo xtask tidy`: the tree's structural rules, checked by CI.
//!
//! - every Rust file opens with a `//!` header saying what it is for;
//! - no source file (under a crate's `src/`) has over 600 lines before its
//!   `#[cfg(test)]` module; tests and generated code are not counted; the CLI
//!   is thin: its `main.rs` (the command enum and dispatch) at most 150, each
//!   command file at most 200;
//! - each crate's dependencies on the workspace's crates (and, where the table
//!   says so, on anything else) are the ones docs/ARCHITECTURE.md allows;
//! - no two source files of a crate import each other in a circle
//!   (`crate::a` in `b.rs` and `crate::b` in `a.rs`, or a longer loop).

use anyhow::{Context, Result, bail};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Lines a source file may have before its tests.
pub const MAX_LINES: usize = 600;

/// Source files still over [`MAX_LINES`], each to be split; the list only
/// shrinks (a file that is under the limit and still listed is an error).
const OVERSIZE: [&str; 0] = [];

/// Tighter limits where the architecture promises thin code (first match wins;
/// a path ending in `/` covers its directory).
const THIN: [(&str, usize); 2] = [("crates/cli/src/main.rs", 150), ("crates/cli/src/", 200)];

fn line_limit(rel: &str) -> usize {
    THIN.iter()
        .find(|(path, _)| rel == *path || (path.ends_with('/') && rel.starts_with(path)))
        .map_or(MAX_LINES, |&(_, limit)| limit)
}

/// Runs every rule on the workspace at `root`; prints and fails on violations.
pub fn run(root: &Path) -> Result<()> {
    let problems = check(root, &OVERSIZE)?;
    if problems.is_empty() {
        eprintln!("xtask tidy: all rules hold");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

/// Every violation in the tree at `root`, one line each.
pub fn check(root: &Path, oversize: &[&str]) -> Result<Vec<String>> {
    let files = rust_files(root)?;
    let mut problems = Vec::new();
    for file in &files {
        let rel = relative(root, file);
        let text = std::fs::read_to_string(file).with_context(|| format!("reading {rel}"))?;
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        if !first.starts_with("//!") {
            problems.push(format!("{rel}: no `//!` module header"));
        }
        if is_source(&rel) {
            let lines = lines_before_tests(&text);
            let limit = line_limit(&rel);
            let allowed = oversize.contains(&rel.as_str());
            if lines > limit && !allowed {
                problems.push(format!(
                    "{rel}: {lines} lines before its tests (at most {limit}): split it"
                ));
            }
            if lines <= limit && allowed {
                problems.push(format!(
                    "{rel}: now {lines} lines: remove it from tidy's oversize list"
                ));
            }
        }
    }
    problems.extend(dependency_problems(root)?);
    problems.extend(cycle_problems(root, &files)?);
    Ok(problems)
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Under a crate's or xtask's `src/`.
fn is_source(rel: &str) -> bool {
    rel.split('/').any(|part| part == "src")
}

fn lines_before_tests(text: &str) -> usize {
    text.lines()
        .take_while(|l| !l.starts_with("#[cfg(test)]"))
        .count()
}

/// The workspace's Rust files: `crates/`, `xtask/` and `tests/`, without build output.
fn rust_files(root: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for top in ["crates", "xtask", "tests"] {
        walk(&root.join(top), &mut out)?;
    }
    out.sort();
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.is_dir() {
            if name.as_deref() != Some("target") && name.as_deref() != Some("fixtures") {
                walk(&path, out)?;
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The allowed dependencies, from the table under "## Dependency direction" in
/// docs/ARCHITECTURE.md: `| crate | workspace crates | other dependencies |`,
/// names in backticks, `any` for an unchecked column, `none` for an empty one.
#[derive(Debug)]
struct Allowed {
    workspace: BTreeSet<String>,
    /// `None`: any.
    other: Option<BTreeSet<String>>,
}

fn allowed_dependencies(root: &Path) -> Result<BTreeMap<String, Allowed>> {
    let doc = root.join("docs/ARCHITECTURE.md");
    let text =
        std::fs::read_to_string(&doc).with_context(|| format!("reading {}", doc.display()))?;
    let section = text
        .split("## Dependency direction")
        .nth(1)
        .context("docs/ARCHITECTURE.md has no \"## Dependency direction\" section")?;
    let names = |cell: &str| -> BTreeSet<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    };
    let mut table = BTreeMap::new();
    for line in section.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // "| a | b | c |" splits into ["", a, b, c, ""].
        if cells.len() != 5 || !cells[1].starts_with('`') {
            continue;
        }
        let Some(name) = names(cells[1]).into_iter().next() else {
            continue;
        };
        let other = (cells[3] != "any").then(|| names(cells[3]));
        table.insert(
            name,
            Allowed {
                workspace: names(cells[2]),
                other,
            },
        );
    }
    Ok(table)
}

/// The `[dependencies]` of a Cargo.toml (names only).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some((name, _)) = line.split_once('=') {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                deps.insert(name.to_string());
            }
        }
    }
    deps
}

fn crate_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let crates = root.join("crates");
    for entry in
        std::fs::read_dir(&crates).with_context(|| format!("reading {}", crates.display()))?
    {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)?;
            let name = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("name = "))
                .map(|n| n.trim_matches('"').to_string())
                .with_context(|| format!("{} has no package name", manifest.display()))?;
            out.push((name, path));
        }
    }
    out.sort();
    Ok(out)
}

fn dependency_problems(root: &Path) -> Result<Vec<String>> {
    let allowed = allowed_dependencies(root)?;
    let crates = crate_dirs(root)?;
    let workspace: BTreeSet<&str> = crates.iter().map(|(n, _)| n.as_str()).collect();
    let mut problems = Vec::new();
    for (name, dir) in &crates {
        let Some(rule) = allowed.get(name) else {
            problems.push(format!(
                "crate {name}: no row in docs/ARCHITECTURE.md's dependency table"
            ));
            continue;
        };
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
        for dep in dependencies(&manifest) {
            let ok = if workspace.contains(dep.as_str()) {
                rule.workspace.contains(&dep)
            } else {
                rule.other.as_ref().is_none_or(|o| o.contains(&dep))
            };
            if !ok {
                problems.push(format!(
                    "crate {name} depends on {dep}, which docs/ARCHITECTURE.md does not allow"
                ));
            }
        }
    }
    Ok(problems)
}

/// The module a source file is (`src/a.rs` and `src/a/mod.rs` are `a`;
/// `src/a/b.rs` is `a::b`), with its crate's `src` directory; `None` for the
/// crate root and files outside `src/`.
fn module_of(file: &Path) -> Option<(PathBuf, String)> {
    let parts: Vec<String> = file
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let src = parts.iter().rposition(|p| p == "src")?;
    let mut path: Vec<String> = parts[src + 1..].to_vec();
    let last = path.pop()?;
    let stem = last.strip_suffix(".rs")?.to_string();
    if stem != "mod" {
        path.push(stem);
    }
    if path.is_empty() || path == ["lib"] || path == ["main"] {
        return None;
    }
    Some((parts[..=src].iter().collect(), path.join("::")))
}

fn cycle_problems(root: &Path, files: &[PathBuf]) -> Result<Vec<String>> {
    // src dir -> module -> modules it names through `crate::`
    let mut graphs: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in files {
        let Some((src, module)) = module_of(file) else {
            continue;
        };
        let text = std::fs::read_to_string(file)?;
        let code = &text[..text.find("\n#[cfg(test)]").unwrap_or(text.len())];
        // Comments (doc links included) name modules without importing them.
        let code: String = code
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        graphs
            .entry(src)
            .or_default()
            .insert(module, crate_paths(&code));
    }
    let mut problems = Vec::new();
    for (src, graph) in graphs {
        let modules: BTreeSet<&String> = graph.keys().collect();
        // Edges to known modules other than itself, its ancestors and descendants.
        let edges: BTreeMap<&String, Vec<&String>> = graph
            .iter()
            .map(|(m, named)| {
                let to = modules
                    .iter()
                    .copied()
                    .filter(|t| {
                        *t != m
                            && !m.starts_with(&format!("{t}::"))
                            && !t.starts_with(&format!("{m}::"))
                            && named
                                .iter()
                                .any(|n| n == *t || n.starts_with(&format!("{t}::")))
                    })
                    .collect();
                (m, to)
            })
            .collect();
        if let Some(cycle) = find_cycle(&edges) {
            let names: Vec<&str> = cycle.iter().map(|s| s.as_str()).collect();
            problems.push(format!(
                "{}: source files import each other in a circle: {}",
                relative(root, &src),
                names.join(" -> ")
            ));
        }
    }
    Ok(problems)
}

/// Every `crate::a::b` path named in `code` (as `a::b`, `a`).
fn crate_paths(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut so_far = Vec::new();
        for part in path.split("::").filter(|p| !p.is_empty()) {
            so_far.push(part);
            out.insert(so_far.join("::"));
        }
    }
    out
}

/// One cycle of a directed graph, closed (first node repeated at the end).
fn find_cycle<'a>(edges: &BTreeMap<&'a String, Vec<&'a String>>) -> Option<Vec<&'a String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit<'a>(
        node: &'a String,
        edges: &BTreeMap<&'a String, Vec<&'a String>>,
        marks: &mut BTreeMap<&'a String, Mark>,
        stack: &mut Vec<&'a String>,
    ) -> Option<Vec<&'a String>> {
        marks.insert(node, Mark::Open);
        stack.push(node);
        for &next in edges.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|n| *n == next).unwrap_or(0);
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(next);
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(next, edges, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for &node in edges.keys() {
        if marks.get(node).copied().unwrap_or(Mark::New) == Mark::New {
            let mut stack = Vec::new();
            if let Some(c) = visit(node, edges, &mut marks, &mut stack) {
                return Some(c);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny workspace that passes every rule: two crates, a doc table.
    fn clean_tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |rel: &str, text: &str| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write(
            "docs/ARCHITECTURE.md",
            "# A\n\n## Dependency direction\n\n| crate | workspace crates | other |\n|---|---|---|\n\
             | `low` | none | `serde` |\n| `high` | `low` | any |\n\n## Next\n",
        );
        write(
            "crates/low/Cargo.toml",
            "[package]\nname = \"low\"\n\n[dependencies]\nserde = { workspace = true }\n",
        );
        write(
            "crates/low/src/lib.rs",
            "//! Low.\npub mod a;\npub mod b;\n",
        );
        write(
            "crates/low/src/a.rs",
            "//! A.\nuse crate::b::B;\npub struct A(B);\n",
        );
        write("crates/low/src/b.rs", "//! B.\npub struct B;\n");
        write(
            "crates/high/Cargo.toml",
            "[package]\nname = \"high\"\n\n[dependencies]\nlow = { path = \"../low\" }\nrand = \"1\"\n",
        );
        write("crates/high/src/main.rs", "//! High.\nfn main() {}\n");
        dir
    }

    fn problems(dir: &tempfile::TempDir) -> Vec<String> {
        check(dir.path(), &[]).expect("tidy runs")
    }

    #[test]
    fn a_clean_tree_passes() {
        let dir = clean_tree();
        assert_eq!(problems(&dir), Vec::<String>::new());
    }

    #[test]
    fn a_file_without_a_header_fails() {
        let dir = clean_tree();
        std::fs::write(dir.path().join("crates/low/src/b.rs"), "pub struct B;\n").expect("write");
        let found = problems(&dir);
        assert!(
            found.iter().any(|p| p.contains("b.rs: no `//!`")),
            "{found:?}"
        );
    }

    #[test]
    fn a_long_file_fails_but_its_tests_do_not_count() {
        let dir = clean_tree();
        let path = dir.path().join("crates/low/src/b.rs");
        let body = "//! B.\n".to_string() + &"pub struct B;\n".repeat(MAX_LINES);
        std::fs::write(&path, &body).expect("write");
        let found = problems(&dir);
        assert!(
            found.iter().any(|p| p.contains("b.rs: 601 lines")),
            "{found:?}"
        );
        let tested = "//! B.\npub struct B;\n#[cfg(test)]\n".to_string() + &"// t\n".repeat(900);
        std::fs::write(&path, tested).expect("write");
        assert_eq!(problems(&dir), Vec::<String>::new());
        // Listed as oversize but short: the list must shrink.
        let listed = check(dir.path(), &["crates/low/src/b.rs"]).expect("tidy runs");
        assert!(listed.iter().any(|p| p.contains("remove it")), "{listed:?}");
    }

    #[test]
    fn a_cli_main_or_command_file_over_its_limit_fails() {
        let dir = clean_tree();
        let write = |rel: &str, lines: usize| {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "//! C.\n".to_string() + &"// c\n".repeat(lines - 1))
                .expect("write");
        };
        write("crates/cli/src/main.rs", 150);
        write("crates/cli/src/train_command.rs", 200);
        assert_eq!(problems(&dir), Vec::<String>::new());
        write("crates/cli/src/main.rs", 151);
        write("crates/cli/src/train_command.rs", 201);
        let found = problems(&dir);
        assert!(
            found.iter().any(|p| p.contains("main.rs: 151 lines")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.contains("train_command.rs: 201 lines")),
            "{found:?}"
        );
    }

    #[test]
    fn a_dependency_against_the_direction_fails() {
        let dir = clean_tree();
        std::fs::write(
            dir.path().join("crates/low/Cargo.toml"),
            "[package]\nname = \"low\"\n\n[dependencies]\nhigh = { path = \"../high\" }\nrand = \"1\"\n",
        )
        .expect("write");
        let found = problems(&dir);
        assert!(
            found.iter().any(|p| p.contains("low depends on high")),
            "{found:?}"
        );
        assert!(
            found.iter().any(|p| p.contains("low depends on rand")),
            "{found:?}"
        );
    }

    #[test]
    fn files_importing_each_other_fail() {
        let dir = clean_tree();
        std::fs::write(
            dir.path().join("crates/low/src/b.rs"),
            "//! B.\npub struct B;\nfn f() { let _ = crate::a::A; }\n",
        )
        .expect("write");
        let found = problems(&dir);
        assert!(
            found
                .iter()
                .any(|p| p.contains("circle") && p.contains("a -> b -> a")),
            "{found:?}"
        );
    }
}
