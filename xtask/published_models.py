"""Exports published torchvision architectures with random weights (kept, so that an
engine can run them) as ONNX files, one directory of `<name>.onnx` for `narformer measure`
and `narformer predictors check`: real exporter output (PyTorch's TorchScript exporter,
Conv+BatchNorm folded, Flatten/Gemm heads) that no narformer generator wrote, mostly of
families outside data/zoo.

Then `narformer measure DIR --engine tract` (and `--engine ort`) and `narformer
predictors check DIR` (docs/DATA.md, "Published architectures"). Skips files already there.
Usage: python xtask/published_models.py OUT_DIR [NAME ...]
"""
import os
import sys

import torch
import torchvision.models as tvm

OPSET = 17
# Families of data/zoo (resnet18/50, mobilenet, mnasnet, efficientnet, squeezenet, vgg)
# in sizes the zoo's generators do not make, and families it lacks (densenet,
# shufflenet, regnet, resnext, convnext, swin, maxvit-free to keep export on opset 17).
MODELS = (
    "resnet18", "resnet34", "resnet50", "resnext50_32x4d", "wide_resnet50_2",
    "mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large",
    "mnasnet0_5", "mnasnet1_0", "efficientnet_b0", "efficientnet_b1",
    "squeezenet1_0", "squeezenet1_1", "alexnet", "vgg11", "vgg16_bn", "googlenet",
    "densenet121", "shufflenet_v2_x1_0", "regnet_x_400mf", "regnet_y_800mf",
    "convnext_tiny", "swin_t", "vit_b_32",
)


def write_atomically(path: str, data: bytes) -> None:
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main() -> None:
    out = sys.argv[1]
    names = sys.argv[2:] or MODELS
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    for name in names:
        path = os.path.join(out, f"{name}.onnx")
        if os.path.exists(path):
            continue
        torch.manual_seed(0)
        net = tvm.get_model(name, weights=None).eval()
        tmp = path + ".export"
        torch.onnx.export(
            net, torch.randn(1, 3, 224, 224), tmp, opset_version=OPSET, dynamo=False,
            do_constant_folding=True, input_names=["input"], output_names=["output"],
        )
        with open(tmp, "rb") as f:
            write_atomically(path, f.read())
        os.remove(tmp)
        print(f"{name}: {path}", flush=True)


if __name__ == "__main__":
    main()
