// Explanation quality metrics after Quantus (lib/eval/quality.ts): hand-computable cases, seeding,
// batched forward against one state per forward, validation, and a small Fashion MLP comparison.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import {
  loadModelSync, evaluateQuality, sparseness, complexity, pearson, ssim1d, explainBatchSync, attributeBatchSync,
  type QualityReport, type QualityMetric, type QualityOptions, type Model,
} from '../lib/index.js';
import { fixtureDir } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';

/** A linear model f(x) = W x + b with C classes and D features, as relu(z) − relu(−z) (pathwise wants a gate). */
function linear(c: number, d: number, w: (o: number, i: number) => number, b: (o: number) => number = () => 0): Model {
  return loadModelSync([
    {
      type: 'dense', in: d, out: 2 * c,
      weights: Float32Array.from({ length: 2 * c * d }, (_, k) => { const o = Math.floor(k / d); return o < c ? w(o, k % d) : -w(o - c, k % d); }),
      bias: Float32Array.from({ length: 2 * c }, (_, o) => (o < c ? b(o) : -b(o - c))),
    },
    { type: 'relu' },
    {
      type: 'dense', in: 2 * c, out: c,
      weights: Float32Array.from({ length: c * 2 * c }, (_, k) => { const o = Math.floor(k / (2 * c)), i = k % (2 * c); return i === o ? 1 : i === o + c ? -1 : 0; }),
    },
  ]);
}

/** For a linear model, W_t ⊙ (x − min x): its sums over any subset are exactly the logit drops. */
function linearAttribution(model: Model, weights: (o: number, i: number) => number, x: Float32Array, targets: ArrayLike<number>): Float32Array {
  const d = model.inputSize;
  const out = new Float32Array(x.length);
  for (let i = 0; i < targets.length; i++) {
    const xi = x.subarray(i * d, (i + 1) * d);
    const lo = Math.min(...xi);
    for (let j = 0; j < d; j++) out[i * d + j] = weights(targets[i], j) * (xi[j] - lo);
  }
  return out;
}

describe('complexity metrics', () => {
  it('sparseness of a one-hot attribution is 1 − 1/n, of a uniform one 0', () => {
    for (const n of [4, 10, 784]) {
      const hot = new Float32Array(n);
      hot[n >> 1] = -3;
      expect(sparseness(hot)).toBeCloseTo(1 - 1 / n, 4); // Quantus adds 1e-7 to every |value|
      expect(sparseness(new Float32Array(n).fill(0.5))).toBeCloseTo(0, 9);
    }
  });

  it('complexity of a uniform |attribution| is log n, of a one-hot one 0', () => {
    for (const n of [4, 10, 784]) {
      const signs = Float32Array.from({ length: n }, (_, i) => (i % 2 ? 2 : -2));
      expect(complexity(signs)).toBeCloseTo(Math.log(n), 8); // Quantus's log(p + 1e-12)
      const hot = new Float32Array(n);
      hot[0] = 1;
      expect(complexity(hot)).toBeCloseTo(0, 9);
    }
  });

  it('evaluateQuality reports them per input and their mean', async () => {
    const model = linear(2, 4, (o, i) => o + i);
    const a = Float32Array.from([0, 0, 5, 0, 1, 1, 1, 1]);
    const r = await evaluateQuality(model, new Float32Array(8).fill(1), a, { metrics: ['sparseness', 'complexity'] });
    expect(r.sparseness!.values[0]).toBeCloseTo(0.75, 6);
    expect(r.sparseness!.values[1]).toBeCloseTo(0, 6);
    expect(r.sparseness!.mean).toBeCloseTo(0.375, 6);
    expect(r.complexity!.values[1]).toBeCloseTo(Math.log(4), 9);
    expect(r.forwards).toBe(2); // only f(x)
  });
});

