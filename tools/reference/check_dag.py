#!/usr/bin/python3
"""Cross-check the DAG handling of pathwise_ref.py on fashion_resnet.onnx.

A second, independent formulation of the library's DAG definition: the PyTorch module of
make_resnet.py (weights read from the ONNX initializers), its own forward code, and forward
hooks on its ReLU modules (the ReLU being scored returns a leaf tensor that requires grad, the
ReLUs already processed return m ⊙ z, MaxPool winners recorded by a hook). The unit selection
rule (select_units) and width rule are shared; the graph handling, Jacobians and pool routing
are not. For every configuration and input it compares, with pathwise_ref.explain on the
GraphNet loaded from ONNX: selected unit sets and scores, per-layer flags, recompute flags,
masked logits and the attribution (bit for bit expected). Exit status 1 on any difference.

usage: /usr/bin/python3 tools/reference/check_dag.py [--model test/fixtures/models/fashion_resnet.onnx]
       [--inputs NPY] [--configs LIST]
"""

import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pathwise_ref as pw  # noqa: E402
from make_resnet import FashionResNet  # noqa: E402
from make_fixtures import parse_config, dithered  # noqa: E402


def torch_model_from_onnx(path):
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    for node in m.graph.node:   # the exporter's aliases of equal initializers
        if node.op_type == "Identity" and node.input[0] in init:
            init[node.output[0]] = init[node.input[0]]
    model = FashionResNet()
    sd = model.state_dict()
    for k in sd:
        if k.endswith("num_batches_tracked"):
            continue
        sd[k] = torch.from_numpy(init[k].copy())
    model.load_state_dict(sd)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def relu_modules(model):
    return [model.stem[2], model.block1.relu1, model.block1.relu2, model.block2.relu1, model.block2.relu2]


def hooked_forward(model, xb, leaf_relu=None, masks=None):
    """Forward with hooks. Returns (logits, leaf h or None, pool winners, mask-layer inputs)."""
    masks = masks or {}
    state = {"leaf": None, "winners": None, "pre": {}}
    handles = []
    for r in relu_modules(model):
        def hook(mod, inp, out, r=r):
            if mod is leaf_relu:
                state["leaf"] = out.detach().requires_grad_(True)
                return state["leaf"]
            if mod in masks:
                z = inp[0]
                state["pre"][mod] = z.detach()
                flat = z.reshape(1, -1)
                return torch.where(masks[mod].unsqueeze(0), flat, torch.zeros((), dtype=z.dtype)).view_as(z)
            return None
        handles.append(r.register_forward_hook(hook))

    def pool_hook(mod, inp, out):
        state["winners"] = F.max_pool2d(inp[0].detach(), mod.kernel_size, mod.stride, mod.padding,
                                        mod.dilation, ceil_mode=mod.ceil_mode, return_indices=True)[1]
    handles.append(model.pool.register_forward_hook(pool_hook))
    try:
        with torch.enable_grad():
            out = model(xb)
    finally:
        for hd in handles:
            hd.remove()
    return out, state["leaf"], state["winners"], state["pre"]


def rows(out, inp, c):
    flat = out.reshape(-1)
    return torch.stack([torch.autograd.grad(flat[j], inp, retain_graph=True)[0] for j in range(c)]).reshape(c, -1)


def explain_hooks(model, x, width, depth):
    relus = relu_modules(model)
    d = len(relus) if depth == "all" else int(depth)
    xb = x.unsqueeze(0)
    with torch.no_grad():
        logits = model(xb).reshape(-1)
    t = int(torch.argmax(logits))
    masks, layers, prev_winners = {}, [], None
    for o in reversed(range(len(relus) - d, len(relus))):
        out, h, win, _ = hooked_forward(model, xb, relus[o], masks)
        jac = rows(out, h, 10)
        hf = h.detach().reshape(-1)
        sel, sc, fb, tie, mn, br = pw.select_units(hf, jac, t, pw.width_to_k(width, hf.numel()), 10)
        rec = prev_winners is not None and bool((win != prev_winners).any())
        layers.append((o, sel, sc, fb, tie, mn, br, rec))
        keep = torch.zeros(hf.numel(), dtype=torch.bool)
        keep[torch.as_tensor(sel, dtype=torch.long)] = True
        masks[relus[o]] = keep
        prev_winners = win
    xg = xb.detach().requires_grad_(True)
    out, _, _, pre = hooked_forward(model, xg, None, masks)
    g = rows(out, xg, 10)
    neg = [int((pre[relus[o]].reshape(-1)[sel] < 0).sum()) for (o, sel, *_rest) in layers]
    return t, layers, neg, out.detach().reshape(-1), (g[t].reshape(x.shape) * xb[0]).detach()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="test/fixtures/models/fashion_resnet.onnx")
    ap.add_argument("--inputs", help="inputs .npy (default: test images 5000-5015 with the seed-5000 dither)")
    ap.add_argument("--configs", default="w1_d1,w4_d2,w16_dall,w10pct_dall,wall_dall,w64_d3,w1_dall,w256_dall")
    args = ap.parse_args()
    torch.set_num_threads(1)

    net = pw.load_onnx(args.model)
    model = torch_model_from_onnx(args.model)
    if args.inputs:
        xs = np.load(args.inputs)
    else:
        xs, _ = pw.load_fashion_test(5000, 16)
        xs = dithered(xs, 5000)
    bad = 0
    for cfg in args.configs.split(","):
        _, width, depth, _ = parse_config(cfg)
        n_same = n_rec = 0
        for j in range(xs.shape[0]):
            x = torch.from_numpy(xs[j])
            ex = pw.explain(net, x, width, depth)
            t, layers, neg, mlog, attr = explain_hooks(model, x, width, depth)
            ok = (t == ex.target and torch.equal(mlog, ex.masked_logits) and torch.equal(attr, ex.attribution)
                  and len(layers) == len(ex.layers))
            for (o, sel, sc, fb, tie, mn, br, rec), ng, lr in zip(layers, neg, ex.layers):
                ok &= (o == lr.relu_ordinal and sel == lr.selected and sc == lr.selected_scores
                       and fb == lr.fallback and tie == lr.boundary_tie and mn == lr.min_selected_score
                       and br == lr.best_rejected_score and rec == lr.recompute
                       and ng == lr.n_selected_negative_preactivation)
            n_same += ok
            n_rec += ex.recomputes
            if not ok:
                bad += 1
                print(f"  DIFF {cfg} input {j}")
        print(f"{cfg:<12} identical on {n_same}/{xs.shape[0]} inputs (recompute flags: {n_rec})")
    print("RESULT:", "PASS" if bad == 0 else f"FAIL ({bad})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
