// The memory-bounded mode (classChunk < C): bounds that force class chunks must give the same
// explanation, bit for bit, as all classes at once — unit sets, their scores, attributions — on
// models with 1000-class random heads, including a residual network (the chunks then start from a
// checkpoint that holds a pending skip cotangent). Tight bounds leave ChunkedScores no room to keep
// the contributions (the second pass over the chunks), looser ones keep them (one pass); both must
// reproduce the single-pass arithmetic. Batches and thread counts must not change a bit either.
import { afterAll, describe, expect, it } from 'vitest';
import { estimate, explainBatchSync, explainSync, loadModelSync, setThreads, type Explanation, type LayerSpec, type Model, type NetworkSpec } from '../lib/index.js';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function weights(rand: () => number, n: number, fanIn: number): Float32Array {
  return new Float32Array(n).map(() => (rand() * 1.7) / Math.sqrt(fanIn));
}

const CLASSES = 1000;

function mlp(seed: number): NetworkSpec {
  const rand = seeded(seed);
  const sizes = [40, 48, 36, 24];
  const layers: LayerSpec[] = [];
  for (let i = 1; i < sizes.length; i++) {
    layers.push({ type: 'dense', in: sizes[i - 1], out: sizes[i], weights: weights(rand, sizes[i - 1] * sizes[i], sizes[i - 1]), bias: weights(rand, sizes[i], 4) });
    layers.push({ type: 'relu' });
  }
  layers.push({ type: 'dense', in: 24, out: CLASSES, weights: weights(rand, 24 * CLASSES, 24), bias: weights(rand, CLASSES, 4) });
  return { inputShape: [40], layers };
}

function cnn(seed: number): NetworkSpec {
  const rand = seeded(seed);
  return {
    inputShape: [2, 10, 10],
    layers: [
      { type: 'conv', inChannels: 2, outChannels: 6, kernel: [3, 3], pads: [1, 1, 1, 1], weights: weights(rand, 108, 18), bias: weights(rand, 6, 4) },
      { type: 'relu' },
      { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
      { type: 'conv', inChannels: 6, outChannels: 8, kernel: [3, 3], pads: [1, 1, 1, 1], weights: weights(rand, 432, 54), bias: weights(rand, 8, 4) },
      { type: 'relu' },
      { type: 'flatten' },
      { type: 'dense', in: 200, out: 32, weights: weights(rand, 200 * 32, 200), bias: weights(rand, 32, 4) },
      { type: 'relu' },
      { type: 'dense', in: 32, out: CLASSES, weights: weights(rand, 32 * CLASSES, 32), bias: weights(rand, CLASSES, 4) },
    ],
  };
}

function residual(seed: number): NetworkSpec {
  const rand = seeded(seed);
  const conv = (inputs: number[] | undefined, cin: number, cout: number): LayerSpec => ({
    type: 'conv', ...(inputs ? { inputs } : {}), inChannels: cin, outChannels: cout, kernel: [3, 3], pads: [1, 1, 1, 1],
    weights: weights(rand, cout * cin * 9, cin * 9), bias: weights(rand, cout, 4),
  });
  return {
    inputShape: [2, 8, 8],
    layers: [
      conv(undefined, 2, 4), // 0
      { type: 'relu' }, // 1
      conv(undefined, 4, 4), // 2
      { type: 'relu' }, // 3
      conv(undefined, 4, 4), // 4
      { type: 'add', inputs: [4, 1] }, // 5: a skip over two convs
      { type: 'relu' }, // 6
      conv(undefined, 4, 4), // 7
      { type: 'relu' }, // 8
      conv(undefined, 4, 4), // 9
      { type: 'add', inputs: [9, 6] }, // 10
      { type: 'relu' }, // 11
      { type: 'flatten' },
      { type: 'dense', in: 256, out: 24, weights: weights(rand, 256 * 24, 256), bias: weights(rand, 24, 4) },
      { type: 'relu' },
      { type: 'dense', in: 24, out: CLASSES, weights: weights(rand, 24 * CLASSES, 24), bias: weights(rand, CLASSES, 4) },
    ],
  };
}

function input(seed: number, size: number): Float32Array {
  const rand = seeded(seed * 7919 + 1);
  return new Float32Array(size).map(() => rand() * 1.5);
}

function same(a: Explanation, b: Explanation): void {
  expect(a.layers.map((l) => Array.from(l.units))).toEqual(b.layers.map((l) => Array.from(l.units)));
  expect(a.layers.map((l) => Array.from(l.scores))).toEqual(b.layers.map((l) => Array.from(l.scores)));
  expect(a.layers.map((l) => [l.fallback, l.k, l.borderline])).toEqual(b.layers.map((l) => [l.fallback, l.k, l.borderline]));
  expect(Array.from(a.attribution)).toEqual(Array.from(b.attribution));
  expect(a.bias).toBe(b.bias);
  expect(a.stats.recomputes).toBe(b.stats.recomputes);
}

// Bounds from just below the whole plan down to the smallest that still explains one input.
function bounds(model: Model, options: object): number[] {
  const whole = estimate(model, options).bytesPerExample;
  const out: number[] = [];
  for (let f = 0.95; f > 0.01; f *= 0.6) {
    const maxMemoryBytes = Math.floor(whole * f);
    const est = estimate(model, { ...options, maxMemoryBytes });
    if (!est.fits) break;
    if (est.classChunk < model.numClasses) out.push(maxMemoryBytes);
  }
  return out;
}

describe('class chunks (memory-bounded mode)', () => {
  afterAll(() => setThreads(0));

  const cases: Array<[string, () => NetworkSpec]> = [['MLP', () => mlp(11)], ['CNN', () => cnn(12)], ['residual CNN', () => residual(13)]];
  for (const [name, spec] of cases)
    it(`gives the unchunked explanation bit for bit: ${name}, 1000 classes, both semantics`, () => {
      const model = loadModelSync(spec());
      const x = input(1, model.inputSize);
      let chunkedRuns = 0, smallest = CLASSES;
      for (const semantics of ['official', 'linear'] as const)
        for (const width of [3, '20%', 'all'] as const) {
          const options = { semantics, width };
          const whole = explainSync(model, x, options);
          expect(whole.stats.classChunk).toBe(CLASSES);
          for (const maxMemoryBytes of bounds(model, options)) {
            const chunked = explainSync(model, x, { ...options, maxMemoryBytes });
            expect(chunked.stats.classChunk).toBeLessThan(CLASSES);
            smallest = Math.min(smallest, chunked.stats.classChunk);
            same(chunked, whole);
            chunkedRuns++;
          }
        }
      expect(chunkedRuns).toBeGreaterThanOrEqual(6);
      expect(smallest).toBeLessThan(50);
      model.dispose();
    });

  it('is the same for every batch size and thread count', () => {
    const model = loadModelSync(residual(21));
    const n = 5;
    const xs = new Float32Array(n * model.inputSize);
    for (let e = 0; e < n; e++) xs.set(input(e + 3, model.inputSize), e * model.inputSize);
    const options = { width: 4 as const };
    const [maxMemoryBytes] = bounds(model, options).slice(-2);
    const single = Array.from({ length: n }, (_, e) => explainSync(model, xs.subarray(e * model.inputSize, (e + 1) * model.inputSize), options));
    for (const threads of [1, 2, 3]) {
      setThreads(threads);
      const batch = explainBatchSync(model, xs, { ...options, maxMemoryBytes });
      batch.forEach((b, e) => {
        expect(b.stats.classChunk).toBeLessThan(CLASSES);
        same(b, single[e]);
      });
    }
    model.dispose();
  });
});
