//! ONNX model -> [`graph_ir::Graph`]: one node per op output, weights folded
//! into their op's parameter count, shape arithmetic folded into constants,
//! every output shape inferred.

mod inputs;
mod order;
mod typed;

use crate::OnnxError;
use crate::attrs::Attrs;
use crate::constant::Const;
use crate::proto::{GraphProto, ModelProto, NodeProto};
use crate::shape::{self, Operand};
use graph_ir::{Graph, GraphBuilder, Node, NodeId, Op, PlainOp};
use order::{display_name, topological};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use typed::{constant_node, to_op};

pub use inputs::{BatchRule, GraphInput};

/// How to fix the dims an ONNX file leaves open.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportOptions {
    /// Written into the batch dims of the graph inputs without a given shape
    /// (which dims: `batch_rule`).
    pub batch_size: usize,
    pub batch_rule: BatchRule,
    /// Replaces the declared shape of the first graph input, for files with
    /// symbolic dims (under [`BatchRule::EveryInput`] its dim 0 is still the
    /// batch size).
    pub input_shape: Option<Vec<usize>>,
    /// Shapes of graph inputs by name, used as given (no batch rewrite).
    pub named_shapes: BTreeMap<String, Vec<usize>>,
    /// Graph inputs whose values are known at import: they become constants,
    /// as initializers are (the conformance runner feeds the node tests' small
    /// inputs, shapes and axes, this way).
    pub known_inputs: BTreeMap<String, KnownTensor>,
}

/// A tensor known before the model runs: a `.pb` file's `TensorProto`.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownTensor {
    pub dims: Vec<usize>,
    /// Row-major values, for tensors small enough to matter to shapes.
    pub values: Option<Vec<f64>>,
    pub is_float: bool,
}

/// Reads a serialised `TensorProto` (the node tests' `input_0.pb`, ...): its
/// name and the tensor.
pub fn read_tensor(path: &Path) -> Result<(String, KnownTensor), OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    let t = crate::proto::TensorProto::decode(bytes.as_slice()).map_err(|source| {
        OnnxError::Decode {
            file: path.to_path_buf(),
            source,
        }
    })?;
    let c = Const::from_proto(&t).map_err(|reason| OnnxError::Input {
        file: path.to_path_buf(),
        input: t.name().to_string(),
        reason,
    })?;
    Ok((
        t.name().to_string(),
        KnownTensor {
            dims: c.dims,
            values: c.values,
            is_float: c.is_float,
        },
    ))
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            batch_size: 1,
            batch_rule: BatchRule::EveryInput,
            input_shape: None,
            named_shapes: BTreeMap::new(),
            known_inputs: BTreeMap::new(),
        }
    }
}

/// A model read from ONNX.
#[derive(Debug, Clone)]
pub struct Imported {
    pub graph: Graph,
    /// ONNX op types outside the vocabulary of [`graph_ir::Op`], with how many
    /// nodes each has. They are in the graph as [`Op::Unknown`].
    pub unknown_ops: BTreeMap<String, usize>,
    /// Version of the default-domain opset the file imports.
    pub opset: i64,
    pub batch_size: usize,
    /// The graph inputs the batch size was written into.
    pub batched_inputs: Vec<String>,
    /// Each graph input with the shape it was imported with, in the file's
    /// order (initializers and known inputs left out).
    pub inputs: Vec<GraphInput>,
    /// Each graph output's name and inferred shape, in the file's order
    /// (`None` for an output no node, input or initializer produces).
    pub outputs: Vec<(String, Option<Vec<usize>>)>,
}

