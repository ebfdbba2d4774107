//! The ONNX backend node tests as a conformance suite for shape inference:
//! each test directory (`model.onnx`, `test_data_set_0/input_K.pb`,
//! `output_K.pb`) is imported with its inputs' shapes (and, for inputs of at
//! most [`KNOWN_VALUES`] elements, their values: shapes, axes, scales), and
//! every inferred graph-output shape is compared with the expected output
//! tensor's shape. The tests ship inside the `onnx` wheel
//! (`onnx/backend/test/data/node/`).

use crate::import::{ImportOptions, KnownTensor, import_bytes, read_tensor};
use crate::proto::{ModelProto, type_proto};
use prost::Message;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Inputs of at most this many elements are given to the importer by value.
pub const KNOWN_VALUES: usize = 64;

/// What became of one test.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    /// The test directory's name (`test_lrn_default`).
    pub name: String,
    /// The op under test (see [`op_under_test`]), `(expanded)` for the tests
    /// of a function op written out in primitives.
    pub op: String,
    /// The op's domain (`ai.onnx` for the default domain).
    pub domain: String,
    /// `Err(reason)`: the import failed or a shape differs.
    pub result: Result<(), String>,
}

/// Pass counts of one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpSummary {
    pub op: String,
    pub domain: String,
    pub passed: usize,
    pub total: usize,
}

/// Every test of a suite directory, in name order.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub tests: Vec<TestOutcome>,
}

/// The test directories under `dir` (each holding a `model.onnx`), sorted.
pub fn test_dirs(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    dirs.retain(|d| d.join("model.onnx").is_file());
    dirs.sort();
    Ok(dirs)
}

/// Runs one test directory. Never panics on a malformed file: every failure
/// is the test's `Err`.
pub fn run_test(dir: &Path) -> TestOutcome {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let model_path = dir.join("model.onnx");
    let model = std::fs::read(&model_path)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            ModelProto::decode(b.as_slice())
                .map(|m| (b, m))
                .map_err(|e| e.to_string())
        });
    let (bytes, model) = match model {
        Ok(m) => m,
        Err(e) => {
            return TestOutcome {
                op: String::new(),
                domain: String::new(),
                name,
                result: Err(format!("cannot read model.onnx: {e}")),
            };
        }
    };
    let (op, domain) = op_under_test(&name, &model);
    let result = check(dir, &model_path, &bytes, &model);
    TestOutcome {
        name,
        op,
        domain,
        result,
    }
}

fn check(dir: &Path, path: &Path, bytes: &[u8], model: &ModelProto) -> Result<(), String> {
    let graph = model.graph.as_ref().ok_or("the model has no graph")?;
    let initializers: HashSet<&str> = graph.initializer.iter().map(|t| t.name()).collect();
    let inputs: Vec<&str> = graph
        .input
        .iter()
        .map(|i| i.name())
        .filter(|n| !initializers.contains(n))
        .collect();
    // Sequence, optional and map values are not tensors: the graph type has
    // none of them, so such a test is reported as what it is.
    for info in graph.input.iter().chain(&graph.output) {
        let value = info.r#type.as_ref().and_then(|t| t.value.as_ref());
        let kind = match value {
            Some(type_proto::Value::TensorType(_)) | None => continue,
            Some(type_proto::Value::SequenceType(_)) => "a sequence",
            Some(type_proto::Value::OptionalType(_)) => "an optional",
            Some(type_proto::Value::MapType(_)) => "a map",
            Some(_) => "not a dense tensor",
        };
        return Err(format!(
            "'{}' is {kind}, which the graph type does not model (tensors only)",
            info.name()
        ));
    }
    let data = dir.join("test_data_set_0");
    let mut options = ImportOptions::default();
    for (k, input) in inputs.iter().enumerate() {
        let file = data.join(format!("input_{k}.pb"));
        if !file.is_file() {
            continue; // an optional input the test leaves out
        }
        let (_, tensor) = read_tensor(&file).map_err(|e| e.to_string())?;
        if tensor.dims.iter().product::<usize>() <= KNOWN_VALUES && tensor.values.is_some() {
            options.known_inputs.insert(input.to_string(), tensor);
        } else {
            options.named_shapes.insert(input.to_string(), tensor.dims);
        }
    }
    // The report names the test; the file's path would be this machine's.
    let prefix = format!("{}: ", path.display());
    let imported =
        import_bytes(bytes, path, &options).map_err(|e| e.to_string().replacen(&prefix, "", 1))?;
    for (k, (name, inferred)) in imported.outputs.iter().enumerate() {
        let file = data.join(format!("output_{k}.pb"));
        if !file.is_file() {
            continue;
        }
        let (_, expected): (String, KnownTensor) = read_tensor(&file).map_err(|e| e.to_string())?;
        match inferred {
            Some(shape) if *shape == expected.dims => {}
            Some(shape) => {
                return Err(format!(
                    "output '{name}': inferred {shape:?}, expected {:?}",
                    expected.dims
                ));
            }
            None => return Err(format!("output '{name}' is not produced")),
        }
    }
    Ok(())
}

