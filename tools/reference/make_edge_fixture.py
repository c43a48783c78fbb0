"""Reference edge weights for the path diagram (lib/render/path-edges.ts), by PyTorch autograd.

A small seeded graph network with every layer kind the diagram must trace through: ReLU6 (clip),
batch norm, LeakyReLU, a residual add whose shortcut skips a gate, constant padding, a ceil-mode
max pool, slices, a 1×1 conv, a channel concat, a channel shuffle, PReLU, a ceil-mode average pool
without the padding in its divisor, the general gate and a dense head. For each pair of neighbouring
gates (k, k+1) the full Jacobian ∂z_{k+1}/∂h_k (z: the upper gate's input, h: the lower gate's
output, held as a leaf so no route from below gate k counts), and ∂logits/∂h_top for the top gate,
in float64 from float32 weights. Writes test/fixtures/edges/graph.json.

Run: /usr/bin/python3 tools/reference/make_edge_fixture.py (torch 1.13 here).
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(7)
f32 = lambda *shape, scale=0.5: (torch.randn(*shape) * scale).float()

C_IN, H = 2, 6
w = {
    "conv0": f32(4, 2, 3, 3), "b0": f32(4, scale=0.1),
    "conv2": f32(4, 4, 3, 3), "bn_scale": f32(4) + 1.0, "bn_bias": f32(4, scale=0.1),
    "bn_mean": f32(4, scale=0.2), "bn_var": f32(4).abs() + 0.5,
    "conv5": f32(4, 4, 3, 3), "b5": f32(4, scale=0.1),
    "conv12": f32(2, 2, 1, 1), "b12": f32(2, scale=0.1),
    "prelu": torch.tensor([0.25, -0.1, 0.5, 0.05]).float(),
    "dense": f32(3, 4 * 3 * 3), "bd": f32(3, scale=0.1),
}
EPS = 1e-5
# Gate parameters as the engine holds them (float32), so h is the engine's h.
as_f32 = lambda v: torch.tensor(v, dtype=torch.float32).item()
ALPHA = as_f32(0.1)
GATE = dict(lower=-1.0, upper=2.0, slope=as_f32(0.2), lowerValue=-0.5)

# The spec, as lib/model/layers.ts reads it (weights as plain lists; the test makes Float32Arrays).
L = lambda t: [float(v) for v in t.flatten().tolist()]
layers = [
    {"type": "conv", "inChannels": 2, "outChannels": 4, "kernel": [3, 3], "pads": [1, 1, 1, 1], "weights": L(w["conv0"]), "bias": L(w["b0"])},  # 0
    {"type": "clip", "min": 0, "max": 6},  # 1: gate 0 (ReLU6)
    {"type": "conv", "inChannels": 4, "outChannels": 4, "kernel": [3, 3], "pads": [1, 1, 1, 1], "weights": L(w["conv2"])},  # 2
    {"type": "batchnorm", "scale": L(w["bn_scale"]), "bias": L(w["bn_bias"]), "mean": L(w["bn_mean"]), "variance": L(w["bn_var"]), "epsilon": EPS},  # 3
    {"type": "leakyrelu", "alpha": ALPHA},  # 4: gate 1
    {"type": "conv", "inChannels": 4, "outChannels": 4, "kernel": [3, 3], "pads": [1, 1, 1, 1], "weights": L(w["conv5"]), "bias": L(w["b5"])},  # 5
    {"type": "add", "inputs": [5, 1]},  # 6: the shortcut skips gate 1 and comes from gate 0
    {"type": "relu"},  # 7: gate 2
    {"type": "pad", "pads": [1, 0, 0, 1], "value": 0.5},  # 8: 4 × 7 × 7
    {"type": "maxpool", "kernel": [2, 2], "stride": [2, 2], "ceilMode": True},  # 9: 4 × 4 × 4
    {"type": "slice", "channels": [0, 2], "inputs": [9]},  # 10
    {"type": "slice", "channels": [2, 4], "inputs": [9]},  # 11
    {"type": "conv", "inChannels": 2, "outChannels": 2, "kernel": [1, 1], "weights": L(w["conv12"]), "bias": L(w["b12"])},  # 12
    {"type": "concat", "inputs": [10, 12]},  # 13
    {"type": "channelshuffle", "groups": 2},  # 14
    {"type": "prelu", "slope": L(w["prelu"])},  # 15: gate 3
    {"type": "avgpool", "kernel": [3, 3], "stride": [2, 2], "pads": [1, 1, 1, 1], "ceilMode": True, "countIncludePad": False},  # 16: 4 × 3 × 3
    {"type": "gate", **GATE},  # 17: gate 4
    {"type": "flatten"},  # 18
    {"type": "dense", "in": 36, "out": 3, "weights": L(w["dense"]), "bias": L(w["bd"])},  # 19
]

D = lambda t: t.double()


def gate(z):
    lo, up, s, lv = GATE["lower"], GATE["upper"], GATE["slope"], GATE["lowerValue"]
    return torch.where(z <= lo, s * (z - lo) + lv, torch.where(z >= up, torch.full_like(z, up), z))


def run(x, leaf=None):
    """Forward in float64; returns (gate inputs z, gate outputs h, logits). With leaf = (k, t), gate
    k's output is t (a leaf), so what comes before it does not count."""
    zs, hs = [], []

    def g(k, z, f):
        zs.append(z)
        h = leaf[1] if leaf and leaf[0] == k else f(z)
        hs.append(h)
        return h

    a = F.conv2d(x, D(w["conv0"]), D(w["b0"]), padding=1)
    h0 = g(0, a, lambda z: z.clamp(0, 6))
    a = F.conv2d(h0, D(w["conv2"]), padding=1)
    a = F.batch_norm(a, D(w["bn_mean"]), D(w["bn_var"]), D(w["bn_scale"]), D(w["bn_bias"]), False, 0.0, EPS)
    h1 = g(1, a, lambda z: F.leaky_relu(z, ALPHA))
    a = F.conv2d(h1, D(w["conv5"]), D(w["b5"]), padding=1) + h0
    h2 = g(2, a, F.relu)
    a = F.pad(h2, (0, 1, 1, 0), value=0.5)  # (left, right, top, bottom)
    p = F.max_pool2d(a, 2, 2, ceil_mode=True)
    right = F.conv2d(p[:, 2:4], D(w["conv12"]), D(w["b12"]))
    a = torch.cat([p[:, 0:2], right], 1)
    n, c, hh, ww = a.shape
    a = a.reshape(n, 2, c // 2, hh, ww).transpose(1, 2).reshape(n, c, hh, ww)
    h3 = g(3, a, lambda z: F.prelu(z, D(w["prelu"])))
    a = F.avg_pool2d(h3, 3, 2, 1, ceil_mode=True, count_include_pad=False)
    h4 = g(4, a, gate)
    logits = F.linear(h4.flatten(1), D(w["dense"]), D(w["bd"]))
    return zs, hs, logits


x = (torch.rand(1, C_IN, H, H) * 2 - 0.5).float()
zs, hs, logits = run(D(x))
gates = len(hs)
jacobians = []
for k in range(gates):
    def upper_of(t, k=k):
        z, _, out = run(D(x), (k, t))
        return out.flatten() if k + 1 == gates else z[k + 1].flatten()
    j = torch.autograd.functional.jacobian(upper_of, hs[k].detach().clone())
    j = j.reshape(j.shape[0], -1)
    # Nonzero entries only, as [upper, lower, weight] (the dense matrices were 0.4 MB).
    jacobians.append([[int(b), int(a), float(j[b, a])] for b, a in j.nonzero().tolist()])

out = {
    "inputShape": [C_IN, H, H],
    "layers": layers,
    "input": L(x),
    "logits": L(logits),
    "h": [L(h) for h in hs],
    "gateSizes": [h.numel() for h in hs],
    "jacobians": jacobians,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "edges", "graph.json")
os.makedirs(os.path.dirname(path), exist_ok=True)
with open(path, "w") as f:
    json.dump(out, f)
print(path, [h.shape for h in hs], logits)
