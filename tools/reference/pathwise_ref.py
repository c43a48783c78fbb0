#!/usr/bin/python3
"""Reference implementation of the pathwise explanation (SPEC §3, "official" semantics).

A self-written PyTorch re-implementation of the algorithm of the authors' public code
(Jo-won/PathwiseExplanation), kept deliberately close to its numerics:

* batch 1, float32, eval mode, frozen parameters;
* path layers are processed top-down; at each one the upper network (which already holds the
  masks of the layers processed so far) is differentiated with C separate reverse passes,
  one per logit;
* a[i, j] = h_i * J[j, i] is laid out as (N, C) and the float32 softmax runs along dim 1;
* candidates are ranked by score descending, ties by unit index ascending (stable sort; the
  authors' code uses the unstable ``torch.sort``), cut to the first k by the width rule, then
  kept if score > float32(1/C); if none passes, the best-ranked one is kept (fallback);
* the ReLU of the layer is then replaced by a mask layer z -> m ⊙ z (no rectification);
* finally the fully masked network is differentiated at x (C reverse passes) and
  A = G[t] ⊙ x.

The model is read from ONNX with the ``onnx`` package into an ``nn.Sequential`` of Flatten,
Linear, ReLU, Conv2d and MaxPool2d, in graph order (a single chain is required).

Needs Debian's python3-torch, python3-onnx and python3-numpy; run with /usr/bin/python3.
"""

import math
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Union

import numpy as np
import onnx
from onnx import numpy_helper
import torch
from torch import nn


# --------------------------------------------------------------------------------------------
# ONNX -> nn.Sequential
# --------------------------------------------------------------------------------------------

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pair(v, name):
    v = list(v)
    if len(v) != 2:
        raise ValueError(f"{name}: expected 2 values, got {v}")
    return tuple(int(u) for u in v)


def _symmetric_pads(pads, op):
    pads = [int(p) for p in pads] if pads is not None else [0, 0, 0, 0]
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise ValueError(f"{op}: only symmetric 2-D padding is supported, got {pads}")
    return (pads[0], pads[1])


def load_onnx_sequential(path: str) -> nn.Sequential:
    """Build an ``nn.Sequential`` (eval mode, frozen parameters) from a chain-shaped ONNX graph."""
    model = onnx.load(path)
    graph = model.graph
    init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    graph_inputs = [i.name for i in graph.input if i.name not in init]
    if len(graph_inputs) != 1 or len(graph.output) != 1:
        raise ValueError("expected one graph input and one graph output")
    current = graph_inputs[0]
    layers: List[nn.Module] = []
    for node in graph.node:
        a = _attrs(node)
        data_inputs = [i for i in node.input if i and i not in init]
        if data_inputs != [current]:
            raise ValueError(f"node {node.name or node.op_type} does not continue the chain")
        op = node.op_type
        if op == "Flatten":
            if int(a.get("axis", 1)) != 1:
                raise ValueError("Flatten: only axis 1 is supported")
            layers.append(nn.Flatten())
        elif op == "Gemm":
            if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or int(a.get("transA", 0)) != 0:
                raise ValueError("Gemm: only alpha = beta = 1, transA = 0 is supported")
            w = init[node.input[1]]
            if int(a.get("transB", 0)) == 0:
                w = w.t().contiguous()
            lin = nn.Linear(w.shape[1], w.shape[0], bias=len(node.input) > 2 and node.input[2] != "")
            with torch.no_grad():
                lin.weight.copy_(w)
                if lin.bias is not None:
                    b = init[node.input[2]]
                    if b.numel() != w.shape[0]:
                        raise ValueError("Gemm: only a per-output bias is supported")
                    lin.bias.copy_(b.reshape(-1))
            layers.append(lin)
        elif op == "Relu":
            layers.append(nn.ReLU())
        elif op == "Conv":
            w = init[node.input[1]]
            ks = _pair(a.get("kernel_shape", w.shape[2:]), "kernel_shape")
            conv = nn.Conv2d(
                in_channels=w.shape[1] * int(a.get("group", 1)),
                out_channels=w.shape[0],
                kernel_size=ks,
                stride=_pair(a.get("strides", [1, 1]), "strides"),
                padding=_symmetric_pads(a.get("pads"), "Conv"),
                dilation=_pair(a.get("dilations", [1, 1]), "dilations"),
                groups=int(a.get("group", 1)),
                bias=len(node.input) > 2 and node.input[2] != "",
            )
            with torch.no_grad():
                conv.weight.copy_(w)
                if conv.bias is not None:
                    conv.bias.copy_(init[node.input[2]])
            layers.append(conv)
        elif op == "MaxPool":
            if int(a.get("storage_order", 0)) != 0:
                raise ValueError("MaxPool: storage_order 1 is not supported")
            layers.append(nn.MaxPool2d(
                kernel_size=_pair(a["kernel_shape"], "kernel_shape"),
                stride=_pair(a.get("strides", a["kernel_shape"]), "strides"),
                padding=_symmetric_pads(a.get("pads"), "MaxPool"),
                dilation=_pair(a.get("dilations", [1, 1]), "dilations"),
                ceil_mode=bool(a.get("ceil_mode", 0)),
            ))
        else:
            raise ValueError(f"unsupported ONNX op {op}")
        current = node.output[0]
    if current != graph.output[0].name:
        raise ValueError("the chain does not end at the graph output")
    seq = nn.Sequential(*layers)
    seq.eval()
    for p in seq.parameters():
        p.requires_grad_(False)
    return seq