/// The op a test is about: among the model's node op types, the one whose name
/// (lower case) the test's name starts with, longest first; else the last
/// node's. Tests of a function op written out in primitives are
/// `<op> (expanded)`.
pub fn op_under_test(test: &str, model: &ModelProto) -> (String, String) {
    let stem = test.strip_prefix("test_").unwrap_or(test).replace('_', "");
    let nodes = model
        .graph
        .as_ref()
        .map(|g| g.node.as_slice())
        .unwrap_or(&[]);
    let domain_of = |d: &str| {
        if d.is_empty() {
            "ai.onnx".to_string()
        } else {
            d.to_string()
        }
    };
    let matched = nodes
        .iter()
        .filter(|n| stem.starts_with(&n.op_type().to_lowercase()))
        .max_by_key(|n| n.op_type().len());
    let (op, domain) = match matched.or(nodes.last()) {
        Some(n) => (n.op_type().to_string(), domain_of(n.domain())),
        None => (String::new(), "ai.onnx".to_string()),
    };
    if test.contains("_expanded") {
        (format!("{op} (expanded)"), domain)
    } else {
        (op, domain)
    }
}

impl Suite {
    /// Runs every test under `dir`; `progress(done, total)` after each.
    pub fn run(dir: &Path, progress: &mut dyn FnMut(usize, usize)) -> std::io::Result<Suite> {
        let dirs = test_dirs(dir)?;
        let mut tests = Vec::with_capacity(dirs.len());
        for (i, d) in dirs.iter().enumerate() {
            tests.push(run_test(d));
            progress(i + 1, dirs.len());
        }
        Ok(Suite { tests })
    }

    /// Pass counts per (domain, op), sorted by domain then op.
    pub fn by_op(&self) -> Vec<OpSummary> {
        let mut map: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
        for t in &self.tests {
            let e = map.entry((t.domain.clone(), t.op.clone())).or_default();
            e.1 += 1;
            if t.result.is_ok() {
                e.0 += 1;
            }
        }
        map.into_iter()
            .map(|((domain, op), (passed, total))| OpSummary {
                op,
                domain,
                passed,
                total,
            })
            .collect()
    }

    /// Passed and total tests of the default (`ai.onnx`) domain.
    pub fn default_domain(&self) -> (usize, usize) {
        let ours = self.tests.iter().filter(|t| t.domain == "ai.onnx");
        let total = ours.clone().count();
        (ours.filter(|t| t.result.is_ok()).count(), total)
    }

