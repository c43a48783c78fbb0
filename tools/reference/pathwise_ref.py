#!/usr/bin/python3
"""Reference implementation of the pathwise explanation (docs/method.md §3, "official" semantics).

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

The authors' code handles chains (``nn.Sequential``). This implementation runs a small graph
executor (``GraphNet``: a topologically ordered list of nodes {op, inputs}) so that DAG networks
(residual blocks) work too, with the library's definition for DAGs:

* path layers are the ReLU nodes in topological (node) order, R = the last ``depth`` of them;
  "top-down" = reverse topological order;
* when layer l is scored, every ReLU after l in topological order has been replaced by its mask
  layer, every ReLU before l is original; J_l is the Jacobian of the logits with respect to the
  output h_l of ReLU l (C reverse passes), nodes that do not depend on h_l being constants;
* MaxPools route on the values they receive (first maximum in row-major window order).

For a chain this is exactly the computation of the ``nn.Sequential`` formulation (same
kernels in the same order, bit-identical results).

Besides the selection, each path-layer step records the winners of every MaxPool after the
layer (docs/method.md §4.2 H1) and compares them with the step of the path layer above (H2), see
``LayerResult.recompute``.

Models are read from ONNX with the ``onnx`` package (Conv, BatchNormalization, Relu, MaxPool,
AveragePool, GlobalAveragePool, Add, Flatten, Gemm; Identity/Dropout are skipped), or built
from an ``nn.Sequential`` of the corresponding modules.

Needs Debian's python3-torch, python3-onnx and python3-numpy; run with /usr/bin/python3.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import onnx
from onnx import numpy_helper
import torch
from torch import nn
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------
# Graph executor
# --------------------------------------------------------------------------------------------

OPS = ("conv", "bn", "relu", "maxpool", "avgpool", "globalavgpool", "add", "flatten", "linear")
INPUT = -1   # node input index of the network input


@dataclass
class Node:
    op: str               # one of OPS
    inputs: List[int]     # indices of earlier nodes; INPUT = the network input
    name: str = ""        # e.g. the ONNX node name


class EvalBatchNorm(nn.Module):
    """Batch normalisation at inference (running statistics), any rank >= 2, channel dim 1.
    Same numerics as nn.BatchNorm2d in eval mode (both call F.batch_norm, training=False)."""

    def __init__(self, weight, bias, mean, var, eps):
        super().__init__()
        self.weight = nn.Parameter(weight.clone())
        self.bias = nn.Parameter(bias.clone())
        self.register_buffer("running_mean", mean.clone())
        self.register_buffer("running_var", var.clone())
        self.eps = float(eps)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            False, 0.0, self.eps)


class GraphNet(nn.Module):
    """A network as a topologically ordered list of nodes, one module per node (nn.Identity
    for 'add'). Eval mode, frozen parameters. The last node must be 'linear' (the logits)."""

    def __init__(self, nodes: Sequence[Node], modules: Sequence[nn.Module]):
        super().__init__()
        if len(nodes) != len(modules) or not nodes:
            raise ValueError("one module per node, at least one node")
        for i, nd in enumerate(nodes):
            if nd.op not in OPS:
                raise ValueError(f"node {i}: unsupported op {nd.op}")
            want = 2 if nd.op == "add" else 1
            if len(nd.inputs) != want:
                raise ValueError(f"node {i} ({nd.op}): expected {want} input(s), got {nd.inputs}")
            if any(k != INPUT and not 0 <= k < i for k in nd.inputs):
                raise ValueError(f"node {i} ({nd.op}): inputs {nd.inputs} are not earlier nodes")
        if nodes[-1].op != "linear":
            raise ValueError("the last node must be linear (the logits)")
        self.nodes = [Node(nd.op, list(nd.inputs), nd.name) for nd in nodes]
        self.mods = nn.ModuleList(modules)
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def __len__(self):
        return len(self.nodes)

    def __getitem__(self, i):
        return self.mods[i]

    def forward(self, x):
        return self.run(x)["values"][-1]

    def run(self, x, masks: Optional[Dict[int, nn.Module]] = None, leaf: Optional[int] = None,
            frozen_winners: Optional[Dict[int, torch.Tensor]] = None) -> dict:
        """Evaluate all nodes in order.

        masks: node index -> module replacing that ReLU (a UnitMask).
        leaf: if given, nodes 0..leaf run without autograd and the output of node `leaf` is
            replaced by a detached copy that requires grad (the variable J is taken against);
            later nodes that do not depend on it are constants.
        frozen_winners: MaxPool node -> winner indices (as returned by max_pool2d): that pool
            copies the given winners instead of routing on its input.
        Returns {"values", "winners" (MaxPool node -> indices of the routing used),
        "mask_inputs" (masked node -> its input, detached), "leaf"}.
        """
        masks = masks or {}
        frozen_winners = frozen_winners or {}
        vals: List[Optional[torch.Tensor]] = [None] * len(self.nodes)
        winners: Dict[int, torch.Tensor] = {}
        mask_inputs: Dict[int, torch.Tensor] = {}
        leaf_t = None
        for i, nd in enumerate(self.nodes):
            ins = [x if k == INPUT else vals[k] for k in nd.inputs]
            mod = masks.get(i, self.mods[i])
            if i in masks:
                mask_inputs[i] = ins[0].detach()
            if nd.op == "maxpool":
                m = self.mods[i]
                winners[i] = (frozen_winners[i] if i in frozen_winners else F.max_pool2d(
                    ins[0].detach(), m.kernel_size, m.stride, m.padding, m.dilation,
                    ceil_mode=m.ceil_mode, return_indices=True)[1])
            if leaf is not None and i <= leaf:
                with torch.no_grad():
                    out = self._eval_node(nd, mod, ins, frozen_winners.get(i))
                if i == leaf:
                    out = out.detach().requires_grad_(True)
                    leaf_t = out
            else:
                out = self._eval_node(nd, mod, ins, frozen_winners.get(i))
            vals[i] = out
        return {"values": vals, "winners": winners, "mask_inputs": mask_inputs, "leaf": leaf_t}

    @staticmethod
    def _eval_node(nd, mod, ins, frozen):
        if nd.op == "add":
            return ins[0] + ins[1]
        if frozen is not None:   # a MaxPool copying fixed winners
            z = ins[0]
            n, c = z.shape[0], z.shape[1]
            return z.reshape(n, c, -1).gather(2, frozen.reshape(n, c, -1)).reshape(frozen.shape)
        return mod(ins[0])


_SEQ_OPS = [
    (nn.Conv2d, "conv"), (nn.BatchNorm2d, "bn"), (nn.BatchNorm1d, "bn"), (EvalBatchNorm, "bn"),
    (nn.ReLU, "relu"), (nn.MaxPool2d, "maxpool"), (nn.AvgPool2d, "avgpool"),
    (nn.Flatten, "flatten"), (nn.Linear, "linear"),
]


def graph_from_sequential(seq: nn.Sequential) -> GraphNet:
    """A chain GraphNet sharing the modules of `seq` (node i = seq[i])."""
    nodes = []
    for i, m in enumerate(seq):
        op = next((o for t, o in _SEQ_OPS if isinstance(m, t)), None)
        if isinstance(m, nn.AdaptiveAvgPool2d) and tuple(np.broadcast_to(m.output_size, 2)) == (1, 1):
            op = "globalavgpool"
        if op is None:
            raise ValueError(f"unsupported module {type(m).__name__} at position {i}")
        nodes.append(Node(op, [i - 1 if i else INPUT], f"{i}"))
    return GraphNet(nodes, list(seq))


def as_graph(model) -> GraphNet:
    if isinstance(model, GraphNet):
        return model
    if isinstance(model, nn.Sequential):
        return graph_from_sequential(model)
    raise TypeError("expected a GraphNet or an nn.Sequential")


# --------------------------------------------------------------------------------------------
# ONNX -> GraphNet
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


def _module_for(node, a, init):
    """(op, module) for one ONNX node."""
    op = node.op_type
    if op == "Flatten":
        if int(a.get("axis", 1)) != 1:
            raise ValueError("Flatten: only axis 1 is supported")
        return "flatten", nn.Flatten()
    if op == "Gemm":
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
        return "linear", lin
    if op == "Relu":
        return "relu", nn.ReLU()
    if op == "Conv":
        w = init[node.input[1]]
        conv = nn.Conv2d(
            in_channels=w.shape[1] * int(a.get("group", 1)),
            out_channels=w.shape[0],
            kernel_size=_pair(a.get("kernel_shape", w.shape[2:]), "kernel_shape"),
            stride=_pair(a.get("strides", [1, 1]), "strides"),
            padding=_symmetric_pads(a.get("pads"), "Conv"),
            dilation=_pair(a.get("dilations", [1, 1]), "dilations"),
            groups=int(a.get("group", 1)),
            bias=len(node.input) > 2 and node.input[2] != "",
        )
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise ValueError("Conv: auto_pad is not supported")
        with torch.no_grad():
            conv.weight.copy_(w)
            if conv.bias is not None:
                conv.bias.copy_(init[node.input[2]])
        return "conv", conv
    if op == "BatchNormalization":
        if int(a.get("training_mode", 0)) != 0:
            raise ValueError("BatchNormalization: training_mode is not supported")
        scale, bias, mean, var = (init[node.input[k]] for k in (1, 2, 3, 4))
        return "bn", EvalBatchNorm(scale, bias, mean, var, a.get("epsilon", 1e-5))
    if op == "MaxPool":
        if int(a.get("storage_order", 0)) != 0:
            raise ValueError("MaxPool: storage_order 1 is not supported")
        return "maxpool", nn.MaxPool2d(
            kernel_size=_pair(a["kernel_shape"], "kernel_shape"),
            stride=_pair(a.get("strides", a["kernel_shape"]), "strides"),
            padding=_symmetric_pads(a.get("pads"), "MaxPool"),
            dilation=_pair(a.get("dilations", [1, 1]), "dilations"),
            ceil_mode=bool(a.get("ceil_mode", 0)),
        )
    if op == "AveragePool":
        return "avgpool", nn.AvgPool2d(
            kernel_size=_pair(a["kernel_shape"], "kernel_shape"),
            stride=_pair(a.get("strides", a["kernel_shape"]), "strides"),
            padding=_symmetric_pads(a.get("pads"), "AveragePool"),
            ceil_mode=bool(a.get("ceil_mode", 0)),
            count_include_pad=bool(a.get("count_include_pad", 0)),
        )
    if op == "GlobalAveragePool":
        return "globalavgpool", nn.AdaptiveAvgPool2d(1)
    if op == "Add":
        return "add", nn.Identity()
    raise ValueError(f"unsupported ONNX op {op}")


def load_onnx(path: str) -> GraphNet:
    """Build a GraphNet (eval mode, frozen parameters) from an ONNX graph, node order kept."""
    model = onnx.load(path)
    graph = model.graph
    init = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    graph_inputs = [i.name for i in graph.input if i.name not in init]
    if len(graph_inputs) != 1 or len(graph.output) != 1:
        raise ValueError("expected one graph input and one graph output")
    where = {graph_inputs[0]: INPUT}   # tensor name -> node index
    nodes: List[Node] = []
    modules: List[nn.Module] = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in init:
            # an alias of an initializer (PyTorch's exporter deduplicates equal weights this way)
            init[node.output[0]] = init[node.input[0]]
            continue
        data_inputs = [i for i in node.input if i and i not in init]
        for i in data_inputs:
            if i not in where:
                raise ValueError(f"node {node.name or node.op_type}: input {i} is not defined earlier")
        if node.op_type in ("Identity", "Dropout"):   # inference: pass-through
            where[node.output[0]] = where[data_inputs[0]]
            continue
        op, mod = _module_for(node, _attrs(node), init)
        want = 2 if op == "add" else 1
        if len(data_inputs) != want:
            raise ValueError(f"{node.op_type} {node.name}: expected {want} data input(s)")
        nodes.append(Node(op, [where[i] for i in data_inputs], node.name))
        modules.append(mod)
        where[node.output[0]] = len(nodes) - 1
    if where.get(graph.output[0].name) != len(nodes) - 1:
        raise ValueError("the graph output must be produced by the last node")
    return GraphNet(nodes, modules)


def relu_positions(model) -> List[int]:
    """Node indices of the ReLU layers, in topological order."""
    return [i for i, nd in enumerate(as_graph(model).nodes) if nd.op == "relu"]


def n_classes_of(model) -> int:
    return as_graph(model).mods[-1].out_features


def relu_shapes(model, x: torch.Tensor) -> List[List[int]]:
    """Shape (without batch) of each ReLU layer's output for an input shaped like x (no batch)."""
    net = as_graph(model)
    with torch.no_grad():
        vals = net.run(x.unsqueeze(0).to(next(net.parameters()).dtype))["values"]
    return [list(vals[p].shape[1:]) for p in relu_positions(net)]


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
    """Number of ranked candidates kept before the 1/C test (docs/method.md §3.6)."""
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


