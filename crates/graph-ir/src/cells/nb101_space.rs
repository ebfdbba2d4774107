//! The NAS-Bench-101 search space: NB101's module hash and the enumeration of
//! all 423,624 distinct cells, reproduced from `nasbench/lib/graph_util.py`
//! and `generate_graphs.py` so that published per-hash data can be matched to graphs.

use super::{NB101_MAX_VERTICES, Nb101Cell, Nb101Op};
use md5::{Digest, Md5};
use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

/// The most edges a NAS-Bench-101 cell may have.
pub const NB101_MAX_EDGES: u32 = 9;

/// Distinct cells in the space (the NAS-Bench-101 paper's count).
pub const NB101_SPACE_SIZE: usize = 423_624;

/// NB101's module hash: the MD5 digest identifying a cell up to isomorphism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleHash(pub [u8; 16]);

impl fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&hex(&self.0)).map_err(|_| fmt::Error)?)
    }
}

/// Why a text is not a module hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a module hash (32 hexadecimal digits)")]
pub struct BadModuleHash {
    pub text: String,
}

impl FromStr for ModuleHash {
    type Err = BadModuleHash;

    fn from_str(s: &str) -> Result<Self, BadModuleHash> {
        let bad = || BadModuleHash {
            text: s.to_string(),
        };
        let digits = s.as_bytes();
        if digits.len() != 32 {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        for (i, pair) in digits.chunks(2).enumerate() {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            out[i] = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(ModuleHash(out))
    }
}

/// A labelled DAG in the compact form the enumeration walks: `edges` has bit
/// `j*(j-1)/2 + i` set for the edge i -> j (NB101's `gen_is_edge_fn` order),
/// `labels` are NB101's integers (input -1, output -2, conv3x3 0, conv1x1 1, maxpool 2).
#[derive(Debug, Clone, Copy)]
struct Labelled {
    n: usize,
    edges: u32,
    labels: [i8; NB101_MAX_VERTICES],
}

impl Labelled {
    fn has_edge(&self, i: usize, j: usize) -> bool {
        i < j && (self.edges >> (j * (j - 1) / 2 + i)) & 1 == 1
    }

    fn to_cell(self) -> Nb101Cell {
        let n = self.n;
        let adjacency = (0..n * n).map(|k| self.has_edge(k / n, k % n)).collect();
        let ops = self.labels[..n].iter().map(|&l| op_of_label(l)).collect();
        Nb101Cell::new(adjacency, ops).expect("enumerated cells are valid")
    }
}

fn op_of_label(label: i8) -> Nb101Op {
    match label {
        -1 => Nb101Op::Input,
        -2 => Nb101Op::Output,
        0 => Nb101Op::Conv3x3BnRelu,
        1 => Nb101Op::Conv1x1BnRelu,
        _ => Nb101Op::MaxPool3x3,
    }
}

fn label_of_op(op: Nb101Op) -> i8 {
    match op {
        Nb101Op::Input => -1,
        Nb101Op::Output => -2,
        Nb101Op::Conv3x3BnRelu => 0,
        Nb101Op::Conv1x1BnRelu => 1,
        Nb101Op::MaxPool3x3 => 2,
    }
}

fn hex(bytes: &[u8; 16]) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = DIGITS[(b >> 4) as usize];
        out[2 * i + 1] = DIGITS[(b & 15) as usize];
    }
    out
}

fn md5_hex(text: &[u8]) -> [u8; 32] {
    hex(&Md5::digest(text).into())
}