describe('faithfulness metrics', () => {
  const c = 3, d = 12;
  const w = (o: number, i: number) => Math.sin(1.7 * o + 0.9 * i + 0.3) * (1 + i / 5);
  const model = linear(c, d, w, (o) => 0.1 * o);
  const x = Float32Array.from({ length: 2 * d }, (_, k) => Math.cos(0.37 * k) + (k % 5) / 4);
  const targets = [0, 2];
  const a = linearAttribution(model, w, x, targets);

  it('faithfulness correlation is 1 for W_t ⊙ (x − baseline) on a linear model', async () => {
    const r = await evaluateQuality(model, x, a, { metrics: ['faithfulnessCorrelation'], targets, subsetSize: 4, runs: 30, seed: 3 });
    for (const v of r.faithfulnessCorrelation!.values) expect(v).toBeCloseTo(1, 5);
    // One forward for f(x) per input, one per random subset; all in one batch here.
    expect(r.forwards).toBe(2 + 2 * 30);
    expect(r.batches).toBe(2);
  });

  it('pixel flipping follows the softmax of the target as features go to the minimum, in attribution order', async () => {
    const m = linear(2, 3, (o, i) => (o === 0 ? [1, 2, 3][i] : 0));
    const xi = Float32Array.from([2, 1, 0.5]);
    const ai = Float32Array.from([0.1, 0.9, -0.4]); // order: 1, 0, 2; the minimum is 0.5
    const r = await evaluateQuality(m, xi, ai, { metrics: ['pixelFlipping'], targets: [0] });
    const sig = (z: number) => 1 / (1 + Math.exp(-z));
    const expected = [2 + 1 + 1.5, 0.5 + 1 + 1.5, 0.5 + 1 + 1.5].map(sig); // after features 1; 1, 0; 1, 0, 2
    const curve = r.pixelFlipping!.curves[0];
    expect(curve.length).toBe(3);
    for (let s = 0; s < 3; s++) expect(curve[s]).toBeCloseTo(expected[s], 6);
    expect(r.pixelFlipping!.values[0]).toBeCloseTo((expected[0] + expected[1]) / 2 + (expected[1] + expected[2]) / 2, 6);
    const two = await evaluateQuality(m, xi, ai, { metrics: ['pixelFlipping'], targets: [0], featuresInStep: 2 });
    expect(Array.from(two.pixelFlipping!.curves[0])).toEqual([curve[1], curve[2]]);
  });

  it('completeness: W_t ⊙ (x − baseline) closes the gap; pathwise identity reported apart', async () => {
    const r = await evaluateQuality(model, x, a, {
      metrics: ['completeness'], targets, pathwise: { bias: [1, 2], pathLogit: [1 + a.subarray(0, d).reduce((s, v) => s + v, 0), 0] },
    });
    for (const v of r.completeness!.values) expect(v).toBeLessThan(1e-5);
    expect(r.completeness!.pathIdentity!.values[0]).toBeLessThan(1e-5);
    expect(r.completeness!.pathIdentity!.values[1]).toBeCloseTo(Math.abs(a.subarray(d).reduce((s, v) => s + v, 0) + 2), 5);
  });
});

describe('random logit', () => {
  const c = 4, d = 10;
  const w = (o: number, i: number) => Math.cos(o * 1.3 + i * 0.7);
  const model = linear(c, d, w);
  const x = Float32Array.from({ length: 3 * d }, (_, k) => Math.sin(k * 0.41));
  const targets = [0, 1, 3];
  const explainer = (inputs: Float32Array, ts: Int32Array) => linearAttribution(model, w, inputs, ts);

  it('draws another class, explains it with the callback and compares by SSIM', async () => {
    const a = explainer(x, Int32Array.from(targets));
    const r = await evaluateQuality(model, x, a, { metrics: ['randomLogit'], targets, explainer, seed: 7 });
    const off = r.randomLogit!.offTargets;
    for (let i = 0; i < 3; i++) {
      expect(off[i]).not.toBe(targets[i]);
      const norm = (v: Float32Array) => { const m = Math.max(...v.map(Math.abs)); return v.map((u) => u / m); };
      const other = explainer(x.subarray(i * d, (i + 1) * d), Int32Array.of(off[i]));
      expect(r.randomLogit!.values[i]).toBeCloseTo(ssim1d(norm(a.subarray(i * d, (i + 1) * d)), norm(other)), 7); // float32 here, float64 there
    }
    // An explainer that ignores the class scores 1: identical explanations.
    const same = await evaluateQuality(model, x, a, { metrics: ['randomLogit'], targets, explainer: () => a });
    for (const v of same.randomLogit!.values) expect(v).toBeCloseTo(1, 9);
  });

  it('ssim1d matches a hand computation on 7 values (one window)', () => {
    const p = [0, 1, 2, 3, 4, 5, 6], q = [6, 5, 4, 3, 2, 1, 0];
    // Means 3, 3; sample variances 28/6; covariance −28/6; range 6: C1 = 0.0036, C2 = 0.0324.
    const c1 = 0.0036, c2 = 0.0324, v = 28 / 6;
    expect(ssim1d(p, q)).toBeCloseTo(((18 + c1) * (-2 * v + c2)) / ((18 + c1) * (2 * v + c2)), 9);
    expect(pearson(p, q)).toBeCloseTo(-1, 12);
  });
});

