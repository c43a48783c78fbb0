"""Reference values for the Quantus metrics of lib/eval/quality*.ts (test/quality-reference.test.ts).

An independent NumPy/SciPy re-implementation of each metric's formula, transcribed from the Quantus
file named in its function (github.com/understandable-machine-intelligence-lab/Quantus), on a small
ReLU network whose explanation (input x gradient) is computed here in float64. Random draws use the
same mulberry32 generator and draw order as the library, so the values must agree up to float32
rounding of the engine. CI never runs this; it reads the JSON written below.

    /usr/bin/python3 tools/reference/quality_ref.py   # writes test/fixtures/quality/reference.json
"""
import json
import math
import os

import numpy as np
import scipy.ndimage
import scipy.stats

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'quality', 'reference.json')


def mulberry32(seed):
    s = seed & 0xFFFFFFFF

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def draw():
        nonlocal s
        s = (s + 0x6D2B79F5) & 0xFFFFFFFF
        t = s
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296.0
    return draw


def normal(draw):
    def g():
        u = 1 - draw()
        return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * draw())
    return g


# The network: input [1, 6, 6] -> flatten -> dense 36x10 -> relu -> dense 10x8 -> relu -> dense 8x3.
rng = np.random.default_rng(7)
SHAPE = (1, 6, 6)
D = 36
SIZES = [(36, 10), (10, 8), (8, 3)]
LAYERS = [(rng.normal(0, 1 / math.sqrt(i), (o, i)).astype(np.float32), rng.normal(0, 0.1, o).astype(np.float32)) for i, o in SIZES]
X = rng.normal(0.3, 1, (4, D)).astype(np.float32)


def forward(layers, x):
    h = x.astype(np.float64)
    for k, (w, b) in enumerate(layers):
        h = h @ w.astype(np.float64).T + b
        if k < len(layers) - 1:
            h = np.maximum(h, 0)
    return h


def input_x_gradient(layers, x, t):
    """x * d logit_t / dx of the ReLU network, float64."""
    h = x.astype(np.float64)
    gates = []
    for k, (w, b) in enumerate(layers[:-1]):
        z = w.astype(np.float64) @ h + b
        gates.append(z > 0)
        h = np.maximum(z, 0)
    g = layers[-1][0].astype(np.float64)[t]
    for k in range(len(layers) - 2, -1, -1):
        g = (g * gates[k]) @ layers[k][0].astype(np.float64)
    return x.astype(np.float64) * g


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def normalise_by_max(a):
    m = np.abs(a).max()
    return a / m if m > 0 else a


TARGETS = [int(np.argmax(forward(LAYERS, x))) for x in X]
A = np.stack([input_x_gradient(LAYERS, x, t) for x, t in zip(X, TARGETS)]).astype(np.float32)


