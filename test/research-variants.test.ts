// The research variants of docs/research.md: each one's defining identity, and the reference
// ('official', the defaults) untouched by the new options.
import { describe, it, expect } from 'vitest';
import {
  loadModelSync, explainBatchSync, explainBatch, attributeBatch, unwrapBatchSync, type Explanation,
} from '../lib/index.js';
import { explainIntegrated, explainRegional, tileMasks } from '../lib/explain/variants.js';
import { smallCnn, inputs } from './helpers/small-models.js';
import { maxRelDiff } from './helpers/fixtures.js';

const model = loadModelSync(smallCnn(3));
const N = 6;
const d = model.inputSize;
const xs = inputs(N, d, 11);
const batch = new Float32Array(N * d);
xs.forEach((x, i) => batch.set(x, i * d));
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + v, 0);
const sumAbs = (a: ArrayLike<number>) => Array.from(a).reduce((s, v) => s + Math.abs(v), 0);
const units = (ex: Explanation) => ex.layers.map((l) => Array.from(l.units));

describe('research options leave the reference alone', () => {
  it("explicit defaults (score 'softmax', keepOpposing false, objective 'logit') are the reference, bit for bit", () => {
    for (const semantics of ['official', 'linear'] as const)
      for (const width of ['all', 2] as const) {
        const plain = explainBatchSync(model, batch, { semantics, width });
        const explicit = explainBatchSync(model, batch, { semantics, width, score: 'softmax', keepOpposing: false, objective: 'logit' });
        explicit.forEach((e, i) => {
          expect(units(e)).toEqual(units(plain[i]));
          expect(Array.from(e.attribution)).toEqual(Array.from(plain[i].attribution));
          expect(e.bias).toBe(plain[i].bias);
        });
      }
  });

  it('refuses bad values and combinations', () => {
    expect(() => explainBatchSync(model, batch, { score: 'logit' as never })).toThrow(RangeError);
    expect(() => explainBatchSync(model, batch, { score: 'target', threshold: 0.2 })).toThrow(/score 'target'/);
    expect(() => explainBatchSync(model, batch, { objective: 'logSoftmax', decompose: { by: 'unit' } })).toThrow(/logSoftmax/);
    expect(() => explainBatchSync(model, batch, { keepOpposing: 1 as never })).toThrow(TypeError);
    expect(() => explainBatchSync(model, batch, { threshold: 'mean' as never })).toThrow(TypeError);
  });
});