def relu_positions(model: nn.Sequential) -> List[int]:
    return [i for i, m in enumerate(model) if isinstance(m, nn.ReLU)]


def n_classes_of(model: nn.Sequential) -> int:
    last = model[len(model) - 1]
    if not isinstance(last, nn.Linear):
        raise ValueError("the last layer must be Linear")
    return last.out_features


# --------------------------------------------------------------------------------------------
# Algorithm
# --------------------------------------------------------------------------------------------

class UnitMask(nn.Module):
    """Replaces a ReLU: passes the selected units of the pre-activation unchanged (whatever
    their sign) and sets every other unit to zero. Batch 1, flat NCHW unit indices."""

    def __init__(self, selected: Sequence[int], n_units: int):
        super().__init__()
        keep = torch.zeros(n_units, dtype=torch.bool)
        keep[torch.as_tensor(list(selected), dtype=torch.long)] = True
        self.register_buffer("keep", keep)
        self.selected = list(selected)

    def forward(self, z):
        flat = z.reshape(1, -1)
        out = torch.where(self.keep.unsqueeze(0), flat, torch.zeros((), dtype=flat.dtype))
        return out.view_as(z)


def width_to_k(width: Union[int, str], n_units: int) -> int:
    """Number of ranked candidates kept before the 1/C test (SPEC §3.6)."""
    if width == "all":
        return n_units
    if isinstance(width, str) and width.endswith("%"):
        p = float(width[:-1])
        k = max(1, round(n_units / 100 * p))  # float64, Python round: half to even
        return min(k, n_units)
    k = int(width)
    if k < 1:
        raise ValueError("width must be >= 1, 'P%' or 'all'")
    return min(k, n_units)


def path_layers_for_depth(relus: List[int], depth: Union[int, str]) -> List[int]:
    if depth == "all":
        return list(relus)
    d = int(depth)
    if d < 1 or d > len(relus):
        raise ValueError(f"depth must be in 1..{len(relus)} or 'all'")
    return relus[-d:]


def full_jacobian(func, inp: torch.Tensor, n_out: int):
    """Jacobian (n_out x numel(inp)) of func at inp, by one forward and n_out reverse passes,
    one per output entry. Returns (jacobian, output)."""
    inp = inp.detach().requires_grad_(True)
    with torch.enable_grad():
        out = func(inp)
        flat_out = out.reshape(-1)
        if flat_out.numel() != n_out:
            raise ValueError("unexpected output size")
        rows = []
        for j in range(n_out):
            (g,) = torch.autograd.grad(flat_out[j], inp, retain_graph=True, allow_unused=True)
            rows.append(torch.zeros_like(inp) if g is None else g)
    return torch.stack(rows, 0).reshape(n_out, -1), out.detach()


@dataclass
class LayerResult:
    relu_position: int
    relu_ordinal: int
    n_units: int
    k: int
    selected: List[int]            # ascending
    selected_scores: List[float]   # scores of `selected`, same order
    fallback: bool
    boundary_tie: bool
    min_selected_score: float
    best_rejected_score: float     # -1 if every unit was kept
    n_selected_negative_preactivation: int = 0


@dataclass
class Explanation:
    predicted: int
    target: int
    logits: torch.Tensor           # (C,) original network
    masked_logits: torch.Tensor    # (C,) fully masked network at x
    attribution: torch.Tensor      # shaped like x
    layers: List[LayerResult] = field(default_factory=list)   # top-down


