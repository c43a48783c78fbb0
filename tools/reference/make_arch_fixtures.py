#!/usr/bin/python3
"""Export reduced-width torchvision classifiers and gate variants, with PyTorch reference outputs.

Fixtures for issue 14 (pathwise loads and explains every piecewise-linear torchvision
classifier). CI has no torch, so this script is run by hand and its outputs are committed
under test/fixtures/arch/ (see tools/reference/README.md, "Architecture fixtures").

For every explainable model it writes the .onnx (torch.onnx.export, default settings) and, in
a folder named after the model: the seeded input, PyTorch's float32 logits, gradient × input
in float64 (what 'linear' with width and depth 'all' and threshold 0 reproduces), and the
'official' explanation at depth 1 (docs/semantics.md, "Gates beyond ReLU") at widths all, 16
and 1. Refused families are exported only, with the first op pathwise must refuse.

Gates are found with torch.fx.symbolic_trace: every gate module call (ReLU, ReLU6, Hardtanh,
LeakyReLU, PReLU) and every functional relu / hardtanh / leaky_relu call is a node of the
traced graph, in execution order (densenet's final F.relu and googlenet/inception's
BasicConv2d F.relu are functional; resnet reuses one ReLU module several times, so forward
hooks would not separate the calls).

usage: /usr/bin/python3 tools/reference/make_arch_fixtures.py [OUT_DIR]   (default test/fixtures/arch)
"""

import contextlib
import copy
import hashlib
import inspect
import json
import os
import sys
import zlib

import numpy as np
import onnx
import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import models as tvm

NUM_CLASSES = 10
WIDTHS = ("all", 16, 1)
# gains of the bounded-gate CNNs (SmallCNN.apply_gain), chosen so that the last gate layer has
# units on all three pieces at x
GAIN_M1_1, GAIN_0_4, GAIN_RELU6 = 4.0, 10.0, 15.0


# ---------------------------------------------------------------------------------------------
# Width reduction: the constructors of Conv2d, BatchNorm2d and Linear divide channel counts.


