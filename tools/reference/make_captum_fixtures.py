#!/usr/bin/python3
"""Captum's own attributions on the Fashion models, for test/captum-parity.test.ts.

Runs Captum itself (its source, not a re-implementation) with Debian's torch on two Fashion-MNIST
test images that no other fixture uses, and writes test/fixtures/captum/attributions.json:

  * IntegratedGradients for every approximation method Captum has (riemann_left, riemann_right,
    riemann_middle, riemann_trapezoid, gausslegendre) at 7 and 50 steps, zero baseline; one run
    with a constant baseline (the black image) to check the (x − x₀) scaling; and gausslegendre
    at 50 over nodes 2…50 only (see attributions_for). fashion_resnet: riemann_trapezoid and
    gausslegendre at 50 only, to keep the file near 340 KB;
  * Saliency(abs=False), InputXGradient, GuidedBackprop, and GuidedGradCam at the last MaxPool
    (models that have one);
  * the (step_sizes, alphas) Captum's approximation_parameters returns for each method and count,
    and IG's convergence deltas.

Captum is not installable from Debian and PyPI is not reachable, so the script takes Captum's
source from a git mirror (`git archive` of the `captum/` tree into a temporary directory, put on
sys.path for this run only; nothing of it is copied into this repository):

  /usr/bin/python3 tools/reference/make_captum_fixtures.py [--captum-git DIR] [--out FILE]

DIR defaults to $CAPTUM_GIT or /work/.mirror/pytorch+captum/repo (a bare clone of
github.com/pytorch/captum). Needs python3-torch, python3-onnx, python3-numpy and
dataset-fashion-mnist (not python3-tqdm or python3-matplotlib: only the gradient methods' modules
are imported, not Captum's package __init__ files).

Arrays are float32 little-endian, base64 (exact values, a third of the size of decimal text);
attributions are flat NCHW, one array per input, in the order of "inputs".
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pathwise_ref as ref  # noqa: E402

RULES = ["riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre"]
STEP_COUNTS = [7, 50]
# Test images no other fixture uses (the others take 0…47 and 5000…5015): seeded picks from 6000…9999.
INPUT_INDICES = sorted(np.random.default_rng(18).choice(np.arange(6000, 10000), 2, replace=False).tolist())
# ResNet: the non-IG methods and the two 50-step rules the issue is about, to keep the file small.
RESNET_RULES = [("riemann_trapezoid", 50), ("gausslegendre", 50)]


def b64(a) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode("ascii")


def import_captum(git_dir: str, tmp: str) -> str:
    """Extract captum/ at the mirror's HEAD into tmp, put it on sys.path, return the commit."""
    commit = subprocess.check_output(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], text=True).strip()
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "--prefix=captum/", "HEAD:captum"],
                             check=True, stdout=subprocess.PIPE).stdout
    path = os.path.join(tmp, "archive.tar")
    with open(path, "wb") as f:
        f.write(archive)
    with tarfile.open(path) as t:
        t.extractall(tmp)
    # captum/__init__.py and captum/attr/__init__.py import every tool Captum has (the LLM ones need
    # matplotlib, the perturbation ones tqdm); register both packages bare so that only the modules
    # imported below load.
    for name in ("captum", "captum.attr"):
        pkg = types.ModuleType(name)
        pkg.__path__ = [os.path.join(tmp, *name.split("."))]
        sys.modules[name] = pkg
    sys.path.insert(0, tmp)
    return commit


def last_maxpool(model):
    idx = [i for i, nd in enumerate(model.nodes) if nd.op == "maxpool"]
    return (idx[-1], model.mods[idx[-1]]) if idx else (None, None)


