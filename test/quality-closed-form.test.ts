// The robustness, randomisation and axiomatic metrics of lib/eval/quality*.ts on cases with known
// values (linear models, networks rebuilt around a shift), plus batch-size independence and seeding.
import { describe, it, expect } from 'vitest';
import {
  loadModelSync, evaluateQuality, attributeBatchSync, shiftedSpec, randomisedLayer, regionPatches, spearman,
  type Model, type NetworkSpec, type QualityExplainer, type QualityMetric,
} from '../lib/index.js';

const c = 3, d = 16;
/** f(x) = W x + b through relu(z) − relu(−z); |W[o, j]| = 2 everywhere. */
const sign = (o: number, j: number) => (Math.sin(3.1 * o + 1.7 * j) >= 0 ? 2 : -2);
const linearSpec: NetworkSpec = {
  inputShape: [1, 4, 4],
  layers: [
    { type: 'flatten' },
    {
      type: 'dense', in: d, out: 2 * c,
      weights: Float32Array.from({ length: 2 * c * d }, (_, k) => { const o = Math.floor(k / d); return o < c ? sign(o, k % d) : -sign(o - c, k % d); }),
      bias: Float32Array.from({ length: 2 * c }, (_, o) => (o < c ? 0.1 * o : -0.1 * (o - c))),
    },
    { type: 'relu' },
    {
      type: 'dense', in: 2 * c, out: c,
      weights: Float32Array.from({ length: c * 2 * c }, (_, k) => { const o = Math.floor(k / (2 * c)), i = k % (2 * c); return i === o ? 1 : i === o + c ? -1 : 0; }),
    },
  ],
};
const linear = loadModelSync(linearSpec);
const x = Float32Array.from({ length: 3 * d }, (_, k) => Math.cos(0.53 * k) + 0.2);
const targets = [0, 1, 2];

const gradient: QualityExplainer = (inputs, ts) => Float32Array.from(inputs, (_, k) => sign(ts[Math.floor(k / d)], k % d));
const inputTimesGradient: QualityExplainer = (inputs, ts) => Float32Array.from(inputs, (v, k) => v * sign(ts[Math.floor(k / d)], k % d));
const engine = (method: 'saliency' | 'inputXGradient'): QualityExplainer => (inputs, ts, m: Model) => {
  const out = new Float32Array(inputs.length);
  attributeBatchSync(m, inputs, { method, targets: ts }).forEach((r, i) => out.set(r.attribution, i * m.inputSize));
  return out;
};

describe('robustness on a linear model', () => {
  it('a constant explanation (the gradient) has sensitivity and Lipschitz estimate 0', async () => {
    const a = await gradient(x, Int32Array.from(targets), linear);
    const r = await evaluateQuality(linear, x, a, {
      metrics: ['maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate'], targets, explainer: gradient, sensitivitySamples: 20,
    });
    for (const q of [r.maxSensitivity!, r.avgSensitivity!, r.localLipschitzEstimate!]) for (const v of q.values) expect(v).toBe(0);
  });

  it('W ⊙ x with |W| = 2 has a Lipschitz estimate of exactly 2 (without normalisation)', async () => {
    const a = await inputTimesGradient(x, Int32Array.from(targets), linear);
    const r = await evaluateQuality(linear, x, a, { metrics: ['localLipschitzEstimate'], targets, explainer: inputTimesGradient, normalise: false, sensitivitySamples: 20 });
    for (const v of r.localLipschitzEstimate!.values) expect(v).toBeCloseTo(2, 5);
  });

  it('W ⊙ x: sensitivity ‖W ⊙ δ‖ / ‖W ⊙ x‖ = ‖δ‖ / ‖x‖ is within the noise radius bound, avg ≤ max', async () => {
    const a = await inputTimesGradient(x, Int32Array.from(targets), linear);
    const r = await evaluateQuality(linear, x, a, { metrics: ['maxSensitivity', 'avgSensitivity'], targets, explainer: inputTimesGradient, sensitivitySamples: 50, noiseRadius: 0.1 });
    for (let i = 0; i < 3; i++) {
      const norm = Math.hypot(...x.subarray(i * d, (i + 1) * d));
      expect(r.maxSensitivity!.values[i]).toBeLessThanOrEqual((0.1 * Math.sqrt(d)) / norm + 1e-6);
      // E‖δ‖² = d r²/3 for uniform noise; 50 samples put the mean of ‖δ‖ well above half of its root.
      expect(r.avgSensitivity!.values[i]).toBeGreaterThan((0.5 * 0.1 * Math.sqrt(d / 3)) / norm);
      expect(r.avgSensitivity!.values[i]).toBeLessThanOrEqual(r.maxSensitivity!.values[i]);
    }
  });
});