@contextlib.contextmanager
def reduced_width(factor):
    """Within the block, nn.Conv2d / nn.BatchNorm2d / nn.Linear divide their channel counts by
    `factor`. The map r(c) = max(1, c // factor), with 3 (image channels) and NUM_CLASSES kept,
    is applied to the original numbers everywhere, so a producer and its consumer, which the
    model's constructor sizes from the same number, still agree (efficientnet has a 10-channel
    squeeze, hence NUM_CLASSES is kept on inputs too); sums (concatenations) agree when the
    summands are divisible, which the chosen factors ensure (a forward pass checks it)."""

    def r(c):
        return c if c in (3, NUM_CLASSES) else max(1, c // factor)

    conv_init, bn_init, lin_init = nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__
    conv_sig, bn_sig, lin_sig = (inspect.signature(f) for f in (conv_init, bn_init, lin_init))

    def new_conv(self, *args, **kwargs):
        b = conv_sig.bind(self, *args, **kwargs)
        b.apply_defaults()
        a = b.arguments
        cin, cout, g = a["in_channels"], a["out_channels"], a["groups"]
        ncin, ncout = r(cin), r(cout)
        if g == 1:
            ng = 1
        elif g == cin:  # depthwise (possibly with a channel multiplier)
            ng = ncin
        else:  # grouped: keep the width per group where possible
            ng = max(2, g // factor)  # at least 2 groups, so the pattern stays grouped
            while ncin % ng or ncout % ng:
                ng -= 1
        a["in_channels"], a["out_channels"], a["groups"] = ncin, ncout, ng
        conv_init(*b.args, **b.kwargs)

    def new_bn(self, *args, **kwargs):
        b = bn_sig.bind(self, *args, **kwargs)
        b.apply_defaults()
        b.arguments["num_features"] = r(b.arguments["num_features"])
        bn_init(*b.args, **b.kwargs)

    def new_lin(self, *args, **kwargs):
        b = lin_sig.bind(self, *args, **kwargs)
        b.apply_defaults()
        a = b.arguments
        a["in_features"], a["out_features"] = r(a["in_features"]), r(a["out_features"])
        lin_init(*b.args, **b.kwargs)

    nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = new_conv, new_bn, new_lin
    try:
        yield
    finally:
        nn.Conv2d.__init__, nn.BatchNorm2d.__init__, nn.Linear.__init__ = conv_init, bn_init, lin_init


def randomise_batchnorm(model):
    """Random running statistics and affine parameters, so that BatchNorm is not the identity."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.6, 1.4)
                m.bias.uniform_(-0.2, 0.2)
            if isinstance(m, nn.PReLU):
                m.weight.uniform_(0.05, 0.4)


def swap_modules(model, predicate, make):
    """Replace every submodule for which predicate(module) holds by make(module)."""
    for name, child in list(model.named_children()):
        if predicate(child):
            setattr(model, name, make(child))
        else:
            swap_modules(child, predicate, make)
    return model


# ---------------------------------------------------------------------------------------------
# Small CNNs for the gate variants.


class SmallCNN(nn.Module):
    """Conv-BN-gate-MaxPool, Conv-BN-gate, global average, Linear-gate-Linear. `gate(c)` makes
    the activation for c channels; optional in-model normalisation first and Softmax last."""

    def __init__(self, gate, normalise=False, softmax=False, gain=1.0):
        super().__init__()
        self.gain = gain
        self.normalise = normalise
        self.softmax = softmax
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.c1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(8)
        self.g1 = gate(8)
        self.pool = nn.MaxPool2d(2)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.b2 = nn.BatchNorm2d(16)
        self.g2 = gate(16)
        self.fc1 = nn.Linear(16, 24)
        self.g3 = gate(24)
        self.fc2 = nn.Linear(24, NUM_CLASSES)

    def apply_gain(self):
        """Scale the BatchNorm and fc1 outputs, so that bounded gates (Hardtanh, ReLU6) have
        saturated units at x."""
        with torch.no_grad():
            for p in (self.b1.weight, self.b1.bias, self.b2.weight, self.b2.bias, self.fc1.weight, self.fc1.bias):
                p.mul_(self.gain)

    def forward(self, x):
        if self.normalise:
            x = (x - self.mean) / self.std
        x = self.pool(self.g1(self.b1(self.c1(x))))
        x = self.g2(self.b2(self.c2(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        x = self.fc2(self.g3(self.fc1(x)))
        return torch.softmax(x, dim=1) if self.softmax else x


# ---------------------------------------------------------------------------------------------
# The model list. (name, family, builder, input size, opsets, reduction note)


def tv(fn, factor, **kwargs):
    def build():
        with reduced_width(factor):
            return fn(weights=None, num_classes=NUM_CLASSES, **kwargs)

    build.note = f"channels / {factor}"
    return build


def custom(fn, note):
    fn.note = note
    return fn


def resnet18_leaky():
    m = tv(tvm.resnet18, 16)()
    return swap_modules(m, lambda c: isinstance(c, nn.ReLU), lambda c: nn.LeakyReLU(0.1))


EXPLAINABLE = [
    # name, family, builder, input H=W, opsets. alexnet and vgg need 224 × 224: their
    # AdaptiveAvgPool2d((6|7)) exports only when the feature map is a multiple of 6 | 7.
    ("alexnet", "alexnet", tv(tvm.alexnet, 32), 224, (13,)),
    ("vgg11_bn", "vgg", tv(tvm.vgg11_bn, 64), 224, (17,)),
    ("resnet18", "resnet", tv(tvm.resnet18, 16), 48, (13, 17)),
    ("resnext50_32x4d", "resnet", tv(tvm.resnext50_32x4d, 32), 48, (17,)),
    ("wide_resnet50_2", "resnet", tv(tvm.wide_resnet50_2, 32), 48, (13,)),
    ("squeezenet1_1", "squeezenet", tv(tvm.squeezenet1_1, 8), 48, (17,)),
    ("densenet121", "densenet", tv(tvm.densenet121, 16), 48, (13,)),
    # googlenet with init_weights=True (std-0.01 convs) had channels constant to ~1e-7: float32 and
    # float64 max-pools then picked different winners in 13k windows. PyTorch's default init instead.
    ("googlenet", "googlenet", tv(tvm.googlenet, 16, aux_logits=False, init_weights=False), 48, (17,)),
    ("inception_v3", "inception", tv(tvm.inception_v3, 32, aux_logits=False, init_weights=True), 75, (13,)),
    ("mobilenet_v2", "mobilenet", tv(tvm.mobilenet_v2, 8), 48, (13, 17)),
    ("shufflenet_v2_x0_5", "shufflenetv2", tv(tvm.shufflenet_v2_x0_5, 4), 48, (13, 17)),
    ("mnasnet0_5", "mnasnet", tv(tvm.mnasnet0_5, 8), 48, (17,)),
    ("regnet_x_400mf", "regnet", tv(tvm.regnet_x_400mf, 16), 48, (13,)),
    # gate variants
    ("resnet18_leakyrelu", "resnet", custom(resnet18_leaky, "channels / 16, every ReLU -> LeakyReLU(0.1)"), 48, (17,)),
    ("cnn_leakyrelu", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.LeakyReLU(0.1)), "LeakyReLU(0.1)"), 32, (13,)),
    ("cnn_prelu_channel", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.PReLU(c)), "PReLU per channel"), 32, (17,)),
    ("cnn_prelu_shared", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.PReLU()), "PReLU shared"), 32, (13,)),
    ("cnn_hardtanh_m1_1", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.Hardtanh(-1.0, 1.0), gain=GAIN_M1_1), "Hardtanh(-1, 1)"), 32, (17,)),
    ("cnn_hardtanh_0_4", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.Hardtanh(0.0, 4.0), gain=GAIN_0_4), "Hardtanh(0, 4)"), 32, (13,)),
    ("cnn_relu6", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.ReLU6(), gain=GAIN_RELU6), "ReLU6, saturating"), 32, (17,)),
    ("cnn_normalise", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.ReLU(), normalise=True), "(x - mean) / std first, ReLU"), 32, (17,)),
    ("cnn_softmax", "small_cnn", custom(lambda: SmallCNN(lambda c: nn.ReLU(), softmax=True), "ReLU, trailing Softmax"), 32, (13,)),
]


def tiny_vit():
    return tvm.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                 hidden_dim=32, mlp_dim=64, num_classes=NUM_CLASSES)


def tiny_convnext():
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    setting = [CNBlockConfig(4, 8, 3), CNBlockConfig(8, 16, 3), CNBlockConfig(16, 32, 9), CNBlockConfig(32, None, 3)]
    return ConvNeXt(setting, stochastic_depth_prob=0.1, num_classes=NUM_CLASSES)


REFUSED = [
    ("efficientnet_b0", "efficientnet", tv(tvm.efficientnet_b0, 16), 48, 13),
    ("mobilenet_v3_small", "mobilenet", tv(tvm.mobilenet_v3_small, 8), 48, 17),
    ("regnet_y_400mf", "regnet", tv(tvm.regnet_y_400mf, 16), 48, 13),
    ("vit", "vit", custom(tiny_vit, "VisionTransformer(image 32, patch 8, 2 layers, 2 heads, hidden 32, mlp 64)"), 32, 17),
    ("convnext_tiny", "convnext", custom(tiny_convnext, "convnext_tiny depths, dims 4/8/16/32"), 32, 13),
]

# ---------------------------------------------------------------------------------------------
# Gates in the traced graph.

RELU_FUNCS = (F.relu, torch.relu, torch.relu_, torch.nn.functional.relu_)
ALL_ACTIVATION_FUNCS = RELU_FUNCS + (F.relu6, F.hardtanh, F.leaky_relu, F.prelu, torch.sigmoid,
                                     F.silu, F.hardswish, F.gelu, torch.tanh)


class Gate:
    """lower, upper, slope (scalar or per channel) of docs/semantics.md; lowerValue = lower
    for Clip/Hardtanh, 0 otherwise (lower = -inf never happens here)."""

    def __init__(self, kind, lower=0.0, upper=float("inf"), slope=0.0):
        self.kind, self.lower, self.upper, self.slope = kind, lower, upper, slope
        self.lower_value = lower if kind == "Hardtanh" else 0.0

    def pieces(self, z):
        """(s, c) of every unit at pre-activation z (breakpoints go to the outer pieces)."""
        slope = self.slope
        if torch.is_tensor(slope) and slope.numel() > 1:
            slope = slope.view(1, -1, *([1] * (z.dim() - 2)))
        one, zero = torch.ones_like(z), torch.zeros_like(z)
        s_low = torch.as_tensor(slope, dtype=z.dtype) * one
        c_low = torch.as_tensor(self.lower_value, dtype=z.dtype) - s_low * self.lower
        s = torch.where(z <= self.lower, s_low, torch.where(z >= self.upper, zero, one))
        c = torch.where(z <= self.lower, c_low, torch.where(z >= self.upper, zero + self.upper, zero))
        return s, c


def gate_of(gm, node):
    """The Gate of an fx node, or None if it is not a gate. Raises on unknown activations."""
    if node.op == "call_module":
        m = gm.get_submodule(node.target)
        if isinstance(m, nn.PReLU):
            return Gate("PReLU", slope=m.weight.detach().clone())
        if isinstance(m, nn.LeakyReLU):
            return Gate("LeakyReLU", slope=float(m.negative_slope))
        if isinstance(m, nn.ReLU6):
            return Gate("ReLU6", 0.0, 6.0)
        if isinstance(m, nn.Hardtanh):
            return Gate("Hardtanh", float(m.min_val), float(m.max_val))
        if isinstance(m, nn.ReLU):
            return Gate("ReLU")
        return None
    if node.op == "call_function":
        if node.target in RELU_FUNCS:
            return Gate("ReLU")
        if node.target in ALL_ACTIVATION_FUNCS:
            raise ValueError(f"unhandled functional activation {node.target}")
    if node.op == "call_method" and node.target in ("relu", "relu_"):
        return Gate("ReLU")
    return None


class GateInterpreter(torch.fx.Interpreter):
    """Runs the traced model; at node `target` it captures (mode 'capture'), replaces the
    output by a given tensor ('replace'), or applies the frozen pieces of kept units ('mask')."""

    def __init__(self, gm, target, mode, **kw):
        super().__init__(gm)
        self.target, self.mode, self.kw = target, mode, kw

    def run_node(self, n):
        if n is not self.target:
            return super().run_node(n)
        args, _ = self.fetch_args_kwargs_from_env(n)
        z = args[0]
        if self.mode == "capture":
            self.kw["z"] = z.detach().clone()
            out = super().run_node(n)
            self.kw["h"] = out.detach().clone()
            return out
        if self.mode == "replace":
            return self.kw["h"]
        s, c, keep = self.kw["s"], self.kw["c"], self.kw["keep"]
        zero_piece = (s == 0) & (c == 0)
        passed = torch.where(zero_piece, z, s * z + c)
        return torch.where(keep, passed, torch.zeros_like(z))


# ---------------------------------------------------------------------------------------------
# Reference computations.


def softmax_scores(a, t):
    """float32 class-softmax of a (N, C) at column t: subtract the max over classes, exp,
    sum in class order, divide."""
    e = torch.exp(a - a.max(dim=1, keepdim=True).values)
    total = e[:, 0].clone()
    for j in range(1, a.shape[1]):
        total = total + e[:, j]
    return e[:, t] / total


def official_depth1(gm, last, gate, x, t, widths):
    cap = GateInterpreter(gm, last, "capture")
    with torch.no_grad():
        cap.run(x)
    z, h = cap.kw["z"], cap.kw["h"]
    n_units = h.numel()
    hl = h.clone().requires_grad_(True)
    logits = GateInterpreter(gm, last, "replace", h=hl).run(x)
    C = logits.shape[1]
    J = torch.stack([torch.autograd.grad(logits[0, j], hl, retain_graph=True)[0].flatten() for j in range(C)])
    a = h.flatten()[:, None] * J.t()  # (N, C)
    score = softmax_scores(a, t)
    idx = np.arange(n_units)
    order = np.lexsort((idx, -score.numpy()))
    identical = (a == a[:, :1]).all(dim=1).numpy()
    thr = np.float32(1.0 / C)
    s_piece, c_piece = gate.pieces(z)
    with torch.no_grad():  # self-check: every unit on its own piece reproduces the original logits
        active = ~((s_piece == 0) & (c_piece == 0))
        same = GateInterpreter(gm, last, "mask", s=s_piece, c=c_piece, keep=active).run(x)
        assert torch.allclose(same, logits.detach(), rtol=1e-4, atol=1e-4), (same, logits)
    piece_masks = {"lower": z <= gate.lower, "identity": (z > gate.lower) & (z < gate.upper), "upper": z >= gate.upper}
    results = {}
    sc = score.numpy()
    for w in widths:
        k = n_units if w == "all" else min(int(w), n_units)
        top = order[:k]
        sel = top[(score.numpy()[top] > thr) & ~identical[top]]
        fallback = sel.size == 0
        if fallback:
            sel = order[:1]
        keep = torch.zeros(n_units, dtype=torch.bool)
        keep[torch.from_numpy(np.ascontiguousarray(sel))] = True
        keep = keep.view_as(z)
        xg = x.clone().requires_grad_(True)
        out = GateInterpreter(gm, last, "mask", s=s_piece, c=c_piece, keep=keep).run(xg)
        (grad,) = torch.autograd.grad(out[0, t], xg)
        results[str(w)] = {
            "units": np.sort(sel).astype(np.int32),
            "attribution": (grad * x).detach().numpy().astype(np.float32),
            "pathLogit": float(out[0, t].detach()),
            "k": k,
            "n_kept": int(sel.size),
            "fallback": bool(fallback),
            "zero_piece_kept": int((((s_piece == 0) & (c_piece == 0)).flatten()[keep.flatten()]).sum()),
            "kept_by_piece": {p: int(v[keep].sum()) for p, v in piece_masks.items()},
            # how close the decisions were (float32 score units; an ulp at 1/C=0.1 is 7.5e-9)
            # (units with identical contributions, score exactly 1/C, are left out: rejected by rule)
            "closest_to_threshold": float(np.abs(sc[top][~identical[top]] - thr).min()) if (~identical[top]).any() else None,
            # lowest kept score minus best rejected score, when the width (not 1/C) made the cut
            "width_cut_gap": float(sc[order[k - 1]] - sc[order[k]]) if k < n_units and sc[order[k - 1]] > thr else None,
        }
    pieces = {p: int(v.sum()) for p, v in piece_masks.items()}
    return n_units, list(h.shape), pieces, results


# ---------------------------------------------------------------------------------------------
# ONNX inspection.

PIECEWISE_LINEAR_OPS = {
    "Conv", "Gemm", "MatMul", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "PRelu",
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "Add", "Sub",
    "Mul", "Div", "Concat", "Split", "Slice", "Pad", "Transpose", "Reshape", "Flatten", "Shape",
    "Gather", "Unsqueeze", "Squeeze", "Constant", "Identity", "Dropout", "Expand",
}


ONNX_GATE_OPS = ("Relu", "Clip", "LeakyRelu", "PRelu")


def first_refused_op(graph):
    """First node (in graph order) that is not piecewise linear in the input: an op outside
    PIECEWISE_LINEAR_OPS, or a Mul/Div/MatMul whose operands both depend on the input."""
    dynamic = {i.name for i in graph.input} - {i.name for i in graph.initializer}
    for n in graph.node:
        dyn_in = [i for i in n.input if i in dynamic]
        if dyn_in and n.op_type != "Shape":  # shape arithmetic is not an activation
            dynamic.update(n.output)
        if n.op_type not in PIECEWISE_LINEAR_OPS:
            if dyn_in:
                return n.op_type, n.name
        elif n.op_type in ("Mul", "Div", "MatMul") and len(dyn_in) == 2:
            return f"{n.op_type} (of two activations)", n.name
    return None, None


def op_counts(graph):
    counts = {}
    for n in graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return counts


def export(model, x, path, opset):
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"])
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def seed_of(name):
    """Seed of a model's weights (and, + 1, of its input): from its name, so that adding a
    model does not change the others."""
    return zlib.crc32(name.encode()) % 100000


def build(builder, seed):
    torch.manual_seed(seed)
    model = builder()
    randomise_batchnorm(model)
    if isinstance(model, SmallCNN):
        model.apply_gain()
    return model.eval()


def n_params(model):
    return sum(p.numel() for p in model.parameters())


class UnpackingTracer(torch.fx.Tracer):
    """torch 1.13's Proxy.__iter__ recognises `a, b = proxy` by reading the caller's bytecode
    at f_lasti // 2, which is wrong on Python 3.11 (shufflenet's `x1, x2 = x.chunk(2, dim=1)`);
    this finds the UNPACK_SEQUENCE by offset instead."""

    def iter(self, obj):
        import dis

        caller = inspect.currentframe().f_back.f_back
        for inst in dis.get_instructions(caller.f_code):
            if inst.offset >= caller.f_lasti and inst.opname not in ("CACHE", "PRECALL", "CALL"):
                if inst.opname == "UNPACK_SEQUENCE":
                    return (obj[i] for i in range(inst.argval))
                break
        return super().iter(obj)


def trace(model):
    """torch.fx trace; shufflenet's channel_shuffle unpacks x.size(), so it stays one opaque
    call (it contains no gate)."""
    from torchvision.models import shufflenetv2

    tracer = UnpackingTracer(autowrap_functions=(shufflenetv2.channel_shuffle,))
    graph = tracer.trace(model)
    return torch.fx.GraphModule(tracer.root, graph, model.__class__.__name__)


def classifier_layer(model):
    """The last Linear / Conv2d with NUM_CLASSES outputs (squeezenet's is a 1x1 conv)."""
    last = None
    for m in model.modules():
        if (isinstance(m, nn.Linear) and m.out_features == NUM_CLASSES) or (
                isinstance(m, nn.Conv2d) and m.out_channels == NUM_CLASSES):
            last = m
    return last


def build_live(name, builder, size):
    """Model and input. Narrow random networks can be dead at x (squeezenet's final ReLU
    zeroed every logit with one seed): the seed moves on until the logits vary. The classifier
    layer is then rescaled so that the logits (before any Softmax) have standard deviation 1:
    at random init they range from 1e-4 (vgg) to 1e2 (wide_resnet), and tiny logits put every
    score within a few ulp of 1/C, where the selection would be decided by rounding. Every
    model's logits are positively homogeneous in the classifier layer (nothing but ReLU and
    pooling follows it), so this scales the logits and nothing else."""
    for attempt in range(10):
        seed = seed_of(name) + 7919 * attempt
        model = build(builder, seed)
        x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed + 1))
        softmax = getattr(model, "softmax", False)
        model.softmax = False
        with torch.no_grad():
            spread = float(model(x).std())
        model.softmax = softmax
        if spread > 0:
            break
    cls = classifier_layer(model)
    with torch.no_grad():
        cls.weight.div_(spread)
        if cls.bias is not None:
            cls.bias.div_(spread)
    return model, x, seed, spread


def explainable(out, name, family, builder, size, opsets, table):
    model, x, seed, spread = build_live(name, builder, size)
    files, graphs = {}, {}
    for opset in opsets:  # as built (cnn_softmax with its Softmax)
        files[str(opset)] = f"{name}.op{opset}.onnx"
        graphs[str(opset)] = export(model, x, os.path.join(out, files[str(opset)]), opset).graph
    softmax = getattr(model, "softmax", False)
    with torch.no_grad():
        output = model(x)
    model.softmax = False  # the references are for the values entering a trailing Softmax
    with torch.no_grad():
        logits = model(x)
    gm = trace(model)
    with torch.no_grad():
        assert torch.equal(gm(x), logits), name
    gates = [(n, g) for n, g in ((n, gate_of(gm, n)) for n in gm.graph.nodes) if g is not None]
    last, last_gate = gates[-1]
    t = int(logits[0].argmax())

    m64 = copy.deepcopy(model).double()  # gradient x input, float64
    x64 = x.double().requires_grad_(True)
    (g64,) = torch.autograd.grad(m64(x64)[0, t], x64)
    n_units, gate_shape, pieces, official = official_depth1(gm, last, last_gate, x, t, WIDTHS)

    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    arrays = {"input": x, "logits": logits, "grad_x_input": g64 * x64}
    if softmax:
        arrays["output"] = output
    for key, value in arrays.items():
        np.save(os.path.join(d, f"{key}.npy"), value.detach().numpy().astype(np.float32))
    for w, r in official.items():
        np.save(os.path.join(d, f"official_w{w}_units.npy"), r.pop("units"))
        attribution, stored = r.pop("attribution"), None
        if not (w == "1" and size > 100):  # 224 x 224 (alexnet, vgg): no width-1 attribution (size)
            np.save(os.path.join(d, f"official_w{w}_attribution.npy"), attribution)
            stored = f"{name}/official_w{w}_attribution.npy"
        official[w] = {"units": f"{name}/official_w{w}_units.npy", "attribution": stored, **r}
    onnx_gate_nodes = {o: [n for n in g.node if n.op_type in ONNX_GATE_OPS] for o, g in graphs.items()}
    entry = {
        "name": name, "family": family, "reduction": builder.note, "files": files,
        "sha256": {o: sha256(os.path.join(out, f)) for o, f in files.items()},
        "bytes": {o: os.path.getsize(os.path.join(out, f)) for o, f in files.items()},
        "params": n_params(model), "input_shape": list(x.shape), "seed": seed,
        "classifier_rescaled_by": 1.0 / spread, "num_classes": NUM_CLASSES, "target": t,
        "trailing_softmax": bool(softmax),
        "gate_types": sorted({g.kind for _, g in gates}),
        "n_gate_layers": len(gates),
        "n_gate_nodes_onnx": {o: len(v) for o, v in onnx_gate_nodes.items()},
        "last_gate": {
            "fx_node": last.name,
            "kind": last_gate.kind,
            "onnx_node": {o: v[-1].name for o, v in onnx_gate_nodes.items()},
            "onnx_op": {o: v[-1].op_type for o, v in onnx_gate_nodes.items()},
            "shape": gate_shape,
            "units": n_units,
            "pieces_at_x": pieces,
        },
        "ops": {o: op_counts(g) for o, g in graphs.items()},
        "first_refused_op": {o: first_refused_op(g)[0] for o, g in graphs.items()},
        "references": {
            **{key: f"{name}/{key}.npy" for key in arrays},
            "original_logit_t": float(logits[0, t]),
            "official_depth1": official,
        },
    }
    for o, g in graphs.items():
        table.append((name, o, entry["ops"][o], entry["params"], entry["bytes"][o]))
        assert (first_refused_op(g)[0] is not None) == bool(softmax), (name, first_refused_op(g))
        assert len(onnx_gate_nodes[o]) == len(gates), (name, o, len(onnx_gate_nodes[o]), len(gates))
    print(f"{name}: t={t} logits[{float(logits.min()):.3g}, {float(logits.max()):.3g}] gates={len(gates)} "
          f"last={last.name} units={n_units} kept={[r['n_kept'] for r in official.values()]} "
          f"fallback={[r['fallback'] for r in official.values()]} pieces={pieces}", flush=True)
    return entry


def refused(out, name, family, builder, size, opset, table):
    model = build(builder, seed_of(name))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(seed_of(name) + 1))
    path = os.path.join(out, f"{name}.op{opset}.onnx")
    m = export(model, x, path, opset)
    op, node = first_refused_op(m.graph)
    entry = {
        "name": name, "family": family, "reduction": builder.note, "file": os.path.basename(path),
        "sha256": sha256(path), "bytes": os.path.getsize(path), "opset": opset,
        "params": n_params(model), "input_shape": list(x.shape),
        "first_refused_op": op, "first_refused_node": node, "ops": op_counts(m.graph),
    }
    table.append((name, str(opset), entry["ops"], entry["params"], entry["bytes"]))
    print(f"{name}: refused at {op} ({node})", flush=True)
    return entry


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures/arch"
    only = set(sys.argv[2:])
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(1)
    table = []
    manifest = {
        "generator": "tools/reference/make_arch_fixtures.py",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnx": onnx.__version__,
        "gate_finding": "torch.fx trace: gate module calls and functional relu calls, in execution order",
        "num_classes": NUM_CLASSES,
        "models": [],
        "refused": [],
    }
    for name, family, builder, size, opsets in EXPLAINABLE:
        if not only or name in only:
            manifest["models"].append(explainable(out, name, family, builder, size, opsets, table))
    for name, family, builder, size, opset in REFUSED:
        if not only or name in only:
            manifest["refused"].append(refused(out, name, family, builder, size, opset, table))
    if only:  # a partial run replaces its models' entries in the existing manifest
        with open(os.path.join(out, "manifest.json")) as f:
            old = json.load(f)
        for key in ("models", "refused"):
            fresh = {entry["name"]: entry for entry in manifest[key]}
            manifest[key] = [fresh.pop(entry["name"], entry) for entry in old[key]] + list(fresh.values())
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    print()
    print("| model | opset | params | onnx bytes | ops |")
    print("| --- | --- | --- | --- | --- |")
    for name, opsets, ops, params, size in table:
        print(f"| {name} | {opsets} | {params} | {size} | {', '.join(f'{k}×{v}' for k, v in sorted(ops.items()))} |")
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out) for f in fs)
    print(f"\ntotal {out}: {total} bytes")


if __name__ == "__main__":
    main()
