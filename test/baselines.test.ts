// Baselines in the engine (docs/method.md §9) against the reference fixtures (captum 0.6 outputs, float32)
// and against a float64 plain-loop oracle; unwrapping and its identities.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import {
  loadModelSync, attribute, attributeSync, attributeBatch, attributeBatchSync, unwrap, unwrapSync, unwrapBatchSync,
  explainSync, modelLayers, quadrature, PathwiseError, type Model, type LayerSpec, type NetworkSpec, type AttributionMethod, type QuadratureRule,
} from '../lib/index.js';
import { fixtureDir, maxRelDiff } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';
import { fashionCnnSpec } from './helpers/fashion-cnn-spec.js';

const D = 784;
const mlpPath = () => join(fixtureDir('models'), 'fashion_mlp.onnx');
const cnnSpec = () => fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx'));
const npy = (set: string, file: string) => readNpy(join(fixtureDir(set), file)).data;

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

// ---- A float64 oracle for sequential conv/relu/maxpool/flatten/dense specs --------------------

type Shape3 = [number, number, number];
interface Trace { values: Float64Array[]; shapes: Shape3[]; winners: (Int32Array | null)[]; pre: (Float64Array | null)[] }

function oracleForward(spec: NetworkSpec, x: ArrayLike<number>): Trace {
  const sh = spec.inputShape;
  let shape: Shape3 = sh.length === 3 ? [sh[0], sh[1], sh[2]] : [sh[0], 1, 1];
  let h = Float64Array.from(x);
  const t: Trace = { values: [], shapes: [], winners: [], pre: [] };
  for (const layer of spec.layers) {
    let win: Int32Array | null = null, pre: Float64Array | null = null;
    if (layer.type === 'conv') {
      const [c, H, W] = shape, [kh, kw] = layer.kernel, [pt, pl] = layer.pads ?? [0, 0, 0, 0];
      const pb = layer.pads?.[2] ?? 0, pr = layer.pads?.[3] ?? 0;
      const oh = H + pt + pb - kh + 1, ow = W + pl + pr - kw + 1, co = layer.outChannels;
      const out = new Float64Array(co * oh * ow);
      for (let o = 0; o < co; o++)
        for (let y = 0; y < oh; y++)
          for (let xx = 0; xx < ow; xx++) {
            let s = layer.bias ? layer.bias[o] : 0;
            for (let ci = 0; ci < c; ci++)
              for (let a = 0; a < kh; a++)
                for (let b = 0; b < kw; b++) {
                  const iy = y + a - pt, ix = xx + b - pl;
                  if (iy >= 0 && iy < H && ix >= 0 && ix < W) s += layer.weights[((o * c + ci) * kh + a) * kw + b] * h[(ci * H + iy) * W + ix];
                }
            out[(o * oh + y) * ow + xx] = s;
          }
      h = out;
      shape = [co, oh, ow];
    } else if (layer.type === 'relu') {
      pre = h;
      h = h.map((v) => (v > 0 ? v : 0));
    } else if (layer.type === 'maxpool') {
      const [c, H, W] = shape, [k] = layer.kernel, oh = Math.floor(H / k), ow = Math.floor(W / k);
      const out = new Float64Array(c * oh * ow);
      win = new Int32Array(out.length);
      for (let ci = 0; ci < c; ci++)
        for (let y = 0; y < oh; y++)
          for (let xx = 0; xx < ow; xx++) {
            let best = -Infinity, arg = -1;
            for (let a = 0; a < k; a++)
              for (let b = 0; b < k; b++) {
                const idx = (ci * H + y * k + a) * W + xx * k + b;
                if (h[idx] > best) { best = h[idx]; arg = idx; }
              }
            out[(ci * oh + y) * ow + xx] = best;
            win[(ci * oh + y) * ow + xx] = arg;
          }
      h = out;
      shape = [c, oh, ow];
    } else if (layer.type === 'flatten') {
      shape = [h.length, 1, 1];
    } else if (layer.type === 'dense') {
      const out = new Float64Array(layer.out);
      for (let o = 0; o < layer.out; o++) {
        let s = layer.bias ? layer.bias[o] : 0;
        for (let i = 0; i < layer.in; i++) s += layer.weights[o * layer.in + i] * h[i];
        out[o] = s;
      }
      h = out;
      shape = [layer.out, 1, 1];
    } else throw new Error(`oracle: ${layer.type}`);
    t.values.push(h);
    t.shapes.push(shape);
    t.winners.push(win);
    t.pre.push(pre);
  }
  return t;
}

