#!/usr/bin/python3
"""Generate pathwise reference fixtures on Fashion-MNIST test images with pathwise_ref.py.

Writes, in the format of /work/shared/fixtures/fashion_mlp/ (see its README), without the
baselines and insertion/deletion files:
  inputs.npy, labels.npy, logits.npy, targets.npy,
  pathwise_<cfg>_{attr,masked_logits,units,unit_scores}.npy, index.json

Configurations (--configs, comma-separated names w<width>_d<depth>[_t<target>], width an
integer, 'all' or '<P>pct', depth an integer or 'all'); default: the five of the shared
fixtures (w1_d1, w4_d2, w16_dall, w10pct_dall, wall_dall), plus w2_d3 (width 2, depth 3 given
as an integer) and w4_dall_t0 (width 4, depth all, target class 0 for every input instead of
the predicted class).

--subset CFG=M stores configuration CFG for the first M inputs only (index.json
`pathwise.<cfg>.n_inputs` = M; its arrays have M rows), to keep a folder small.

--dither SEED adds the dither of the shared fashion_cnn_dither fixtures: u = torch.rand of
shape [count, 1, 28, 28] from torch.Generator().manual_seed(SEED), x = x_plain + (u - 0.5)/255/std
in float32 (= uniform(-0.5, 0.5) pixel units). --expect-inputs NPY asserts that the inputs are
bit-identical to a given file.

Deterministic: single thread, float32 on CPU, images read from the Debian package
dataset-fashion-mnist. After writing, the selection is recomputed in float64; the (input, layer)
pairs whose unit sets differ are listed in index.json (`pathwise.<cfg>.float64_set_differences`)
and in the summary: those decisions are rounding-sensitive.

Per path layer, index.json also records the MaxPool winner comparison of docs/method.md §4.2 H2 against
the step of the path layer above: `recompute`, `winners_changed`, `recompute_needed` (see
pathwise_ref.LayerResult), and per input `recomputes` (= the number of `recompute` flags).

usage: /usr/bin/python3 tools/reference/make_fixtures.py MODEL.onnx FIRST COUNT OUT_DIR
       [--configs LIST] [--subset CFG=M,...] [--dither SEED] [--expect-inputs NPY]
       [--onnx-static REL] [--onnx-dynamic REL|none] [--name NAME]
"""

import argparse
import json
import os
import re
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402

DEFAULT_CONFIGS = "w1_d1,w4_d2,w16_dall,w10pct_dall,wall_dall,w2_d3,w4_dall_t0"


def parse_config(name):
    """'w10pct_dall' -> (name, '10%', 'all', None); 'w4_dall_t0' -> (name, 4, 'all', 0)."""
    m = re.fullmatch(r"w(all|\d+pct|\d+)_d(all|\d+)(?:_t(\d+))?", name)
    if not m:
        raise ValueError(f"bad configuration name {name}")
    w, d, t = m.groups()
    width = "all" if w == "all" else (w[:-3] + "%" if w.endswith("pct") else int(w))
    depth = "all" if d == "all" else int(d)
    return name, width, depth, (None if t is None else int(t))


