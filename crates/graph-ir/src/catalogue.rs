//! The op catalogue: every ONNX op type the workspace reads, each with its
//! shape family. It is the one list the rest is checked against: the ONNX
//! reader's shape inference dispatches on [`family`] (an op outside the
//! catalogue has no shape rule), graph-ir's [`Op`](crate::Op) names must all be
//! catalogued, and so must every op of the tokenizer's vocabularies (tests in
//! those crates).

/// How an op's output shapes follow from its inputs; each family is one
/// module of the ONNX reader's shape inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// The first input's shape passes through (activations, normalisations,
    /// casts, dropout).
    Unary,
    /// NumPy broadcasting of every input (arithmetic, comparisons, `Where`).
    Broadcast,
    /// Sliding windows over the spatial dimensions: convolutions and pools.
    Window,
    /// Every spatial dimension to 1.
    GlobalPool,
    /// Matrix products.
    Linear,
    /// Data movement: reshaping, permuting, joining, cutting, repeating.
    Layout,
    /// Reductions over axes.
    Reduce,
    /// Resampling by scales or sizes.
    Resample,
    /// Outputs computed from the inputs' shapes or values.
    Generator,
    /// Recurrent layers over a sequence (`[seq, batch, input]`, or batch first).
    Recurrent,
    /// Box selection (`[selected, 3]`: exact for known boxes, else the most kept).
    Detection,
}

/// One catalogued ONNX op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// The ONNX op type, as ONNX spells it.
    pub name: &'static str,
    pub family: Family,
}

macro_rules! catalogue {
    ($($family:ident: [$($name:ident),* $(,)?];)*) => {
        /// Every catalogued op, grouped by family.
        pub const CATALOGUE: &[CatalogueEntry] = &[
            $($(CatalogueEntry { name: stringify!($name), family: Family::$family },)*)*
        ];
    };
}

catalogue! {
    Unary: [
        Relu, Sigmoid, Tanh, Sqrt, Clip, Softmax, LogSoftmax, BatchNormalization,
        LayerNormalization, InstanceNormalization, Gelu, Erf, HardSwish, HardSigmoid, Identity,
        Dropout, Exp, Log, Neg, Abs, Reciprocal, LeakyRelu, Elu, Softplus, Cast, Floor, Ceil,
        Mish, Not, Sin, Cos, Acos, Acosh, Asin, Asinh, Atan, Atanh, Cosh, Sinh, Tan, Sign, Round,
        IsNaN, IsInf, Selu, Celu, ThresholdedRelu, Shrink, Softsign, Hardmax, BitwiseNot,
        Bernoulli, EyeLike, RandomNormalLike, RandomUniformLike, LRN, LpNormalization,
        MeanVarianceNormalization, GroupNormalization, CumSum, Trilu, ReverseSequence,
        QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, CastLike, Scatter,
        ScatterElements, ScatterND,
    ];
    Broadcast: [
        Add, Sub, Mul, Div, Mod, Pow, Max, Min, Where, Equal, Less, Greater, PRelu, Sum, Mean,
        And, Or, Xor, GreaterOrEqual, LessOrEqual, BitShift, BitwiseAnd, BitwiseOr, BitwiseXor,
    ];
    Window: [
        Conv, ConvTranspose, MaxPool, AveragePool, LpPool, MaxUnpool, ConvInteger, QLinearConv,
        DeformConv,
    ];
    GlobalPool: [GlobalAveragePool, GlobalMaxPool, GlobalLpPool];
    Linear: [Gemm, MatMul, MatMulInteger, QLinearMatMul, Einsum];
    Layout: [
        Flatten, Reshape, Transpose, Concat, Split, Slice, Squeeze, Unsqueeze, Gather, Pad,
        Expand, Tile, GatherElements, GatherND, DepthToSpace, SpaceToDepth, TopK, Compress,
    ];
    Reduce: [
        ReduceMean, ReduceMax, ReduceSum, ReduceMin, ReduceProd, ReduceSumSquare, ReduceL1,
        ReduceL2, ReduceLogSum, ReduceLogSumExp, ArgMax, ArgMin, Det, NegativeLogLikelihoodLoss,
        SoftmaxCrossEntropyLoss,
    ];
    Resample: [Resize, Upsample, GridSample, AffineGrid, Col2Im];
    Generator: [
        Shape, Size, ConstantOfShape, Range, OneHot, HannWindow, HammingWindow, BlackmanWindow,
        MelWeightMatrix, NonZero,
    ];
    Recurrent: [RNN, GRU, LSTM];
    Detection: [NonMaxSuppression];
}

