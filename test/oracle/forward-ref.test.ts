/**
 * Self-checks of the layer-spec reference oracle (forward-ref.ts): hand-computed cases for the
 * conventions it pins down (pool sizes, ties, padding, count_include_pad), and, on random
 * networks using every layer type and `inputs` DAGs, its VJP against central differences of its
 * forward and against the completeness identity of the frozen network.
 */
import { describe, expect, it } from 'vitest';
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';
import { rng, uniform } from '../helpers/onnx-build.js';
import { referenceForward, referenceTrace, referenceVjp, referenceVjpAll } from './forward-ref.js';

const f32 = (n: number, r: () => number, scale = 1): Float32Array => Float32Array.from(uniform(r, n, scale));
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

describe('reference forward: conventions', () => {
  it('maxpool: ceil-mode size drops a last window starting in the trailing padding (5 → 3, not 4)', () => {
    const spec: NetworkSpec = { inputShape: [1, 5, 5], layers: [{ type: 'maxpool', kernel: [2, 2], stride: [2, 2], pads: [1, 1, 1, 1], ceilMode: true }] };
    expect(referenceTrace(spec, new Float32Array(25)).shapes[0]).toEqual([1, 3, 3]);
    const floor: NetworkSpec = { inputShape: [1, 5, 5], layers: [{ type: 'maxpool', kernel: [2, 2], stride: [2, 2], pads: [1, 1, 1, 1] }] };
    expect(referenceTrace(floor, new Float32Array(25)).shapes[0]).toEqual([1, 3, 3]);
    const ceil: NetworkSpec = { inputShape: [1, 5, 5], layers: [{ type: 'maxpool', kernel: [2, 2], stride: [2, 2], ceilMode: true }] };
    expect(referenceTrace(ceil, new Float32Array(25)).shapes[0]).toEqual([1, 3, 3]);
  });

  it('maxpool: padded positions never win; ties go to the first maximum in row-major order', () => {
    const neg: NetworkSpec = { inputShape: [1, 2, 2], layers: [{ type: 'maxpool', kernel: [2, 2], stride: [1, 1], pads: [1, 1, 0, 0] }] };
    expect(Array.from(referenceForward(neg, Float32Array.from([-4, -3, -2, -1])))).toEqual([-4, -3, -2, -1]);
    const ties: NetworkSpec = { inputShape: [1, 2, 3], layers: [{ type: 'maxpool', kernel: [2, 2], stride: [1, 1] }] };
    // Windows: cols 0-1 and 1-2; the 7s at (0,1) and (1,0) tie in window 0, (0,1) comes first.
    const x = Float32Array.from([1, 7, 2, 7, 0, 7]);
    expect(Array.from(referenceForward(ties, x))).toEqual([7, 7]);
    expect(Array.from(referenceVjp(ties, x, [1, 10]))).toEqual([0, 11, 0, 0, 0, 0]);
  });

  it('avgpool: count_include_pad counts the padding but not a ceil-mode overhang', () => {
    // Width 4, kernel 3, stride 2, left pad 1, ceil: ceil((4 + 1 − 3) / 2) + 1 = 2 windows, [-1, 2) and [1, 4).
    const layer = (countIncludePad: boolean): NetworkSpec => ({
      inputShape: [1, 1, 4],
      layers: [{ type: 'avgpool', kernel: [1, 3], stride: [1, 2], pads: [0, 1, 0, 0], ceilMode: true, countIncludePad }],
    });
    const x = Float32Array.from([1, 2, 3, 4]);
    expect(referenceTrace(layer(true), x).shapes[0]).toEqual([1, 1, 2]);
    // Window 0 = [-1, 2): pad, 1, 2 → include: 3/3, exclude: 3/2. Window 1 = [1, 4): 2, 3, 4.
    expect(Array.from(referenceForward(layer(true), x))).toEqual([1, 3]);
    expect(Array.from(referenceForward(layer(false), x))).toEqual([1.5, 3]);
    // Overhang: 5 values, kernel 2 stride 2 ceil → windows [0,2), [2,4), [4,6) clipped to [4,5): divisor 1 either way.
    const over = (countIncludePad: boolean): NetworkSpec => ({
      inputShape: [1, 1, 5],
      layers: [{ type: 'avgpool', kernel: [1, 2], stride: [1, 2], ceilMode: true, countIncludePad }],
    });
    const y = Float32Array.from([1, 3, 5, 7, 9]);
    expect(Array.from(referenceForward(over(true), y))).toEqual([2, 6, 9]);
    expect(Array.from(referenceForward(over(false), y))).toEqual([2, 6, 9]);
    // Trailing padding 1 with the same overhang: the last window [4,6) is inside input + pad → divisor 2.
    const padded: NetworkSpec = { inputShape: [1, 1, 5], layers: [{ type: 'avgpool', kernel: [1, 2], stride: [1, 2], pads: [0, 0, 0, 1], ceilMode: true, countIncludePad: true }] };
    expect(Array.from(referenceForward(padded, y))).toEqual([2, 6, 4.5]);
  });

  it('conv: groups, stride, dilation and asymmetric pads against a direct formula', () => {
    const r = rng(3);
    const layer: LayerSpec = {
      type: 'conv', inChannels: 4, outChannels: 2, kernel: [2, 3], stride: [2, 1], pads: [1, 0, 0, 2], dilation: [1, 2], groups: 2,
      weights: f32(2 * 2 * 2 * 3, r), bias: f32(2, r),
    };
    const x = f32(4 * 5 * 4, r);
    const y = referenceForward({ inputShape: [4, 5, 4], layers: [layer] }, x);
    // out H = floor((5+1+0−2)/2)+1 = 3, out W = floor((4+0+2−5)/1)+1 = 2.
    expect(y.length).toBe(2 * 3 * 2);
    // Output channel 1 belongs to group 1 (input channels 2, 3); position (2, 1).
    let s = layer.bias![1];
    for (let ci = 0; ci < 2; ci++) {
      for (let a = 0; a < 2; a++) {
        for (let b = 0; b < 3; b++) {
          const ih = 2 * 2 - 1 + a;
          const iw = 1 + 2 * b;
          if (ih < 0 || ih >= 5 || iw >= 4) continue;
          s += layer.weights[((1 * 2 + ci) * 2 + a) * 3 + b] * x[((2 + ci) * 5 + ih) * 4 + iw];
        }
      }
    }
    expect(y[(1 * 3 + 2) * 2 + 1]).toBeCloseTo(s, 12);
  });

  it('batchnorm equals the affine layer it folds to', () => {
    const r = rng(4);
    const bn: LayerSpec = { type: 'batchnorm', scale: f32(3, r), bias: f32(3, r), mean: f32(3, r), variance: Float32Array.from([0.5, 1, 2]), epsilon: 1e-3 };
    const scale = Float32Array.from([0, 1, 2], (c) => bn.scale[c] / Math.sqrt(bn.variance[c] + bn.epsilon));
    const shift = Float32Array.from([0, 1, 2], (c) => bn.bias[c] - scale[c] * bn.mean[c]);
    const x = f32(12, r);
    const a = referenceForward({ inputShape: [3, 2, 2], layers: [bn] }, x);
    const b = referenceForward({ inputShape: [3, 2, 2], layers: [{ type: 'affine', scale, shift }] }, x);
    for (let i = 0; i < 12; i++) expect(a[i]).toBeCloseTo(b[i], 6);
  });

  it('rejects shapes that do not chain and bad inputs indices', () => {
    expect(() => referenceForward({ inputShape: [4], layers: [{ type: 'dense', in: 5, out: 2, weights: new Float32Array(10) }] }, new Float32Array(4))).toThrow(/expected 5/);
    expect(() => referenceForward({ inputShape: [4], layers: [{ type: 'relu', inputs: [0] }] }, new Float32Array(4))).toThrow(/not an earlier layer/);
    expect(() => referenceForward({ inputShape: [2, 2, 2], layers: [{ type: 'globalavgpool' }, { type: 'add', inputs: [0, -1] }] }, new Float32Array(8))).toThrow(/differ/);
  });
});