def jacobian_rows(out: torch.Tensor, inp: torch.Tensor, n_out: int) -> torch.Tensor:
    """Jacobian (n_out x numel(inp)) of the already computed `out` with respect to `inp`, by
    n_out reverse passes, one per output entry (the graph is retained)."""
    flat_out = out.reshape(-1)
    if flat_out.numel() != n_out:
        raise ValueError("unexpected output size")
    rows = []
    for j in range(n_out):
        (g,) = torch.autograd.grad(flat_out[j], inp, retain_graph=True, allow_unused=True)
        rows.append(torch.zeros_like(inp) if g is None else g)
    return torch.stack(rows, 0).reshape(n_out, -1)


@dataclass
class LayerResult:
    relu_position: int             # node index of the ReLU (= position in a Sequential)
    relu_ordinal: int              # 0 = the ReLU nearest the input
    n_units: int
    k: int
    selected: List[int]            # ascending
    selected_scores: List[float]   # scores of `selected`, same order
    fallback: bool
    boundary_tie: bool
    min_selected_score: float
    best_rejected_score: float     # -1 if every unit was kept
    n_selected_negative_preactivation: int = 0
    # docs/method.md §4.2 H2, against the step of the path layer just above (l'); all False/0 on the top
    # path layer, which does not count as a recompute:
    recompute: bool = False        # the winners of some MaxPool after l' differ
    winners_changed: int = 0       # number of MaxPool windows (after l') whose winner differs
    recompute_needed: bool = False  # J_l differs from J_l with those winners frozen at the
                                    # step of l' (i.e. reuse would have been wrong)