def select_units(h_flat: torch.Tensor, jac: torch.Tensor, target: int, k: int, n_classes: int):
    """Reference steps 5-11. h_flat: (N,), jac: (C, N). Returns (selected asc, scores, info)."""
    contrib = h_flat[:, None] * jac.transpose(0, 1)               # (N, C)
    score = torch.softmax(contrib, dim=1)[:, target]               # (N,), float32
    order = torch.sort(score, descending=True, stable=True)[1]     # ties: lower index first
    cand = order[:k]
    cand_scores = score[cand]
    passed = cand_scores > (1.0 / n_classes)                       # float32 comparison
    fallback = not bool(passed.any())
    n_kept = 1 if fallback else int(passed.sum())
    # `passed` is a prefix of the ranked candidates (scores descending).
    kept = cand[:n_kept]
    n = score.numel()
    min_sel = float(score[kept[-1]])
    best_rej = float(score[order[n_kept]]) if n_kept < n else -1.0
    boundary_tie = n_kept < n and min_sel == best_rej
    sel = sorted(int(i) for i in kept)
    sel_scores = [float(score[i]) for i in sel]
    return sel, sel_scores, fallback, boundary_tie, min_sel, best_rej


def explain(model: nn.Sequential, x: torch.Tensor, width: Union[int, str] = "all",
            depth: Union[int, str] = "all", target: Optional[int] = None) -> Explanation:
    """Pathwise explanation of one input x (shape of one example, without batch dimension)."""
    model = nn.Sequential(*list(model))   # own copy of the layer list; modules are shared
    n_classes = n_classes_of(model)
    relus = relu_positions(model)
    path = path_layers_for_depth(relus, depth)
    dtype = next(model.parameters()).dtype          # float32 normally; float64 for cross-checks
    xb = x.unsqueeze(0).to(dtype)

    with torch.no_grad():
        logits = model(xb).reshape(-1)
    predicted = int(torch.argmax(logits))  # first maximum
    t = predicted if target is None else int(target)

    layers: List[LayerResult] = []
    for pos in reversed(path):
        with torch.no_grad():
            h = model[: pos + 1](xb)
        upper = model[pos + 1:]
        jac, _ = full_jacobian(upper, h, n_classes)
        h_flat = h.reshape(-1)
        k = width_to_k(width, h_flat.numel())
        sel, sel_scores, fb, tie, mn, br = select_units(h_flat, jac, t, k, n_classes)
        layers.append(LayerResult(pos, relus.index(pos), h_flat.numel(), k, sel, sel_scores,
                                  fb, tie, mn, br))
        model[pos] = UnitMask(sel, h_flat.numel())

    # Final: Jacobian of the fully masked network at x; A = G[t] ⊙ x.
    pre = {}
    hooks = [model[lr.relu_position].register_forward_hook(
        lambda mod, inp, out, p=lr.relu_position: pre.__setitem__(p, inp[0].detach().reshape(-1)))
        for lr in layers]
    jac_x, masked = full_jacobian(model, xb, n_classes)
    for hk in hooks:
        hk.remove()
    for lr in layers:
        z = pre[lr.relu_position]
        lr.n_selected_negative_preactivation = int((z[lr.selected] < 0).sum())
    attribution = jac_x[t].reshape(x.shape) * xb[0]
    return Explanation(predicted, t, logits.detach(), masked.reshape(-1), attribution.detach(), layers)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def load_fashion_test(first: int, count: int, directory: str = FASHION_DIR):
    """Normalised float32 test images (count, 1, 28, 28) and int64 labels (count,)."""
    import gzip
    with gzip.open(f"{directory}/t10k-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    magic, n, rows, cols = np.frombuffer(raw[:16], ">i4")
    if magic != 2051:
        raise ValueError("not an IDX image file")
    if first < 0 or first + count > n:
        raise ValueError(f"images {first}..{first + count - 1} outside 0..{n - 1}")
    imgs = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, rows, cols)[first:first + count]
    with gzip.open(f"{directory}/t10k-labels-idx1-ubyte.gz", "rb") as f:
        lraw = f.read()
    labels = np.frombuffer(lraw, np.uint8, offset=8)[first:first + count].astype(np.int64)
    # float32 throughout, in this order (as torchvision ToTensor + Normalize)
    x = (imgs.astype(np.float32) / np.float32(255) - np.float32(MEAN)) / np.float32(STD)
    return np.ascontiguousarray(x, dtype=np.float32), labels


def config_name(width, depth, target=None) -> str:
    w = "all" if width == "all" else (str(width).replace("%", "pct"))
    d = "all" if depth == "all" else str(depth)
    return f"w{w}_d{d}" + ("" if target is None else f"_t{target}")
