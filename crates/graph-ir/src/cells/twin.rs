//! The relabelled twin of a cell (the same DAG with its nodes renumbered), for the consistency loss.

use crate::Graph;

/// The same cell under another valid numbering of its middle nodes: the first
/// permutation of nodes `1..n-1`, in lexicographic order, that keeps every edge
/// pointing from a lower to a higher number and changes the adjacency or the op
/// sequence. Ops move with their nodes, so the twin is isomorphic to `graph`.
///
/// `None` when no such numbering exists (for example a chain of identical ops).
pub fn relabelled_twin(graph: &Graph) -> Option<Graph> {
    let n = graph.len();
    if n < 4 {
        return None;
    }
    let adjacency = graph.directed_adjacency();
    let ops: Vec<_> = graph
        .node_ids()
        .map(|id| graph.node(id).op.clone())
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    while next_permutation(&mut order[1..n - 1]) {
        let upper = (0..n).all(|i| (0..n).all(|j| !adjacency[order[i] * n + order[j]] || i < j));
        if !upper {
            continue;
        }
        let same_ops = (0..n).all(|i| ops[order[i]] == ops[i]);
        let same_adjacency = (0..n)
            .all(|i| (0..n).all(|j| adjacency[order[i] * n + order[j]] == adjacency[i * n + j]));
        if !(same_ops && same_adjacency) {
            return graph.renumbered(&order);
        }
    }
    None
}

/// Steps `items` to the next lexicographic permutation; false after the last one.
fn next_permutation(items: &mut [usize]) -> bool {
    let len = items.len();
    if len < 2 {
        return false;
    }
    let Some(i) = (0..len - 1).rev().find(|&i| items[i] < items[i + 1]) else {
        return false;
    };
    let j = (i + 1..len)
        .rev()
        .find(|&j| items[j] > items[i])
        .unwrap_or(i + 1);
    items.swap(i, j);
    items[i + 1..].reverse();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Nb201Cell;

    #[test]
    fn permutations_are_lexicographic() {
        let mut p = vec![0, 1, 2];
        let mut seen = vec![p.clone()];
        while next_permutation(&mut p) {
            seen.push(p.clone());
        }
        assert_eq!(seen.len(), 6);
        assert_eq!(seen[1], vec![0, 2, 1]);
        assert_eq!(seen[5], vec![2, 1, 0]);
    }

    #[test]
    fn nb201_twin_is_different_but_isomorphic() {
        let cell: Nb201Cell =
            "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|none~2|"
                .parse()
                .unwrap();
        let g = cell.to_graph();
        let twin = relabelled_twin(&g).expect("this cell has a twin");
        assert!(twin.is_isomorphic_to(&g));
        let ops = |g: &Graph| {
            g.node_ids()
                .map(|id| g.node(id).op.clone())
                .collect::<Vec<_>>()
        };
        assert!(ops(&twin) != ops(&g) || twin.directed_adjacency() != g.directed_adjacency());
        for (from, to) in twin.edges() {
            assert!(
                from < to,
                "twin edge {from:?} -> {to:?} is not upper-triangular"
            );
        }
    }

    #[test]
    fn nb101_twins_of_every_size_are_isomorphic_relabellings() {
        use crate::cells::Nb101Cell;
        // The input fans out to every middle vertex, each of which feeds the
        // output, so the middle vertices can be renumbered.
        for (n, ops) in [
            (4, "in|c3|mp|out"),
            (5, "in|c1|c3|mp|out"),
            (6, "in|c3|c1|mp|c3|out"),
            (7, "in|c1|c3|mp|c1|c3|out"),
        ] {
            let mut adjacency = vec!['0'; n * n];
            for v in 1..n - 1 {
                adjacency[v] = '1';
                adjacency[v * n + n - 1] = '1';
            }
            let text = format!("{} {ops}", adjacency.iter().collect::<String>());
            let cell: Nb101Cell = text.parse().unwrap();
            let g = cell.to_graph();
            assert_eq!(g.len(), n);
            let twin = relabelled_twin(&g).unwrap_or_else(|| panic!("{n} vertices: no twin"));
            assert_eq!(twin.len(), n);
            assert!(twin.is_isomorphic_to(&g), "{n} vertices");
            let ops = |g: &Graph| {
                g.node_ids()
                    .map(|id| g.node(id).op.clone())
                    .collect::<Vec<_>>()
            };
            assert!(
                ops(&twin) != ops(&g) || twin.directed_adjacency() != g.directed_adjacency(),
                "{n} vertices: the twin is the same numbering"
            );
            assert!(twin.edges().iter().all(|(from, to)| from < to));
        }
        // Two or three vertices: nothing in the middle to renumber.
        let chain: Nb101Cell = "010001000 in|c3|out".parse().unwrap();
        assert!(relabelled_twin(&chain.to_graph()).is_none());
    }
}
