//! Facts about `latency_help.csv` that the NB201 network builder relies on
//! (docs/DATA.md). Runs where the benchmark data is (`NARFORMER_DATA`, as in CI).

use datasets::nb201_latency::{LatencyTable, load};
use graph_ir::cells::Nb201Op;
use trainer::regression::least_squares;

fn table() -> Option<LatencyTable> {
    let dir = std::env::var_os("NARFORMER_DATA")?;
    let path = std::path::Path::new(&dir);
    if !path
        .join(datasets::nb201_latency::NB201_LATENCY_FILE)
        .is_file()
    {
        eprintln!("skipped: no latency_help.csv under NARFORMER_DATA");
        return None;
    }
    Some(load(path).expect("latency_help.csv loads"))
}

const EDGES: [(usize, usize); 6] = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)];

/// Edges that are not `none` and, with `prune`, lie on an input-to-output path.
fn kept(ops: &[Nb201Op; 6], prune: bool) -> [bool; 6] {
    let present: [bool; 6] = std::array::from_fn(|e| ops[e] != Nb201Op::None);
    if !prune {
        return present;
    }
    let mut from_input = [true, false, false, false];
    for (e, &(i, j)) in EDGES.iter().enumerate() {
        from_input[j] |= present[e] && from_input[i];
    }
    let mut to_output = [false, false, false, true];
    for (e, &(i, j)) in EDGES.iter().enumerate().rev() {
        to_output[i] |= present[e] && to_output[j];
    }
    std::array::from_fn(|e| present[e] && from_input[EDGES[e].0] && to_output[EDGES[e].1])
}

/// R^2 of latency against the counts of conv3x3, conv1x1, pool and skip edges (+ intercept).
fn r_squared(table: &LatencyTable, setting: usize, prune: bool) -> f64 {
    let x: Vec<Vec<f64>> = table
        .cells
        .iter()
        .map(|(_, cell)| {
            let keep = kept(&cell.ops, prune);
            let count = |op| (0..6).filter(|&e| keep[e] && cell.ops[e] == op).count() as f64;
            vec![
                count(Nb201Op::NorConv3x3),
                count(Nb201Op::NorConv1x1),
                count(Nb201Op::AvgPool3x3),
                count(Nb201Op::SkipConnect),
                1.0,
            ]
        })
        .collect();
    let y: Vec<f64> = (0..table.len())
        .map(|r| table.latency(r, setting))
        .collect();
    let w = least_squares(&x, &y);
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let (mut residual, mut total) = (0.0, 0.0);
    for (row, &target) in x.iter().zip(&y) {
        let p: f64 = row.iter().zip(&w).map(|(a, b)| a * b).sum();
        residual += (target - p).powi(2);
        total += (target - mean).powi(2);
    }
    1.0 - residual / total
}

#[test]
fn simulated_settings_count_dead_computation() {
    let Some(table) = table() else { return };
    for name in ["fpga", "eyeriss"] {
        let s = table.setting(name).unwrap();
        let all = r_squared(&table, s, false);
        let pruned = r_squared(&table, s, true);
        eprintln!("{name}: R^2 {all:.6} with every edge, {pruned:.4} with dead edges pruned");
        assert!(all > 0.99999, "{name}: {all}");
        assert!(pruned < 0.9, "{name}: {pruned}");
    }
}
