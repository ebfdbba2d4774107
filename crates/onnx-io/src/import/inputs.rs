//! The shapes of a model's graph inputs: given by name (`--input-shape
//! NAME=1,3,640,640`), given for the first input (the unnamed form), or the
//! file's declared dims with the batch size written into the batch dims.

use super::ImportOptions;
use crate::proto::{GraphProto, ValueInfoProto, tensor_shape_proto::dimension, type_proto};
use std::collections::BTreeMap;

/// Which dims `batch_size` is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BatchRule {
    /// Dimension 0 of every input, static or not (NNLQP's files, whose labels
    /// name the batch size each model was measured at; the reference tokenizer
    /// does the same).
    #[default]
    EveryInput,
    /// Only symbolic dims that are dim 0 or named like a batch (`batch`,
    /// `batch_size`, `N`, ...); a static dim is the file's, kept as written.
    Symbolic,
}

/// A graph input as imported: its name, the shape it was given or resolved
/// to, and whether its element type is a float (else an integer or bool
/// tensor: token ids, masks, lengths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphInput {
    pub name: String,
    pub shape: Vec<usize>,
    pub is_float: bool,
}

/// One declared dim of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Dim {
    Static(usize),
    /// A `dim_param` name (empty when the file names none).
    Symbolic(String),
}

/// The declared dims of a tensor-typed value, `None` for another type
/// (sequence, optional, map) or a missing shape.
pub(super) fn declared_dims(info: &ValueInfoProto) -> Option<Vec<Dim>> {
    let Some(type_proto::Value::TensorType(t)) = info.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    Some(
        t.shape
            .as_ref()?
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(dimension::Value::DimValue(v)) if *v > 0 => Dim::Static(*v as usize),
                Some(dimension::Value::DimParam(name)) => Dim::Symbolic(name.clone()),
                _ => Dim::Symbolic(String::new()),
            })
            .collect(),
    )
}

/// Whether a value's element type is a float (an undeclared type counts as one).
pub(super) fn is_float(info: &ValueInfoProto) -> bool {
    match info.r#type.as_ref().and_then(|t| t.value.as_ref()) {
        Some(type_proto::Value::TensorType(t)) => match t.elem_type {
            Some(code) if code != 0 => crate::shape::is_float_type(i64::from(code)),
            _ => true,
        },
        _ => true,
    }
}

/// A `dim_param` that names a batch.
pub(super) fn batch_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    matches!(
        n.as_str(),
        "n" | "b" | "bs" | "batch" | "batch_size" | "batchsize" | "nbatch"
    ) || n.starts_with("batch")
}

/// A `dim_param` that names a sequence or another non-batch axis, never
/// taken for the batch even at dim 0.
fn sequence_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["seq", "len", "time", "token", "step", "width", "height"]
        .iter()
        .any(|w| n.contains(w))
}

/// The values that given shapes bind to named symbolic dims: an input given as
/// `input_ids=1,128` whose file declares `[batch, sequence]` binds `batch = 1`
/// and `sequence = 128`, so that `attention_mask`, declared with the same
/// names, gets the same dims. Inputs whose rank differs from the given
/// shape's bind nothing; a name bound twice keeps its first value.
pub(super) fn bindings<'a>(
    given: impl IntoIterator<Item = (&'a [Dim], &'a [usize])>,
) -> BTreeMap<String, usize> {
    let mut bound = BTreeMap::new();
    for (dims, shape) in given {
        if dims.len() != shape.len() {
            continue;
        }
        for (d, &v) in dims.iter().zip(shape) {
            if let Dim::Symbolic(name) = d
                && !name.is_empty()
            {
                bound.entry(name.clone()).or_insert(v);
            }
        }
    }
    bound
}

/// The dim names that the shapes given in `options` bind (see [`bindings`]),
/// over the graph inputs that are not already values (initializers).
pub(super) fn bound_dims(
    graph: &GraphProto,
    options: &ImportOptions,
    is_value: impl Fn(&str) -> bool,
) -> BTreeMap<String, usize> {
    let declared: Vec<(Vec<Dim>, &Vec<usize>)> = graph
        .input
        .iter()
        .filter(|info| !is_value(info.name()))
        .enumerate()
        .filter_map(|(i, info)| {
            let given = options.named_shapes.get(info.name()).or(if i == 0 {
                options.input_shape.as_ref()
            } else {
                None
            })?;
            Some((declared_dims(info)?, given))
        })
        .collect();
    bindings(declared.iter().map(|(d, s)| (d.as_slice(), s.as_slice())))
}

