// Graph operations around the gates (docs/semantics.md): concat, slice (splits), channel shuffle,
// pad / crop and globalmaxpool, lowered to the engine's Concat and Gather layers and MaxPool. On
// random small CNNs with inception-like branches and on an MLP with a feature concat: the forward
// pass against the float64 oracle, completeness for both semantics, 'linear' with width and depth
// 'all' and threshold 0 equal to the oracle's gradient (× input), decomposition sums, regions and
// one-way paths, and the rejection of bad specs with the right error class.
import { describe, it, expect } from 'vitest';
import { loadModelSync, explainSync, PathwiseError, type LayerSpec, type NetworkSpec } from '../lib/index.js';
import { nativeAddon, type NativeLayer } from '../lib/addon/native.js';
import { referenceForward, referenceTrace, referenceVjp } from './oracle/forward-ref.js';
import { expectExactSums } from './helpers/identities.js';

type Rng = { rand: () => number; int: (lo: number, hi: number) => number };

function rng(seed: number): Rng {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  return { rand, int: (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)) };
}

/**
 * A random CNN of graph operations: a stem conv, an inception-like block (1×1, 3×3 and pooled
 * branches → concat), a split (two channel slices of one producer through different convs →
 * concat), a grouped conv → channel shuffle → conv, a pad (positive or cropping, value 0 or not),
 * and a globalmaxpool, globalavgpool or flatten head. `biases: false` leaves every bias and pad
 * value at 0 (a bias-free network, for the region identity).
 */