describe('evaluateQuality', () => {
  const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
  const x = (readNpy(join(fixtureDir('fashion_mlp'), 'inputs.npy')).data as Float32Array).slice(0, 4 * 784);
  const a = Float32Array.from(attributeBatchSync(model, x, { method: 'inputXGradient' }).flatMap((r) => Array.from(r.attribution)));
  const metrics: QualityMetric[] = ['pixelFlipping', 'faithfulnessCorrelation'];

  it('is deterministic for a seed and changes with it', async () => {
    const one = await evaluateQuality(model, x, a, { metrics, seed: 5, runs: 20, featuresInStep: 28 });
    const two = await evaluateQuality(model, x, a, { metrics, seed: 5, runs: 20, featuresInStep: 28 });
    const other = await evaluateQuality(model, x, a, { metrics, seed: 6, runs: 20, featuresInStep: 28 });
    expect(two.faithfulnessCorrelation!.values).toEqual(one.faithfulnessCorrelation!.values);
    expect(other.faithfulnessCorrelation!.values).not.toEqual(one.faithfulnessCorrelation!.values);
  });

  it('batched forwards give the same values as one forward per perturbed input', async () => {
    const batched = await evaluateQuality(model, x, a, { metrics, runs: 20, featuresInStep: 28 });
    const single = await evaluateQuality(model, x, a, { metrics, runs: 20, featuresInStep: 28, batchSize: 1 });
    expect(batched.batches).toBe(3); // f(x), the pixel-flipping states, the subsets
    expect(single.batches).toBe(single.forwards);
    expect(batched.forwards).toBe(single.forwards);
    expect(batched.pixelFlipping!.curves).toEqual(single.pixelFlipping!.curves);
    expect(batched.faithfulnessCorrelation!.values).toEqual(single.faithfulnessCorrelation!.values);
  });

  it('validates its arguments', async () => {
    await expect(evaluateQuality(model, x, a, { metrics: ['nope' as QualityMetric] })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a, { metrics: 'sparseness' as never })).rejects.toThrow(TypeError);
    await expect(evaluateQuality(model, x, a, { metrics: [] })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a.subarray(1), { metrics: ['sparseness'] })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['sparseness'], bogus: 1 } as never)).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['randomLogit'] })).rejects.toThrow(TypeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['faithfulnessCorrelation'], subsetSize: 785 })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['sparseness'], seed: -1 })).rejects.toThrow(RangeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['sparseness'], seed: '1' as never })).rejects.toThrow(TypeError);
    await expect(evaluateQuality(model, x, a, { metrics: ['sparseness'], targets: [0, 1] })).rejects.toThrow(RangeError);
  });
});

describe('Fashion MLP: pathwise (width 16) against input × gradient on 16 images', () => {
  it('prints the table (docs/quality.md)', async () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
    const x = (readNpy(join(fixtureDir('fashion_mlp'), 'inputs.npy')).data as Float32Array).slice(0, 16 * 784);
    const flat = (rows: { attribution: Float32Array }[]) => {
      const out = new Float32Array(rows.length * 784);
      rows.forEach((r, i) => out.set(r.attribution, i * 784));
      return out;
    };
    const explanations = explainBatchSync(model, x, { width: 16 });
    const targets = explanations.map((e) => e.target);
    const methods: [string, Float32Array, (inputs: Float32Array, ts: Int32Array) => Float32Array, Partial<QualityOptions>][] = [
      ['pathwise (width 16)', flat(explanations), (inputs, ts) => flat(explainBatchSync(model, inputs, { width: 16, targets: ts })),
        { pathwise: { bias: explanations.map((e) => e.bias), pathLogit: explanations.map((e) => e.pathLogit) } }],
      ['input × gradient', flat(attributeBatchSync(model, x, { method: 'inputXGradient', targets })),
        (inputs, ts) => flat(attributeBatchSync(model, inputs, { method: 'inputXGradient', targets: ts })), {}],
    ];
    const all: QualityMetric[] = ['sparseness', 'complexity', 'pixelFlipping', 'faithfulnessCorrelation', 'randomLogit', 'completeness'];
    const reports: QualityReport[] = [];
    for (const [, a, explainer, extra] of methods)
      reports.push(await evaluateQuality(model, x, a, { metrics: all, targets, seed: 42, explainer, ...extra }));
    const se = (v: Float64Array) => {
      const k = v.filter((u) => !Number.isNaN(u));
      const m = k.reduce((s, u) => s + u, 0) / k.length;
      return Math.sqrt(k.reduce((s, u) => s + (u - m) ** 2, 0) / (k.length - 1) / k.length);
    };
    const cell = (q: { values: Float64Array; mean: number } | undefined) => (q ? `${q.mean.toFixed(4)} ± ${se(q.values).toFixed(4)}` : '—');
    const rows: [string, (r: QualityReport) => { values: Float64Array; mean: number } | undefined][] = [
      ['sparseness (Gini) ↑', (r) => r.sparseness],
      ['complexity (entropy) ↓', (r) => r.complexity],
      ['pixel flipping AUC (softmax, 784 steps) ↓', (r) => r.pixelFlipping],
      ['faithfulness correlation ↑', (r) => r.faithfulnessCorrelation],
      ['random logit (SSIM) ↓', (r) => r.randomLogit],
      ['completeness gap \\|Σa − (f(x) − f(min))\\| ↓', (r) => r.completeness],
      ['pathwise identity \\|Σa + bias − pathLogit\\|', (r) => r.completeness?.pathIdentity],
    ];
    const lines = [
      `| metric (mean ± s.e., 16 images) | ${methods.map((m) => m[0]).join(' | ')} |`,
      `| --- | ${methods.map(() => '---').join(' | ')} |`,
      ...rows.map(([name, pick]) => `| ${name} | ${reports.map((r) => cell(pick(r))).join(' | ')} |`),
    ];
    console.log(lines.join('\n'));
    for (const r of reports) {
      for (const q of [r.sparseness, r.complexity, r.pixelFlipping, r.faithfulnessCorrelation, r.randomLogit, r.completeness])
        expect(Number.isFinite(q!.mean)).toBe(true);
    }
    expect(reports[0].completeness!.pathIdentity!.mean).toBeLessThan(1e-3);
  }, 120_000);
});