describe('input invariance', () => {
  it('the shifted network gives on x + s what the network gives on x: dense, padded conv, affine first layers', () => {
    const conv: NetworkSpec = {
      inputShape: [2, 5, 5],
      layers: [
        { type: 'conv', inChannels: 2, outChannels: 3, kernel: [3, 3], pads: [1, 2, 1, 0], weights: Float32Array.from({ length: 54 }, (_, k) => Math.sin(k)), bias: Float32Array.of(0.1, -0.2, 0.3) },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'dense', in: 3 * 5 * 5, out: 4, weights: Float32Array.from({ length: 300 }, (_, k) => Math.cos(k * 0.7)) },
        { type: 'relu' },
        { type: 'add', inputs: [3, 4] }, // explicit producers: renumbered when the pad layer goes in
        { type: 'dense', in: 4, out: 2, weights: Float32Array.of(1, -1, 0.5, 2, -0.3, 0.2, 1, 1) },
      ],
    };
    const affine: NetworkSpec = {
      inputShape: [2, 3, 3],
      layers: [{ type: 'affine', scale: Float32Array.of(2, 0.5), shift: Float32Array.of(0.1, -1) }, { type: 'relu' }, { type: 'flatten' },
        { type: 'dense', in: 18, out: 2, weights: Float32Array.from({ length: 36 }, (_, k) => Math.sin(k * 1.3)) }],
    };
    for (const [spec, shift] of [[linearSpec, -1], [conv, 0.75], [affine, -2]] as const) {
      const original = loadModelSync(spec), shifted = loadModelSync(shiftedSpec(spec, shift));
      const n = original.inputSize;
      const xs = Float32Array.from({ length: 2 * n }, (_, k) => Math.sin(k * 0.9) * 2);
      const want = original.forward(xs), got = shifted.forward(xs.map((v) => v + shift));
      want.forEach((v, k) => expect(got[k]).toBeCloseTo(v, 4));
      original.dispose();
      shifted.dispose();
    }
  });

  it('the gradient is invariant (1); input × gradient moves by |W_t| · |shift| (0)', async () => {
    const gradients = await engine('saliency')(x, Int32Array.from(targets), linear);
    const g = await evaluateQuality(linear, x, gradients, { metrics: ['inputInvariance'], targets, explainer: engine('saliency'), spec: linearSpec });
    expect(Array.from(g.inputInvariance!.values)).toEqual([1, 1, 1]);
    const a = await engine('inputXGradient')(x, Int32Array.from(targets), linear);
    const r = await evaluateQuality(linear, x, a, { metrics: ['inputInvariance'], targets, explainer: engine('inputXGradient'), spec: linearSpec, inputShift: -0.5 });
    expect(Array.from(r.inputInvariance!.values)).toEqual([0, 0, 0]);
    for (const v of r.inputInvariance!.maxDifference.values) expect(v).toBeCloseTo(2 * 0.5, 5);
  });
});

describe('MPRT', () => {
  it('re-initialises like PyTorch reset_parameters: uniform within ±1/√fan_in, seeded, bias too', () => {
    const layer = { type: 'conv' as const, inChannels: 4, outChannels: 2, kernel: [3, 3] as [number, number], groups: 2, weights: new Float32Array(36) };
    const r = randomisedLayer(layer, 42);
    const bound = 1 / Math.sqrt(2 * 9);
    for (const v of [...r.weights, ...r.bias!]) expect(Math.abs(v)).toBeLessThanOrEqual(bound);
    expect(r.bias!.length).toBe(2);
    expect(randomisedLayer(layer, 42).weights).toEqual(r.weights);
    expect(randomisedLayer(layer, 43).weights).not.toEqual(r.weights);
  });

  it('an explainer that ignores the model scores 1; a model-dependent one less', async () => {
    const a = await engine('inputXGradient')(x, Int32Array.from(targets), linear);
    const fixed: QualityExplainer = () => a;
    const r = await evaluateQuality(linear, x, a, { metrics: ['mprt'], targets, explainer: fixed, spec: linearSpec });
    expect(r.mprt!.layers.map((l) => l.index)).toEqual([3, 1]);
    for (const v of r.mprt!.values) expect(v).toBeCloseTo(1, 12);
    for (const v of r.mprt!.ssim.values) expect(v).toBeCloseTo(1, 12);
    const live = await evaluateQuality(linear, x, a, { metrics: ['mprt'], targets, explainer: engine('inputXGradient'), spec: linearSpec });
    expect(live.mprt!.mean).toBeLessThan(0.9);
  });
});