function randomGraphCnn(seed: number, biases = true): NetworkSpec {
  const { rand, int } = rng(seed);
  const weights = (n: number, fan: number) => new Float32Array(n).map(() => ((rand() * 2 - 1) * 1.7) / Math.sqrt(fan));
  const bias = (n: number) => (biases ? weights(n, 4) : undefined);
  let c = int(1, 3), h = int(5, 9), w = int(5, 9);
  const inputShape = [c, h, w];
  const layers: LayerSpec[] = [];
  const conv = (from: number, cin: number, cout: number, k: number, pad: number, groups = 1): number => {
    layers.push({ type: 'conv', inputs: [from], inChannels: cin, outChannels: cout, kernel: [k, k], pads: [pad, pad, pad, pad], groups,
      weights: weights(cout * (cin / groups) * k * k, (cin / groups) * k * k), bias: bias(cout) });
    layers.push({ type: 'relu' });
    return layers.length - 1;
  };
  // Stem.
  let cur = conv(-1, c, c = 2 * int(1, 3), 3, 1);
  // Inception-like block.
  if (rand() < 0.8) {
    const a = int(1, 3), b = int(1, 3), p = int(1, 2);
    const b1 = conv(cur, c, a, 1, 0);
    const b2 = conv(cur, c, b, 3, 1);
    const branches = [b1, b2];
    if (rand() < 0.6) {
      layers.push({ type: 'maxpool', inputs: [cur], kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1] });
      branches.push(conv(layers.length - 1, c, p, 1, 0));
    }
    layers.push({ type: 'concat', inputs: branches });
    c = a + b + (branches.length === 3 ? p : 0);
    cur = layers.length - 1;
  }
  // Split: two channel slices of one producer through different convs, then concat.
  if (c >= 2 && rand() < 0.8) {
    const cut = int(1, c - 1);
    layers.push({ type: 'slice', inputs: [cur], channels: [0, cut] });
    const left = conv(layers.length - 1, cut, int(1, 3), 3, 1);
    layers.push({ type: 'slice', inputs: [cur], channels: [cut - (rand() < 0.5 ? 1 : 0) || 0, c] }); // may overlap by one channel
    const rightIn = (layers[layers.length - 1] as { channels: [number, number] }).channels;
    const right = conv(layers.length - 1, rightIn[1] - rightIn[0], int(1, 3), 1, 0);
    layers.push({ type: 'concat', inputs: [left, right] });
    c = (layers[left - 1] as { outChannels: number }).outChannels + (layers[right - 1] as { outChannels: number }).outChannels;
    cur = layers.length - 1;
  }
  // Grouped conv → channel shuffle → conv.
  if (rand() < 0.8) {
    const g = 2, out = 2 * int(1, 3);
    if (c % g === 0) {
      cur = conv(cur, c, out, 1, 0, g);
      layers.push({ type: 'channelshuffle', inputs: [cur], groups: g });
      cur = conv(layers.length - 1, out, c = int(2, 4), 3, 1);
    }
  }
  // Pad or crop, then a conv without padding or a max pool.
  if (rand() < 0.9) {
    const pads: [number, number, number, number] = [int(-1, 2), int(-1, 2), int(-1, 2), int(-1, 2)];
    const value = biases && rand() < 0.5 ? (rand() * 2 - 1) * 1.5 : 0;
    layers.push({ type: 'pad', inputs: [cur], pads, value });
    h += pads[0] + pads[2];
    w += pads[1] + pads[3];
    cur = layers.length - 1;
    if (h >= 3 && w >= 3 && rand() < 0.5) {
      layers.push({ type: 'maxpool', kernel: [2, 2], stride: [2, 2] });
      h = Math.floor(h / 2);
      w = Math.floor(w / 2);
      cur = layers.length - 1;
    }
    cur = conv(cur, c, c = int(2, 4), h >= 3 && w >= 3 ? 3 : 1, 0);
    if (h >= 3 && w >= 3) {
      h -= 2;
      w -= 2;
    }
  }
  // Head.
  const head = rand();
  let features: number;
  if (head < 0.4) {
    layers.push({ type: 'globalmaxpool', inputs: [cur] });
    features = c;
  } else if (head < 0.6) {
    layers.push({ type: 'globalavgpool', inputs: [cur] });
    features = c;
  } else {
    layers.push({ type: 'identity', inputs: [cur] });
    features = c * h * w;
  }
  layers.push({ type: 'flatten' });
  const hidden = int(3, 8), classes = int(2, 5);
  layers.push({ type: 'dense', in: features, out: hidden, weights: weights(features * hidden, features), bias: bias(hidden) });
  layers.push({ type: 'relu' });
  layers.push({ type: 'dense', in: hidden, out: classes, weights: weights(hidden * classes, hidden), bias: bias(classes) });
  return { inputShape, layers };
}

/** An MLP whose two hidden branches (a slice of one of them) concatenate as features. */
function randomConcatMlp(seed: number): NetworkSpec {
  const { rand, int } = rng(seed);
  const weights = (n: number, fan: number) => new Float32Array(n).map(() => ((rand() * 2 - 1) * 1.7) / Math.sqrt(fan));
  const d = int(4, 12), a = int(3, 8), b = int(3, 8), cut = int(1, b - 1), hidden = int(3, 8), classes = int(2, 5);
  const layers: LayerSpec[] = [
    { type: 'dense', inputs: [-1], in: d, out: a, weights: weights(a * d, d), bias: weights(a, 4) }, // 0
    { type: 'relu' }, // 1
    { type: 'dense', inputs: [-1], in: d, out: b, weights: weights(b * d, d), bias: weights(b, 4) }, // 2
    { type: 'relu' }, // 3
    { type: 'slice', channels: [cut, b] }, // 4
    { type: 'concat', inputs: [1, 4, 1] }, // 5: branch a twice (a value read twice)
    { type: 'dense', in: 2 * a + b - cut, out: hidden, weights: weights((2 * a + b - cut) * hidden, 2 * a + b - cut), bias: weights(hidden, 4) },
    { type: 'relu' },
    { type: 'dense', in: hidden, out: classes, weights: weights(hidden * classes, hidden), bias: weights(classes, 4) },
  ];
  return { inputShape: [d], layers };
}

