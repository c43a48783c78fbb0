// 'linear' semantics (docs/method.md §4.3): the frozen path model with gates m ⊙ φ(z(x)) and the original
// routing. Identities: completeness on every input; with width and depth 'all' and threshold 0 it
// is unwrapping (pathLogit = the original logit, attribution = input × gradient); at depth 1 it is
// the reference's answer whenever the kept units are active.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadModelSync, explainSync, type LayerSpec } from '../lib/index.js';
import { fixtureDir, loadFixtureSet, maxRelDiff } from './helpers/fixtures.js';
import { fashionCnnSpec } from './helpers/fashion-cnn-spec.js';

/** ∂f_t/∂x of a dense ReLU chain, float64 plain loops (an independent unwrap oracle). */
function mlpGradient(layers: LayerSpec[], x: Float32Array, t: number): Float64Array {
  const dense = layers.filter((l) => l.type === 'dense') as Extract<LayerSpec, { type: 'dense' }>[];
  const pre: Float64Array[] = [];
  let h = Float64Array.from(x);
  dense.forEach((l, k) => {
    const z = new Float64Array(l.out);
    for (let o = 0; o < l.out; o++) {
      let s = l.bias ? l.bias[o] : 0;
      for (let i = 0; i < l.in; i++) s += l.weights[o * l.in + i] * h[i];
      z[o] = s;
    }
    pre.push(z);
    h = k + 1 < dense.length ? z.map((v) => (v > 0 ? v : 0)) : z;
  });
  let g = new Float64Array(dense[dense.length - 1].out);
  g[t] = 1;
  for (let k = dense.length - 1; k >= 0; k--) {
    const l = dense[k];
    if (k + 1 < dense.length) g = g.map((v, o) => (pre[k][o] > 0 ? v : 0));
    const gin = new Float64Array(l.in);
    for (let o = 0; o < l.out; o++) for (let i = 0; i < l.in; i++) gin[i] += g[o] * l.weights[o * l.in + i];
    g = gin;
  }
  return g;
}

function randomMlp(rand: () => number, sizes: number[]): LayerSpec[] {
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push({
      type: 'dense', in: sizes[i], out: sizes[i + 1],
      weights: new Float32Array(sizes[i] * sizes[i + 1]).map(() => (rand() * 2 - 1) / Math.sqrt(sizes[i])),
      bias: new Float32Array(sizes[i + 1]).map(() => (rand() * 2 - 1) * 0.2),
    });
    if (i + 2 < sizes.length) layers.push({ type: 'relu' });
  }
  return layers;
}

function completeness(ex: { attribution: Float32Array; bias: number; pathLogit: number }) {
  let sum = 0, abs = 0;
  for (const a of ex.attribution) { sum += a; abs += Math.abs(a); }
  return { gap: Math.abs(sum + ex.bias - ex.pathLogit), scale: abs + Math.abs(ex.bias) };
}

describe("semantics: 'linear'", () => {
  it('is unwrapping with width and depth all and threshold 0 (random MLPs)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(fc.integer({ min: 1, max: 24 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 1, max: 20 }), fc.integer({ min: 2, max: 8 }), (seed, hidden, inputs, classes) => {
          let s = seed;
          const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
          const layers = randomMlp(rand, [inputs, ...hidden, classes]);
          const model = loadModelSync(layers);
          const x = new Float32Array(inputs).map(() => rand() * 4 - 2);
          const logits = model.forward(x);
          for (let t = 0; t < classes; t++) {
            const ex = explainSync(model, x, { semantics: 'linear', threshold: 0, target: t });
            expect(ex.pathLogit).toBeCloseTo(logits[t], 4);
            const g = mlpGradient(layers, x, t);
            const ixg = Array.from(g, (v, i) => v * x[i]);
            expect(maxRelDiff(ex.attribution, ixg)).toBeLessThan(1e-4);
            const { gap, scale } = completeness(ex);
            expect(gap).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
          }
          model.dispose();
        }),
      { numRuns: 100, seed: 424242 },
    );
  });

  it('is unwrapping on the fixture CNN too (pathLogit = the original logit)', () => {
    const model = loadModelSync(fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx')));
    const set = loadFixtureSet(fixtureDir('fashion_cnn_dither'));
    for (let j = 0; j < 4; j++) {
      const x = set.inputs.subarray(j * 784, (j + 1) * 784);
      const ex = explainSync(model, x, { semantics: 'linear', threshold: 0 });
      expect(Math.abs(ex.pathLogit - ex.logits[ex.target])).toBeLessThan(1e-4 * Math.abs(ex.logits[ex.target]) + 1e-5);
      const { gap, scale } = completeness(ex);
      expect(gap).toBeLessThanOrEqual(1e-4 * scale);
    }
  });

  it('keeps completeness at every width and depth, on MLP and CNN fixtures', () => {
    for (const [setName, spec] of [
      ['fashion_mlp', join(fixtureDir('models'), 'fashion_mlp.onnx')],
      ['fashion_cnn_dither', fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx'))],
    ] as const) {
      const model = loadModelSync(spec);
      const set = loadFixtureSet(fixtureDir(setName));
      for (const width of [1, 4, 16, '10%', 'all'] as const)
        for (const depth of [1, 2, 'all'] as const)
          for (let j = 0; j < 16; j += 5) {
            const ex = explainSync(model, set.inputs.subarray(j * 784, (j + 1) * 784), { semantics: 'linear', width, depth });
            const { gap, scale } = completeness(ex);
            expect(gap, `${setName} ${width} ${depth} ${j}`).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
          }
      model.dispose();
    }
  });

  it("equals 'official' at depth 1 (the kept units are active)", () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
    const set = loadFixtureSet(fixtureDir('fashion_mlp'));
    for (let j = 0; j < 16; j++) {
      const x = set.inputs.subarray(j * 784, (j + 1) * 784);
      for (const width of [1, 8, 'all'] as const) {
        const a = explainSync(model, x, { depth: 1, width });
        const b = explainSync(model, x, { depth: 1, width, semantics: 'linear' });
        expect(b.layers[0].units).toEqual(a.layers[0].units);
        if (!a.layers[0].fallback) expect(maxRelDiff(b.attribution, a.attribution)).toBeLessThan(1e-6);
      }
    }
  });
});
