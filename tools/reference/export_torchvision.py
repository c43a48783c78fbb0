#!/usr/bin/python3
"""Export full-size torchvision 0.14 classifiers with random weights, and their PyTorch references.

For the opt-in heavy test (test/heavy-arch.test.ts, PATHWISE_HEAVY=1) and the full-size trials of
`npm run bench`; nothing here is committed. The model is built as tools/reference/make_arch_fixtures.py
builds its reduced-width fixtures, at full width: seeded weights (weights=None), BatchNorm running
statistics randomised, eval mode, the classifier rescaled so that the logits have standard
deviation 1 (random logits range from 1e-4 to 1e2 by family; see build_live), and a seeded N(0, 1)
input of 224 × 224 (299 for inception_v3).

For each name it writes into OUT_DIR, with id = <name>-c<classes> (e.g. resnet18-c1000):
  <id>.onnx                    torch.onnx.export (default settings) at the given opset
  <id>/input.npy               the input, float32 [1, 3, H, W]
  <id>/logits.npy              torch's float32 logits
  <id>/grad_x_input.npy        gradient × input of the argmax class in float64 (model.double()), stored float32
and OUT_DIR/manifest.json with one entry per id (target, seed, shapes, export seconds, and for
the families pathwise refuses, the first op it must refuse). With --no-references only the .onnx
and the input are written (the bench needs no gradient).

With --diagnose ATTRIBUTION_F32 (a raw float32 file, e.g. pathwise's 'linear' attribution) it
exports nothing and prints, as one JSON line, why that gradient × input differs from the stored
float64 one: PyTorch's own float32 result as a second opinion, the ReLU units and max-pool windows
whose float64 decision lies within 1e-6 (relative) of a breakpoint or a tie, and the gate flips
that, applied to the float64 network, reproduce the float32 result.

usage: /usr/bin/python3 tools/reference/export_torchvision.py OUT_DIR NAME... [--classes 10|1000]
           [--opset 13|17] [--threads N] [--no-references]
       /usr/bin/python3 tools/reference/export_torchvision.py OUT_DIR NAME --diagnose ATTRIBUTION_F32 [--max-flips N]
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torchvision import models as tvm

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_arch_fixtures as arch  # noqa: E402  (its helpers: build_live, export, first_refused_op)

# googlenet / inception_v3: no auxiliary heads (eval mode drops them anyway; they would only add
# weights), and PyTorch's default init (init_weights=True draws std-0.01 weights from a truncated
# normal, which leaves channels constant to ~1e-7: see the googlenet note in make_arch_fixtures.py).
EXTRA_KWARGS = {
    "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"aux_logits": False, "init_weights": False},
}
INPUT_SIZE = {"inception_v3": 299}
# Families pathwise refuses (not piecewise linear): exported for the refusal check only.
REFUSED = {"efficientnet_b0", "mobilenet_v3_large", "mobilenet_v3_small", "regnet_y_400mf", "vit_b_16", "convnext_tiny"}


def builder(name, classes):
    fn = getattr(tvm, name)

    def build():
        return fn(weights=None, num_classes=classes, **EXTRA_KWARGS.get(name, {}))

    build.note = "full size"
    return build


def export_one(out, name, classes, opset, references):
    started = time.perf_counter()
    size = INPUT_SIZE.get(name, 224)
    key = f"{name}-c{classes}"
    path = os.path.join(out, f"{key}.onnx")
    entry = {"id": key, "name": name, "file": os.path.basename(path), "num_classes": classes, "opset": opset,
             "input_shape": [1, 3, size, size]}
    d = os.path.join(out, key)
    os.makedirs(d, exist_ok=True)
    if name in REFUSED:
        model = arch.build(builder(name, classes), arch.seed_of(name))
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(arch.seed_of(name) + 1))
        graph = arch.export(model, x, path, opset).graph
        entry["first_refused_op"], entry["first_refused_node"] = arch.first_refused_op(graph)
        entry["refused"] = True
    else:
        # build_live and classifier_layer find the classifier by the module's NUM_CLASSES.
        arch.NUM_CLASSES = classes
        model, x, seed, spread = arch.build_live(name, builder(name, classes), size)
        arch.export(model, x, path, opset)
        with torch.no_grad():
            logits = model(x)
        t = int(logits[0].argmax())
        entry.update({"seed": seed, "classifier_rescaled_by": 1.0 / spread, "target": t, "refused": False,
                      "params": arch.n_params(model)})
        np.save(os.path.join(d, "logits.npy"), logits.numpy().astype(np.float32))
        if references:
            m64 = copy.deepcopy(model).double()
            x64 = x.double().requires_grad_(True)
            (g64,) = torch.autograd.grad(m64(x64)[0, t], x64)
            np.save(os.path.join(d, "grad_x_input.npy"), (g64 * x64).detach().numpy().astype(np.float32))
            del m64
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    entry["bytes"] = os.path.getsize(path)
    entry["export_seconds"] = round(time.perf_counter() - started, 2)
    print(f"{key}: {json.dumps({k: v for k, v in entry.items() if k != 'id'})}", flush=True)
    return entry


# ---------------------------------------------------------------------------------------------
# Why a float32 gradient × input differs from the float64 one: decisions within rounding.

NEAR = 1e-6  # a gate or pool decision this close (relative to its layer's largest value) is rounding


class Frozen(torch.fx.Interpreter):
    """Runs the traced model, recording every gate's pre-activation and every max-pool's input.
    `flips` {node: bool mask} inverts a gate's on/off decision for the masked units; `record`
    (a dict) collects every gate's on-mask and every max-pool's winners, and `replay` (such a
    dict, from a float32 run) imposes them, so a float64 run can take the float32 decisions."""

    def __init__(self, gm, gates, pools, flips=None, record=None, replay=None):
        super().__init__(gm)
        self.gates, self.pools, self.flips, self.seen = gates, pools, flips or {}, {}
        self.record, self.replay = record, replay

    def run_node(self, n):
        if n not in self.gates and n not in self.pools:
            return super().run_node(n)
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        z = args[0]
        self.seen[n] = z.detach()
        if n in self.gates:  # ReLU is the only gate of these families
            on = self.replay[n] if self.replay is not None else z > 0
            if n in self.flips:
                on = on ^ self.flips[n]
            if self.record is not None:
                self.record[n] = on
            return z * on.to(z.dtype)
        if self.replay is not None:
            idx = self.replay[n]
            return z.flatten(2).gather(2, idx.flatten(2)).view(idx.shape)
        m = self.pools[n]
        if m is not None:
            out, idx = F.max_pool2d(z, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, return_indices=True)
        else:
            out, idx = F.max_pool2d(*args, **{**kwargs, "return_indices": True})
        if self.record is not None:
            self.record[n] = idx
        return out


def decision_nodes(gm):
    """The traced graph's gates (in order) and max-pools ({node: its MaxPool2d module, or None
    for a functional max_pool2d})."""
    gates = [n for n in gm.graph.nodes if arch.gate_of(gm, n) is not None]
    pools = {n: (gm.get_submodule(n.target) if n.op == "call_module" else None) for n in gm.graph.nodes
             if (n.op == "call_module" and isinstance(gm.get_submodule(n.target), nn.MaxPool2d))
             or (n.op == "call_function" and n.target is F.max_pool2d)}
    return gates, pools


def pool_near_ties(module_or_none, z):
    """Windows of a max-pool whose two largest inputs differ by less than NEAR × the layer's
    largest |value|, with a positive winner (a zero winner is behind a closed ReLU anyway)."""
    k, s, p, ceil = 3, 2, 0, False
    if module_or_none is not None:
        m = module_or_none
        k, s, p, ceil = m.kernel_size, m.stride, m.padding, m.ceil_mode
    k, s, p = (v if isinstance(v, int) else v[0] for v in (k, s, p))
    extra = s if ceil else 0
    u = F.pad(z, (p, p + extra, p, p + extra), value=-1e300).unfold(2, k, s).unfold(3, k, s).flatten(-2)
    top2 = torch.topk(u, 2, dim=-1).values
    gap = (top2[..., 0] - top2[..., 1]) / z.abs().max()
    return int(((gap < NEAR) & (top2[..., 0] > 0)).sum())


def diagnose(out, name, classes, attribution_path, max_flips):
    """Compares a float32 gradient × input (pathwise's, a raw float32 file) with the float64 one
    and prints one JSON line: PyTorch's own float32 gradient × input as a second opinion; float64
    arithmetic with PyTorch's float32 decisions (do they alone make its result?) and how close
    each decision that differs was to a tie; the float64 result at inputs moved by one float32
    rounding; how many gates and max-pool windows lie within NEAR of a breakpoint or a tie; and a
    greedy search for the gate flips (among the max_flips units nearest their breakpoint) that
    turn the float64 result into the given one."""
    size = INPUT_SIZE.get(name, 224)
    arch.NUM_CLASSES = classes
    model, x, _, _ = arch.build_live(name, builder(name, classes), size)
    key = f"{name}-c{classes}"
    ref = np.load(os.path.join(out, key, "grad_x_input.npy")).astype(np.float64)
    ours = np.fromfile(attribution_path, dtype=np.float32).astype(np.float64).reshape(ref.shape)
    scale = np.abs(ref).max()
    differing = lambda a: int((np.abs(a - ref) > 1e-4 * scale).sum())  # noqa: E731
    with torch.no_grad():
        t = int(model(x)[0].argmax())
    xg = x.clone().requires_grad_(True)
    (g32,) = torch.autograd.grad(model(xg)[0, t], xg)
    a32 = (g32 * x).numpy()
    report = {"id": key, "values": ref.size, "pathwise_differing": differing(ours),
              "torch_float32_differing": differing(a32)}

    gm = arch.trace(copy.deepcopy(model).double())
    gates, pools = decision_nodes(gm)
    x64 = x.double()

    def grad_x_input(flips=None, record=None):
        it = Frozen(gm, gates, pools, flips, record=record)
        xg = x64.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(it.run(xg)[0, t], xg)
        return (g * x64).detach().numpy(), it

    dec64 = {}
    base, it = grad_x_input(record=dec64)
    # float64 arithmetic with PyTorch's float32 decisions (gate patterns, max-pool winners): if it
    # reproduces PyTorch's float32 result, the float32 / float64 difference is those decisions.
    decisions = {}
    gm32 = arch.trace(model)
    gates32, pools32 = decision_nodes(gm32)
    with torch.no_grad():
        Frozen(gm32, gates32, pools32, record=decisions).run(x)
    by_name = {n.name: v for n, v in decisions.items()}
    replay = {n: by_name[n.name] for n in list(gates) + list(pools)}
    xr = x64.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(Frozen(gm, gates, pools, replay=replay).run(xr)[0, t], xr)
    ar = (gr * x64).detach().numpy()
    report["float64_with_torch_float32_decisions_vs_torch_float32_differing"] = int((np.abs(ar - a32) > 1e-4 * scale).sum())
    # how close each differing decision was in float64, relative to its layer's largest |value|:
    # a gate's |z|, a max-pool window's gap between the float64 and the float32 winner
    gate_gaps = [float((it.seen[n][replay[n] != dec64[n]].abs() / it.seen[n].abs().max()).max())
                 for n in gates if (replay[n] != dec64[n]).any()]
    pool_gaps = []
    for n in pools:
        moved = replay[n] != dec64[n]
        if moved.any():
            z = it.seen[n].flatten(2)
            gap = z.gather(2, dec64[n].flatten(2)) - z.gather(2, replay[n].flatten(2))
            pool_gaps.append(float((gap.flatten()[moved.flatten()].abs() / z.abs().max()).max()))
    report["float32_decisions_differing"] = {
        "gate_units": sum(int((replay[n] != dec64[n]).sum()) for n in gates),
        "gate_max_relative_z": max(gate_gaps, default=None),
        "maxpool_windows": sum(int((replay[n] != dec64[n]).sum()) for n in pools),
        "maxpool_max_relative_gap": max(pool_gaps, default=None),
    }
    # The float64 gradient itself at inputs moved by float32 rounding (relative 2^-24 per value,
    # random signs): if it changes as much as the float32 results differ, the difference is a
    # decision (gate or max-pool winner) within rounding, not accumulated arithmetic error.
    shaken = []
    for seed in range(3):
        sign = torch.randint(0, 2, x.shape, generator=torch.Generator().manual_seed(seed)).double() * 2 - 1
        xs = (x64 * (1 + sign * 2.0 ** -24)).requires_grad_(True)
        (g,) = torch.autograd.grad(Frozen(gm, gates, pools).run(xs)[0, t], xs)
        shaken.append(differing((g * x64).detach().numpy()))
    report["float64_at_rounded_inputs_differing"] = shaken
    near, within = [], 0
    for n in gates:
        z = it.seen[n].flatten()
        rel = z.abs() / z.abs().max()
        count = int((rel < NEAR).sum())
        within += count
        if count and max_flips:
            v, i = torch.topk(-rel, min(count, max_flips))
            near += [(-vv, n, ii, float(z[ii])) for vv, ii in zip(v.tolist(), i.tolist())]
    near.sort(key=lambda c: c[0])
    report["gate_units_within_1e-6"] = within
    report["maxpool_windows_within_1e-6"] = sum(pool_near_ties(m, it.seen[n]) for n, m in pools.items())

    def flipped(units):
        flips = {}
        for _, n, i, _ in units:
            f = flips.setdefault(n, torch.zeros_like(it.seen[n], dtype=torch.bool))
            f.view(-1)[i] = True
        return grad_x_input(flips)[0]

    cands = near[:max_flips]
    alone = [int((np.abs(ours - flipped([c])) > 1e-4 * scale).sum()) for c in cands]
    chosen, remaining = [], int((np.abs(ours - base) > 1e-4 * scale).sum())
    for j in sorted(range(len(cands)), key=lambda j: alone[j]):
        c = flipped(chosen + [cands[j]])
        n = int((np.abs(ours - c) > 1e-4 * scale).sum())
        if n < remaining:
            chosen.append(cands[j])
            remaining = n
    report["flips"] = [{"node": n.name, "unit": i, "z": z, "relative": rel} for rel, n, i, z in chosen]
    report["differing_after_flips"] = remaining
    print(json.dumps(report), flush=True)
    return report


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("names", nargs="+")
    p.add_argument("--classes", type=int, default=10, choices=(10, 1000))
    p.add_argument("--opset", type=int, default=17, choices=(13, 17))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-references", dest="references", action="store_false")
    p.add_argument("--diagnose", metavar="ATTRIBUTION_F32",
                   help="instead of exporting: explain how this raw float32 gradient × input of the one NAME differs from the float64 one")
    p.add_argument("--max-flips", type=int, default=12)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.diagnose:
        diagnose(a.out, a.names[0], a.classes, a.diagnose, a.max_flips)
        return
    os.makedirs(a.out, exist_ok=True)
    manifest_path = os.path.join(a.out, "manifest.json")
    manifest = {"generator": "tools/reference/export_torchvision.py", "torch": torch.__version__, "models": {}}
    if os.path.exists(manifest_path):  # later calls add to the same folder
        with open(manifest_path) as f:
            manifest = json.load(f)
    for name in a.names:
        entry = export_one(a.out, name, a.classes, a.opset, a.references)
        manifest["models"][entry["id"]] = entry
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
