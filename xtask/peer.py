#!/usr/bin/env python3
"""The batched PyTorch peer of `cargo xtask bench --peer`.

narformer's V2 cell model and whole-network model written in PyTorch the way
a user would write them batched (padded cells, edge-list networks with
index_add), loaded from the weights narformer saved
(`cargo bench -p trainer --bench peer_cases` writes them under target/peer/),
checked to predict what narformer predicts on the same inputs, then timed:
scoring all 15,625 NB201 cells at batch 512 (model only), the throughput
bench's training work (NB201: 10 steps of batch 8 with twins plus one
validation forward of 8 cells; networks: 2 steps of 16 graphs of about 120
nodes plus a validation forward of 2 graphs) and one 120-node graph.

Prints one JSON object: per figure, the median seconds over the repeats and
the largest relative gap between the two implementations' predictions.
"""

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

EPS_LAYER_NORM = 1e-5  # burn::nn::LayerNormConfig's default epsilon


def read_safetensors(path):
    """The tensors and metadata of a SafeTensors file (no extra package)."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    meta = header.pop("__metadata__", {})
    base = 8 + size
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        buffer = bytearray(raw[base + start : base + end])
        tensors[name] = torch.frombuffer(buffer, dtype=dtypes[info["dtype"]]).reshape(info["shape"])
    return tensors, meta


class Weights(torch.nn.Module):
    """Every tensor of a saved model as a trainable parameter, by its Burn name."""

    def __init__(self, tensors):
        super().__init__()
        self.names = sorted(tensors)
        self.params = torch.nn.ParameterList(torch.nn.Parameter(tensors[n].clone()) for n in self.names)
        self.index = {n: i for i, n in enumerate(self.names)}

    def __getitem__(self, name):
        return self.params[self.index[name]]


def linear(w, prefix, x, bias=True):
    """Burn's Linear: weight `[in, out]`, so `x @ W + b`."""
    y = x @ w[prefix + ".weight"]
    return y + w[prefix + ".bias"] if bias else y


def grouped_linear_norm(w, prefix, x):
    """`[groups, rows, in/g] -> [groups, rows, out/g]`, a LayerNorm per group."""
    y = x @ w[prefix + ".weight"] + w[prefix + ".bias"]
    mean = y.mean(-1, keepdim=True)
    centered = y - mean
    var = centered.pow(2).mean(-1, keepdim=True)
    return centered / (var + EPS_LAYER_NORM).sqrt() * w[prefix + ".gamma"] + w[prefix + ".beta"]