const sum = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; };
const maxAbs = (a: ArrayLike<number>) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i])); return m; };

function inputFor(seed: number, size: number): Float32Array {
  const { rand } = rng(seed ^ 0x9e3779b9);
  return new Float32Array(size).map(() => rand() * 2 - 1);
}

/** The smallest |pre-activation| of any ReLU in the oracle's trace, relative to that layer's scale. */
function closestReluTie(spec: NetworkSpec, x: Float32Array): number {
  const t = referenceTrace(spec, x);
  let closest = Infinity;
  spec.layers.forEach((l, i) => {
    if (l.type !== 'relu') return;
    const src = t.sources[i][0];
    const z = src < 0 ? t.input : t.values[src];
    const scale = maxAbs(z) + 1e-12;
    for (let j = 0; j < z.length; j++) closest = Math.min(closest, Math.abs(z[j]) / scale);
  });
  return closest;
}

/** Every identity on one network; returns how many unwrap weights differed from the oracle. */
function checkIdentities(spec: NetworkSpec, seed: number): { differing: number; nearTie: boolean } {
  const model = loadModelSync(spec);
  try {
    const x = inputFor(seed, model.inputSize);
    // Forward against the float64 oracle.
    const ref = referenceForward(spec, x);
    const got = model.forward(x);
    const fScale = maxAbs(ref) + 1e-6;
    for (let j = 0; j < ref.length; j++) expect(Math.abs(got[j] - ref[j])).toBeLessThanOrEqual(1e-5 * fScale);
    // Completeness and decomposition sums, both semantics, several widths.
    for (const semantics of ['official', 'linear'] as const)
      for (const width of ['all', 1, 3] as const) {
        const ex = explainSync(model, x, { semantics, width, decompose: { by: 'channel' } });
        expect(ex.decomposition).toBeDefined();
        expectExactSums(ex);
      }
    // 'linear', width and depth 'all', threshold 0: the oracle's float64 gradient, and the logit.
    const t = model.numClasses - 1;
    const unwrap = explainSync(model, x, { semantics: 'linear', width: 'all', depth: 'all', threshold: 0, target: t });
    const seedRow = new Float64Array(model.numClasses);
    seedRow[t] = 1;
    const grad = referenceVjp(spec, x, seedRow);
    const gScale = maxAbs(grad) + 1e-9;
    let differing = 0;
    for (let i = 0; i < grad.length; i++) if (Math.abs(unwrap.weights[i] - grad[i]) > 1e-4 * gScale) differing++;
    const nearTie = closestReluTie(spec, x) < 1e-5;
    if (differing > 0) expect(nearTie && differing <= 0.005 * grad.length).toBe(true);
    expect(Math.abs(unwrap.pathLogit - ref[t])).toBeLessThanOrEqual(1e-4 * (maxAbs(ref) + 1));
    return { differing, nearTie };
  } finally {
    model.dispose();
  }
}

