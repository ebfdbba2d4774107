//! The input-shape flags of the commands that read ONNX models (`inspect`,
//! `predict`, `measure`): `--batch-size` and a repeatable `--input-shape`.

use anyhow::Result;
use clap::Args;
use onnx_io::{BatchRule, ImportOptions, Imported};

#[derive(Debug, Clone, Args)]
pub struct InputShapeArgs {
    /// Batch size written into the inputs' batch dims (a symbolic dim 0, or a
    /// dim named like a batch); static dims are kept as the file has them.
    #[arg(long, default_value_t = 1)]
    pub batch_size: usize,
    /// An input's shape, for models with symbolic dims: NAME=1,3,640,640
    /// (repeatable), or 1,3,640,640 for the first input.
    #[arg(long = "input-shape", value_parser = parse_input_shape)]
    pub input_shapes: Vec<InputShape>,
}

/// One `--input-shape` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputShape {
    /// `None`: the first input.
    pub name: Option<String>,
    pub dims: Vec<usize>,
}

fn parse_input_shape(text: &str) -> Result<InputShape, String> {
    let (name, dims) = match text.rsplit_once('=') {
        Some((name, dims)) if !name.is_empty() => (Some(name.to_string()), dims),
        Some(_) => return Err("the input name before '=' is empty".into()),
        None => (None, text),
    };
    let dims = dims
        .split(',')
        .map(|d| {
            d.trim()
                .parse::<usize>()
                .map_err(|_| format!("{d:?} is not a dimension (write e.g. 1,3,224,224)"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(InputShape { name, dims })
}

impl InputShapeArgs {
    /// The import options these flags ask for (batch written into batch dims only).
    pub fn options(&self) -> Result<ImportOptions> {
        let mut options = ImportOptions {
            batch_size: self.batch_size,
            batch_rule: BatchRule::Symbolic,
            ..Default::default()
        };
        for shape in &self.input_shapes {
            match &shape.name {
                Some(name) => {
                    options
                        .named_shapes
                        .insert(name.clone(), shape.dims.clone());
                }
                None if options.input_shape.is_some() => {
                    anyhow::bail!(
                        "--input-shape without a name is for the first input only; name the others (NAME=dims)"
                    )
                }
                None => options.input_shape = Some(shape.dims.clone()),
            }
        }
        Ok(options)
    }

    /// What the batch size did, for a line of output.
    pub fn batch_note(&self, imported: &Imported) -> String {
        if imported.batched_inputs.is_empty() {
            format!(
                "batch {} written into no input (their batch dims are static or given)",
                self.batch_size
            )
        } else {
            format!(
                "batch {} written into {}",
                self.batch_size,
                imported.batched_inputs.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_and_unnamed_shapes_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_input_shape("input_ids=1,128").unwrap(),
            InputShape {
                name: Some("input_ids".into()),
                dims: vec![1, 128]
            }
        );
        assert_eq!(parse_input_shape("1,3,224,224").unwrap().name, None);
        assert!(parse_input_shape("x=1,a").unwrap_err().contains("\"a\""));
        assert!(parse_input_shape("=1,2").is_err());
        let args = InputShapeArgs {
            batch_size: 2,
            input_shapes: vec![
                parse_input_shape("1,3").unwrap(),
                parse_input_shape("2,3").unwrap(),
            ],
        };
        assert!(args.options().is_err());
    }
}