def grouped_ffn(w, prefix, x, groups):
    """`[rows, d] -> [rows, d]` through the block-diagonal FFN."""
    rows, d = x.shape
    h = x.reshape(rows, groups, d // groups).transpose(0, 1)
    h = torch.relu(grouped_linear_norm(w, prefix + ".up", h))
    h = grouped_linear_norm(w, prefix + ".down", h)
    return h.transpose(0, 1).reshape(rows, d)


def finish(w, prefix, out, groups):
    """Row normalisation, ReLU, then `x + gamma * FFN(LN(x))`; out `[..., hidden]`."""
    norm = out.pow(2).sum(-1, keepdim=True).sqrt().clamp_min(1e-12)
    x = torch.relu(out / norm)
    shape = x.shape
    flat = x.reshape(-1, shape[-1])
    normed = F.layer_norm(flat, (shape[-1],), w[prefix + ".norm.gamma"], w[prefix + ".norm.beta"], EPS_LAYER_NORM)
    ffn = grouped_ffn(w, prefix + ".ffn", normed, groups).reshape(shape)
    return x + ffn * w[prefix + ".layer_scale"]


def v2_layer_padded(w, prefix, x, adjacency, groups):
    """x `[batch, nodes, d]`, adjacency `[batch, nodes, nodes]` -> `[batch, nodes, hidden]`."""
    d = x.shape[-1]
    degree = adjacency.sum(2, keepdim=True)
    x = x * torch.sigmoid(linear(w, prefix + ".degree_gate", degree))
    z = torch.sigmoid(linear(w, prefix + ".qk", x))
    scores = (z @ z.transpose(1, 2)) / math.sqrt(d) * adjacency
    weights = scores / (scores.sum(2, keepdim=True) + 1e-6)
    out = linear(w, prefix + ".neighbour", weights @ x) + linear(w, prefix + ".root", x, bias=False)
    return finish(w, prefix, out, groups)


def v2_layer_flat(w, prefix, x, graph, groups):
    """x `[nodes, d]`; the graph's edge lists -> `[nodes, hidden]`."""
    nodes, d = x.shape
    target, neighbour = graph["target"], graph["neighbour"]
    x = x * torch.sigmoid(linear(w, prefix + ".degree_gate", graph["degree"]))
    z = torch.sigmoid(linear(w, prefix + ".qk", x))
    scores = (z[target] * z[neighbour]).sum(1, keepdim=True) / math.sqrt(d)
    row_sums = torch.zeros(nodes, 1).index_add(0, target, scores)
    weights = scores / (row_sums[target] + 1e-6)
    aggregated = torch.zeros(nodes, d).index_add(0, target, x[neighbour] * weights)
    out = linear(w, prefix + ".neighbour", aggregated) + linear(w, prefix + ".root", x, bias=False)
    return finish(w, prefix, out, groups)


def head(w, x, positive):
    h = torch.relu(linear(w, "head.layers.0", x))
    h = torch.relu(linear(w, "head.layers.1", h))
    z = linear(w, "head.layers.2", h).reshape(-1)
    return F.softplus(-z) if positive else z


class SavedModel(torch.nn.Module):
    """A saved model's weights and the sizes its metadata gives."""

    def __init__(self, tensors, meta):
        super().__init__()
        self.w = Weights(tensors)
        self.layers = int(meta["layers"])
        self.groups = int(meta["groups"])
        self.positive = meta["positive_output"] == "true"


class CellModel(SavedModel):
    """V2 on padded NB201 cells (every cell has the same 8 nodes: no mask needed)."""

    def forward(self, tokens, adjacency):
        x, means = tokens, []
        for i in range(self.layers):
            x = v2_layer_padded(self.w, f"layers.{i}", x, adjacency, self.groups)
            means.append(x.mean(1))
        stacked = torch.stack(means, 1)  # [batch, layers, hidden]
        flat = stacked.reshape(stacked.shape[0], -1)
        gates = torch.sigmoid(linear(self.w, "fusion_out", torch.relu(linear(self.w, "fusion_hidden", flat))))
        return head(self.w, (stacked * gates.unsqueeze(2)).sum(1), self.positive)


class NetworkModel(SavedModel):
    """V2 on edge-list networks, sum readout, static branch."""

    def forward(self, graph):
        x = graph["tokens"]
        for i in range(self.layers):
            x = v2_layer_flat(self.w, f"layers.{i}", x, graph, self.groups)
        pooled = torch.zeros(graph["graphs"], x.shape[1]).index_add(0, graph["graph_of_node"], x)
        statics = torch.relu(linear(self.w, "static_branch", graph["statics"]))
        return head(self.w, torch.cat([pooled, statics], 1), self.positive)


def subgraph(data, first, count):
    """Graphs `first..first+count` of a flat batch, re-indexed from 0."""
    owner = data["graph_of_node"]
    nodes = ((owner >= first) & (owner < first + count)).nonzero().reshape(-1)
    start, end = int(nodes[0]), int(nodes[-1]) + 1
    keep = (data["target"] >= start) & (data["target"] < end)
    return {
        "tokens": data["tokens"][start:end],
        "degree": data["degree"][start:end],
        "target": data["target"][keep] - start,
        "neighbour": data["neighbour"][keep] - start,
        "graph_of_node": owner[start:end] - first,
        "statics": data["statics"][first : first + count],
        "graphs": count,
    }


def training_step(model, optimiser, predict, labels, meta):
    """One step of narformer's batch loss (reference predictor/main.py): the
    objective (ratio MSE, else MSE on the scaled targets), the pairwise term
    against a shifted pairing, the twin-consistency term when weighted."""
    pairwise = float(meta["pairwise_weight"])
    consistency = float(meta["consistency_weight"])
    optimiser.zero_grad(set_to_none=True)
    out = predict()
    b = labels.shape[0]
    pred = out[:b]
    if meta["objective"] == "RatioMse":
        loss = (pred / labels - 1).pow(2).mean()
    else:
        loss = (pred - labels).pow(2).mean()
    if pairwise > 0:
        perm = torch.roll(torch.arange(b), 1)
        loss = loss + pairwise * ((pred - pred[perm]) - (labels - labels[perm])).abs().mean()
    if consistency > 0:
        loss = loss + consistency * (out[b:] - pred).abs().mean()
    loss.backward()
    optimiser.step()


def median_seconds(work, repeats, budget_s=60.0):
    """Median of `repeats` timed runs after a warm-up, fewer (at least 3) where
    they would take longer than `budget_s`."""
    start = time.perf_counter()
    work()  # warm-up
    warm = time.perf_counter() - start
    times = []
    for _ in range(max(3, min(repeats, int(budget_s / max(warm, 1e-9))))):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def gap(ours, theirs):
    return float(((ours - theirs).abs() / ours.abs().clamp_min(1e-3)).max())


def labels(n):
    return torch.tensor([0.5 + 0.4 * ((i * 37 % 101) / 101.0) for i in range(n)])


def nb201(directory, name, repeats):
    tensors, _ = read_safetensors(directory / f"{name}.weights.safetensors")
    data, meta = read_safetensors(directory / f"{name}.data.safetensors")
    model = CellModel(tensors, meta).eval()
    cells, adjacency = data["cells.tokens"], data["cells.adjacency"]
    with torch.inference_mode():
        checked = model(cells[: data["expected"].shape[0]], adjacency[: data["expected"].shape[0]])
    result = {"max_relative_gap": gap(data["expected"], checked)}

    def score():
        with torch.inference_mode():
            for start in range(0, cells.shape[0], 512):
                model(cells[start : start + 512], adjacency[start : start + 512])

    result["score_15625_cells_s"] = median_seconds(score, repeats)
    batch = int(meta["batch_size"])
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=float(meta["learning_rate"]))
    twins, twin_adjacency = data["twins.tokens"], data["twins.adjacency"]
    y = labels(80)

    with_twins = float(meta["consistency_weight"]) > 0

    def train_80():
        for start in range(0, 80, batch):
            part = slice(start, start + batch)
            tokens, adj = cells[part], adjacency[part]
            if with_twins:
                tokens = torch.cat([tokens, twins[part]])
                adj = torch.cat([adj, twin_adjacency[part]])
            training_step(model, optimiser, lambda: model(tokens, adj), y[part], meta)
        with torch.inference_mode():
            model(cells[80:88], adjacency[80:88])

    result[f"train_80_cells_batch_{batch}_s"] = median_seconds(train_80, repeats)
    return result


