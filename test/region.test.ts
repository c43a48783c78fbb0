// Regional explanation (docs/method.md §7.2): units scored by the part of their evidence that flows from a
// region (a forward-mode pass of x ⊙ 1_Ω through the frozen original network, no biases).
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { loadModelSync, explainSync, explainBatchSync, type LayerSpec } from '../lib/index.js';
import { fixtureDir, loadFixtureSet, maxRelDiff } from './helpers/fixtures.js';
import { fashionCnnSpec } from './helpers/fashion-cnn-spec.js';

const cnn = () => fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx'));

function withoutBiases(spec: ReturnType<typeof cnn>) {
  return {
    ...spec,
    layers: spec.layers.map((l): LayerSpec => (l.type === 'conv' || l.type === 'dense' ? { ...l, bias: undefined } : l)),
  };
}

describe('region', () => {
  const set = loadFixtureSet(fixtureDir('fashion_cnn_dither'));
  const input = (j: number) => set.inputs.subarray(j * 784, (j + 1) * 784);

  it('is the plain explanation when the network has no biases and the region is everything', () => {
    // Then τ_l = h_l exactly (a bias-free ReLU network is positively homogeneous).
    const model = loadModelSync(withoutBiases(cnn()));
    for (const semantics of ['official', 'linear'] as const)
      for (let j = 0; j < 16; j += 5) {
        const plain = explainSync(model, input(j), { semantics, width: 16 });
        const regional = explainSync(model, input(j), { semantics, width: 16, region: new Array(784).fill(1) });
        expect(regional.layers.map((l) => Array.from(l.units))).toEqual(plain.layers.map((l) => Array.from(l.units)));
        expect(maxRelDiff(regional.attribution, plain.attribution)).toBeLessThan(1e-4);
        expect(regional.regionShare).toBeCloseTo(plain.attribution.reduce((a, b) => a + b, 0), 4);
      }
  });

  it('only keeps first-layer units whose receptive field meets the region', () => {
    const model = loadModelSync(cnn());
    const box = { x: 4, y: 6, width: 8, height: 5 };
    for (let j = 0; j < 16; j += 3) {
      const ex = explainSync(model, input(j), { region: box, width: 'all' });
      const first = ex.layers[0]; // conv ReLU 16 × 26 × 26; unit (c, y, x) sees rows y..y+2, cols x..x+2
      if (first.fallback) continue;
      for (const u of first.units) {
        const y = Math.floor((u % 676) / 26), x = u % 26;
        expect(y + 2 >= box.y && y < box.y + box.height && x + 2 >= box.x && x < box.x + box.width, `unit ${u}`).toBe(true);
      }
      // regionAttribution = A ⊙ 1_Ω and regionShare = its sum.
      let share = 0;
      for (let i = 0; i < 784; i++) {
        const inside = Math.floor(i / 28) >= box.y && Math.floor(i / 28) < box.y + box.height && i % 28 >= box.x && i % 28 < box.x + box.width;
        expect(ex.regionAttribution![i] === (inside ? ex.attribution[i] : 0), `pixel ${i}`).toBe(true);
        share += ex.regionAttribution![i];
      }
      expect(ex.regionShare).toBeCloseTo(share, 4);
    }
  });

  it('runs several regions of one input as one batch, equal to single calls', () => {
    const model = loadModelSync(cnn());
    const regions = [{ x: 0, y: 0, width: 14, height: 14 }, { x: 14, y: 14, width: 14, height: 14 }, new Array(784).fill(1)];
    const xs = new Float32Array(3 * 784);
    for (let k = 0; k < 3; k++) xs.set(input(2), k * 784);
    const batch = explainBatchSync(model, xs, { regions, width: 8 });
    regions.forEach((region, k) => {
      const one = explainSync(model, input(2), { region, width: 8 });
      expect(batch[k].layers.map((l) => Array.from(l.units))).toEqual(one.layers.map((l) => Array.from(l.units)));
      expect(maxRelDiff(batch[k].regionAttribution!, one.regionAttribution!)).toBeLessThan(1e-5);
    });
  });

  it('keeps each region with its input when a batch is split into chunks (memory bound, parallel batch items)', () => {
    // 12 inputs, each with its own box: a batch this size is explained in parallel chunks on a
    // multi-core pool, and a small maxMemoryBytes splits it further. (Chunks after the first once
    // read the first inputs' regions.)
    const model = loadModelSync(cnn());
    const count = 12;
    const xs = new Float32Array(count * 784);
    const regions = Array.from({ length: count }, (_, k) => ({ x: k % 7, y: (3 * k) % 11, width: 10 + (k % 5), height: 12 }));
    for (let k = 0; k < count; k++) xs.set(input(k % 6), k * 784);
    const singles = regions.map((region, k) => explainSync(model, xs.subarray(k * 784, (k + 1) * 784), { region, width: 8 }));
    for (const maxMemoryBytes of [undefined, 4_000_000, 2_000_000]) {
      const batch = explainBatchSync(model, xs, { regions, width: 8, ...(maxMemoryBytes ? { maxMemoryBytes } : {}) });
      batch.forEach((ex, k) => {
        expect(ex.layers.map((l) => Array.from(l.units)), `input ${k}`).toEqual(singles[k].layers.map((l) => Array.from(l.units)));
        expect(Array.from(ex.regionAttribution!), `input ${k}`).toEqual(Array.from(singles[k].regionAttribution!));
      });
    }
  });

  it('rejects bad regions', () => {
    const model = loadModelSync(cnn());
    const x = input(0);
    expect(() => explainSync(model, x, { region: [1, 0, 1] })).toThrow(RangeError);
    expect(() => explainSync(model, x, { region: new Array(784).fill(2) })).toThrow(/must be 0 or 1/);
    expect(() => explainSync(model, x, { region: { x: 20, y: 0, width: 10, height: 2 } })).toThrow(/outside/);
    expect(() => explainSync(model, x, { region: 'top-left' as never })).toThrow(TypeError);
    expect(() => explainBatchSync(model, x, { regions: [] })).toThrow(RangeError);
  });
});
