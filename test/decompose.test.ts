// Decomposition (docs/method.md §6): components of one path layer whose weights, attributions, biases and
// contributions sum exactly (to float32 rounding) to the explanation's, for both semantics and
// every grouping.
import { describe, it, expect } from 'vitest';
import { join } from 'node:path';
import { loadModelSync, explainSync, type Explanation } from '../lib/index.js';
import { fixtureDir, loadFixtureSet } from './helpers/fixtures.js';
import { fashionCnnSpec } from './helpers/fashion-cnn-spec.js';

function checkSums(ex: Explanation) {
  const dec = ex.decomposition!;
  const d = ex.weights.length;
  const w = new Float64Array(d), a = new Float64Array(d);
  let bias = 0, contribution = 0, scale = Math.abs(ex.bias);
  for (const c of dec.components) {
    for (let i = 0; i < d; i++) { w[i] += c.weights[i]; a[i] += c.attribution[i]; }
    bias += c.bias;
    contribution += c.contribution;
    // Each component is itself a linear model: r_G = W^(G)·x + b^(G).
    let lin = c.bias, abs = Math.abs(c.bias);
    for (let i = 0; i < d; i++) { lin += c.attribution[i]; abs += Math.abs(c.attribution[i]); }
    expect(Math.abs(lin - c.contribution)).toBeLessThanOrEqual(1e-4 * abs + 1e-6);
  }
  let wScale = 0;
  for (let i = 0; i < d; i++) { wScale = Math.max(wScale, Math.abs(ex.weights[i])); scale += Math.abs(ex.attribution[i]); }
  for (let i = 0; i < d; i++) {
    expect(Math.abs(w[i] - ex.weights[i])).toBeLessThanOrEqual(1e-4 * wScale + 1e-7);
    expect(Math.abs(a[i] - ex.attribution[i])).toBeLessThanOrEqual(1e-4 * wScale * 4 + 1e-7);
  }
  expect(Math.abs(bias + dec.biasAbove - ex.bias)).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
  expect(Math.abs(contribution + dec.biasAbove - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale + 1e-6);
}

describe('decomposition', () => {
  const cases = [
    { name: 'fashion_mlp', model: () => join(fixtureDir('models'), 'fashion_mlp.onnx') },
    { name: 'fashion_cnn_dither', model: () => fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx')) },
  ];
  for (const { name, model: source } of cases) {
    it(`sums exactly on ${name}, both semantics, every grouping and layer`, () => {
      const model = loadModelSync(source());
      const set = loadFixtureSet(fixtureDir(name));
      for (const semantics of ['official', 'linear'] as const)
        for (const by of ['unit', 'channel', { top: 3 }] as const)
          for (const layer of [undefined, 0, 1])
            for (let j = 0; j < 16; j += 7) {
              const x = set.inputs.subarray(j * 784, (j + 1) * 784);
              const ex = explainSync(model, x, { semantics, width: 16, decompose: { by, ...(layer !== undefined ? { layer } : {}) } });
              const dec = ex.decomposition!;
              expect(dec.ordinal).toBe(layer ?? model.reluLayers.length - 1);
              if (by === 'unit') {
                const kept = ex.layers.find((l) => l.ordinal === dec.ordinal)!.units;
                // 'linear' drops kept units that are inactive (gate m ⊙ φ); 'official' keeps all.
                expect(dec.components.length).toBeLessThanOrEqual(kept.length);
                if (semantics === 'official') expect(dec.components.map((c) => c.units[0])).toEqual(Array.from(kept));
              }
              if (typeof by === 'object') expect(dec.components.filter((c) => !c.rest).length).toBeLessThanOrEqual(3);
              checkSums(ex);
            }
      model.dispose();
    });
  }

  it('rejects a layer that is not a path layer and bad groupings', () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
    const x = new Float32Array(784).fill(0.1);
    expect(() => explainSync(model, x, { depth: 1, decompose: { by: 'unit', layer: 0 } })).toThrow(/not a path layer/);
    expect(() => explainSync(model, x, { decompose: { by: 'units' as never } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { decompose: { by: { top: 0 } } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { decompose: { by: 'unit', layer: 7 } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { decompose: 'unit' as never })).toThrow(TypeError);
  });
});
