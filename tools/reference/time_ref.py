#!/usr/bin/python3
"""Time one pathwise explanation (width all, depth all) of the fashion MLP with pathwise_ref.py.

Median wall time of 50 runs after 5 warm-ups, on one input (Fashion-MNIST test image 0 by
default), once with torch.set_num_threads(1) and once with PyTorch's default thread count.
Prints one JSON object per setting, one per line (JSON Lines):
  {"ms_median": ..., "threads": ..., "setting": "single" | "default"}
With --threads N only that setting is timed and exactly one object is printed.
The implementation follows the authors' structure (C reverse passes per path layer plus a
final full Jacobian), so it is a benchmark anchor for "the reference", not a fast method.

usage: /usr/bin/python3 tools/reference/time_ref.py [--model ONNX] [--image I] [--runs 50]
       [--warmup 5] [--threads N]
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402


def time_once(model, x, runs, warmup):
    for _ in range(warmup):
        pw.explain(model, x, "all", "all")
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        pw.explain(model, x, "all", "all")
        samples.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(samples)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/work/shared/fixtures/fashion_mlp.onnx")
    ap.add_argument("--image", type=int, default=0)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, help="time only this thread count")
    args = ap.parse_args()

    default_threads = torch.get_num_threads()   # read before any change
    model = pw.load_onnx(args.model)
    xs, _ = pw.load_fashion_test(args.image, 1)
    x = torch.from_numpy(xs[0])

    if args.threads:
        settings = [("custom", args.threads)]
    else:
        settings = [("single", 1), ("default", default_threads)]
    for name, threads in settings:
        torch.set_num_threads(threads)
        ms = time_once(model, x, args.runs, args.warmup)
        print(json.dumps({"ms_median": round(ms, 4), "threads": threads, "setting": name}), flush=True)
    torch.set_num_threads(default_threads)


if __name__ == "__main__":
    main()
