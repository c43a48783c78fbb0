#!/usr/bin/python3
"""Generate pathwise reference fixtures on Fashion-MNIST test images with pathwise_ref.py.

Writes, in the format of /work/shared/fixtures/fashion_mlp/ (see its README), without the
baselines and insertion/deletion files:
  inputs.npy, labels.npy, logits.npy, targets.npy,
  pathwise_<cfg>_{attr,masked_logits,units,unit_scores}.npy, index.json

Configurations: the five of the shared fixtures (w1_d1, w4_d2, w16_dall, w10pct_dall,
wall_dall), plus w2_d3 (width 2, depth 3 given as an integer) and w4_dall_t0 (width 4, depth
all, target class 0 for every input instead of the predicted class).

Deterministic: single thread, float32 on CPU, images read from the Debian package
dataset-fashion-mnist. After writing, the selection is recomputed in float64 and the inputs
whose unit sets differ are reported (not stored): those decisions are rounding-sensitive.

usage: /usr/bin/python3 tools/reference/make_fixtures.py MODEL.onnx FIRST COUNT OUT_DIR
       [--onnx-static REL] [--onnx-dynamic REL] [--name NAME]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402

# (name, width, depth, target override)
CONFIGS = [
    ("w1_d1", 1, 1, None),
    ("w4_d2", 4, 2, None),
    ("w16_dall", 16, "all", None),
    ("w10pct_dall", "10%", "all", None),
    ("wall_dall", "all", "all", None),
    ("w2_d3", 2, 3, None),
    ("w4_dall_t0", 4, "all", 0),
]


def layer_record(lr, offset):
    return {
        "relu_position": lr.relu_position,
        "relu_ordinal": lr.relu_ordinal,
        "n_units": lr.n_units,
        "k": lr.k,
        "n_selected": len(lr.selected),
        "offset": offset,
        "fallback": bool(lr.fallback),
        "boundary_tie": bool(lr.boundary_tie),
        "min_selected_score": float(lr.min_selected_score),
        "best_rejected_score": float(lr.best_rejected_score),
        "n_selected_negative_preactivation": int(lr.n_selected_negative_preactivation),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("first", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("out_dir")
    ap.add_argument("--name", help="model name in index.json (default: ONNX file stem)")
    ap.add_argument("--onnx-static", default=None,
                    help="index.json onnx.static, relative to OUT_DIR (default: ../<model file>)")
    ap.add_argument("--onnx-dynamic", default=None,
                    help="index.json onnx.dynamic (default: ../<stem>_dyn.onnx)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)

    stem = os.path.splitext(os.path.basename(args.model))[0]
    name = args.name or stem
    model = pw.load_onnx(args.model)
    n_classes = pw.n_classes_of(model)
    relus = pw.relu_positions(model)
    os.makedirs(args.out_dir, exist_ok=True)

    x, labels = pw.load_fashion_test(args.first, args.count)
    n = x.shape[0]

    # shapes of the ReLU layers
    shapes = []
    with torch.no_grad():
        h = torch.from_numpy(x[:1])
        for i, mod in enumerate(model):
            h = mod(h)
            if i in relus:
                shapes.append(list(h.shape[1:]))
        # batch-1 forwards, as in the algorithm (a batched GEMM may round differently)
        logits = np.stack([model(torch.from_numpy(x[j:j + 1])).numpy()[0] for j in range(n)])
    targets = np.array([int(np.argmax(logits[j])) for j in range(n)], dtype=np.int64)

    def save(fname, arr):
        np.save(os.path.join(args.out_dir, fname), np.ascontiguousarray(arr))

    save("inputs.npy", x.astype(np.float32))
    save("labels.npy", labels.astype(np.int64))
    save("logits.npy", logits)
    save("targets.npy", targets)

    index = {
        "model": name,
        "inputs_variant": "plain",
        "onnx": {
            "static": args.onnx_static or f"../{os.path.basename(args.model)}",
            "dynamic": args.onnx_dynamic or f"../{stem}_dyn.onnx",
        },
        "input_shape": list(x.shape[1:]),
        "n_inputs": n,
        "n_classes": n_classes,
        "normalisation": {"scale": "pixel/255", "mean": pw.MEAN, "std": pw.STD},
        "relu_positions_in_sequential": relus,
        "relu_unit_shapes": shapes,
        "relu_n_units": [int(np.prod(s)) for s in shapes],
        "score_threshold": "score > float32(1/n_classes)",
        "unit_index_convention": "flat index into the C*H*W (NCHW) activation of that ReLU; layers "
                                 "listed top-down as processed; relu_ordinal counts ReLUs from 0 at "
                                 "the input side",
        "tie_break": "descending score, ties by ascending flat index (official: unstable torch.sort)",
        "pathwise": {},
        "test_images": {"split": "test", "first_index": args.first, "count": n},
    }

    model64 = pw.load_onnx(args.model).double()
    summary = []
    for cname, width, depth, tgt in CONFIGS:
        attrs = np.zeros_like(x)
        mlogits = np.zeros((n, n_classes), np.float32)
        units, scores, recs = [], [], []
        offset = 0
        n_fb = n_tie = n_neg = n_thr_cut = 0
        diff64 = []
        for j in range(n):
            ex = pw.explain(model, torch.from_numpy(x[j]), width, depth, target=tgt)
            attrs[j] = ex.attribution.numpy()
            mlogits[j] = ex.masked_logits.numpy()
            layers = []
            for lr in ex.layers:
                layers.append(layer_record(lr, offset))
                units.extend(lr.selected)
                scores.extend(lr.selected_scores)
                offset += len(lr.selected)
                n_fb += lr.fallback
                n_tie += lr.boundary_tie
                n_neg += lr.n_selected_negative_preactivation
                n_thr_cut += len(lr.selected) < lr.k
            recs.append({"target": ex.target, "masked_logit": float(ex.masked_logits[ex.target]),
                         "layers": layers})
            ex64 = pw.explain(model64, torch.from_numpy(x[j]), width, depth, target=tgt)
            if [lr.selected for lr in ex64.layers] != [lr.selected for lr in ex.layers]:
                diff64.append(j)
        entry = {"width": width, "depth": depth}
        if tgt is not None:
            entry["target"] = tgt
        entry["inputs"] = recs
        index["pathwise"][cname] = entry
        save(f"pathwise_{cname}_attr.npy", attrs)
        save(f"pathwise_{cname}_masked_logits.npy", mlogits)
        save(f"pathwise_{cname}_units.npy", np.asarray(units, np.int32))
        save(f"pathwise_{cname}_unit_scores.npy", np.asarray(scores, np.float32))
        summary.append((cname, offset, n_thr_cut, n_fb, n_tie, n_neg, diff64))

    with open(os.path.join(args.out_dir, "index.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))  # compact: same structure, a third of the size

    print(f"{n} inputs (test images {args.first}..{args.first + n - 1}) -> {args.out_dir}")
    print(f"{'config':<12} {'units':>6} {'layers cut by 1/C inside k':>27} {'fallback':>9} "
          f"{'boundary_tie':>12} {'neg preact':>10}  float64 set differences")
    for cname, tot, cut, fb, tie, neg, d64 in summary:
        print(f"{cname:<12} {tot:>6} {cut:>27} {fb:>9} {tie:>12} {neg:>10}  "
              f"{len(d64)} inputs {d64 if d64 else ''}")


if __name__ == "__main__":
    main()