/// NB101's `hash_module`: each vertex starts as the MD5 of the Python tuple text
/// `(out_degree, in_degree, label)`; then, once per vertex, each vertex's hash
/// becomes MD5(sorted in-neighbour hashes + `|` + sorted out-neighbour hashes +
/// `|` + own hash); the module hash is the MD5 of the Python list text of the
/// sorted final hashes. Hashes are hex text throughout, as in Python.
fn hash_labelled(g: &Labelled) -> ModuleHash {
    let n = g.n;
    let mut hashes = [[0u8; 32]; NB101_MAX_VERTICES];
    for (v, slot) in hashes.iter_mut().enumerate().take(n) {
        let out_degree = (0..n).filter(|&w| g.has_edge(v, w)).count();
        let in_degree = (0..n).filter(|&w| g.has_edge(w, v)).count();
        let tuple = format!("({out_degree}, {in_degree}, {})", g.labels[v]);
        *slot = md5_hex(tuple.as_bytes());
    }
    let mut text = Vec::with_capacity(32 * (2 * NB101_MAX_VERTICES + 1) + 2);
    let mut neighbours: Vec<[u8; 32]> = Vec::with_capacity(NB101_MAX_VERTICES);
    for _ in 0..n {
        let mut next = [[0u8; 32]; NB101_MAX_VERTICES];
        for (v, slot) in next.iter_mut().enumerate().take(n) {
            text.clear();
            for incoming in [true, false] {
                neighbours.clear();
                neighbours.extend((0..n).filter_map(|w| {
                    let edge = if incoming {
                        g.has_edge(w, v)
                    } else {
                        g.has_edge(v, w)
                    };
                    edge.then_some(hashes[w])
                }));
                // Lowercase hex sorts like Python's str sort.
                neighbours.sort_unstable();
                neighbours.iter().for_each(|h| text.extend_from_slice(h));
                text.push(b'|');
            }
            text.extend_from_slice(&hashes[v]);
            *slot = md5_hex(&text);
        }
        hashes = next;
    }
    let mut sorted = hashes[..n].to_vec();
    sorted.sort_unstable();
    text.clear();
    text.push(b'[');
    for (i, h) in sorted.iter().enumerate() {
        if i > 0 {
            text.extend_from_slice(b", ");
        }
        text.push(b'\'');
        text.extend_from_slice(h);
        text.push(b'\'');
    }
    text.push(b']');
    ModuleHash(Md5::digest(&text).into())
}

/// NB101's module hash of a cell, as it would compute it on the cell's matrix and ops.
/// The hash of a cell with vertices off every input-output path is that of the
/// unpruned matrix (NB101 prunes before hashing; the enumerated cells need no pruning).
pub fn module_hash(cell: &Nb101Cell) -> ModuleHash {
    let n = cell.num_vertices();
    let mut g = Labelled {
        n,
        edges: 0,
        labels: [0; NB101_MAX_VERTICES],
    };
    for (v, op) in cell.ops().iter().enumerate() {
        g.labels[v] = label_of_op(*op);
    }
    for j in 1..n {
        for i in 0..j {
            if cell.has_edge(i, j) {
                g.edges |= 1 << (j * (j - 1) / 2 + i);
            }
        }
    }
    hash_labelled(&g)
}

/// Every labelled DAG NB101's `generate_graphs.py` hashes, in its order: vertex
/// counts 2..=7, edge bit patterns counting up, then the inner vertices' labels
/// as `itertools.product` yields them. A pattern is kept when it has at most 9
/// edges and every vertex but the last has an out-edge and every vertex but the
/// first an in-edge (`is_full_dag`: so every vertex lies on an input-output path).
fn labelled_dags() -> Vec<Labelled> {
    let mut all = Vec::new();
    for n in 2..=NB101_MAX_VERTICES {
        let pairs = n * (n - 1) / 2;
        for edges in 0u32..(1 << pairs) {
            if edges.count_ones() > NB101_MAX_EDGES {
                continue;
            }
            let probe = Labelled {
                n,
                edges,
                labels: [0; NB101_MAX_VERTICES],
            };
            let full = (0..n - 1).all(|v| (v + 1..n).any(|w| probe.has_edge(v, w)))
                && (1..n).all(|v| (0..v).any(|w| probe.has_edge(w, v)));
            if !full {
                continue;
            }
            let inner = n - 2;
            for code in 0..3usize.pow(inner as u32) {
                let mut labels = [0i8; NB101_MAX_VERTICES];
                labels[0] = -1;
                labels[n - 1] = -2;
                // itertools.product: the first inner vertex varies slowest.
                let mut rest = code;
                for v in (1..=inner).rev() {
                    labels[v] = (rest % 3) as i8;
                    rest /= 3;
                }
                all.push(Labelled { n, edges, labels });
            }
        }
    }
    all
}

