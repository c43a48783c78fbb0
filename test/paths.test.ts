// One-way paths (docs/method.md §8): the exact k-best search against brute-force enumeration on small MLPs,
// the identity Σ_p c_p + b_{>l_1} = ŷ_t, and each path's linear model W_p·x + b_p = c_p.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadModelSync, explainSync, type LayerSpec } from '../lib/index.js';
import { fixtureDir, loadFixtureSet } from './helpers/fixtures.js';

type Dense = Extract<LayerSpec, { type: 'dense' }>;

function mlp(rand: () => number, sizes: number[]): LayerSpec[] {
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push({
      type: 'dense', in: sizes[i], out: sizes[i + 1],
      weights: new Float32Array(sizes[i] * sizes[i + 1]).map(() => (rand() * 2 - 1) / Math.sqrt(sizes[i])),
      bias: new Float32Array(sizes[i + 1]).map(() => (rand() * 2 - 1) * 0.3),
    });
    if (i + 2 < sizes.length) layers.push({ type: 'relu' });
  }
  return layers;
}

/** All complete one-way paths of an 'official' explanation of a dense chain, by enumeration. */
function enumerate(layers: LayerSpec[], x: Float32Array, sets: Int32Array[], t: number): { units: number[]; c: number }[] {
  const dense = layers.filter((l) => l.type === 'dense') as Dense[];
  // z of the first path layer: the original network below it (path layers are the top ones).
  const first = dense.length - 1 - sets.length; // index of the dense layer producing z_{l_1}
  let h = Float64Array.from(x);
  let z = new Float64Array(0);
  for (let k = 0; k <= first; k++) {
    const l = dense[k];
    z = new Float64Array(l.out).map((_, o) => {
      let s = l.bias ? l.bias[o] : 0;
      for (let i = 0; i < l.in; i++) s += l.weights[o * l.in + i] * h[i];
      return s;
    });
    h = z.map((v) => (v > 0 ? v : 0));
  }
  const out: { units: number[]; c: number }[] = [];
  const walk = (j: number, units: number[], value: number) => {
    if (j === sets.length) {
      const top = dense[dense.length - 1];
      const u = units[units.length - 1];
      out.push({ units: [...units], c: value * top.weights[t * top.in + u] });
      return;
    }
    for (const v of sets[j]) {
      const w = j === 0 ? z[v] : dense[first + j].weights[v * dense[first + j].in + units[j - 1]];
      walk(j + 1, [...units, v], value * w);
    }
  };
  walk(0, [], 1);
  return out;
}

describe('one-way paths', () => {
  it('equal brute-force enumeration on random MLPs (signed and abs), with exact sums', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 8 }), fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 12 }), (seed, hidden, inputs, classes, k) => {
          let s = seed;
          const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
          const layers = mlp(rand, [inputs, ...hidden, classes]);
          const model = loadModelSync(layers);
          const x = new Float32Array(inputs).map(() => rand() * 4 - 2);
          for (const rank of ['signed', 'abs'] as const) {
            const ex = explainSync(model, x, { width: 3, paths: { k, rank } });
            const sets = ex.layers.map((l) => l.units);
            const all = enumerate(layers, x, sets, ex.target);
            const total = all.reduce((a, p) => a + p.c, 0);
            const scale = all.reduce((a, p) => a + Math.abs(p.c), 0) + Math.abs(ex.paths!.biasAbove) + 1e-6;
            // Σ over every complete one-way path + b_{>l_1} = ŷ_t (official: MaskLayers, no pools).
            expect(Math.abs(total + ex.paths!.biasAbove - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
            const key = (c: number) => (rank === 'abs' ? Math.abs(c) : c);
            const want = [...all].sort((a, b) => key(b.c) - key(a.c)).slice(0, k);
            const got = ex.paths!.items;
            expect(got.length).toBe(Math.min(k, all.length));
            got.forEach((p, i) => {
              expect(Math.abs(key(p.contribution) - key(want[i].c))).toBeLessThanOrEqual(1e-4 * scale);
              // The path's linear model reproduces its contribution.
              let lin = p.bias;
              for (let q = 0; q < x.length; q++) lin += p.weights[q] * x[q];
              expect(Math.abs(lin - p.contribution)).toBeLessThanOrEqual(1e-4 * scale);
            });
            if (k >= all.length) expect(ex.paths!.coverage).toBeCloseTo(1, 3);
            expect(ex.paths!.exact).toBe(true);
          }
          model.dispose();
        }),
      { numRuns: 150, seed: 8 },
    );
  });

  it('runs on the fixture CNN in both semantics; the beam mode is marked inexact', () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_cnn.onnx'));
    const set = loadFixtureSet(fixtureDir('fashion_cnn_dither'));
    const x = set.inputs.subarray(0, 784);
    for (const semantics of ['official', 'linear'] as const) {
      const ex = explainSync(model, x, { semantics, width: 8, paths: { k: 10 } });
      const items = ex.paths!.items;
      expect(items.length).toBe(10);
      expect(ex.paths!.exact).toBe(true);
      for (let i = 1; i < items.length; i++) expect(items[i].contribution).toBeLessThanOrEqual(items[i - 1].contribution);
      for (const p of items) {
        expect(p.units.length).toBe(3);
        let lin = p.bias;
        for (let q = 0; q < 784; q++) lin += p.weights[q] * x[q];
        expect(lin).toBeCloseTo(p.contribution, 4);
      }
      const beam = explainSync(model, x, { semantics, width: 'all', paths: { k: 5, maxEdges: 10, beam: 4 } });
      expect(beam.paths!.exact).toBe(false);
      expect(beam.paths!.items.length).toBeGreaterThan(0);
    }
  });

  it('rejects bad options and residual joins above the first path layer', () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
    const x = new Float32Array(784).fill(0.2);
    expect(() => explainSync(model, x, { paths: { k: 0 } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { paths: { k: 2, rank: 'up' as never } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { paths: 3 as never })).toThrow(TypeError);
    const resnet = loadModelSync(join(fixtureDir('models'), 'fashion_resnet.onnx'));
    expect(() => explainSync(resnet, new Float32Array(784), { paths: { k: 2 } })).toThrow(/chain above the first path layer/);
  });
});