// ---------------------------------------------------------------------------------------------
// random DAGs

/** A random network with every layer type: two conv branches joined by an add, pools, norms. */
function randomNet(seed: number): NetworkSpec {
  const r = rng(seed);
  const c = 1 + Math.floor(r() * 3);
  const h = 7 + Math.floor(r() * 4);
  const w = 6 + Math.floor(r() * 4);
  const m = 2 * (1 + Math.floor(r() * 2));
  const g = r() < 0.5 ? 1 : c === 1 ? 1 : c;
  const m1 = g === 1 ? m : c * 2;
  const layers: LayerSpec[] = [
    // 0: conv 3×3 pad 1 (same size), grouped or not
    { type: 'conv', inChannels: c, outChannels: m1, kernel: [3, 3], pads: [1, 1, 1, 1], groups: g, weights: f32((m1 * c * 9) / g, r, 0.6), bias: f32(m1, r, 0.3) },
    // 1
    { type: 'batchnorm', scale: f32(m1, r), bias: f32(m1, r, 0.3), mean: f32(m1, r, 0.3), variance: Float32Array.from({ length: m1 }, () => 0.5 + r()), epsilon: 1e-5 },
    // 2
    { type: 'relu' },
    // 3: second branch from the input: 1×1 conv, no bias
    { type: 'conv', inChannels: c, outChannels: m1, kernel: [1, 1], weights: f32(m1 * c, r), inputs: [-1] },
    // 4: affine on it
    { type: 'affine', scale: f32(m1, r), shift: f32(m1, r, 0.3) },
    // 5: join
    { type: 'add', inputs: [2, 4] },
    // 6
    { type: 'relu' },
    // 7: maxpool with pads, dilation, ceil mode
    { type: 'maxpool', kernel: [2, 2], stride: [2, 1], pads: [1, 0, 0, 1], dilation: [1, 2], ceilMode: true },
    // 8: strided dilated conv
    { type: 'conv', inChannels: m1, outChannels: 3, kernel: [2, 2], stride: [1, 2], dilation: [2, 1], pads: [0, 1, 1, 0], weights: f32(3 * m1 * 4, r, 0.5), bias: f32(3, r, 0.3) },
    // 9
    { type: 'relu' },
    // 10: avgpool, ceil mode and padding
    { type: 'avgpool', kernel: [2, 2], stride: [2, 2], pads: [1, 1, 0, 0], ceilMode: true, countIncludePad: r() < 0.5 },
    // 11: skip from 9 (relu) via globalavgpool, and from 10 via globalavgpool, added
    { type: 'globalavgpool' },
    { type: 'globalavgpool', inputs: [9] },
    { type: 'add', inputs: [11, 12] },
    { type: 'flatten' },
    { type: 'identity' },
    { type: 'dense', in: 3, out: 5, weights: f32(15, r), bias: f32(5, r, 0.3) },
    { type: 'relu' },
    { type: 'reshape', shape: [5] },
    { type: 'dense', in: 5, out: 4, weights: f32(20, r), bias: f32(4, r, 0.3) },
  ];
  return { inputShape: [c, h, w], layers };
}

