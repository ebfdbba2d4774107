//! The shapes of a model's graph inputs: given by name (`--input-shape
//! NAME=1,3,640,640`), given for the first input (the unnamed form), or the
//! file's declared dims with the batch size written into the batch dims.

use crate::proto::{ValueInfoProto, tensor_shape_proto::dimension, type_proto};

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

/// An input's shape from its declared dims under `rule`: the shape, and
/// whether the batch size was written into it. Symbolic dims that are not the
/// batch are an error naming them.
pub(super) fn resolve(
    dims: &[Dim],
    batch: usize,
    rule: BatchRule,
    input: &str,
) -> Result<(Vec<usize>, bool), String> {
    let mut batched = false;
    let mut open = Vec::new();
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
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
        let image = [
            sym("batch"),
            Dim::Static(3),
            Dim::Static(224),
            Dim::Static(224),
        ];
        assert_eq!(
            resolve(&image, 8, BatchRule::Symbolic, "x").unwrap(),
            (vec![8, 3, 224, 224], true)
        );
        // A static batch dim is the file's under the symbolic rule, the batch under the other.
        let fixed = [Dim::Static(1), Dim::Static(3)];
        assert_eq!(
            resolve(&fixed, 8, BatchRule::Symbolic, "x").unwrap(),
            (vec![1, 3], false)
        );
        assert_eq!(
            resolve(&fixed, 8, BatchRule::EveryInput, "x").unwrap(),
            (vec![8, 3], true)
        );
        // [batch, sequence] token ids: the sequence is named, not guessed.
        let ids = [sym("batch"), sym("sequence")];
        let e = resolve(&ids, 1, BatchRule::Symbolic, "input_ids").unwrap_err();
        assert!(e.contains("dim 1 ('sequence')"), "{e}");
        assert!(e.contains("--input-shape input_ids=1,?"), "{e}");
        // A sequence-first input is not batched at dim 0; a batch named at dim 1 is.
        let seq_first = [sym("seq_len"), sym("batch")];
        let e = resolve(&seq_first, 2, BatchRule::Symbolic, "x").unwrap_err();
        assert!(e.contains("dim 0 ('seq_len')"), "{e}");
        assert!(batch_like("batch_size") && batch_like("N") && !batch_like("height"));
    }
}