    /// The report as markdown: totals, one row per op, then every failure.
    pub fn render_markdown(&self, source: &str) -> String {
        let (passed, total) = self.default_domain();
        let ops = self.by_op();
        let full = ops
            .iter()
            .filter(|o| o.domain == "ai.onnx" && o.passed == o.total)
            .count();
        let ai_ops = ops.iter().filter(|o| o.domain == "ai.onnx").count();
        let mut md = String::new();
        let _ = writeln!(
            md,
            "# ONNX shape-inference conformance\n\nSuite: {source}. Each test is imported with its \
             inputs' shapes (values for inputs of at most {KNOWN_VALUES} elements) and passes \
             when every inferred output shape equals the expected output's.\n\n\
             `ai.onnx` domain: **{passed} of {total} tests** ({:.1}%), **{full} of {ai_ops} ops** \
             with every test passing.\n",
            100.0 * passed as f64 / total.max(1) as f64
        );
        let _ = writeln!(
            md,
            "## The op catalogue\n\nEvery op the reader infers shapes for (`graph_ir::catalogue`), \
             by shape family, with its node tests passed / run here.\n\n| family | ops |\n|---|---|"
        );
        let count = |op: &str| {
            ops.iter()
                .find(|o| o.domain == "ai.onnx" && o.op == op)
                .map_or("no test".to_string(), |o| {
                    format!("{}/{}", o.passed, o.total)
                })
        };
        let mut families: Vec<graph_ir::catalogue::Family> = Vec::new();
        for e in graph_ir::catalogue::CATALOGUE {
            if !families.contains(&e.family) {
                families.push(e.family);
            }
        }
        for family in families {
            let list: Vec<String> = graph_ir::catalogue::CATALOGUE
                .iter()
                .filter(|e| e.family == family)
                .map(|e| format!("`{}` {}", e.name, count(e.name)))
                .collect();
            let _ = writeln!(md, "| {family:?} | {} |", list.join(", "));
        }
        let _ = writeln!(md, "\n## Node tests per op\n");
        let _ = writeln!(md, "| domain | op | passed | tests |\n|---|---|---:|---:|");
        for o in &ops {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                o.domain, o.op, o.passed, o.total
            );
        }
        let _ = writeln!(md, "\n## Failures\n");
        for t in self.tests.iter().filter(|t| t.result.is_err()) {
            let reason = t.result.as_ref().err().map_or("", String::as_str);
            let _ = writeln!(
                md,
                "- `{}` ({}): {}",
                t.name,
                t.op,
                reason.replace('\n', " ")
            );
        }
        md
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{GraphProto, NodeProto};

    fn model_with(ops: &[&str]) -> ModelProto {
        ModelProto {
            graph: Some(GraphProto {
                node: ops
                    .iter()
                    .map(|op| NodeProto {
                        op_type: Some(op.to_string()),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_op_under_test_is_the_longest_name_the_test_starts_with() {
        let m = model_with(&["Constant", "ReduceSum", "ReduceSumSquare"]);
        assert_eq!(
            op_under_test("test_reduce_sum_square_keepdims", &m).0,
            "ReduceSumSquare"
        );
        let m = model_with(&["Constant", "ReduceSum"]);
        assert_eq!(op_under_test("test_reduce_sum_keepdims", &m).0, "ReduceSum");
        let m = model_with(&["Mul", "Add"]);
        assert_eq!(op_under_test("test_celu_expanded", &m).0, "Add (expanded)");
    }

    #[test]
    fn a_broken_test_directory_is_a_failure_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let test = dir.path().join("test_broken");
        std::fs::create_dir_all(test.join("test_data_set_0")).unwrap();
        std::fs::write(test.join("model.onnx"), b"\x0a\xff\xff garbage").unwrap();
        let outcome = run_test(&test);
        assert!(outcome.result.is_err());
        let suite = Suite::run(dir.path(), &mut |_, _| {}).unwrap();
        assert_eq!(suite.tests.len(), 1);
        assert!(suite.render_markdown("here").contains("test_broken"));
    }
}