describe('graph operations (concat, slice, channelshuffle, pad, globalmaxpool)', () => {
  it('random CNNs with branches: forward = oracle, completeness, decomposition, unwrap = oracle gradient', () => {
    let differing = 0, ties = 0, kinds = new Set<string>();
    for (let seed = 1; seed <= 60; seed++) {
      const spec = randomGraphCnn(seed);
      for (const l of spec.layers) kinds.add(l.type);
      const r = checkIdentities(spec, seed);
      differing += r.differing;
      if (r.nearTie) ties++;
    }
    for (const k of ['concat', 'slice', 'channelshuffle', 'pad', 'globalmaxpool', 'maxpool']) expect(kinds).toContain(k);
    expect(differing).toBe(0);
    expect(ties).toBeLessThanOrEqual(60);
  });

  it('an MLP with a feature concat (a branch read twice, a slice): the same identities', () => {
    for (let seed = 1; seed <= 40; seed++) expect(checkIdentities(randomConcatMlp(seed), seed).differing).toBe(0);
  });

  it('pads keep their value as a bias: value v shifts the path logit by ⟨δ, v⟩ and nothing else', () => {
    const { rand } = rng(5);
    const weights = (n: number) => new Float32Array(n).map(() => rand() * 2 - 1);
    const spec = (value: number): NetworkSpec => ({
      inputShape: [1, 4, 4],
      layers: [
        { type: 'conv', inChannels: 1, outChannels: 2, kernel: [3, 3], pads: [1, 1, 1, 1], weights: weights(18), bias: weights(2) },
        { type: 'relu' },
        { type: 'pad', pads: [1, 2, 0, -1], value },
        { type: 'conv', inChannels: 2, outChannels: 2, kernel: [2, 2], weights: weights(16) },
        { type: 'relu' },
        { type: 'flatten' },
        { type: 'dense', in: 2 * 4 * 4, out: 3, weights: weights(96) },
      ],
    });
    // Same weights for every value: rebuild from the same seed.
    const build = (value: number) => {
      const r = rng(5);
      const w = (n: number) => new Float32Array(n).map(() => r.rand() * 2 - 1);
      const s = spec(value);
      (s.layers[0] as { weights: Float32Array }).weights = w(18);
      (s.layers[0] as { bias: Float32Array }).bias = w(2);
      (s.layers[3] as { weights: Float32Array }).weights = w(16);
      (s.layers[6] as { weights: Float32Array }).weights = w(96);
      return s;
    };
    const x = inputFor(9, 16);
    for (const value of [0, 0.75, -2]) {
      const s = build(value);
      const model = loadModelSync(s);
      const ref = referenceForward(s, x);
      const ex = explainSync(model, x, { semantics: 'linear', threshold: 0, target: 0 });
      expect(ex.pathLogit).toBeCloseTo(ref[0], 4);
      expect(sum(ex.attribution) + ex.bias).toBeCloseTo(ref[0], 4);
      model.dispose();
    }
  });

  it('regions stay exact: a bias-free graph network explained over the whole input is the plain explanation', () => {
    for (let seed = 1; seed <= 15; seed++) {
      const spec = randomGraphCnn(seed, false);
      const model = loadModelSync(spec);
      const x = inputFor(seed, model.inputSize);
      for (const semantics of ['official', 'linear'] as const) {
        const plain = explainSync(model, x, { semantics, width: 3 });
        const regional = explainSync(model, x, { semantics, width: 3, region: new Array(model.inputSize).fill(1) });
        expect(regional.layers.map((l) => Array.from(l.units))).toEqual(plain.layers.map((l) => Array.from(l.units)));
        const scale = maxAbs(plain.attribution) + 1e-9;
        for (let i = 0; i < x.length; i++) expect(Math.abs(regional.attribution[i] - plain.attribution[i])).toBeLessThanOrEqual(1e-5 * scale);
        expect(regional.regionShare!).toBeCloseTo(sum(plain.attribution), 4);
      }
      model.dispose();
    }
  });

  it('one-way paths through a chain of gathers sum exactly; a concat above the path layers is refused', () => {
    const { rand } = rng(11);
    const weights = (n: number, fan: number) => new Float32Array(n).map(() => ((rand() * 2 - 1) * 1.7) / Math.sqrt(fan));
    const chain: NetworkSpec = {
      inputShape: [2, 5, 5],
      layers: [
        { type: 'conv', inChannels: 2, outChannels: 4, kernel: [3, 3], weights: weights(72, 18), bias: weights(4, 4) },
        { type: 'relu' },
        { type: 'pad', pads: [1, 0, -1, 1], value: 0.5 },
        { type: 'channelshuffle', groups: 2 },
        { type: 'slice', channels: [1, 4] },
        { type: 'conv', inChannels: 3, outChannels: 3, kernel: [2, 2], weights: weights(36, 12), bias: weights(3, 4) },
        { type: 'relu' },
        { type: 'globalmaxpool' },
        { type: 'flatten' },
        { type: 'dense', in: 3, out: 4, weights: weights(12, 3), bias: weights(4, 4) },
        { type: 'relu' },
        { type: 'dense', in: 4, out: 3, weights: weights(12, 4), bias: weights(3, 4) },
      ],
    };
    const model = loadModelSync(chain);
    const x = inputFor(3, model.inputSize);
    for (const semantics of ['official', 'linear'] as const) {
      const ex = explainSync(model, x, { semantics, width: 2, paths: { k: 1000 } });
      const paths = ex.paths!;
      expect(paths.exact).toBe(true);
      const total = paths.items.reduce((a, p) => a + p.contribution, 0);
      const scale = paths.items.reduce((a, p) => a + Math.abs(p.contribution), 0) + Math.abs(paths.biasAbove) + 1e-6;
      expect(Math.abs(total + paths.biasAbove - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
      for (const p of paths.items) {
        let wx = p.bias;
        for (let i = 0; i < x.length; i++) wx += p.weights[i] * x[i];
        expect(Math.abs(wx - p.contribution)).toBeLessThanOrEqual(1e-4 * (Math.abs(p.contribution) + 1e-3));
      }
    }
    model.dispose();
    const branched = loadModelSync(randomConcatMlp(3));
    expect(() => explainSync(branched, inputFor(1, branched.inputSize), { paths: { k: 3 } })).toThrow(RangeError);
    branched.dispose();
  });

  it("'official' reuses the sweep across pools that read a concat or a pad, and selects as a fresh sweep from the logits would", () => {
    // The memory-bounded mode (classChunk < C) sweeps from the logits at every step: the reference
    // the reuse rule (a changed winner matters only if it copies a unit that is kept) must match.
    let recomputes = 0, steps = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const { rand } = rng(seed);
      const w = (n: number, fan: number) => new Float32Array(n).map(() => ((rand() * 2 - 1) * 1.7) / Math.sqrt(fan));
      const spec: NetworkSpec = {
        inputShape: [2, 8, 8],
        layers: [
          { type: 'conv', inChannels: 2, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: w(72, 18), bias: w(4, 4) }, // 0
          { type: 'relu' }, // 1
          { type: 'conv', inputs: [1], inChannels: 4, outChannels: 3, kernel: [1, 1], weights: w(12, 4), bias: w(3, 4) }, // 2
          { type: 'relu' }, // 3
          { type: 'conv', inputs: [1], inChannels: 4, outChannels: 3, kernel: [3, 3], pads: [1, 1, 1, 1], weights: w(108, 36), bias: w(3, 4) }, // 4
          { type: 'relu' }, // 5
          { type: 'concat', inputs: [3, 5] }, // [6, 8, 8]
          { type: 'maxpool', kernel: [2, 2], stride: [2, 2] }, // [6, 4, 4]
          { type: 'conv', inChannels: 6, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: w(216, 54), bias: w(4, 4) },
          { type: 'relu' },
          { type: 'pad', pads: [1, 1, 0, 0], value: 0 }, // [4, 5, 5]
          { type: 'maxpool', kernel: [2, 2], stride: [2, 2] }, // [4, 2, 2]
          { type: 'flatten' },
          { type: 'dense', in: 16, out: 6, weights: w(96, 16), bias: w(6, 4) },
          { type: 'relu' },
          { type: 'dense', in: 6, out: 4, weights: w(24, 6), bias: w(4, 4) },
        ],
      };
      const model = loadModelSync(spec);
      const x = inputFor(seed, model.inputSize);
      for (const width of [1, 4, 'all'] as const) {
        const ex = explainSync(model, x, { width });
        recomputes += ex.stats.recomputes;
        steps += model.reluLayers.length - 1;
        let bound = 1 << 20;
        let fresh = explainSync(model, x, { width, maxMemoryBytes: bound });
        while (fresh.stats.classChunk === model.numClasses) fresh = explainSync(model, x, { width, maxMemoryBytes: (bound = Math.floor(bound * 0.9)) });
        expect(fresh.stats.classChunk).toBeLessThan(model.numClasses);
        expect(ex.layers.map((l) => Array.from(l.units))).toEqual(fresh.layers.map((l) => Array.from(l.units)));
        expect(Array.from(ex.attribution)).toEqual(Array.from(fresh.attribution));
      }
      model.dispose();
    }
    expect(recomputes).toBeLessThan(steps / 4);
  });

  it('rejects bad specs with the right error class', () => {
    const dense = (inp: number, out: number): LayerSpec => ({ type: 'dense', in: inp, out, weights: new Float32Array(inp * out) });
    const conv = (cin: number, cout: number): LayerSpec => ({ type: 'conv', inChannels: cin, outChannels: cout, kernel: [1, 1], weights: new Float32Array(cin * cout) });
    const cnn = (middle: LayerSpec[], features: number): NetworkSpec => ({
      inputShape: [4, 3, 3],
      layers: [conv(4, 4), { type: 'relu' }, ...middle, { type: 'flatten' }, dense(features, 2)],
    });
    const code = (spec: NetworkSpec) => {
      try {
        loadModelSync(spec).dispose();
        return 'ok';
      } catch (e) {
        return e instanceof PathwiseError ? e.code : (e as Error).constructor.name;
      }
    };
    expect(code(cnn([{ type: 'slice', channels: [1, 3] }], 18))).toBe('ok');
    expect(code(cnn([{ type: 'slice', channels: [2, 2] }], 0))).toBe('RangeError');
    expect(code(cnn([{ type: 'slice', channels: [1, 5] }], 36))).toBe('RangeError');
    expect(code(cnn([{ type: 'slice', channels: [-1, 2] }], 27))).toBe('RangeError');
    expect(code(cnn([{ type: 'slice', channels: 2 as never }], 27))).toBe('TypeError');
    expect(code(cnn([{ type: 'channelshuffle', groups: 3 }], 36))).toBe('RangeError');
    expect(code(cnn([{ type: 'channelshuffle', groups: 0 }], 36))).toBe('RangeError');
    expect(code(cnn([{ type: 'channelshuffle', groups: 2 }], 36))).toBe('ok');
    expect(code(cnn([{ type: 'pad', pads: [1, 1, 1, 1], value: NaN }], 100))).toBe('RangeError');
    expect(code(cnn([{ type: 'pad', pads: [1, 1, 1, 1], value: Infinity }], 100))).toBe('RangeError');
    expect(code(cnn([{ type: 'pad', pads: [1, 1, 1, 1], value: '0' as never }], 100))).toBe('TypeError');
    expect(code(cnn([{ type: 'pad', pads: [-2, 0, -1, 0] }], 12))).toBe('RangeError');
    expect(code(cnn([{ type: 'pad', pads: [0.5, 0, 0, 0] }], 12))).toBe('RangeError');
    expect(code(cnn([{ type: 'pad', pads: [1, 1] as never }], 12))).toBe('TypeError');
    expect(code(cnn([{ type: 'pad', pads: [-1, -1, 2, 0] }], 4 * 4 * 2))).toBe('ok');
    expect(code(cnn([{ type: 'globalmaxpool' }], 4))).toBe('ok');
    // Shapes that do not chain.
    expect(code(cnn([{ type: 'flatten' }, { type: 'pad', pads: [1, 1, 1, 1] }], 36))).toBe('PATHWISE_BAD_MODEL');
    expect(code(cnn([{ type: 'flatten' }, { type: 'globalmaxpool' }], 4))).toBe('PATHWISE_BAD_MODEL');
    expect(code(cnn([{ type: 'concat', inputs: [1] }], 36))).toBe('PATHWISE_BAD_MODEL');
    expect(code(cnn([{ type: 'maxpool', kernel: [2, 2], stride: [1, 1] }, { type: 'concat', inputs: [1, 2] }], 36))).toBe('PATHWISE_BAD_MODEL');
    expect(code(cnn([{ type: 'maxpool', kernel: [3, 3], stride: [1, 1], pads: [1, 1, 1, 1] }, { type: 'concat', inputs: [1, 2, -1] }], 108))).toBe('ok');
    expect(code(cnn([{ type: 'slice', channels: [0, 2] }, { type: 'concat', inputs: [1, 2] }, { type: 'slice', channels: [0, 6] }], 54))).toBe('ok');
  });

  it('the addon checks Concat and Gather at its boundary', () => {
    const Net = nativeAddon().NativeNetwork;
    const f32 = (n: number) => new Float32Array(n).fill(0.5);
    const head = (inp: number): NativeLayer[] => [{ kind: 'relu', inShape: [inp, 1, 1] }, { kind: 'dense', inShape: [inp, 1, 1], out: 2, weights: f32(2 * inp) }];
    const dense = (): NativeLayer => ({ kind: 'dense', inShape: [4, 1, 1], out: 4, weights: f32(16) });
    const gather = (extra: Partial<NativeLayer>): NativeLayer[] =>
      [dense(), { kind: 'gather', inShape: [4, 1, 1], outShape: [3, 1, 1], map: Int32Array.of(2, -1, 0), fill: 1, ...extra }, ...head(3)];
    const build = (layers: NativeLayer[]) => {
      try {
        new Net([4, 1, 1], layers).dispose();
        return 'ok';
      } catch (e) {
        return (e as { code?: string }).code ?? (e as Error).constructor.name;
      }
    };
    expect(build(gather({}))).toBe('ok');
    expect(build(gather({ map: [2, -1, 0] as never }))).toBe('TypeError');
    expect(build(gather({ map: undefined }))).toBe('TypeError');
    expect(build(gather({ map: Int32Array.of(2, -1) }))).toBe('RangeError');
    expect(build(gather({ map: Int32Array.of(2, -2, 0) }))).toBe('RangeError');
    expect(build(gather({ map: Int32Array.of(2, 4, 0) }))).toBe('PATHWISE_BAD_MODEL');
    expect(build(gather({ fill: NaN }))).toBe('RangeError');
    expect(build(gather({ fill: 1e300 }))).toBe('RangeError');
    expect(build(gather({ fill: '1' as never }))).toBe('TypeError');
    expect(build(gather({ outShape: undefined }))).toBe('TypeError');
    const concat = (inputs: number[]): NativeLayer[] => [dense(), dense(), { kind: 'concat', inShape: [4, 1, 1], inputs }, ...head(4 * inputs.length)];
    expect(build(concat([0, 1]))).toBe('ok');
    expect(build(concat([0, 1, -1]))).toBe('ok');
    expect(build(concat([1]))).toBe('RangeError');
    expect(build(concat([0, 2]))).toBe('PATHWISE_BAD_MODEL');
    // The forward of the valid Gather: out = [in[2], fill, in[0]] at the dense layer's output.
    const net = new Net([4, 1, 1], [dense(), { kind: 'gather', inShape: [4, 1, 1], outShape: [3, 1, 1], map: Int32Array.of(2, -1, 0), fill: 1 },
      { kind: 'relu', inShape: [3, 1, 1] }, { kind: 'dense', inShape: [3, 1, 1], out: 3, weights: Float32Array.of(1, 0, 0, 0, 1, 0, 0, 0, 1) }]);
    expect(Array.from(net.forward(Float32Array.of(1, 2, 3, 4), 1))).toEqual([5, 1, 5]);
    net.dispose();
  });
});
