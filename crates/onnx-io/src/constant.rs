//! Tensors whose value is known without running the model: initializers,
//! `Constant` nodes and shape arithmetic computed from them (folded at import).

use crate::proto::{TensorProto, tensor_proto::DataType};

/// A constant tensor: its dims always, its values when the file holds them and
/// they are small enough to matter for shape inference.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Const {
    pub dims: Vec<usize>,
    /// Row-major values; `None` for stripped weights or large tensors.
    pub values: Option<Vec<f64>>,
    /// Float tensors are weights (counted as params); integer ones are shape data.
    pub is_float: bool,
}

/// Values are decoded only for tensors up to this many elements: shapes, axes,
/// scales. Weights are never needed by value.
const MAX_DECODED: usize = 4096;

impl Const {
    pub fn ints(values: Vec<i64>, dims: Vec<usize>) -> Self {
        Self {
            dims,
            values: Some(values.into_iter().map(|v| v as f64).collect()),
            is_float: false,
        }
    }

    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    pub fn from_proto(t: &TensorProto) -> Result<Self, String> {
        let dims = t
            .dims
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| format!("tensor '{}' has dim {d}", t.name())))
            .collect::<Result<Vec<usize>, String>>()?;
        let numel = dims
            .iter()
            .try_fold(1usize, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| format!("tensor '{}' has too many elements", t.name()))?;
        let data_type = DataType::try_from(t.data_type.unwrap_or(0)).unwrap_or(DataType::Undefined);
        let is_float = matches!(
            data_type,
            DataType::Float | DataType::Float16 | DataType::Double | DataType::Bfloat16
        );
        let values = if numel <= MAX_DECODED {
            decode(t, data_type, numel)
        } else {
            None
        };
        Ok(Self {
            dims,
            values,
            is_float,
        })
    }
}

/// The tensor's values, if the file holds all `numel` of them.
fn decode(t: &TensorProto, data_type: DataType, numel: usize) -> Option<Vec<f64>> {
    if numel == 0 {
        return Some(Vec::new());
    }
    let values: Vec<f64> = if let Some(raw) = t.raw_data.as_deref().filter(|r| !r.is_empty()) {
        let width = match data_type {
            DataType::Int64 | DataType::Double | DataType::Uint64 => 8,
            DataType::Int32 | DataType::Float | DataType::Uint32 => 4,
            DataType::Int16 | DataType::Uint16 => 2,
            DataType::Int8 | DataType::Uint8 | DataType::Bool => 1,
            _ => return None,
        };
        raw.chunks_exact(width)
            .map(|b| match data_type {
                DataType::Int64 => i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64,
                DataType::Uint64 => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f64,
                DataType::Double => f64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
                DataType::Int32 => i32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as f64,
                DataType::Uint32 => u32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as f64,
                DataType::Float => f32::from_le_bytes(b.try_into().unwrap_or([0; 4])) as f64,
                DataType::Int16 => i16::from_le_bytes(b.try_into().unwrap_or([0; 2])) as f64,
                DataType::Uint16 => u16::from_le_bytes(b.try_into().unwrap_or([0; 2])) as f64,
                DataType::Int8 => b[0] as i8 as f64,
                _ => b[0] as f64,
            })
            .collect()
    } else if !t.int64_data.is_empty() {
        t.int64_data.iter().map(|&v| v as f64).collect()
    } else if !t.int32_data.is_empty() {
        t.int32_data.iter().map(|&v| v as f64).collect()
    } else if !t.float_data.is_empty() {
        t.float_data.iter().map(|&v| v as f64).collect()
    } else if !t.double_data.is_empty() {
        t.double_data.clone()
    } else if !t.uint64_data.is_empty() {
        t.uint64_data.iter().map(|&v| v as f64).collect()
    } else {
        return None;
    };
    (values.len() == numel).then_some(values)
}