/// Catalogued ops that graph-ir has no typed [`Op`](crate::Op) for: the
/// reader evaluates them as constants (shape arithmetic), and one left in a
/// graph is an [`Op::Unknown`](crate::Op::Unknown).
pub const EVALUATED_ONLY: [&str; 3] = ["Mod", "ConstantOfShape", "Range"];

/// Ops of other domains (ONNX Runtime's contrib ops, as exporters and graph
/// optimisers write them) whose first output has their first input's shape.
/// They stay unknown ops (outside every vocabulary, reported by name) but
/// their shape is known, so a model using them still imports.
pub const SAME_SHAPE_CONTRIB: [(&str, &str); 12] = [
    ("com.microsoft", "Gelu"),
    ("com.microsoft", "FastGelu"),
    ("com.microsoft", "BiasGelu"),
    ("com.microsoft", "QuickGelu"),
    ("com.microsoft", "BiasAdd"),
    ("com.microsoft", "SkipLayerNormalization"),
    ("com.microsoft", "SkipSimplifiedLayerNormalization"),
    ("com.microsoft", "SimplifiedLayerNormalization"),
    ("com.microsoft", "LayerNormalization"),
    ("com.microsoft", "BiasSoftmax"),
    ("com.microsoft", "RotaryEmbedding"),
    ("com.microsoft", "Inverse"),
];

/// The graph-level and cell-level ops, which no ONNX file names: they stand
/// beside the catalogue in graphs and vocabularies.
pub const NOT_ONNX: [&str; 5] = ["Input", "Output", "ReluConvBn", "ConvBnRelu", "Zero"];

/// The catalogue entry of an ONNX op type.
pub fn lookup(onnx_name: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|e| e.name == onnx_name)
}

/// The shape family of an ONNX op type, if it is catalogued.
pub fn family(onnx_name: &str) -> Option<Family> {
    lookup(onnx_name).map(|e| e.family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ConvAttrs, Op, Perm, PlainOp, PoolAttrs, RecurrentAttrs, RecurrentCell};

    /// One value of every `Op` variant that an ONNX file can name.
    fn onnx_variants() -> Vec<Op> {
        let conv = ConvAttrs::same(3);
        let pool = PoolAttrs::same(3);
        let mut ops = vec![
            Op::AveragePool(pool),
            Op::MaxPool(pool),
            Op::Identity,
            Op::Conv(conv),
            Op::Relu,
            Op::Add,
            Op::BatchNormalization,
            Op::ConvTranspose {
                conv,
                output_padding: 0,
            },
            Op::Gemm { bias: true },
            Op::Einsum { contracted: 4 },
            Op::Transpose(Perm::new(&[1, 0]).unwrap_or_else(|| unreachable!())),
        ];
        ops.extend(PlainOp::ALL.iter().map(|&p| Op::Plain(p)));
        ops.extend(
            [RecurrentCell::Rnn, RecurrentCell::Gru, RecurrentCell::Lstm].map(|cell| {
                Op::Recurrent(RecurrentAttrs {
                    cell,
                    hidden: 8,
                    bidirectional: false,
                    batch_first: false,
                })
            }),
        );
        ops
    }

    #[test]
    fn every_graph_op_is_catalogued_and_every_catalogued_op_is_a_graph_op() {
        for op in onnx_variants() {
            assert!(
                lookup(op.name()).is_some(),
                "{} is not catalogued",
                op.name()
            );
            // The reader's attribute-free mapping agrees with the catalogue.
            if let Some(mapped) = Op::without_attrs(op.name()) {
                assert_eq!(mapped.name(), op.name());
            }
        }
        let typed: Vec<String> = onnx_variants()
            .iter()
            .map(|o| o.name().to_string())
            .collect();
        for entry in CATALOGUE {
            assert_eq!(
                typed.iter().any(|t| t == entry.name),
                !EVALUATED_ONLY.contains(&entry.name),
                "{}: typed in graph-ir exactly when not evaluated-only",
                entry.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_apart_from_the_graph_level_ops() {
        let mut names: Vec<&str> = CATALOGUE.iter().map(|e| e.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "an op is catalogued twice");
        assert!(NOT_ONNX.iter().all(|n| lookup(n).is_none()));
        assert_eq!(family("Conv"), Some(Family::Window));
        assert_eq!(family("NoSuchOp"), None);
    }
}