/// Reads and imports an ONNX file.
pub fn read_file(path: &Path, options: &ImportOptions) -> Result<Imported, OnnxError> {
    let bytes = std::fs::read(path).map_err(|source| OnnxError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    import_bytes(&bytes, path, options)
}

/// Imports an ONNX model held in memory; `file` is used in error messages.
pub fn import_bytes(
    bytes: &[u8],
    file: &Path,
    options: &ImportOptions,
) -> Result<Imported, OnnxError> {
    let model = ModelProto::decode(bytes).map_err(|source| OnnxError::Decode {
        file: file.to_path_buf(),
        source,
    })?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain(), "" | "ai.onnx"))
        .map(|o| o.version())
        .unwrap_or(1);
    let graph = model.graph.as_ref().ok_or_else(|| OnnxError::NoGraph {
        file: file.to_path_buf(),
    })?;
    let mut importer = Importer {
        file: file.to_path_buf(),
        values: HashMap::new(),
        builder: GraphBuilder::new(),
        unknown_ops: BTreeMap::new(),
        declared: declared_shapes(graph),
        read: graph
            .node
            .iter()
            .flat_map(|n| n.input.iter().cloned())
            .chain(graph.output.iter().map(|o| o.name().to_string()))
            .collect(),
        batched_inputs: Vec::new(),
        inputs: Vec::new(),
    };
    importer.add_initializers(graph)?;
    importer.add_inputs(graph, options)?;
    for node in topological(graph, &importer.values, file)? {
        importer.add_node(node)?;
    }
    let outputs = graph
        .output
        .iter()
        .map(|o| {
            let shape = importer.values.get(o.name()).map(|v| match v {
                Value::Data { shape, .. } => shape.clone(),
                Value::Const(c) => c.dims.clone(),
            });
            (o.name().to_string(), shape)
        })
        .collect();
    let built = importer
        .builder
        .build()
        .map_err(|source| OnnxError::Graph {
            file: file.to_path_buf(),
            source,
        })?;
    Ok(Imported {
        graph: built,
        unknown_ops: importer.unknown_ops,
        opset,
        batch_size: options.batch_size,
        batched_inputs: importer.batched_inputs,
        inputs: importer.inputs,
        outputs,
    })
}

/// A tensor name's meaning while importing.
#[derive(Debug, Clone)]
enum Value {
    /// The output of a graph node.
    Data {
        node: NodeId,
        shape: Vec<usize>,
    },
    Const(Const),
}

impl Value {
    fn operand(&self) -> Operand<'_> {
        match self {
            Value::Data { shape, .. } => Operand {
                shape,
                values: None,
                is_float: true,
            },
            Value::Const(c) => Operand {
                shape: &c.dims,
                values: c.values.as_deref(),
                is_float: c.is_float,
            },
        }
    }
}

struct Importer {
    file: PathBuf,
    values: HashMap<String, Value>,
    builder: GraphBuilder,
    unknown_ops: BTreeMap<String, usize>,
    /// Static shapes the file itself declares (value_info, outputs), used only
    /// for ops outside the vocabulary.
    declared: HashMap<String, Vec<usize>>,
    /// Tensor names some node or the graph output reads.
    read: HashSet<String>,
    batched_inputs: Vec<String>,
    inputs: Vec<GraphInput>,
}

fn declared_shapes(graph: &GraphProto) -> HashMap<String, Vec<usize>> {
    graph
        .value_info
        .iter()
        .chain(&graph.output)
        .filter_map(|info| {
            let dims: Option<Vec<usize>> = inputs::declared_dims(info)?
                .into_iter()
                .map(|d| match d {
                    inputs::Dim::Static(v) => Some(v),
                    inputs::Dim::Symbolic(_) => None,
                })
                .collect();
            Some((info.name().to_string(), dims?))
        })
        .collect()
}