/** Cotangents at every layer's output (index i) and at the input (index -1 → grads[0] is input). */
function oracleBackward(spec: NetworkSpec, x: ArrayLike<number>, t: Trace, target: number, guided: boolean): { input: Float64Array; at: Float64Array[] } {
  const at: Float64Array[] = new Array(spec.layers.length);
  let g = new Float64Array(t.values[t.values.length - 1].length);
  g[target] = 1;
  for (let i = spec.layers.length - 1; i >= 0; i--) {
    at[i] = g;
    const layer = spec.layers[i];
    const inShape: Shape3 = i === 0 ? (spec.inputShape.length === 3 ? spec.inputShape as Shape3 : [spec.inputShape[0], 1, 1]) : t.shapes[i - 1];
    const inSize = inShape[0] * inShape[1] * inShape[2];
    const gin = new Float64Array(inSize);
    if (layer.type === 'dense') {
      for (let o = 0; o < layer.out; o++) for (let k = 0; k < layer.in; k++) gin[k] += g[o] * layer.weights[o * layer.in + k];
    } else if (layer.type === 'relu') {
      const pre = t.pre[i]!;
      for (let k = 0; k < inSize; k++) { const v = pre[k] > 0 ? g[k] : 0; gin[k] = guided ? Math.max(0, v) : v; }
    } else if (layer.type === 'maxpool') {
      const w = t.winners[i]!;
      for (let o = 0; o < w.length; o++) gin[w[o]] += g[o];
    } else if (layer.type === 'flatten') {
      gin.set(g);
    } else if (layer.type === 'conv') {
      const [c, H, W] = inShape, [co, oh, ow] = t.shapes[i], [kh, kw] = layer.kernel, [pt, pl] = layer.pads ?? [0, 0, 0, 0];
      for (let o = 0; o < co; o++)
        for (let y = 0; y < oh; y++)
          for (let xx = 0; xx < ow; xx++) {
            const go = g[(o * oh + y) * ow + xx];
            if (go === 0) continue;
            for (let ci = 0; ci < c; ci++)
              for (let a = 0; a < kh; a++)
                for (let b = 0; b < kw; b++) {
                  const iy = y + a - pt, ix = xx + b - pl;
                  if (iy >= 0 && iy < H && ix >= 0 && ix < W) gin[(ci * H + iy) * W + ix] += go * layer.weights[((o * c + ci) * kh + a) * kw + b];
                }
          }
    }
    g = gin;
  }
  void x;
  return { input: g, at };
}

function oracleGuidedGradCam(spec: NetworkSpec, x: Float32Array, target: number, specLayer: number): Float64Array {
  const t = oracleForward(spec, x);
  const plain = oracleBackward(spec, x, t, target, false);
  const guided = oracleBackward(spec, x, t, target, true).input;
  const [c, h, w] = t.shapes[specLayer], act = t.values[specLayer], grad = plain.at[specLayer];
  const cam = new Float64Array(h * w);
  for (let k = 0; k < c; k++) {
    let m = 0;
    for (let p = 0; p < h * w; p++) m += grad[k * h * w + p];
    m /= h * w;
    for (let p = 0; p < h * w; p++) cam[p] += m * act[k * h * w + p];
  }
  const [C, H, W] = spec.inputShape;
  const out = new Float64Array(C * H * W);
  for (let ch = 0; ch < C; ch++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++) {
        const v = Math.max(0, cam[Math.floor((y * h) / H) * w + Math.floor((xx * w) / W)]);
        out[(ch * H + y) * W + xx] = guided[(ch * H + y) * W + xx] * v;
      }
  return out;
}

