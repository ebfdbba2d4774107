"""How well can any predictor of NAS-Bench-201 latency do on a device, given
N measured networks? Fits a plain MLP on the cell's edge ops (one-hot per
edge, plus the same for the edges on an input-to-output path) to N networks
of one HELP setting and scores Acc(10%) and MAPE on 3,000 other networks.
Only networks that read their input are used (the few-shot table also
reports its figures on them alone).

The point: on the phone and Raspberry Pi settings, even 10,000 measured
networks leave this model near 60% of predictions within 10%, so a 32-shot
transfer cannot be expected to reach it there.

Usage (the bench's peer Python has numpy and torch):
    target/peer-venv/bin/python xtask/nb201_latency_ceiling.py \
        [path/to/latency_help.csv] [setting ...]
"""

import csv
import sys

import numpy as np
import torch

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
SIZES = [1000, 5000, 10000]
SEEDS = [0, 1]
TEST = 3000


def edges(cell):
    """(from node, to node, op index) of each of the cell's six edges."""
    out = []
    for to, part in enumerate(cell.strip("|").split("|+|"), start=1):
        for edge in part.strip("|").split("|"):
            op, source = edge.split("~")
            out.append((int(source), to, OPS.index(op)))
    return out


def features(cell):
    """One-hot op per edge, then one-hot op per edge on an input-output path."""
    es = edges(cell)
    reached = {0}
    for a, b, op in es:
        if op != 0 and a in reached:
            reached.add(b)
    reaches = {3}
    for a, b, op in reversed(es):
        if op != 0 and b in reaches:
            reaches.add(a)
    f = np.zeros(60, dtype=np.float32)
    for i, (a, b, op) in enumerate(es):
        f[i * 5 + op] = 1
        if op != 0 and a in reached and b in reaches:
            f[30 + i * 5 + op] = 1
    return f


def fit_and_score(x, y, train, test, seed):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(x.shape[1], 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 256),
        torch.nn.ReLU(),
        torch.nn.Linear(256, 1),
    )
    opt = torch.optim.Adam(model.parameters(), 1e-3, weight_decay=1e-5)
    xt, yt = torch.tensor(x[train]), torch.tensor(y[train])
    mean = yt.mean()
    for _ in range(300):
        order = torch.randperm(len(train))
        for i in range(0, len(train), 128):
            b = order[i : i + 128]
            opt.zero_grad()
            loss = ((model(xt[b]).squeeze(1) + mean - yt[b]) ** 2).mean()
            loss.backward()
            opt.step()
    with torch.no_grad():
        pred = np.exp(model(torch.tensor(x[test])).squeeze(1).numpy() + mean.item())
    true = np.exp(y[test])
    err = np.abs(pred - true) / true
    return err.mean() * 100, (err <= 0.1).mean() * 100


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/nasbench201/latency_help.csv"
    settings = sys.argv[2:] or ["pixel3", "raspi4"]
    torch.set_num_threads(1)
    rows = list(csv.DictReader(open(path)))
    x = np.array([features(r["arch_str"]) for r in rows])
    reads_input = np.where(x[:, 30:].sum(1) > 0)[0]
    print(f"{len(reads_input)} of {len(rows)} networks read their input; test: {TEST} others")
    print("| setting | measured networks | test networks | MAPE (%) | Acc(10%) (%) |")
    print("|---|---:|---:|---:|---:|")
    for setting in settings:
        y = np.log(np.array([float(r[f"{setting}_ms"]) for r in rows], dtype=np.float32))
        for size in SIZES:
            scores = []
            tested = min(TEST, len(reads_input) - size)
            for seed in SEEDS:
                order = np.random.default_rng(seed).permutation(reads_input)
                train, test = order[:size], order[size : size + TEST]
                scores.append(fit_and_score(x, y, train, test, seed))
            mape, acc = np.mean(scores, axis=0)
            print(f"| {setting} | {size} | {tested} | {mape:.1f} | {acc:.1f} |", flush=True)
    print(f"mean over seeds {SEEDS}")


if __name__ == "__main__":
    main()