def dithered(x_plain: np.ndarray, seed: int) -> np.ndarray:
    """The shared fixtures' dither: uniform(-0.5, 0.5) pixel units, float32, in normalised space."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(x_plain.shape, generator=g)
    return (torch.from_numpy(x_plain) + (u - 0.5) / 255 / pw.STD).numpy()


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
        "recompute": bool(lr.recompute),
        "winners_changed": int(lr.winners_changed),
        "recompute_needed": bool(lr.recompute_needed),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("first", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("out_dir")
    ap.add_argument("--configs", default=DEFAULT_CONFIGS,
                    help=f"comma-separated configuration names (default {DEFAULT_CONFIGS})")
    ap.add_argument("--dither", type=int, metavar="SEED",
                    help="add the uniform +-0.5/255 pixel dither drawn with torch.Generator seed SEED")
    ap.add_argument("--expect-inputs", metavar="NPY",
                    help="fail unless the (dithered) inputs equal this .npy file bit for bit")
    ap.add_argument("--subset", default="", metavar="CFG=M,...",
                    help="store these configurations for the first M inputs only (size budget)")
    ap.add_argument("--name", help="model name in index.json (default: ONNX file stem)")
    ap.add_argument("--onnx-static", default=None,
                    help="index.json onnx.static, relative to OUT_DIR (default: ../<model file>)")
    ap.add_argument("--onnx-dynamic", default=None,
                    help="index.json onnx.dynamic (default: ../<stem>_dyn.onnx; 'none' = omit)")
    args = ap.parse_args()
    configs = [parse_config(c.strip()) for c in args.configs.split(",") if c.strip()]
    subset = {k: int(v) for k, v in (c.split("=") for c in args.subset.split(",") if c)}
    if set(subset) - {c[0] for c in configs}:
        sys.exit(f"--subset names unknown configurations: {sorted(set(subset) - {c[0] for c in configs})}")

    torch.set_num_threads(1)
    torch.manual_seed(0)

    stem = os.path.splitext(os.path.basename(args.model))[0]
    name = args.name or stem
    model = pw.load_onnx(args.model)
    n_classes = pw.n_classes_of(model)
    relus = pw.relu_positions(model)
    pools = [i for i, nd in enumerate(model.nodes) if nd.op == "maxpool"]
    chain = all(nd.inputs == [i - 1 if i else pw.INPUT] for i, nd in enumerate(model.nodes))

    x, labels = pw.load_fashion_test(args.first, args.count)
    if args.dither is not None:
        x = dithered(x, args.dither)
    if args.expect_inputs:
        want = np.load(args.expect_inputs)
        if want.shape != x.shape or want.dtype != x.dtype or not np.array_equal(want, x):
            sys.exit(f"inputs differ from {args.expect_inputs}")
        print(f"inputs equal {args.expect_inputs} bit for bit")
    n = x.shape[0]
    os.makedirs(args.out_dir, exist_ok=True)

    shapes = pw.relu_shapes(model, torch.from_numpy(x[0]))
    with torch.no_grad():
        # batch-1 forwards, as in the algorithm (a batched GEMM may round differently)
        logits = np.stack([model(torch.from_numpy(x[j:j + 1])).numpy()[0] for j in range(n)])
    targets = np.array([int(np.argmax(logits[j])) for j in range(n)], dtype=np.int64)

    def save(fname, arr):
        np.save(os.path.join(args.out_dir, fname), np.ascontiguousarray(arr))

    save("inputs.npy", x.astype(np.float32))
    save("labels.npy", labels.astype(np.int64))
    save("logits.npy", logits)
    save("targets.npy", targets)

    onnx_paths = {"static": args.onnx_static or f"../{os.path.basename(args.model)}"}
    if args.onnx_dynamic != "none":
        onnx_paths["dynamic"] = args.onnx_dynamic or f"../{stem}_dyn.onnx"
    normalisation = {"scale": "pixel/255", "mean": pw.MEAN, "std": pw.STD}
    if args.dither is not None:
        normalisation["dither"] = (f"uniform(-0.5,0.5)/255 added in pixel units, torch.Generator "
                                   f"seed {args.dither}")
    index = {
        "model": name,
        "inputs_variant": "plain" if args.dither is None else "dither",
        "onnx": onnx_paths,
        "input_shape": list(x.shape[1:]),
        "n_inputs": n,
        "n_classes": n_classes,
        "normalisation": normalisation,
    }
    if chain:
        index["relu_positions_in_sequential"] = relus
    else:
        index["relu_positions_in_graph"] = relus
        index["graph"] = [{"op": nd.op, "inputs": nd.inputs, "name": nd.name} for nd in model.nodes]
    if pools or not chain:
        index["maxpool_positions"] = pools
        index["recompute_rule"] = (
            "layers[].recompute: for a path layer l below the top one, with l' the path layer "
            "just above, the winners (first maximum, row-major) of some MaxPool after l' in node "
            "order differ between the step of l (ReLUs after l masked) and the step of l' (ReLUs "
            "after l' masked); winners_changed = number of such windows; recompute_needed = J_l "
            "differs from J_l computed with those MaxPools copying the winners of the step of l'. "
            "The top path layer has recompute false. inputs[j].recomputes = count of recompute.")
    index.update({
        "relu_unit_shapes": shapes,
        "relu_n_units": [int(np.prod(s)) for s in shapes],
        "score_threshold": "score > float32(1/n_classes)",
        "unit_index_convention": "flat index into the C*H*W (NCHW) activation of that ReLU; layers "
                                 "listed top-down as processed; relu_ordinal counts ReLUs from 0 at "
                                 "the input side",
        "tie_break": "descending score, ties by ascending flat index (official: unstable torch.sort)",
        "pathwise": {},
        "test_images": {"split": "test", "first_index": args.first, "count": n},
    })

    model64 = pw.load_onnx(args.model).double()
    summary = []
    for cname, width, depth, tgt in configs:
        n_cfg = min(n, subset.get(cname, n))
        attrs = np.zeros_like(x[:n_cfg])
        mlogits = np.zeros((n_cfg, n_classes), np.float32)
        units, scores, recs = [], [], []
        offset = 0
        n_fb = n_tie = n_neg = n_thr_cut = n_rec = n_need = n_steps = 0
        diff64 = []          # (input, relu_ordinal) whose float64 set differs
        for j in range(n_cfg):
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
                n_need += lr.recompute_needed
            n_rec += ex.recomputes
            n_steps += len(ex.layers) - 1
            recs.append({"target": ex.target, "masked_logit": float(ex.masked_logits[ex.target]),
                         "recomputes": ex.recomputes, "layers": layers})
            ex64 = pw.explain(model64, torch.from_numpy(x[j]), width, depth, target=tgt)
            for a, b in zip(ex.layers, ex64.layers):
                if a.selected != b.selected:
                    diff64.append([j, a.relu_ordinal])
        entry = {"width": width, "depth": depth}
        if tgt is not None:
            entry["target"] = tgt
        if n_cfg < n:
            entry["n_inputs"] = n_cfg   # inputs 0..n_cfg-1 only; arrays have n_cfg rows
        entry["float64_set_differences"] = diff64
        entry["inputs"] = recs
        index["pathwise"][cname] = entry
        save(f"pathwise_{cname}_attr.npy", attrs)
        save(f"pathwise_{cname}_masked_logits.npy", mlogits)
        save(f"pathwise_{cname}_units.npy", np.asarray(units, np.int32))
        save(f"pathwise_{cname}_unit_scores.npy", np.asarray(scores, np.float32))
        summary.append((cname, n_cfg, offset, n_thr_cut, n_fb, n_tie, n_neg, n_rec, n_need, n_steps, diff64))

    with open(os.path.join(args.out_dir, "index.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))  # compact: same structure, a third of the size

    print(f"{n} inputs (test images {args.first}..{args.first + n - 1}) -> {args.out_dir}")
    print(f"{'config':<12} {'inputs':>6} {'units':>6} {'1/C cut in k':>12} {'fallback':>8} {'b_tie':>5} "
          f"{'neg preact':>10} {'recompute':>9} {'needed':>6} {'steps':>5}  float64 set differences")
    for cname, n_cfg, tot, cut, fb, tie, neg, rec, need, steps, d64 in summary:
        ins = sorted({j for j, _ in d64})
        print(f"{cname:<12} {n_cfg:>6} {tot:>6} {cut:>12} {fb:>8} {tie:>5} {neg:>10} {rec:>9} {need:>6} {steps:>5}  "
              f"{len(d64)} layers on {len(ins)} inputs {ins if ins else ''}")


if __name__ == "__main__":
    main()
