#!/usr/bin/python3
"""Times the reference algorithm (pathwise_ref.py) for the timing anchor and for `npm run bench`.

The implementation follows the authors' structure (C reverse passes per path layer plus a final
full Jacobian), so it is a benchmark anchor for "the reference", not a fast method. One sample is
the wall time of explaining `--batch` inputs one after another (the reference has no batched
form); samples are taken for `--seconds` after `--warmup` unsampled ones, and at least
`--min-samples` of them. Inputs come from a .npy of float32 NCHW inputs (`--inputs`) or, without
one, from the Fashion-MNIST test set (image `--image` onwards).

Prints one JSON object per thread setting, one per line:
  {"best_ms": ..., "median_ms": ..., "samples": ..., "threads": ..., "torch": "..."}
With --threads N only that setting is timed (exactly one line; `npm run bench` reads it); without,
torch.set_num_threads(1) and then PyTorch's default thread count.

usage: /usr/bin/python3 tools/reference/time_ref.py [--model ONNX] [--inputs NPY | --image I]
       [--width all|K|P%] [--depth all|D] [--batch 1] [--threads N] [--seconds 2] [--warmup 3]
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
sys.path.insert(0, HERE)
import pathwise_ref as pw  # noqa: E402

DEFAULT_MODEL = os.path.join(HERE, "..", "..", "test", "fixtures", "models", "fashion_mlp.onnx")


def parse_width(w):
    if w == "all" or w.endswith("%"):
        return w
    return int(w)


def time_samples(sample, args):
    """Calls sample() (which returns its ms) args.warmup times, then at least args.min_samples times
    and on for args.seconds (at most 1000): the best, median and count (time_grad.py uses it too)."""
    for _ in range(args.warmup):
        sample()
    samples = []
    start = time.perf_counter()
    while len(samples) < args.min_samples or (time.perf_counter() - start < args.seconds and len(samples) < 1000):
        samples.append(sample())
    return {
        "best_ms": round(min(samples), 4),
        "median_ms": round(statistics.median(samples), 4),
        "samples": len(samples),
    }


def time_setting(model, xs, width, depth, args):
    def sample():
        t0 = time.perf_counter()
        for x in xs:
            pw.explain(model, x, width, depth)
        return (time.perf_counter() - t0) * 1e3

    return {
        **time_samples(sample, args),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--inputs", help=".npy of float32 inputs, NCHW (default: Fashion-MNIST test images)")
    ap.add_argument("--image", type=int, default=0, help="first Fashion-MNIST test image without --inputs")
    ap.add_argument("--width", default="all")
    ap.add_argument("--depth", default="all")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="time only this thread count (0: 1 and the default)")
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--min-samples", type=int, default=5, help="samples taken even past --seconds")
    args = ap.parse_args()

    default_threads = torch.get_num_threads()   # read before any change
    # load_onnx builds a GraphNet for dense, conv, pool and residual ONNX models alike.
    model = pw.load_onnx(args.model)
    if args.inputs:
        data = np.load(args.inputs).astype(np.float32)
    else:
        data, _ = pw.load_fashion_test(args.image, args.batch)
    xs = [torch.from_numpy(np.ascontiguousarray(data[i % len(data)])) for i in range(args.batch)]
    width = parse_width(args.width)
    depth = args.depth if args.depth == "all" else int(args.depth)

    for threads in [args.threads] if args.threads > 0 else [1, default_threads]:
        torch.set_num_threads(threads)
        print(json.dumps(time_setting(model, xs, width, depth, args)), flush=True)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