/// All distinct NAS-Bench-101 cells with their module hashes, in the order NB101
/// first meets them; each hash's cell is the first labelled DAG that hashed to it,
/// as in NB101's own dataset. Hashing runs on `threads` threads (at least one).
pub fn enumerate_nb101(threads: usize) -> Vec<(ModuleHash, Nb101Cell)> {
    let dags = labelled_dags();
    let threads = threads.max(1);
    let chunk = dags.len().div_ceil(threads).max(1);
    let hashes: Vec<ModuleHash> = std::thread::scope(|scope| {
        let workers: Vec<_> = dags
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(hash_labelled).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let mut seen = HashSet::with_capacity(NB101_SPACE_SIZE);
    dags.iter()
        .zip(hashes)
        .filter(|(_, hash)| seen.insert(*hash))
        .map(|(g, hash)| (hash, g.to_cell()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_a_published_cell_to_its_key() {
        // The first row of the project's NB101 CSV (key from nasbench-vis).
        let cell: Nb101Cell =
            "0100110001000000010010000010000001000000010000000 in|c3|mp|c3|c3|c1|out"
                .parse()
                .unwrap();
        assert_eq!(
            module_hash(&cell).to_string(),
            "00005c142e6f48ac74fdcf73e3439874"
        );
    }

    #[test]
    fn hash_text_round_trips_and_rejects_junk() {
        let h: ModuleHash = "00005c142e6f48ac74fdcf73e3439874".parse().unwrap();
        assert_eq!(h.to_string(), "00005c142e6f48ac74fdcf73e3439874");
        for bad in [
            "",
            "00005c142e6f48ac74fdcf73e343987",
            "zz005c142e6f48ac74fdcf73e3439874",
        ] {
            assert!(bad.parse::<ModuleHash>().is_err(), "{bad}");
        }
    }

    #[test]
    fn isomorphic_cells_share_a_hash_and_labels_matter() {
        // in -> a, in -> b, a -> out, b -> out with a/b swapped is the same cell.
        let a: Nb101Cell = "0110000100010000 in|c3|mp|out".parse().unwrap();
        let b: Nb101Cell = "0110000100010000 in|mp|c3|out".parse().unwrap();
        let c: Nb101Cell = "0110000100010000 in|c1|mp|out".parse().unwrap();
        assert_eq!(module_hash(&a), module_hash(&b));
        assert_ne!(module_hash(&a), module_hash(&c));
    }

    #[test]
    fn small_spaces_have_the_known_sizes() {
        // Labelled DAGs per vertex count, as generate_graphs.py walks them.
        let dags = labelled_dags();
        let count = |n: usize| dags.iter().filter(|g| g.n == n).count();
        assert_eq!(
            (2..=7).map(count).collect::<Vec<_>>(),
            vec![1, 6, 90, 3267, 125_145, 1_164_699]
        );
        // Distinct cells of up to 4 vertices: 1 + 3 + 3 * 3 ... checked by brute force here.
        let small: Vec<_> = dags.iter().filter(|g| g.n <= 4).collect();
        let distinct: HashSet<_> = small.iter().map(|g| hash_labelled(g)).collect();
        let by_graph: HashSet<_> = small.iter().map(|g| canonical(g)).collect();
        assert_eq!(distinct.len(), by_graph.len());
    }

    /// An isomorphism-invariant form by brute force over vertex orders (small n only).
    fn canonical(g: &Labelled) -> Vec<(i8, Vec<bool>)> {
        let n = g.n;
        let mut best: Option<Vec<(i8, Vec<bool>)>> = None;
        let mut order: Vec<usize> = (0..n).collect();
        permutations(&mut order, 0, &mut |p| {
            let form: Vec<(i8, Vec<bool>)> = p
                .iter()
                .map(|&v| (g.labels[v], p.iter().map(|&w| g.has_edge(v, w)).collect()))
                .collect();
            if best.as_ref().is_none_or(|b| form < *b) {
                best = Some(form);
            }
        });
        best.unwrap_or_default()
    }

    fn permutations(items: &mut [usize], k: usize, visit: &mut impl FnMut(&[usize])) {
        if k == items.len() {
            visit(items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, visit);
            items.swap(k, i);
        }
    }
}
