"""Exports every torchvision classification architecture (random weights, stripped as the
test fixtures are) at ONNX opsets 11 and 17, and records for each the multiply-add FLOPs
that PyTorch's own FlopCounterMode counts and the figure torchvision publishes in its
weights' metadata (`_ops`, GFLOPS of multiply-accumulates, at the weights' crop size).

Run by `cargo xtask onnx-models --python PY`; resumable: models already in the manifest
are skipped. Usage: python xtask/torchvision_sweep.py OUT_DIR [NAME_SUBSTRING ...]
"""
import json
import os
import sys
import traceback

import torch
import torchvision
import torchvision.models as tvm

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fixtures"))
from export_fixtures import export, multiply_add_flops  # noqa: E402

OPSETS = (11, 17)
# How `multiply_add_flops` counts; entries counted otherwise are recounted.
COUNTER = "FlopCounterMode, grad enabled, math attention"


def write_manifest(path: str, manifest: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    out = sys.argv[1]
    only = sys.argv[2:]
    os.makedirs(out, exist_ok=True)
    manifest_path = os.path.join(out, "manifest.json")
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "models": {}}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    names = tvm.list_models(module=tvm)
    for name in names:
        if only and not any(o in name for o in only):
            continue
        keys = [f"{name}_op{o}" for o in OPSETS]
        done = [manifest["models"].get(k, {}) for k in keys]
        if all(d.get("counter") == COUNTER for d in done):
            continue
        weights = tvm.get_model_weights(name).DEFAULT
        size = weights.transforms().crop_size[0]
        torch.manual_seed(0)
        # ViTs are built for one image size; the others take any.
        extra = {"image_size": size} if name.startswith("vit_") else {}
        net = tvm.get_model(name, weights=None, **extra).eval()
        x = torch.randn(1, 3, size, size)
        counted = multiply_add_flops(net, x)
        for opset, key, old in zip(OPSETS, keys, done):
            if "opset" in old:  # exported under an older counter: only recount
                old.update(multiply_add_flops=counted, counter=COUNTER)
                write_manifest(manifest_path, manifest)
                continue
            entry = {
                "model": name,
                "opset": opset,
                "input": [1, 3, size, size],
                "weights": str(weights),
                "published_gmacs": weights.meta.get("_ops"),
                "multiply_add_flops": counted,
                "counter": COUNTER,
            }
            try:
                export(net, None, os.path.join(out, f"{key}.onnx"), opset=opset, inputs=(x,))
                entry["file"] = f"{key}.onnx"
            except Exception as e:  # an exporter failure is torch's, recorded as such
                entry["export_error"] = "".join(traceback.format_exception_only(e)).strip()[-400:]
            manifest["models"][key] = entry
            write_manifest(manifest_path, manifest)
            print(key, "exported" if "file" in entry else "export failed", flush=True)


if __name__ == "__main__":
    main()