impl Importer {
    fn node_error(&self, node: &NodeProto, reason: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            file: self.file.clone(),
            node: display_name(node),
            op: node.op_type().to_string(),
            reason: reason.into(),
        }
    }

    /// `If` with a constant condition, as an inference engine folds it: the
    /// branch taken is imported in place (its nodes may read the outer
    /// graph's values) and the node's outputs are the branch's outputs.
    fn add_if(&mut self, node: &NodeProto, attrs: &Attrs) -> Result<(), OnnxError> {
        let condition = node.input.first().and_then(|n| self.values.get(n));
        let taken = match condition {
            Some(Value::Const(Const {
                values: Some(v), ..
            })) if v.len() == 1 => v[0] != 0.0,
            _ => {
                return Err(self.node_error(
                    node,
                    "control flow: the condition is computed at run time; only an If with a \
                     constant condition is folded (the graph depends on the branch taken)",
                ));
            }
        };
        let name = if taken { "then_branch" } else { "else_branch" };
        let branch = attrs
            .graph(name)
            .ok_or_else(|| self.node_error(node, format!("{name} is missing")))?;
        self.add_initializers(branch)?;
        self.read.extend(
            branch
                .node
                .iter()
                .flat_map(|n| n.input.iter().cloned())
                .chain(branch.output.iter().map(|o| o.name().to_string())),
        );
        for inner in topological(branch, &self.values, &self.file)? {
            self.add_node(inner)?;
        }
        if node.output.len() > branch.output.len() {
            return Err(self.node_error(
                node,
                format!(
                    "{name} has {} outputs for {}",
                    branch.output.len(),
                    node.output.len()
                ),
            ));
        }
        for (out, inner) in node.output.iter().zip(&branch.output) {
            let value = self.values.get(inner.name()).cloned().ok_or_else(|| {
                self.node_error(
                    node,
                    format!("{name} output '{}' is not produced", inner.name()),
                )
            })?;
            self.values.insert(out.clone(), value);
        }
        Ok(())
    }

    fn add_initializers(&mut self, graph: &GraphProto) -> Result<(), OnnxError> {
        for t in &graph.initializer {
            let c = Const::from_proto(t).map_err(|reason| OnnxError::Input {
                file: self.file.clone(),
                input: t.name().to_string(),
                reason,
            })?;
            self.values.insert(t.name().to_string(), Value::Const(c));
        }
        Ok(())
    }

    fn add_inputs(&mut self, graph: &GraphProto, options: &ImportOptions) -> Result<(), OnnxError> {
        let bound = inputs::bound_dims(graph, options, |name| self.values.contains_key(name));
        let mut first = true;
        for info in &graph.input {
            // Older exporters list initializers as inputs too.
            if self.values.contains_key(info.name()) {
                continue;
            }
            let error = |reason: String| OnnxError::Input {
                file: self.file.clone(),
                input: info.name().to_string(),
                reason,
            };
            if let Some(known) = options.known_inputs.get(info.name()) {
                let c = Const {
                    dims: known.dims.clone(),
                    values: known.values.clone(),
                    is_float: known.is_float,
                };
                shape::check_size(&c.dims).map_err(error)?;
                self.values.insert(info.name().to_string(), Value::Const(c));
                first = false;
                continue;
            }
            if let Some(named) = options.named_shapes.get(info.name()) {
                shape::check_size(named).map_err(error)?;
                let node = self
                    .builder
                    .add_node(Node::new(info.name(), Op::Input).with_shape(named.clone()));
                self.inputs.push(GraphInput {
                    name: info.name().to_string(),
                    shape: named.clone(),
                    is_float: inputs::is_float(info),
                });
                self.values.insert(
                    info.name().to_string(),
                    Value::Data {
                        node,
                        shape: named.clone(),
                    },
                );
                first = false;
                continue;
            }
            let given_first = options.input_shape.as_ref().filter(|_| first);
            let shape = match (given_first, options.batch_rule) {
                (Some(given), BatchRule::Symbolic) => given.clone(),
                (Some(given), BatchRule::EveryInput) => {
                    let mut shape = given.clone();
                    if let Some(b) = shape.first_mut() {
                        *b = options.batch_size;
                        self.batched_inputs.push(info.name().to_string());
                    }
                    shape
                }
                (None, rule) => {
                    let dims = inputs::declared_dims(info)
                        .ok_or_else(|| error("is not a tensor with a declared shape".into()))?;
                    let (shape, batched) =
                        inputs::resolve(&dims, options.batch_size, rule, info.name(), &bound)
                            .map_err(error)?;
                    if batched {
                        self.batched_inputs.push(info.name().to_string());
                    }
                    shape
                }
            };
            shape::check_size(&shape).map_err(error)?;
            first = false;
            let node = self
                .builder
                .add_node(Node::new(info.name(), Op::Input).with_shape(shape.clone()));
            self.inputs.push(GraphInput {
                name: info.name().to_string(),
                shape: shape.clone(),
                is_float: inputs::is_float(info),
            });
            self.values
                .insert(info.name().to_string(), Value::Data { node, shape });
        }
        Ok(())
    }

    fn add_node(&mut self, node: &NodeProto) -> Result<(), OnnxError> {
        let attrs = Attrs::of(node);
        let op_type = node.op_type();
        let default_domain = matches!(node.domain(), "" | "ai.onnx");
        if default_domain && op_type == "If" {
            return self.add_if(node, &attrs);
        }
        if default_domain && matches!(op_type, "Loop" | "Scan") {
            return Err(self.node_error(
                node,
                "control flow: Loop and Scan bodies are not unrolled, so the outputs' shapes \
                 (which depend on the iterations) are unknown",
            ));
        }
        if op_type == "Constant" {
            let c = constant_node(&attrs).map_err(|r| self.node_error(node, r))?;
            if let Some(out) = node.output.first() {
                self.values.insert(out.clone(), Value::Const(c));
            }
            return Ok(());
        }
        // Cloned so that outputs can be inserted while the inputs are in use.
        let owned: Vec<Option<Value>> = node
            .input
            .iter()
            .map(|name| {
                if name.is_empty() {
                    None
                } else {
                    self.values.get(name).cloned()
                }
            })
            .collect();
        let inputs: Vec<Option<&Value>> = owned.iter().map(Option::as_ref).collect();
        let operands: Vec<Option<Operand>> = inputs.iter().map(|v| v.map(Value::operand)).collect();
        let outputs = node.output.len();
        let is_const = |v: &Option<&Value>| matches!(v, None | Some(Value::Const(_)));
        let foldable = !inputs.is_empty() && inputs.iter().all(is_const)
            || (matches!(op_type, "Shape" | "Size") && inputs.first().copied().flatten().is_some());
        let known_domain = matches!(node.domain(), "" | "ai.onnx");

        if foldable && known_domain {
            let shapes = shape::infer(op_type, &attrs, &operands, outputs)
                .map_err(|r| self.node_error(node, r))?;
            let split = (op_type == "Split")
                .then(|| shape::fold_split(&attrs, &operands, &shapes))
                .flatten();
            for (k, (out, dims)) in node.output.iter().zip(shapes).enumerate() {
                let values = match &split {
                    Some(parts) => parts.get(k).cloned(),
                    None => shape::fold_values(op_type, &attrs, &operands, &dims),
                };
                let is_float = match op_type {
                    // Cast and CastLike decide the type themselves.
                    "Cast" => attrs.int("to").is_none_or(shape::is_float_type),
                    "Shape" | "Size" => false,
                    _ => inputs
                        .iter()
                        .flatten()
                        .any(|v| matches!(v, Value::Const(c) if c.is_float)),
                };
                self.values.insert(
                    out.clone(),
                    Value::Const(Const {
                        dims,
                        values,
                        is_float,
                    }),
                );
            }
            return Ok(());
        }

        let op = if known_domain {
            to_op(node, &attrs, &operands)
        } else {
            None
        };
        let op = match op {
            Some(op) => op,
            None => {
                let name = if known_domain {
                    op_type.to_string()
                } else {
                    format!("{}.{op_type}", node.domain())
                };
                *self.unknown_ops.entry(name.clone()).or_default() += 1;
                Op::Unknown(name)
            }
        };
        let shapes = match &op {
            Op::Unknown(_) => self.unknown_op_shapes(node, &operands)?,
            _ => shape::infer(op_type, &attrs, &operands, outputs).map_err(|r| {
                self.node_error(node, format!("cannot infer the output shape: {r}"))
            })?,
        };
        // Weights are the float constants; a quantised op's are its integer
        // matrices (rank 2 and up), not its scales and zero points.
        let quantised = op_type.starts_with("QLinear") || op_type.ends_with("Integer");
        let params: u64 = inputs
            .iter()
            .flatten()
            .map(|v| match v {
                Value::Const(c) if quantised && c.dims.len() >= 2 => c.numel() as u64,
                Value::Const(_) if quantised => 0,
                Value::Const(c) if c.is_float => c.numel() as u64,
                _ => 0,
            })
            .sum();
        // `x * 0` is zeros whatever `x` is (NAS-Bench-201's `none` is written so).
        let zeros = op == Op::Plain(PlainOp::Mul)
            && inputs.iter().flatten().any(|v| {
                matches!(v, Value::Const(Const { values: Some(values), .. })
                    if !values.is_empty() && values.iter().all(|&x| x == 0.0))
            });
        let base = display_name(node);
        for (k, (out, shape)) in node.output.iter().zip(shapes).enumerate() {
            // Optional outputs nobody reads (Dropout's mask, ...) are not nodes.
            if out.is_empty() || (k > 0 && !self.is_read(out)) {
                continue;
            }
            let name = if k == 0 {
                base.clone()
            } else {
                format!("{base}:{k}")
            };
            // Weights belong to the op, so only its first output carries them.
            let id = self.builder.add_node(Node {
                zeros,
                ..Node::new(name, op.clone())
                    .with_shape(shape.clone())
                    .with_params(if k == 0 { params } else { 0 })
            });
            for (slot, v) in inputs.iter().enumerate() {
                if let Some(Value::Data { node: from, .. }) = v {
                    self.builder.connect(*from, id, slot);
                }
            }
            self.values
                .insert(out.clone(), Value::Data { node: id, shape });
        }
        Ok(())
    }

    /// Output shapes of an op outside the catalogue: what the file declares
    /// for them (`value_info`, graph outputs), else the first input's shape
    /// for a known shape-preserving contrib op (only the first output).
    fn unknown_op_shapes(
        &self,
        node: &NodeProto,
        operands: &[Option<Operand>],
    ) -> Result<Vec<Vec<usize>>, OnnxError> {
        let declared: Option<Vec<Vec<usize>>> = node
            .output
            .iter()
            .map(|o| self.declared.get(o).cloned())
            .collect();
        if let Some(shapes) = declared {
            return Ok(shapes);
        }
        let same_shape =
            graph_ir::catalogue::SAME_SHAPE_CONTRIB.contains(&(node.domain(), node.op_type()));
        let first = operands.first().copied().flatten();
        match (same_shape, first) {
            (true, Some(x)) if node.output.len() == 1 || !self.is_read_beyond_first(node) => {
                Ok(vec![x.shape.to_vec(); node.output.len().max(1)])
            }
            _ => Err(self.node_error(
                node,
                "op is outside the catalogue and the file declares no static output shape for \
                 it (value_info or a graph output would give it)",
            )),
        }
    }

    /// Whether an output after the first is read (its shape would be a guess).
    fn is_read_beyond_first(&self, node: &NodeProto) -> bool {
        node.output
            .iter()
            .skip(1)
            .any(|o| !o.is_empty() && self.is_read(o))
    }

    fn is_read(&self, output: &str) -> bool {
        self.read.contains(output)
    }
}