def region_perturbation(order, patch):
    """quantus/metrics/faithfulness/region_perturbation.py (+ get_auc_score), softmax=True, black baseline."""
    out = []
    h, w = SHAPE[1], SHAPE[2]

    def pad(dim):
        r = dim % patch
        return (0, 0) if r == 0 else (math.floor((patch - r) / 2), math.ceil((patch - r) / 2))
    ph, pw = pad(h), pad(w)
    for x, a, t in zip(X, A, TARGETS):
        a = normalise_by_max(a.astype(np.float64)).reshape(SHAPE)
        xi = x.reshape(SHAPE)
        a_pad = np.pad(a, ((0, 0), ph, pw), mode='constant')
        x_pad = np.pad(xi, ((0, 0), ph, pw), mode='edge').astype(np.float64)
        H, W = a_pad.shape[1:]
        idx = np.arange(a_pad.size).reshape(a_pad.shape)
        blocks = [idx[:, bh * patch:(bh + 1) * patch, bw * patch:(bw + 1) * patch].reshape(-1)
                  for bh in range(H // patch) for bw in range(W // patch)]
        sums = np.array([a_pad.reshape(-1)[b].sum() for b in blocks])
        # kind='stable': ties by lower patch index (the library's rule; NumPy's default is unstable)
        order_ix = np.argsort(-sums, kind='stable') if order == 'morf' else np.argsort(sums, kind='stable')
        y = softmax(forward(LAYERS, x))[t]
        black = x_pad.min()
        curve = []
        for p in order_ix[:100]:
            flat = x_pad.reshape(-1)
            flat[blocks[p]] = black
            xp = x_pad[:, ph[0]:H - ph[1], pw[0]:W - pw[1]].reshape(-1).astype(np.float32)
            curve.append(y - softmax(forward(LAYERS, xp))[t])
        out.append(float(np.trapz(curve, dx=1)))
    return out


def monotonicity_correlation(samples, step, seed):
    """quantus/metrics/faithfulness/monotonicity_correlation.py: abs+normalise, uniform baseline, softmax=True."""
    draw = mulberry32(seed)
    out = []
    for x, a, t in zip(X, A, TARGETS):
        a = np.abs(normalise_by_max(a.astype(np.float64)))
        ix = np.argsort(a, kind='stable')
        y = softmax(forward(LAYERS, x))[t]
        inv = 1 / abs(y) ** 2 if abs(y) >= 1e-5 else 1.0
        atts, var = [], []
        for s in range(math.ceil(D / step)):
            sel = ix[s * step:(s + 1) * step]
            preds = []
            for _ in range(samples):
                xp = x.copy()
                xp[sel] = np.float32(draw())
                preds.append(softmax(forward(LAYERS, xp))[t])
            var.append(np.mean((np.array(preds) - y) ** 2) * inv)
            atts.append(a[sel].sum())
        out.append(float(scipy.stats.spearmanr(atts, var)[0]))
    return out


def sensitivity(samples, radius, seed):
    """quantus/metrics/robustness/max_sensitivity.py and avg_sensitivity.py: fro_norm(a - a') / fro_norm(a)."""
    draw = mulberry32(seed)
    mx, av = [], []
    for x, a, t in zip(X, A, TARGETS):
        a = a.astype(np.float64)
        vals = []
        for _ in range(samples):
            xp = np.array([x[j] + (2 * draw() - 1) * radius for j in range(D)], dtype=np.float32)
            vals.append(np.linalg.norm(a - input_x_gradient(LAYERS, xp, t)) / np.linalg.norm(a))
        mx.append(float(np.nanmax(vals)))
        av.append(float(np.nanmean(vals)))
    return mx, av


def local_lipschitz(samples, std, seed):
    """quantus/metrics/robustness/local_lipschitz_estimate.py: normalise=True, euclidean / (euclidean + 1e-10)."""
    g = normal(mulberry32(seed))
    out = []
    for x, a, t in zip(X, A, TARGETS):
        a = normalise_by_max(a.astype(np.float64))
        vals = []
        for _ in range(samples):
            xp = np.array([x[j] + g() * std for j in range(D)], dtype=np.float32)
            ap = normalise_by_max(input_x_gradient(LAYERS, xp, t))
            vals.append(np.linalg.norm(a - ap) / (np.linalg.norm(x.astype(np.float64) - xp) + 1e-10))
        out.append(float(np.nanmax(vals)))
    return out


def ssim(a, b):
    """quantus/functions/similarity_func.py ssim: skimage structural_similarity on 1-D arrays (win 7, uniform filter)."""
    data_range = max(a.max(), b.max()) - min(a.min(), b.min())
    win, ndim = 7, 1
    f = lambda v: scipy.ndimage.uniform_filter(v, size=win)
    cov_norm = win ** ndim / (win ** ndim - 1)
    ux, uy = f(a), f(b)
    vx = cov_norm * (f(a * a) - ux * ux)
    vy = cov_norm * (f(b * b) - uy * uy)
    vxy = cov_norm * (f(a * b) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return s[pad:-pad].mean()


def mprt(seed):
    """quantus/metrics/randomisation/mprt.py, top_down cascading; layers re-initialised as torch reset_parameters."""
    layers = list(LAYERS)
    per_layer = []
    for k in range(len(layers) - 1, -1, -1):
        w, b = layers[k]
        bound = 1 / math.sqrt(w.shape[1])
        draw = mulberry32(seed + 1)
        w2 = np.array([(2 * draw() - 1) * bound for _ in range(w.size)], dtype=np.float32).reshape(w.shape)
        b2 = np.array([(2 * draw() - 1) * bound for _ in range(b.size)], dtype=np.float32)
        layers[k] = (w2, b2)
        rho, sim = [], []
        for x, a, t in zip(X, A, TARGETS):
            a0 = np.abs(normalise_by_max(a.astype(np.float64)))
            a1 = np.abs(normalise_by_max(input_x_gradient(layers, x, t)))
            rho.append(float(scipy.stats.spearmanr(a0, a1)[0]))
            sim.append(float(ssim(a0, a1)))
        per_layer.append({'spearman': rho, 'ssim': sim})
    return per_layer


def main():
    ref = {
        'inputShape': list(SHAPE),
        'layers': [{'weights': w.reshape(-1).tolist(), 'bias': b.tolist(), 'in': int(w.shape[1]), 'out': int(w.shape[0])} for w, b in LAYERS],
        'inputs': X.reshape(-1).tolist(),
        'attributions': A.reshape(-1).tolist(),
        'targets': TARGETS,
        'regionPerturbationMorf': region_perturbation('morf', 4),
        'regionPerturbationLerf': region_perturbation('lerf', 4),
        'regionPerturbationMorfPatch3': region_perturbation('morf', 3),
        'monotonicityCorrelation': monotonicity_correlation(samples=5, step=3, seed=42),
        'settings': {'patchSize': 4, 'monotonicitySamples': 5, 'monotonicityFeaturesInStep': 3, 'sensitivitySamples': 10, 'seed': 42},
    }
    ref['maxSensitivity'], ref['avgSensitivity'] = sensitivity(samples=10, radius=0.2, seed=42)
    ref['localLipschitzEstimate'] = local_lipschitz(samples=10, std=0.1, seed=42)
    ref['mprt'] = mprt(seed=42)
    with open(OUT, 'w') as f:
        json.dump(ref, f)
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
