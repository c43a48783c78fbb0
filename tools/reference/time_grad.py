#!/usr/bin/python3
"""Times one PyTorch input gradient: the anchor "what a plain gradient costs" for `npm run bench`.

One sample is one forward pass and one backward pass of the target logit with respect to the
input (torch.autograd.grad(logits[0, t], x)), batch 1, the model's parameters frozen
(requires_grad False, so no weight gradients are formed): what gradient saliency or
gradient × input costs a PyTorch user. The target t is the input's argmax class, as pathwise
explains by default. Samples are taken for `--seconds` after `--warmup` unsampled ones, and at
least `--min-samples` of them.

The model is either
  --model ONNX          loaded by pathwise_ref.load_onnx (the reference's own ONNX reader; Conv,
                        BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool, Add,
                        Flatten, Gemm), for the bench's built networks (VGG16 layout, toy CIFAR
                        CNN) whose ONNX bytes onnxruntime and pathwise run too, or
  --torchvision NAME    the torchvision module itself, rebuilt as export_torchvision.py builds it
                        (same seed, same BatchNorm statistics, same classifier rescaling), so the
                        same network as the exported .onnx file; `--classes` as in the export.
The input is a .npy of one float32 NCHW example (`--inputs`), the same file pathwise reads.

Prints one JSON line: {"best_ms", "median_ms", "samples", "threads", "target", "torch"}.

usage: /usr/bin/python3 tools/reference/time_grad.py (--model ONNX | --torchvision NAME [--classes 10|1000])
       --inputs NPY [--threads 1] [--seconds 2] [--warmup 1] [--min-samples 3]
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
from time_ref import time_samples  # noqa: E402


def load(args):
    if args.model:
        import pathwise_ref as pw  # noqa: E402

        return pw.load_onnx(args.model)
    import export_torchvision as ex  # noqa: E402
    import make_arch_fixtures as arch  # noqa: E402

    arch.NUM_CLASSES = args.classes  # build_live finds the classifier by it
    model, _, _, _ = arch.build_live(args.torchvision, ex.builder(args.torchvision, args.classes),
                                     ex.INPUT_SIZE.get(args.torchvision, 224))
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="ONNX file (read by pathwise_ref.load_onnx)")
    source.add_argument("--torchvision", help="torchvision classifier name, as export_torchvision.py builds it")
    ap.add_argument("--classes", type=int, default=10, choices=(10, 1000))
    ap.add_argument("--inputs", required=True, help=".npy of float32 NCHW input (the first example is used)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--min-samples", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    model = load(args).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    data = np.load(args.inputs).astype(np.float32)
    x = torch.from_numpy(np.ascontiguousarray(data[:1]))
    with torch.no_grad():
        target = int(model(x)[0].argmax())

    def sample():
        t0 = time.perf_counter()
        xg = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xg)[0, target], xg)
        ms = (time.perf_counter() - t0) * 1e3
        assert g.shape == x.shape
        return ms

    print(json.dumps({
        **time_samples(sample, args),
        "threads": torch.get_num_threads(),
        "target": target,
        "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