@dataclass
class Explanation:
    predicted: int
    target: int
    logits: torch.Tensor           # (C,) original network
    masked_logits: torch.Tensor    # (C,) fully masked network at x
    attribution: torch.Tensor      # shaped like x
    layers: List[LayerResult] = field(default_factory=list)   # top-down

    @property
    def recomputes(self) -> int:
        return sum(lr.recompute for lr in self.layers)


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


def explain(model, x: torch.Tensor, width: Union[int, str] = "all",
            depth: Union[int, str] = "all", target: Optional[int] = None) -> Explanation:
    """Pathwise explanation of one input x (shape of one example, without batch dimension).
    model: a GraphNet or an nn.Sequential (not modified)."""
    net = as_graph(model)
    n_classes = n_classes_of(net)
    relus = relu_positions(net)
    path = path_layers_for_depth(relus, depth)
    pools = [i for i, nd in enumerate(net.nodes) if nd.op == "maxpool"]
    dtype = next(net.parameters()).dtype          # float32 normally; float64 for cross-checks
    xb = x.unsqueeze(0).to(dtype)

    with torch.no_grad():
        logits = net(xb).reshape(-1)
    predicted = int(torch.argmax(logits))  # first maximum
    t = predicted if target is None else int(target)

    masks: Dict[int, nn.Module] = {}
    layers: List[LayerResult] = []
    above = None            # (l', winners recorded at the step of l')
    for pos in reversed(path):
        with torch.enable_grad():
            r = net.run(xb, masks=masks, leaf=pos)
            h = r["leaf"]
            jac = jacobian_rows(r["values"][-1], h, n_classes)
            lr_flags = {}
            if above is not None:
                upper = [p for p in pools if p > above[0]]
                changed = sum(int((r["winners"][p] != above[1][p]).sum()) for p in upper)
                lr_flags = {"recompute": changed > 0, "winners_changed": changed}
                if changed:
                    # J_l with the winners of the pools after l' frozen as at the step of l'
                    rf = net.run(xb, masks=masks, leaf=pos,
                                 frozen_winners={p: above[1][p] for p in upper})
                    jac_frozen = jacobian_rows(rf["values"][-1], rf["leaf"], n_classes)
                    lr_flags["recompute_needed"] = not torch.equal(jac, jac_frozen)
        h_flat = h.detach().reshape(-1)
        k = width_to_k(width, h_flat.numel())
        sel, sel_scores, fb, tie, mn, br = select_units(h_flat, jac, t, k, n_classes)
        layers.append(LayerResult(pos, relus.index(pos), h_flat.numel(), k, sel, sel_scores,
                                  fb, tie, mn, br, **lr_flags))
        masks[pos] = UnitMask(sel, h_flat.numel())
        above = (pos, r["winners"])

    # Final: Jacobian of the fully masked network at x; A = G[t] ⊙ x.
    xg = xb.detach().requires_grad_(True)
    with torch.enable_grad():
        r = net.run(xg, masks=masks)
        jac_x = jacobian_rows(r["values"][-1], xg, n_classes)
    masked = r["values"][-1].detach()
    for lr in layers:
        z = r["mask_inputs"][lr.relu_position].reshape(-1)
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