describe('memory-bounded mode', () => {
  it("refuses the research rules (they read all C rows at once); 'logSoftmax' still runs, the same as unbounded", async () => {
    const { fixtureDir } = await import('./helpers/fixtures.js');
    const { join } = await import('node:path');
    const cnn = loadModelSync(join(fixtureDir('models'), 'fashion_cnn.onnx'));
    const x = new Float32Array(784).map((_, i) => Math.sin(i * 0.3) * 1.5);
    const maxMemoryBytes = 1_500_000;  // classChunk < 10 here (test/api.test.ts 'memory-bounded mode')
    expect(() => explainBatchSync(cnn, x, { score: 'target', maxMemoryBytes })).toThrow(/every class's Jacobian rows/);
    expect(() => explainBatchSync(cnn, x, { keepOpposing: true, maxMemoryBytes })).toThrow(RangeError);
    const [bounded] = explainBatchSync(cnn, x, { objective: 'logSoftmax', maxMemoryBytes });
    const [whole] = explainBatchSync(cnn, x, { objective: 'logSoftmax' });
    expect(bounded.stats.classChunk).toBeLessThan(10);
    expect(Array.from(bounded.attribution)).toEqual(Array.from(whole.attribution));
  });
});

describe('selection rules', () => {
  it("score 'target' with keepOpposing at depth 1 keeps every unit that moves the target logit: pathLogit = logit", () => {
    for (const semantics of ['official', 'linear'] as const)
      for (const e of explainBatchSync(model, batch, { semantics, depth: 1, score: 'target', keepOpposing: true })) {
        const scale = sumAbs(e.attribution) + Math.abs(e.bias);
        expect(Math.abs(e.pathLogit - e.logits[e.target])).toBeLessThanOrEqual(1e-5 * scale);
      }
  });

  it("score 'target' alone at depth 1 keeps exactly the positive contributions (pathLogit ≥ logit), scores a_t", () => {
    const kept = explainBatchSync(model, batch, { depth: 1, score: 'target' });
    const all = explainBatchSync(model, batch, { depth: 1, score: 'target', keepOpposing: true });
    kept.forEach((e, i) => {
      const top = e.layers[0];
      for (const s of top.scores) expect(s).toBeGreaterThan(0);
      // The opposing units are what keepOpposing adds; their (negative) contributions close the gap.
      const added = all[i].layers[0];
      let opposing = 0;
      added.units.forEach((u, k) => { if (!top.units.includes(u)) { expect(added.scores[k]).toBeLessThan(0); opposing += added.scores[k]; } });
      expect(e.pathLogit).toBeGreaterThanOrEqual(e.logits[e.target] - 1e-5);
      expect(e.pathLogit + opposing).toBeCloseTo(e.logits[e.target], 4);
    });
  });

  it("linear, width and depth 'all', score 'target' + keepOpposing is input × gradient", async () => {
    const ex = explainBatchSync(model, batch, { semantics: 'linear', score: 'target', keepOpposing: true });
    const ixg = await attributeBatch(model, batch, { method: 'inputXGradient' });
    ex.forEach((e, i) => expect(maxRelDiff(e.attribution, ixg[i].attribution)).toBeLessThan(1e-5));
  });

  it("threshold 'adaptive' keeps the units above the layer's mean live score", () => {
    // At depth 1 with score 'target', threshold 0 returns every positive contribution with its score;
    // the adaptive rule keeps those above their float32 mean (summed in double, as the core does).
    const every = explainBatchSync(model, batch, { depth: 1, score: 'target' });
    const adaptive = explainBatchSync(model, batch, { depth: 1, score: 'target', threshold: 'adaptive' });
    adaptive.forEach((e, i) => {
      const all = every[i].layers[0];
      const mean = Math.fround(sum(all.scores) / all.scores.length);
      const expected = Array.from(all.units).filter((_, k) => all.scores[k] > mean);
      expect(Array.from(e.layers[0].units)).toEqual(expected.length ? expected : Array.from(e.layers[0].units));
      expect(e.layers[0].units.length).toBeLessThanOrEqual(all.units.length);
    });
  });

  it('keepOpposing adds to the reference selection, never removes', () => {
    const ref = explainBatchSync(model, batch, { width: 2 });
    const opp = explainBatchSync(model, batch, { width: 2, keepOpposing: true });
    opp.forEach((e, i) => e.layers.forEach((l, j) => {
      const have = new Set(l.units);
      if (j === e.layers.length - 1) for (const u of ref[i].layers[j].units) expect(have.has(u)).toBe(true);
    }));
  });
});

describe("objective 'logSoftmax'", () => {
  it('is complete: Σ attribution + bias = ŷ_t − Σ_j p̂_j ŷ_j', () => {
    for (const semantics of ['official', 'linear'] as const)
      for (const e of explainBatchSync(model, batch, { semantics, width: 3, objective: 'logSoftmax' })) {
        const y = Array.from(e.pathLogits);
        const top = Math.max(...y);
        const z = y.reduce((s, v) => s + Math.exp(v - top), 0);
        const expected = e.pathLogit - y.reduce((s, v) => s + (Math.exp(v - top) / z) * v, 0);
        const scale = sumAbs(e.attribution) + Math.abs(e.bias) + 1e-6;
        expect(Math.abs(sum(e.attribution) + e.bias - expected)).toBeLessThanOrEqual(1e-4 * scale);
        expect(Math.abs(e.residual)).toBeLessThanOrEqual(1e-4 * scale);
      }
  });

  it('with everything kept (linear, threshold 0) it is x ⊙ ∇ log softmax(f)_t from the unwrapped W', () => {
    const ex = explainBatchSync(model, batch, { semantics: 'linear', threshold: 0, objective: 'logSoftmax' });
    const unwrapped = unwrapBatchSync(model, batch);
    ex.forEach((e, i) => {
      const { weights, bias } = unwrapped[i];
      const C = model.numClasses;
      const f = Array.from({ length: C }, (_, c) => bias[c] + weights.subarray(c * d, (c + 1) * d).reduce((s, w, k) => s + w * xs[i][k], 0));
      const top = Math.max(...f);
      const z = f.reduce((s, v) => s + Math.exp(v - top), 0);
      const expected = new Float64Array(d);
      for (let c = 0; c < C; c++) {
        const coef = (c === e.target ? 1 : 0) - Math.exp(f[c] - top) / z;
        for (let k = 0; k < d; k++) expected[k] += coef * weights[c * d + k] * xs[i][k];
      }
      expect(maxRelDiff(e.attribution, expected)).toBeLessThan(1e-4);
    });
  });
});

describe('explainIntegrated', () => {
  it("linear, threshold 0, width and depth 'all' is integrated gradients with the same quadrature", async () => {
    for (const rule of ['gauss-legendre', 'trapezoid'] as const) {
      const ours = await explainIntegrated(model, batch, { steps: 8, rule, semantics: 'linear', threshold: 0 });
      const ig = await attributeBatch(model, batch, { method: 'integratedGradients', steps: 8, rule });
      ours.forEach((r, i) => {
        expect(maxRelDiff(r.attribution, ig[i].attribution)).toBeLessThan(1e-5);
        expect(r.target).toBe(ig[i].target);
      });
    }
  });

  it('is the quadrature of the path weights at α·x: one step of the trapezoid rule is the path at 0', async () => {
    // Trapezoid with 2 points: α ∈ {0, 1}, weights ½: the mean of the path weights at 0 and at x.
    const two = await explainIntegrated(model, batch, { steps: 2, rule: 'trapezoid', width: 2 });
    const at = await explainBatch(model, batch, { width: 2 });
    const targets = at.map((e) => e.target);
    const atZero = await explainBatch(model, new Float32Array(N * d), { width: 2, targets });
    two.forEach((r, i) => {
      const expected = at[i].weights.map((w, k) => Math.fround(0.5 * w + 0.5 * atZero[i].weights[k]) * xs[i][k]);
      expect(maxRelDiff(r.attribution, expected)).toBeLessThan(1e-5);
      expect(r.pathAgreement).toBeGreaterThanOrEqual(0);
      expect(r.pathAgreement).toBeLessThanOrEqual(1);
    });
  });
});

describe("explainIntegrated weighting 'decision'", () => {
  it('weights each point by the derivative W_P(α x)[t]·x along the line, normalised to Σ |v| = 1', async () => {
    const steps = 4;
    const ours = await explainIntegrated(model, batch, { steps, width: 2, weighting: 'decision' });
    const { alpha, weight } = (await import('../lib/index.js')).quadrature('gauss-legendre', steps);
    for (let i = 0; i < N; i++) {
      const scaled = new Float32Array(steps * d);
      for (let s = 0; s < steps; s++) for (let k = 0; k < d; k++) scaled[s * d + k] = Math.fround(alpha[s] * xs[i][k]);
      const rows = await explainBatch(model, scaled, { width: 2, targets: new Array(steps).fill(ours[i].target) });
      const v = rows.map((r, s) => weight[s] * r.weights.reduce((acc, w, k) => acc + w * xs[i][k], 0));
      const norm = v.reduce((a, b) => a + Math.abs(b), 0);
      const expected = new Float64Array(d);
      rows.forEach((r, s) => r.weights.forEach((w, k) => (expected[k] += (v[s] / norm) * w)));
      expect(maxRelDiff(ours[i].attribution, expected.map((w, k) => Math.fround(w) * xs[i][k]))).toBeLessThan(1e-5);
    }
  });
});

describe('explainRegional', () => {
  it('tiles partition the input', () => {
    const masks = tileMasks(model, 3);
    expect(masks.length).toBe(9);
    const cover = new Float32Array(d);
    for (const m of masks) m.forEach((v, k) => (cover[k] += v));
    expect(Array.from(cover).every((v) => v === 1)).toBe(true);
  });

  it("linear, threshold 0, width and depth 'all' is input × gradient (every tile's path keeps every live unit)", async () => {
    const ours = await explainRegional(model, batch, { tiles: 2, semantics: 'linear', threshold: 0 });
    const ixg = await attributeBatch(model, batch, { method: 'inputXGradient' });
    ours.forEach((r, i) => expect(maxRelDiff(r.attribution, ixg[i].attribution)).toBeLessThan(1e-5));
  });

  it('each tile of the map is that tile’s regional explanation', async () => {
    const ours = await explainRegional(model, batch.subarray(0, d), { tiles: 2, width: 2 });
    const masks = tileMasks(model, 2);
    const rows = await explainBatch(model, Float32Array.from({ length: 4 * d }, (_, k) => xs[0][k % d]), { width: 2, regions: masks, targets: [0, 0, 0, 0].map(() => ours[0].target) });
    const expected = new Float32Array(d);
    rows.forEach((r, k) => masks[k].forEach((m, j) => { if (m) expected[j] = r.regionAttribution![j]; }));
    expect(Array.from(ours[0].attribution)).toEqual(Array.from(expected));
  });
});
