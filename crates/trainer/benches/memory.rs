//! Memory of an NNLQP-sized training set held for training: 20,000 whole
//! networks of about 200 nodes (zoo families) as compact tokens, the form
//! NNLQP-format runs hold ([`trainer::graphs::Graphs`]), against what the
//! encoded tokens would take. Prints the process's peak resident memory
//! (`VmHWM`) after the set is built and one pass has encoded every graph a
//! batch at a time. `NARFORMER_MEMORY_GRAPHS` sets the count (default 20,000).
//!
//! `cargo bench -p trainer --bench memory`

use tokenizer::{CompactTokens, NetworkTokenizer, NetworkVocab};
use trainer::graphs::Graphs;
use zoo::{Family, ModelId, generate};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Families whose networks have about 170 to 400 nodes (about 200 on average).
const FAMILIES: [Family; 5] = [
    Family::ResNet,
    Family::GoogLeNet,
    Family::MobileNetV3,
    Family::MnasNet,
    Family::EfficientNetB0,
];

fn peak_resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let count: usize = std::env::var("NARFORMER_MEMORY_GRAPHS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let before = peak_resident_mb();
    let tokenizer = NetworkTokenizer::new(NetworkVocab::Nnlqp);
    // Distinct networks for the first models of each family, then repeats
    // (the count, not the variety, is what the memory depends on).
    let distinct: Vec<CompactTokens> = (0..200)
        .map(|i| {
            let id = ModelId {
                family: FAMILIES[i % FAMILIES.len()],
                index: i / FAMILIES.len(),
                seed: 1,
            };
            tokenizer.compact(&generate(id).graph, 1)
        })
        .collect();
    let held: Vec<CompactTokens> = (0..count)
        .map(|i| distinct[i % distinct.len()].clone())
        .collect();
    let nodes: usize = held.iter().map(|c| c.tokens.len()).sum();
    let dim = distinct[0].encode().dim;
    let encoded_bytes: usize = held
        .iter()
        .map(|c| 4 * (c.tokens.len() * dim + c.tokens.len() * c.tokens.len()))
        .sum();
    let graphs = Graphs::from(held);
    // One pass a batch at a time, as training reads them.
    let mut read_nodes = 0;
    for i in (0..graphs.len()).step_by(16) {
        let end = (i + 16).min(graphs.len());
        read_nodes += graphs.encoded(i..end).iter().map(|g| g.n).sum::<usize>();
    }
    assert_eq!(read_nodes, nodes);
    let mb = |v: Option<f64>| v.map_or("unknown".into(), |v| format!("{v:.0} MB"));
    println!(
        "memory: {count} networks, {:.0} nodes on average, token width {dim}: peak resident {} \
         (before building: {}); encoded they would take {:.1} GB",
        nodes as f64 / count.max(1) as f64,
        mb(peak_resident_mb()),
        mb(before),
        encoded_bytes as f64 / 1e9
    );
}