/** A small 3-channel CNN with padding and odd sizes (10 × 9 input, 2 × 2 Grad-CAM map). */
function smallCnn(seed = 3): NetworkSpec {
  const r = seeded(seed);
  const f = (n: number, s: number) => new Float32Array(n).map(() => r() * s);
  const layers: LayerSpec[] = [
    { type: 'conv', inChannels: 3, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(108, 0.5), bias: f(4, 0.1) },
    { type: 'relu' },
    { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'conv', inChannels: 4, outChannels: 5, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(180, 0.4), bias: f(5, 0.1) },
    { type: 'relu' },
    { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'flatten' },
    { type: 'dense', in: 20, out: 6, weights: f(120, 0.5), bias: f(6, 0.1) },
  ];
  return { inputShape: [3, 10, 9], layers };
}

// ---- Quadrature -------------------------------------------------------------------------------

describe('integrated-gradients quadrature', () => {
  it("Gauss–Legendre n = 50 matches the SPEC's test values", () => {
    const { alpha, weight } = quadrature('gauss-legendre', 50);
    expect(alpha[0]).toBeCloseTo(5.667977899644905e-4, 17);
    expect(alpha[24]).toBeCloseTo(0.48445083083640555, 15);
    expect(alpha[49]).toBeCloseTo(0.9994332022100355, 15);
    expect(weight[24]).toBeCloseTo(0.0310883083276735, 15);
    // The SPEC's s_1 (1.4543112765789342e-3, NumPy's leggauss) is 9e-13 relative from the exact
    // 1.45431127657757048e-3 (40-digit mpmath); Newton in float64 lands within 1e-13 of the exact.
    expect(Math.abs(weight[0] - 1.4543112765789342e-3) / 1.4543112765789342e-3).toBeLessThan(1e-12);
    expect(Math.abs(weight[0] - 1.45431127657757048e-3) / 1.45431127657757048e-3).toBeLessThan(1e-13);
    expect(weight.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
    for (let i = 1; i < 50; i++) expect(alpha[i]).toBeGreaterThan(alpha[i - 1]);
    for (let i = 0; i < 50; i++) {
      expect(alpha[i] + alpha[49 - i]).toBeCloseTo(1, 14);
      expect(weight[i]).toBeCloseTo(weight[49 - i], 14);
    }
  });

  it('integrates polynomials of degree 2n − 1 exactly', () => {
    for (const n of [1, 2, 3, 7, 20]) {
      const { alpha, weight } = quadrature('gauss-legendre', n);
      for (let p = 0; p < 2 * n; p++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += weight[i] * alpha[i] ** p;
        expect(s, `n=${n} p=${p}`).toBeCloseTo(1 / (p + 1), 13);
      }
    }
  });

  it('trapezoid (textbook): linspace(0, 1, n), steps 1/(n − 1), end weights halved, sum 1', () => {
    const { alpha, weight } = quadrature('trapezoid', 5);
    expect(Array.from(alpha)).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(Array.from(weight)).toEqual([0.125, 0.25, 0.25, 0.25, 0.125]);
  });

  it("captum's Riemann rules: steps 1/n; left, right, middle points; riemann_trapezoid halves the ends of 1/n", () => {
    const q = (rule: QuadratureRule) => {
      const { alpha, weight } = quadrature(rule, 4);
      return { alpha: Array.from(alpha), weight: Array.from(weight) };
    };
    const quarter = [0.25, 0.25, 0.25, 0.25];
    expect(q('riemann_left')).toEqual({ alpha: [0, 0.25, 0.5, 0.75], weight: quarter });
    expect(q('riemann_right')).toEqual({ alpha: [0.25, 0.5, 0.75, 1], weight: quarter });
    expect(q('riemann_middle')).toEqual({ alpha: [0.125, 0.375, 0.625, 0.875], weight: quarter });
    expect(q('riemann_trapezoid')).toEqual({ alpha: [0, 1 / 3, 2 / 3, 1], weight: [0.125, 0.25, 0.25, 0.125] });
    // The two trapezoids share their points; captum's weights are the textbook ones times (n − 1)/n,
    // which is the 2e-2 gap between them at 50 points.
    const textbook = quadrature('trapezoid', 50), captum = quadrature('riemann_trapezoid', 50);
    expect(Array.from(captum.alpha)).toEqual(Array.from(textbook.alpha));
    for (let i = 0; i < 50; i++) expect(captum.weight[i]).toBeCloseTo((textbook.weight[i] * 49) / 50, 16);
  });

  it("'gausslegendre' (captum's name) is 'gauss-legendre'; rules are checked", () => {
    expect(quadrature('gausslegendre', 9)).toEqual(quadrature('gauss-legendre', 9));
    expect(() => quadrature('riemann' as QuadratureRule, 5)).toThrow(/riemann_left/);
    for (const rule of ['riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid', 'trapezoid'] as const)
      expect(() => quadrature(rule, 1), rule).toThrow(RangeError);
    expect(quadrature('gausslegendre', 1)).toEqual({ alpha: Float64Array.of(0.5), weight: Float64Array.of(1) });
  });
});

// ---- Fixtures ---------------------------------------------------------------------------------

const cases: { method: AttributionMethod; file: string; extra?: object; tol: { mlp: number; cnn: number } }[] = [
  { method: 'saliency', file: 'gradient.npy', tol: { mlp: 1e-4, cnn: 1e-4 } },
  { method: 'inputXGradient', file: 'input_x_gradient.npy', tol: { mlp: 1e-4, cnn: 1e-4 } },
  { method: 'guidedBackprop', file: 'guided_backprop.npy', tol: { mlp: 1e-4, cnn: 1e-4 } },
  { method: 'integratedGradients', file: 'integrated_gradients_gl50.npy', tol: { mlp: 1e-3, cnn: 1e-2 } },
  { method: 'integratedGradients', file: 'integrated_gradients_trapezoid50.npy', extra: { rule: 'trapezoid' }, tol: { mlp: 1e-3, cnn: 1e-2 } },
];

describe.each([
  { set: 'fashion_mlp', source: mlpPath as () => string | NetworkSpec, kind: 'mlp' as const },
  { set: 'fashion_cnn_dither', source: cnnSpec as () => string | NetworkSpec, kind: 'cnn' as const },
])('baselines against the $set fixtures', ({ set, source, kind }) => {
  let model: Model;
  let inputs: Float32Array;
  let targets: number[];
  beforeAll(() => {
    model = loadModelSync(source());
    inputs = npy(set, 'inputs.npy') as Float32Array;
    targets = Array.from(npy(set, 'targets.npy') as BigInt64Array, Number);
  });
  afterAll(() => model.dispose());

  it.each(cases)('$method ($file) in one batch', ({ method, file, extra, tol }) => {
    const ref = npy(set, file) as Float32Array;
    const out = attributeBatchSync(model, inputs, { method, ...extra });
    expect(out).toHaveLength(16);
    for (let j = 0; j < 16; j++) {
      expect(out[j].target).toBe(targets[j]);
      expect(maxRelDiff(out[j].attribution, ref.subarray(j * D, (j + 1) * D)), `${file} input ${j}`).toBeLessThanOrEqual(tol[kind]);
    }
  });

  it('single, async and chunked forms agree with the batch', async () => {
    for (const { method, extra } of cases) {
      const batch = attributeBatchSync(model, inputs.subarray(0, 4 * D), { method, ...extra });
      const chunked = await attributeBatch(model, inputs.subarray(0, 4 * D), { method, ...extra, chunkSize: 3 });
      for (let j = 0; j < 4; j++) {
        const x = inputs.subarray(j * D, (j + 1) * D);
        const one = attributeSync(model, x, { method, ...extra });
        const two = await attribute(model, x, { method, ...extra });
        expect(maxRelDiff(one.attribution, batch[j].attribution)).toBeLessThan(1e-6);
        expect(maxRelDiff(two.attribution, batch[j].attribution)).toBeLessThan(1e-6);
        expect(maxRelDiff(chunked[j].attribution, batch[j].attribution)).toBeLessThan(1e-6);
      }
    }
  });

  it('integrated gradients: completeness delta is small and shrinks with more points', () => {
    const logits = model.forward(inputs);
    const base = model.forward(new Float32Array(D));
    const ig50 = attributeBatchSync(model, inputs, { method: 'integratedGradients' });
    const ig200 = attributeBatchSync(model, inputs, { method: 'integratedGradients', steps: 200, chunkSize: 1000 });
    let sum50 = 0, sum200 = 0;
    for (let j = 0; j < 16; j++) {
      const t = ig50[j].target;
      const gap = logits[j * 10 + t] - base[t];
      // delta is Σ IG − (f_t(x) − f_t(0)), computed by the engine; check it against the sums too.
      const total = ig50[j].attribution.reduce((a, b) => a + b, 0);
      expect(Math.abs(total - gap - ig50[j].delta!)).toBeLessThan(1e-4 * (Math.abs(gap) + 1));
      expect(Math.abs(ig50[j].delta!)).toBeLessThan(0.05 * Math.abs(gap) + 0.05);
      sum50 += Math.abs(ig50[j].delta!);
      sum200 += Math.abs(ig200[j].delta!);
    }
    expect(sum200).toBeLessThan(sum50);
    expect(sum200 / 16).toBeLessThan(0.01);
  });

  it('integrated gradients with a user baseline: shared, per input, and a constant', () => {
    const x = inputs.subarray(0, 3 * D);
    const b = new Float32Array(D).map(seeded(11)).map((v) => v * 0.5);
    const shared = attributeBatchSync(model, x, { method: 'integratedGradients', baseline: b });
    const perInput = attributeBatchSync(model, x, { method: 'integratedGradients', baseline: new Float32Array(3 * D).map((_, i) => b[i % D]) });
    const logits = model.forward(x), fb = model.forward(b);
    for (let j = 0; j < 3; j++) {
      expect(maxRelDiff(perInput[j].attribution, shared[j].attribution)).toBeLessThan(1e-6);
      const t = shared[j].target;
      const total = shared[j].attribution.reduce((s, v) => s + v, 0);
      expect(Math.abs(total - (logits[j * 10 + t] - fb[t]) - shared[j].delta!)).toBeLessThan(1e-3);
    }
    // baseline = x gives zero attribution and zero delta.
    const self = attributeSync(model, inputs.subarray(0, D), { method: 'integratedGradients', baseline: inputs.subarray(0, D) });
    expect(self.attribution.every((v) => v === 0)).toBe(true);
    expect(Math.abs(self.delta!)).toBeLessThan(1e-9);
    const constant = attributeSync(model, inputs.subarray(0, D), { method: 'integratedGradients', baseline: 0.25 });
    const explicit = attributeSync(model, inputs.subarray(0, D), { method: 'integratedGradients', baseline: new Float32Array(D).fill(0.25) });
    expect(Array.from(constant.attribution)).toEqual(Array.from(explicit.attribution));
  });

  it('explains another target when asked', () => {
    const x = inputs.subarray(0, D);
    const t = (targets[0] + 3) % 10;
    const sal = attributeSync(model, x, { method: 'saliency', target: t });
    const u = unwrapSync(model, x);
    expect(sal.target).toBe(t);
    expect(maxRelDiff(sal.attribution, u.weights.subarray(t * D, (t + 1) * D))).toBeLessThan(1e-6);
  });

  it('unwrap: W x + b = f(x) for every class; W[t] ⊙ x = input × gradient; W rows are the saliency maps', async () => {
    const all = unwrapBatchSync(model, inputs, { chunkSize: 5 });
    const ixg = npy(set, 'input_x_gradient.npy') as Float32Array;
    const logits = model.forward(inputs);
    for (let j = 0; j < 16; j++) {
      const u = all[j];
      const x = inputs.subarray(j * D, (j + 1) * D);
      for (let c = 0; c < 10; c++) {
        let s = u.bias[c], abs = Math.abs(u.bias[c]);
        for (let i = 0; i < D; i++) { s += u.weights[c * D + i] * x[i]; abs += Math.abs(u.weights[c * D + i] * x[i]); }
        expect(Math.abs(s - logits[j * 10 + c]), `input ${j} class ${c}`).toBeLessThanOrEqual(1e-5 * abs + 1e-6);
        expect(Math.abs(u.residual[c])).toBeLessThanOrEqual(1e-5 * abs + 1e-6);
      }
      const t = targets[j];
      expect(u.predicted).toBe(t);
      const a = Float32Array.from(x, (v, i) => v * u.weights[t * D + i]);
      expect(maxRelDiff(a, ixg.subarray(j * D, (j + 1) * D))).toBeLessThanOrEqual(1e-4);
    }
    const single = await unwrap(model, inputs.subarray(D, 2 * D));
    expect(maxRelDiff(single.weights, all[1].weights)).toBeLessThan(1e-6);
  });

  it("pathwise 'linear' with width and depth 'all' and threshold 0 equals unwrap", () => {
    for (let j = 0; j < 16; j++) {
      const x = inputs.subarray(j * D, (j + 1) * D);
      const u = unwrapSync(model, x);
      for (const target of [targets[j], (targets[j] + 1) % 10]) {
        const ex = explainSync(model, x, { semantics: 'linear', width: 'all', depth: 'all', threshold: 0, target });
        expect(maxRelDiff(ex.weights, u.weights.subarray(target * D, (target + 1) * D)), `input ${j}`).toBeLessThan(1e-5);
        expect(Math.abs(ex.bias - u.bias[target])).toBeLessThan(1e-4 * (Math.abs(u.bias[target]) + 1));
        expect(Math.abs(ex.pathLogit - u.logits[target])).toBeLessThan(1e-4 * (Math.abs(u.logits[target]) + 1));
      }
    }
  });
});

// ---- Against the float64 oracle ---------------------------------------------------------------

describe('baselines against a float64 plain-loop oracle', () => {
  it('guided Grad-CAM on the fixture CNN (default layer: the last MaxPool)', () => {
    const spec = cnnSpec();
    const model = loadModelSync(spec);
    const inputs = npy('fashion_cnn_dither', 'inputs.npy') as Float32Array;
    const layers = modelLayers(model);
    expect(layers.map((l) => l.kind)).toEqual(['conv', 'relu', 'maxpool', 'conv', 'relu', 'maxpool', 'dense', 'relu', 'dense']);
    expect(layers[5].shape).toEqual([32, 5, 5]);
    const out = attributeBatchSync(model, inputs, { method: 'guidedGradCam' });
    for (let j = 0; j < 16; j++) {
      expect(out[j].layer).toBe(5);
      const ref = oracleGuidedGradCam(spec, inputs.subarray(j * D, (j + 1) * D), out[j].target, 5);
      expect(maxRelDiff(out[j].attribution, ref), `input ${j}`).toBeLessThan(1e-4);
    }
    // Another layer by index: the first MaxPool (spec layer 2).
    const first = attributeSync(model, inputs.subarray(0, D), { method: 'guidedGradCam', layer: 2 });
    expect(maxRelDiff(first.attribution, oracleGuidedGradCam(spec, inputs.subarray(0, D), first.target, 2))).toBeLessThan(1e-4);
    model.dispose();
  });

  it('every gradient method on a 3-channel CNN with padding and a non-divisible upsampling', () => {
    const spec = smallCnn();
    const model = loadModelSync(spec);
    const rand = seeded(5);
    const n = 6, d = 270;
    const x = new Float32Array(n * d).map(() => rand() * 2);
    for (const method of ['saliency', 'inputXGradient', 'guidedBackprop', 'guidedGradCam'] as const) {
      const out = attributeBatchSync(model, x, { method, targets: [0, 1, 2, 3, 4, 5] });
      for (let j = 0; j < n; j++) {
        const xj = x.subarray(j * d, (j + 1) * d);
        let ref: Float64Array;
        if (method === 'guidedGradCam') ref = oracleGuidedGradCam(spec, xj, j, 5);
        else {
          const t = oracleForward(spec, xj);
          ref = oracleBackward(spec, xj, t, j, method === 'guidedBackprop').input;
          if (method === 'inputXGradient') ref = ref.map((v, i) => v * xj[i]);
        }
        expect(maxRelDiff(out[j].attribution, ref), `${method} ${j}`).toBeLessThan(1e-5);
      }
    }
    // The guided signal differs from the plain gradient (the oracle check above is what matters;
    // this guards against a `guided` flag that silently does nothing).
    const gb = attributeSync(model, x.subarray(0, d), { method: 'guidedBackprop' });
    const sal = attributeSync(model, x.subarray(0, d), { method: 'saliency' });
    expect(maxRelDiff(gb.attribution, sal.attribution)).toBeGreaterThan(1e-3);
    model.dispose();
  });
});

// ---- Errors -----------------------------------------------------------------------------------

describe('attribute: options and errors', () => {
  const model = loadModelSync(mlpPath());
  const x = new Float32Array(D).fill(0.1);

  it('rejects bad options with the documented error classes', async () => {
    expect(() => attributeSync(model, x, { method: 'lime' as AttributionMethod })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 7 as unknown as AttributionMethod })).toThrow(TypeError);
    expect(() => attributeSync(model, x, { method: 'saliency', steps: 5 })).toThrow(/integratedGradients only/);
    expect(() => attributeSync(model, x, { method: 'saliency', target: 10 })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'saliency', colour: 1 } as never)).toThrow(/unknown option/);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', steps: 0 })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', rule: 'trapezoid', steps: 1 })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', rule: 'riemann_left', steps: 1 })).toThrow(/steps >= 2/);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', rule: 'left' as never })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', rule: 3 as never })).toThrow(TypeError);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', baseline: new Float32Array(5) })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'integratedGradients', baseline: NaN })).toThrow(RangeError);
    expect(() => attributeSync(model, x.subarray(0, 10), { method: 'saliency' })).toThrow(RangeError);
    expect(() => attributeSync(model, new Float32Array(D).fill(NaN), { method: 'saliency' })).toThrow(RangeError);
    expect(() => attributeBatchSync(model, x, { method: 'saliency', targets: [1, 2] })).toThrow(RangeError);
    // The MLP has no MaxPool: Grad-CAM needs a layer; a bad layer is a RangeError.
    expect(() => attributeSync(model, x, { method: 'guidedGradCam' })).toThrow(/no MaxPool/);
    expect(() => attributeSync(model, x, { method: 'guidedGradCam', layer: 99 })).toThrow(RangeError);
    expect(() => attributeSync(model, x, { method: 'guidedGradCam', layer: 'nope' })).toThrow(RangeError);
    await expect(attribute(model, x, { method: 'guidedGradCam' })).rejects.toThrow(RangeError);
    await expect(attribute(model, x, { method: 'saliency', maxMemoryBytes: 10 })).rejects.toMatchObject({ code: 'PATHWISE_MEMORY_LIMIT' });
  });

  it('Grad-CAM at a dense layer of an MLP (a 1 × 1 map) is guided backprop times a scalar ≥ 0', () => {
    const out = attributeSync(model, x, { method: 'guidedGradCam', layer: 3 });
    const gb = attributeSync(model, x, { method: 'guidedBackprop' });
    let ratio: number | undefined;
    for (let i = 0; i < D; i++)
      if (gb.attribution[i] !== 0) {
        const r = out.attribution[i] / gb.attribution[i];
        if (ratio === undefined) ratio = r;
        expect(r).toBeCloseTo(ratio, 4);
      }
    expect(ratio).toBeGreaterThanOrEqual(0);
  });

  it('fails with PATHWISE_DISPOSED after dispose', () => {
    const m = loadModelSync(mlpPath());
    m.dispose();
    expect(() => attributeSync(m, x, { method: 'saliency' })).toThrow(PathwiseError);
    expect(() => unwrapSync(m, x)).toThrow(expect.objectContaining({ code: 'PATHWISE_DISPOSED' }));
  });
});