/** Per-layer constant terms of the frozen network: the bias of each affine layer (docs/method.md §5.1). */
function biasTerm(spec: NetworkSpec, deltas: Float64Array[]): number {
  let b = 0;
  spec.layers.forEach((l, i) => {
    const d = deltas[i];
    const perChannel = (shift: ArrayLike<number>): void => {
      const per = d.length / shift.length;
      for (let j = 0; j < d.length; j++) b += d[j] * shift[Math.floor(j / per)];
    };
    if ((l.type === 'dense' || l.type === 'conv') && l.bias) perChannel(l.bias);
    else if (l.type === 'affine') perChannel(l.shift);
    else if (l.type === 'batchnorm') perChannel(Array.from(l.bias, (v, c) => v - (l.scale[c] * l.mean[c]) / Math.sqrt(l.variance[c] + l.epsilon)));
  });
  return b;
}

describe('reference VJP on random DAGs with every layer type', () => {
  it.each(Array.from({ length: 20 }, (_, i) => i))('net %i: central differences and completeness', (i) => {
    const spec = randomNet(500 + i);
    const r = rng(900 + i);
    const n = spec.inputShape.reduce((a, b) => a * b, 1);
    const x = Float64Array.from(uniform(r, n, 1.5));
    const y = referenceForward(spec, x);
    expect(y.length).toBe(4);
    for (let k = 0; k < 3; k++) {
      const c = uniform(r, 4);
      const { input: g, layers: deltas } = referenceVjpAll(spec, x, c);
      // Directional derivative: the network is piecewise linear, so a small step is exact
      // unless a ReLU or a max changes in between (probability ~0 at random inputs).
      const v = uniform(r, n);
      const eps = 1e-6;
      const plus = referenceForward(spec, x.map((xi, j) => xi + eps * v[j]));
      const minus = referenceForward(spec, x.map((xi, j) => xi - eps * v[j]));
      const fd = (dot(c, plus) - dot(c, minus)) / (2 * eps);
      expect(Math.abs(fd - dot(g, v))).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(fd)));
      // Completeness of the frozen network: c·f(x) = g·x + Σ_k ⟨δ_k, β_k⟩.
      expect(Math.abs(dot(c, y) - dot(g, x) - biasTerm(spec, deltas))).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(dot(c, y))));
    }
  });

  it('the VJP is linear in the cotangent and the input gradient equals a dense network’s Wᵀ·c', () => {
    const spec = randomNet(42);
    const n = spec.inputShape.reduce((a, b) => a * b, 1);
    const x = Float64Array.from(uniform(rng(1), n));
    const a = referenceVjp(spec, x, [1, 0, 0, 0]);
    const b = referenceVjp(spec, x, [0, 2, 0, 0]);
    const ab = referenceVjp(spec, x, [1, 2, 0, 0]);
    for (let j = 0; j < n; j++) expect(ab[j]).toBeCloseTo(a[j] + b[j], 12);
    const dense: NetworkSpec = { inputShape: [3], layers: [{ type: 'dense', in: 3, out: 2, weights: Float32Array.from([1, 2, 3, 4, 5, 6]) }] };
    expect(Array.from(referenceVjp(dense, Float64Array.from([9, 9, 9]), [1, -1]))).toEqual([-3, -3, -3]);
  });
});
