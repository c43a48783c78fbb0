#!/usr/bin/python3
"""Check pathwise_ref.py against a fixture folder (default: /work/shared/fixtures/fashion_mlp).

For every pathwise configuration in index.json and every input it re-runs the reference
implementation and compares: targets, original logits, the selected unit set of every path
layer, the unit scores, the per-layer flags, the masked logits and the attribution.
Pass criteria: identical unit sets and per-layer flags (k, fallback, boundary_tie, negative
pre-activation count, and recompute / winners_changed / recompute_needed where the fixture has
them) everywhere, attribution within --rtol (default 1e-6) of the fixture,
relative to max |A_ref| of that input, and path logit within --logit-rtol (default 1e-5).
Exit status 1 on any failure.

usage: /usr/bin/python3 tools/reference/check_fixtures.py [FOLDER] [--model ONNX] [--rtol R]
                                                     [--logit-rtol R] [--threads N]
"""

import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402


def parse_width(w):
    if isinstance(w, str) and w != "all" and not w.endswith("%"):
        return int(w)
    return w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder", nargs="?", default="/work/shared/fixtures/fashion_mlp")
    ap.add_argument("--model", help="ONNX model (default: onnx.static of index.json)")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--logit-rtol", type=float, default=1e-5,
                    help="tolerance of the path logit, relative to max(1, |ref|)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    folder = args.folder
    with open(os.path.join(folder, "index.json")) as f:
        index = json.load(f)
    model_path = args.model or os.path.join(folder, index["onnx"]["static"])
    if not os.path.exists(model_path):
        sys.exit(f"model {model_path} not found; pass --model (e.g. /work/shared/fixtures/fashion_mlp.onnx)")
    model = pw.load_onnx(model_path)
    inputs = np.load(os.path.join(folder, "inputs.npy"))
    ref_logits = np.load(os.path.join(folder, "logits.npy"))
    ref_targets = np.load(os.path.join(folder, "targets.npy"))
    n = inputs.shape[0]
    print(f"folder {folder}\nmodel  {model_path}\n{n} inputs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s)")

    failures = 0
    logit_diff = 0.0
    pred_ok = 0
    for j in range(n):
        ex = pw.explain(model, torch.from_numpy(inputs[j]), "all", 1)
        logit_diff = max(logit_diff, float(np.abs(ex.logits.numpy() - ref_logits[j]).max()))
        pred_ok += int(ex.predicted == int(ref_targets[j]))
    print(f"logits: max |diff| {logit_diff:.3g}; predicted class = targets.npy on {pred_ok}/{n}")
    if pred_ok != n:
        failures += 1

    header = (f"{'config':<12} {'sets equal':>10} {'flags equal':>11} {'score max|d|':>12} "
              f"{'attr bit-eq':>11} {'attr max rel':>12} {'mlogit max rel':>14} {'units':>6}")
    print(header)
    for cfg, spec in index["pathwise"].items():
        width = parse_width(spec["width"])
        depth = spec["depth"]
        units = np.load(os.path.join(folder, f"pathwise_{cfg}_units.npy"))
        scores = np.load(os.path.join(folder, f"pathwise_{cfg}_unit_scores.npy"))
        attr = np.load(os.path.join(folder, f"pathwise_{cfg}_attr.npy"))
        mlog = np.load(os.path.join(folder, f"pathwise_{cfg}_masked_logits.npy"))
        n_cfg = len(spec["inputs"])
        n_sets = n_sets_ok = 0
        score_diff = 0.0
        n_flags_ok = 0
        n_bit = 0
        max_rel = 0.0
        max_mrel = 0.0
        total_units = 0
        for j, rec in enumerate(spec["inputs"]):
            ex = pw.explain(model, torch.from_numpy(inputs[j]), width, depth, target=rec["target"])
            ok_input = ex.target == rec["target"]
            if len(ex.layers) != len(rec["layers"]):
                ok_input = False
            for got, want in zip(ex.layers, rec["layers"]):
                n_sets += 1
                total_units += want["n_selected"]
                sl = slice(want["offset"], want["offset"] + want["n_selected"])
                same = (got.relu_position == want["relu_position"]
                        and got.relu_ordinal == want["relu_ordinal"]
                        and got.selected == [int(u) for u in units[sl]])
                n_sets_ok += int(same)
                ok_input &= same
                if same:
                    score_diff = max(score_diff, float(np.abs(
                        np.asarray(got.selected_scores, np.float64) - scores[sl]).max()))
                    score_diff = max(score_diff, abs(got.min_selected_score - want["min_selected_score"]),
                                     abs(got.best_rejected_score - want["best_rejected_score"]))
                # flags: exact; scores are compared numerically above
                flags_same = (got.k == want["k"] and got.n_units == want["n_units"]
                              and got.fallback == want["fallback"]
                              and got.boundary_tie == want["boundary_tie"]
                              and got.n_selected_negative_preactivation
                              == want.get("n_selected_negative_preactivation", got.n_selected_negative_preactivation)
                              and all(getattr(got, key) == want[key] for key in
                                      ("recompute", "winners_changed", "recompute_needed") if key in want))
                n_flags_ok += int(flags_same)
            a = ex.attribution.numpy()
            denom = float(np.abs(attr[j]).max())
            rel = float(np.abs(a - attr[j]).max()) / (denom if denom > 0 else 1.0)
            max_rel = max(max_rel, rel)
            n_bit += int(np.array_equal(a, attr[j]))
            ml = ex.masked_logits.numpy()
            mden = float(np.abs(mlog[j]).max())
            max_mrel = max(max_mrel, float(np.abs(ml - mlog[j]).max()) / (mden if mden > 0 else 1.0))
            if abs(float(ml[rec["target"]]) - rec["masked_logit"]) > args.logit_rtol * max(1.0, abs(rec["masked_logit"])):
                ok_input = False
            if not ok_input or rel > args.rtol:
                failures += 1
                print(f"  FAIL {cfg} input {j}: sets/target ok={ok_input}, attr rel {rel:.3g}")
        if n_flags_ok != n_sets:
            failures += 1
        print(f"{cfg:<12} {f'{n_sets_ok}/{n_sets}':>10} {f'{n_flags_ok}/{n_sets}':>11} {score_diff:>12.3g} "
              f"{f'{n_bit}/{n_cfg}':>11} {max_rel:>12.3g} {max_mrel:>14.3g} {total_units:>6}")
    print("RESULT:", "PASS" if failures == 0 else f"FAIL ({failures} problems)")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
