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

usage: /usr/bin/python3 tools/reference/export_torchvision.py OUT_DIR NAME... [--classes 10|1000]
           [--opset 13|17] [--threads N] [--no-references]
"""

import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch
from torchvision import models as tvm

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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("names", nargs="+")
    p.add_argument("--classes", type=int, default=10, choices=(10, 1000))
    p.add_argument("--opset", type=int, default=17, choices=(13, 17))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-references", dest="references", action="store_false")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
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