/// An input's shape from its declared dims under `rule`: the shape, and
/// whether the batch size was written into it. A symbolic dim named in `bound`
/// takes the bound value; other symbolic dims that are not the batch are an
/// error naming them.
pub(super) fn resolve(
    dims: &[Dim],
    batch: usize,
    rule: BatchRule,
    input: &str,
    bound: &BTreeMap<String, usize>,
) -> Result<(Vec<usize>, bool), String> {
    let mut batched = false;
    let mut open = Vec::new();
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        if let Dim::Symbolic(name) = d
            && let Some(&v) = bound.get(name)
        {
            shape.push(v);
            continue;
        }
        shape.push(match (d, rule) {
            (Dim::Static(_), BatchRule::EveryInput) if i == 0 => {
                batched = true;
                batch
            }
            (Dim::Static(v), _) => *v,
            (Dim::Symbolic(name), rule)
                if (i == 0 && (rule == BatchRule::EveryInput || !sequence_like(name)))
                    || batch_like(name) =>
            {
                batched = true;
                batch
            }
            (Dim::Symbolic(name), _) => {
                open.push(if name.is_empty() {
                    format!("dim {i}")
                } else {
                    format!("dim {i} ('{name}')")
                });
                0
            }
        });
    }
    if !open.is_empty() {
        let example: Vec<String> = shape
            .iter()
            .map(|&d| if d == 0 { "?".into() } else { d.to_string() })
            .collect();
        return Err(format!(
            "{} symbolic; give the shape with --input-shape {input}={}",
            open.join(", ") + if open.len() == 1 { " is" } else { " are" },
            example.join(",")
        ));
    }
    Ok((shape, batched))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(n: &str) -> Dim {
        Dim::Symbolic(n.into())
    }

    #[test]
    fn the_batch_goes_into_batch_dims_only_under_the_symbolic_rule() {
        let none = BTreeMap::new();
        let image = [
            sym("batch"),
            Dim::Static(3),
            Dim::Static(224),
            Dim::Static(224),
        ];
        assert_eq!(
            resolve(&image, 8, BatchRule::Symbolic, "x", &none).unwrap(),
            (vec![8, 3, 224, 224], true)
        );
        // A static batch dim is the file's under the symbolic rule, the batch under the other.
        let fixed = [Dim::Static(1), Dim::Static(3)];
        assert_eq!(
            resolve(&fixed, 8, BatchRule::Symbolic, "x", &none).unwrap(),
            (vec![1, 3], false)
        );
        assert_eq!(
            resolve(&fixed, 8, BatchRule::EveryInput, "x", &none).unwrap(),
            (vec![8, 3], true)
        );
        // [batch, sequence] token ids: the sequence is named, not guessed.
        let ids = [sym("batch"), sym("sequence")];
        let e = resolve(&ids, 1, BatchRule::Symbolic, "input_ids", &none).unwrap_err();
        assert!(e.contains("dim 1 ('sequence')"), "{e}");
        assert!(e.contains("--input-shape input_ids=1,?"), "{e}");
        // A sequence-first input is not batched at dim 0; a batch named at dim 1 is.
        let seq_first = [sym("seq_len"), sym("batch")];
        let e = resolve(&seq_first, 2, BatchRule::Symbolic, "x", &none).unwrap_err();
        assert!(e.contains("dim 0 ('seq_len')"), "{e}");
        assert!(batch_like("batch_size") && batch_like("N") && !batch_like("height"));
    }

    #[test]
    fn a_given_shape_binds_its_dim_names_for_the_other_inputs() {
        let ids = [sym("batch"), sym("sequence")];
        let given = [4, 128];
        let bound = bindings([(&ids[..], &given[..])]);
        assert_eq!(bound.get("sequence"), Some(&128));
        // The mask shares the names: its dims are the ids', the batch size is not used.
        let mask = [sym("batch"), sym("sequence")];
        assert_eq!(
            resolve(&mask, 1, BatchRule::Symbolic, "attention_mask", &bound).unwrap(),
            (vec![4, 128], false)
        );
        // A rank mismatch binds nothing; unnamed dims never bind.
        let image = [sym(""), Dim::Static(3), sym("h"), sym("w")];
        assert!(bindings([(&image[..], &given[..])]).is_empty());
    }
}