def network(directory, name, repeats):
    tensors, _ = read_safetensors(directory / f"{name}.weights.safetensors")
    data, meta = read_safetensors(directory / f"{name}.data.safetensors")
    graphs = data["expected"].shape[0]
    model = NetworkModel(tensors, meta).eval()
    everything = subgraph(data, 0, graphs)
    with torch.inference_mode():
        checked = model(everything)
    result = {"max_relative_gap": gap(data["expected"], checked)}
    one = subgraph(data, 0, 1)

    def predict_one():
        with torch.inference_mode():
            model(one)

    result["predict_one_graph_s"] = median_seconds(predict_one, repeats * 10)
    batch = int(meta["batch_size"])
    halves = [subgraph(data, start, batch) for start in range(0, graphs, batch)]
    validation = subgraph(data, 0, 2)
    y = labels(graphs)
    model.train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=float(meta["learning_rate"]))

    def train_32():
        for k, part in enumerate(halves):
            training_step(model, optimiser, lambda: model(part), y[k * batch : (k + 1) * batch], meta)
        with torch.inference_mode():
            model(validation)

    result[f"train_{graphs}_graphs_batch_{batch}_s"] = median_seconds(train_32, repeats)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=Path("target/peer"))
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "nb201_paper": nb201(args.dir, "nb201_paper", args.repeats),
        "nb201_quick": nb201(args.dir, "nb201_quick", args.repeats),
        "network_120": network(args.dir, "network_120", args.repeats),
    }
    json.dump(result, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