describe('region patches', () => {
  it('cut [C, H, W] into p × p blocks over every channel, padded half before and half after', () => {
    const p = regionPatches([2, 5, 5], 50, 4); // 5 → 8: 1 row/column before, 2 after; 2 × 2 blocks
    expect(p.length).toBe(4);
    expect(p.reduce((t, b) => t + b.length, 0)).toBe(50);
    expect(Array.from(p[0]).slice(0, 3)).toEqual([0, 1, 2]); // rows 0–2, columns 0–2 of channel 0
    expect(p[0].length).toBe(2 * 3 * 3);
    expect(p[3].length).toBe(2 * 2 * 2);
  });
});

describe('batching and seeding of the new metrics', () => {
  const metrics: QualityMetric[] = ['regionPerturbationMorf', 'regionPerturbationLerf', 'monotonicityCorrelation', 'maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate', 'mprt', 'inputInvariance'];
  const options = { metrics, targets, explainer: engine('inputXGradient'), spec: linearSpec, patchSize: 2, monotonicitySamples: 4, monotonicityFeaturesInStep: 3, sensitivitySamples: 6 };
  const values = (r: Awaited<ReturnType<typeof evaluateQuality>>) => metrics.map((m) => Array.from((r[m] as { values: Float64Array }).values));

  it('values do not depend on batchSize or explainBatchSize', async () => {
    const a = await engine('inputXGradient')(x, Int32Array.from(targets), linear);
    const big = await evaluateQuality(linear, x, a, options);
    const small = await evaluateQuality(linear, x, a, { ...options, batchSize: 1, explainBatchSize: 1 });
    expect(values(small)).toEqual(values(big));
    expect(small.explainerCalls).toBe(small.explained);
    expect(big.explainerCalls).toBeLessThan(small.explainerCalls);
  });

  it('are deterministic for a seed and move with it', async () => {
    const a = await engine('inputXGradient')(x, Int32Array.from(targets), linear);
    const one = await evaluateQuality(linear, x, a, { ...options, seed: 9 });
    const two = await evaluateQuality(linear, x, a, { ...options, seed: 9 });
    const other = await evaluateQuality(linear, x, a, { ...options, seed: 10 });
    expect(values(two)).toEqual(values(one));
    expect(other.maxSensitivity!.values).not.toEqual(one.maxSensitivity!.values);
    expect(other.mprt!.values).not.toEqual(one.mprt!.values);
    expect(other.regionPerturbationMorf!.values).toEqual(one.regionPerturbationMorf!.values); // no random draws
  });

  it('validates the new options', async () => {
    const a = new Float32Array(x.length).fill(1);
    await expect(evaluateQuality(linear, x, a, { metrics: ['mprt'], explainer: gradient })).rejects.toThrow(TypeError);
    await expect(evaluateQuality(linear, x, a, { metrics: ['maxSensitivity'] })).rejects.toThrow(TypeError);
    await expect(evaluateQuality(linear, x, a, { metrics: ['localLipschitzEstimate'], explainer: gradient, lipschitzStd: -1 })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(linear, x, a, { metrics: ['regionPerturbationMorf'], patchSize: 0 })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(linear, x, a, { metrics: ['inputInvariance'], explainer: gradient, spec: linearSpec, inputShift: Number.NaN })).rejects.toThrow(TypeError);
    expect(() => shiftedSpec({ inputShape: [2], layers: [{ type: 'relu' }] }, 1)).toThrow(RangeError);
    expect(spearman([1, 2, 2, 3], [1, 3, 3, 4])).toBeCloseTo(1, 12);
  });
});
