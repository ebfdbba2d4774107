//! `narformer inspect`: an ONNX model as the tokenizer sees it.

use crate::input_shapes::InputShapeArgs;
use anyhow::Result;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX file.
    model: PathBuf,
    /// Also print one line per node: id, name, op and attributes, output shape, FLOPs, params.
    #[arg(long)]
    nodes: bool,
    #[command(flatten)]
    shapes: InputShapeArgs,
    /// Vocabulary for the unknown-op count: extended-v2 (default: every
    /// catalogued op), extended (v1, 64 ops) or nnlqp.
    #[arg(long, default_value = "extended-v2")]
    vocab: tokenizer::NetworkVocab,
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let imported = onnx_io::read_file(&args.model, &args.shapes.options()?)?;
    let graph = &imported.graph;
    let batch = args.shapes.batch_size;
    let compact = tokenizer::NetworkTokenizer::new(args.vocab).compact(graph, batch);
    let cost = compact.cost;
    writeln!(
        out,
        "{}: {} nodes, {} edges, opset {}, {}",
        args.model.display(),
        graph.len(),
        graph.edges().len(),
        imported.opset,
        args.shapes.batch_note(&imported)
    )?;
    let inputs: Vec<String> = imported
        .inputs
        .iter()
        .map(|i| {
            let dims: Vec<String> = i.shape.iter().map(usize::to_string).collect();
            format!(
                "{}={}{}",
                i.name,
                dims.join(","),
                if i.is_float { "" } else { " (integer)" }
            )
        })
        .collect();
    writeln!(out, "inputs: {}", inputs.join(" "))?;
    writeln!(
        out,
        "FLOPs {:.4} G, params {:.4} M, memory access {:.4} M elements",
        cost.flops as f64 / 1e9,
        cost.params as f64 / 1e6,
        cost.memory_access as f64 / 1e6
    )?;
    let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
    for id in graph.node_ids() {
        *counts.entry(graph.node(id).op.name()).or_default() += 1;
    }
    writeln!(out, "ops:")?;
    for (op, n) in &counts {
        writeln!(out, "  {op:<24} {n}")?;
    }
    if compact.unknown_ops.is_empty() {
        writeln!(out, "unknown ops ({} vocabulary): none", args.vocab)?;
    } else {
        writeln!(out, "unknown ops ({} vocabulary):", args.vocab)?;
        for (op, n) in &compact.unknown_ops {
            writeln!(out, "  {op:<24} {n}")?;
        }
    }
    if args.nodes {
        writeln!(
            out,
            "nodes (topological order): #id name op shape flops params <- operands"
        )?;
        for &id in graph.topological_order() {
            let node = graph.node(id);
            let operands: Vec<String> = graph
                .operands(id)
                .iter()
                .map(|n| format!("#{}", n.0))
                .collect();
            writeln!(
                out,
                "#{} {} {} {:?} {} {}{}",
                id.0,
                node.name,
                node.op,
                node.shape.as_deref().unwrap_or(&[]),
                graph_ir::node_flops(graph, id),
                node.params,
                if operands.is_empty() {
                    String::new()
                } else {
                    format!(" <- {}", operands.join(","))
                }
            )?;
        }
    }
    Ok(())
}
