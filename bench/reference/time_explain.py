#!/usr/bin/python3
"""Times the PyTorch reference algorithm for `npm run bench` (one trial per process).

The algorithm is tools/reference/pathwise_ref.py (the authors' structure: C reverse passes per
path layer plus a final full Jacobian; SPEC §3), imported from there so that the bench and the
fixture tools time and check one implementation. This file is the bench's copy of
tools/reference/time_ref.py, extended with width, depth, batch, input and time-budget options,
and it prints exactly one JSON object:
  {"best_ms": ..., "median_ms": ..., "samples": ..., "threads": ..., "torch": "..."}
where one sample is the wall time of explaining `--batch` inputs one after another (the reference
has no batched form).

usage: /usr/bin/python3 bench/reference/time_explain.py --model ONNX --inputs NPY
       [--width 16|all|P%] [--depth all|D] [--batch 1] [--threads N] [--seconds 2] [--warmup 3]
       [--min-samples 5]
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools", "reference"))
import pathwise_ref as pw  # noqa: E402


def parse_width(w):
    if w == "all" or w.endswith("%"):
        return w
    return int(w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--inputs", required=True, help=".npy of float32 inputs, NCHW")
    ap.add_argument("--width", default="16")
    ap.add_argument("--depth", default="all")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="0 = PyTorch's default")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-samples", type=int, default=5, help="samples taken even past --seconds")
    args = ap.parse_args()

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    # load_onnx builds a GraphNet for dense, conv, pool and residual ONNX models alike.
    model = pw.load_onnx(args.model)
    xs = np.load(args.inputs).astype(np.float32)
    xs = [torch.from_numpy(np.ascontiguousarray(xs[i % len(xs)])) for i in range(args.batch)]
    width = parse_width(args.width)
    depth = args.depth if args.depth == "all" else int(args.depth)

    def sample():
        t0 = time.perf_counter()
        for x in xs:
            pw.explain(model, x, width, depth)
        return (time.perf_counter() - t0) * 1e3

    for _ in range(args.warmup):
        sample()
    samples = []
    start = time.perf_counter()
    while len(samples) < args.min_samples or (time.perf_counter() - start < args.seconds and len(samples) < 1000):
        samples.append(sample())
    print(json.dumps({
        "best_ms": round(min(samples), 4),
        "median_ms": round(statistics.median(samples), 4),
        "samples": len(samples),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