def attributions_for(name, model, x, targets, black):
    from captum.attr._utils.approximation_methods import approximation_parameters
    from captum.attr._core.guided_backprop_deconvnet import GuidedBackprop
    from captum.attr._core.guided_grad_cam import GuidedGradCam
    from captum.attr._core.input_x_gradient import InputXGradient
    from captum.attr._core.integrated_gradients import IntegratedGradients
    from captum.attr._core.saliency import Saliency

    out = {}

    def put(key, a, extra=None):
        a = a.detach().reshape(len(x), -1).numpy()
        out[key] = {"attribution": [b64(r) for r in a], **(extra or {})}

    put("saliency", Saliency(model).attribute(x, target=targets, abs=False))
    put("inputXGradient", InputXGradient(model).attribute(x, target=targets))
    put("guidedBackprop", GuidedBackprop(model).attribute(x, target=targets))
    pool_index, pool = last_maxpool(model)
    if pool is not None:
        put("guidedGradCam", GuidedGradCam(model, pool).attribute(x, target=targets), {"layerNode": pool_index})
    ig = IntegratedGradients(model)
    runs = RESNET_RULES if name == "fashion_resnet" else [(r, n) for r in RULES for n in STEP_COUNTS]
    for rule, steps in runs:
        a, delta = ig.attribute(x, target=targets, n_steps=steps, method=rule, return_convergence_delta=True)
        put(f"integratedGradients/{rule}/{steps}", a, {"delta": delta.tolist()})
        if rule == "gausslegendre" and steps == 50:
            # Nodes 2…50 alone (Captum's own _attribute with explicit step sizes and alphas): the first
            # node, α = 5.7e-4, puts the conv nets where pre-activations are ≈ biases and float32
            # rounding decides ReLU and max-pool near-ties (torch itself routes it differently at
            # batch 1 and batch 100), so the test checks the rest strictly and node 1 apart.
            sizes, alphas = approximation_parameters(rule)
            rest = ig._attribute((x,), (torch.zeros_like(x),), target=targets, n_steps=steps - 1,
                                 step_sizes_and_alphas=(sizes(steps)[1:], alphas(steps)[1:]))[0]
            put(f"integratedGradients/{rule}/{steps}/withoutFirstNode", rest)
    if name != "fashion_resnet":
        rule, steps = "riemann_trapezoid", 50
        a, delta = ig.attribute(x, baselines=black, target=targets, n_steps=steps, method=rule,
                                return_convergence_delta=True)
        put(f"integratedGradients/{rule}/{steps}/black", a, {"delta": delta.tolist(), "baseline": black})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--captum-git", default=os.environ.get("CAPTUM_GIT", "/work/.mirror/pytorch+captum/repo"))
    ap.add_argument("--out", default=os.path.join(REPO, "test", "fixtures", "captum", "attributions.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        commit = import_captum(args.captum_git, tmp)
        from captum.attr._utils.approximation_methods import approximation_parameters

        x_np, labels = zip(*(ref.load_fashion_test(i, 1) for i in INPUT_INDICES))
        x = torch.from_numpy(np.concatenate(x_np))
        # The black image in the normalised space, float32 as the loader computes it.
        black = float((np.float32(0) - np.float32(ref.MEAN)) / np.float32(ref.STD))
        quadratures = {}
        for rule in RULES:
            for n in STEP_COUNTS:
                steps, alphas = approximation_parameters(rule)
                quadratures[f"{rule}/{n}"] = {"stepSizes": list(map(float, steps(n))), "alphas": list(map(float, alphas(n)))}
        models = {}
        for name in ["fashion_mlp", "fashion_cnn", "fashion_resnet"]:
            model = ref.load_onnx(os.path.join(REPO, "test", "fixtures", "models", f"{name}.onnx"))
            with torch.no_grad():
                logits = model(x)
            targets = torch.tensor([int(v) for v in np.concatenate(labels)])
            models[name] = {
                "targets": targets.tolist(),
                "predicted": logits.argmax(1).tolist(),
                "methods": attributions_for(name, model, x, targets, black),
            }
    doc = {
        "about": "Captum attributions (its source at the commit below, torch " + torch.__version__ +
                 ", float32, CPU, 1 thread) on Fashion-MNIST test images; written by "
                 "tools/reference/make_captum_fixtures.py. Arrays: float32 LE base64, flat NCHW.",
        "captumCommit": commit,
        "inputIndices": INPUT_INDICES,
        "labels": [int(v) for v in np.concatenate(labels)],
        "inputs": [b64(r) for r in x.reshape(len(x), -1).numpy()],
        "quadratures": quadratures,
        "models": models,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{args.out}: {os.path.getsize(args.out)} bytes, captum {commit[:12]}, inputs {INPUT_INDICES}")


if __name__ == "__main__":
    main()
