// Property tests on random small CNNs (conv, pools, BatchNorm, residual adds): the identities that
// hold whatever the path — completeness for both semantics, decomposition sums, and 'linear' at
// full width and threshold 0 equal to input × gradient from the independent float64 reference.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { loadModelSync, explainSync, type LayerSpec, type NetworkSpec } from '../lib/index.js';
import { referenceVjp } from './oracle/forward-ref.js';

function randomCnn(seed: number): NetworkSpec {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const weights = (n: number, fan: number) => new Float32Array(n).map(() => ((rand() * 2 - 1) * 1.7) / Math.sqrt(fan));
  let c = int(1, 3), h = int(6, 11), w = int(6, 11);
  const inputShape = [c, h, w];
  const layers: LayerSpec[] = [];
  const blocks = int(1, 3);
  for (let b = 0; b < blocks; b++) {
    const out = int(2, 5), k = int(1, Math.min(3, h, w)), pad = int(0, Math.min(1, k - 1)), stride = h > 5 && rand() < 0.3 ? 2 : 1;
    layers.push({ type: 'conv', inChannels: c, outChannels: out, kernel: [k, k], stride: [stride, stride], pads: [pad, pad, pad, pad],
      weights: weights(out * c * k * k, c * k * k), bias: weights(out, 4) });
    h = Math.floor((h + 2 * pad - k) / stride) + 1;
    w = Math.floor((w + 2 * pad - k) / stride) + 1;
    c = out;
    if (rand() < 0.4) layers.push({ type: 'batchnorm', scale: weights(c, 1), bias: weights(c, 4), mean: weights(c, 4), variance: new Float32Array(c).map(() => 0.5 + rand()), epsilon: 1e-5 });
    layers.push({ type: 'relu' });
    if (rand() < 0.4) {
      // A residual block: conv 3×3 pad 1 keeps the shape, then add the block input back.
      const source = layers.length - 1;
      layers.push({ type: 'conv', inChannels: c, outChannels: c, kernel: [3, 3], pads: [1, 1, 1, 1], weights: weights(c * c * 9, c * 9) });
      layers.push({ type: 'add', inputs: [layers.length - 1, source] });
      layers.push({ type: 'relu' });
    }
    if (h >= 4 && w >= 4 && rand() < 0.6) {
      const max = rand() < 0.6;
      layers.push(max ? { type: 'maxpool', kernel: [2, 2], stride: [2, 2], ceilMode: rand() < 0.3 } : { type: 'avgpool', kernel: [2, 2], stride: [2, 2] });
      const ceil = max && (layers[layers.length - 1] as { ceilMode?: boolean }).ceilMode;
      h = ceil ? Math.ceil((h - 2) / 2) + 1 : Math.floor((h - 2) / 2) + 1;
      w = ceil ? Math.ceil((w - 2) / 2) + 1 : Math.floor((w - 2) / 2) + 1;
    }
  }
  const features = c * h * w, hidden = int(3, 12), classes = int(2, 6);
  layers.push({ type: 'flatten' });
  layers.push({ type: 'dense', in: features, out: hidden, weights: weights(features * hidden, features), bias: weights(hidden, 4) });
  layers.push({ type: 'relu' });
  layers.push({ type: 'dense', in: hidden, out: classes, weights: weights(hidden * classes, hidden), bias: weights(classes, 4) });
  return { inputShape, layers };
}

const sum = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; };
const sumAbs = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i]); return s; };

describe('random small CNNs', () => {
  it('keep completeness, decomposition sums and the unwrap identity', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.constantFrom<'all' | number>('all', 1, 3, 8), fc.constantFrom<'all' | number>('all', 1, 2),
        (seed, width, depthChoice) => {
          const spec = randomCnn(seed);
          const model = loadModelSync(spec);
          const depth = depthChoice === 'all' ? 'all' : Math.min(depthChoice, model.reluLayers.length);
          let s = seed ^ 0x9e3779b9;
          const x = new Float32Array(model.inputSize).map(() => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1);
          for (const semantics of ['official', 'linear'] as const) {
            const ex = explainSync(model, x, { semantics, width, depth, decompose: { by: 'channel' } });
            const scale = sumAbs(ex.attribution) + Math.abs(ex.bias) + 1e-6;
            expect(Math.abs(sum(ex.attribution) + ex.bias - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
            const dec = ex.decomposition!;
            const contributions = dec.components.reduce((a, c) => a + c.contribution, 0);
            expect(Math.abs(contributions + dec.biasAbove - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
          }
          const t = model.numClasses - 1;
          const unwrap = explainSync(model, x, { semantics: 'linear', threshold: 0, target: t });
          const seedRow = new Float64Array(model.numClasses);
          seedRow[t] = 1;
          const grad = referenceVjp(spec, x, seedRow);
          const gScale = Math.max(...Array.from(grad, Math.abs)) + 1e-9;
          for (let i = 0; i < grad.length; i++) expect(Math.abs(unwrap.weights[i] - grad[i])).toBeLessThanOrEqual(1e-4 * gScale);
          expect(unwrap.pathLogit).toBeCloseTo(unwrap.logits[t], 3);
          model.dispose();
        }),
      { numRuns: 120, seed: 77 },
    );
  });
});
