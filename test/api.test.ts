// The public API's contract: option handling, width/depth edge cases, the fallback path, error
// classes and codes, async/sync agreement, dispose.
import { describe, it, expect } from 'vitest';
import {
  loadModel, loadModelSync, explain, explainSync, explainBatch, explainBatchSync, PathwiseError,
  type LayerSpec,
} from '../lib/index.js';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** A random MLP in → hidden… → classes. */
function mlp(sizes: number[], seed = 1): LayerSpec[] {
  const rand = seeded(seed);
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [inn, out] = [sizes[i], sizes[i + 1]];
    layers.push({
      type: 'dense', in: inn, out,
      weights: new Float32Array(inn * out).map(() => rand() / Math.sqrt(inn)),
      bias: new Float32Array(out).map(() => rand() * 0.1),
    });
    if (i + 2 < sizes.length) layers.push({ type: 'relu' });
  }
  return layers;
}

const x8 = new Float32Array(8).map(seeded(7));

describe('loadModel', () => {
  it('describes the model', async () => {
    const model = await loadModel(mlp([8, 16, 12, 4]));
    expect(model.inputShape).toEqual([8]);
    expect(model.inputSize).toBe(8);
    expect(model.numClasses).toBe(4);
    expect(model.reluLayers).toEqual([
      { ordinal: 0, units: 16, shape: [16], kind: 'relu' },
      { ordinal: 1, units: 12, shape: [12], kind: 'relu' },
    ]);
    expect(model.forward(x8)).toHaveLength(4);
    expect(model.forward(new Float32Array(16))).toHaveLength(8);
    model.dispose();
    expect(model.disposed).toBe(true);
  });

  it('takes an input shape and shape-only layers', () => {
    const layers: LayerSpec[] = [{ type: 'flatten' }, { type: 'identity' }, ...mlp([12, 5, 3])];
    const model = loadModelSync({ inputShape: [1, 3, 4], layers });
    expect(model.inputShape).toEqual([1, 3, 4]);
    expect(model.reluLayers[0].shape).toEqual([5]);
  });

  it('rejects bad specs with the right error class', () => {
    expect(() => loadModelSync(42 as never)).toThrow(TypeError);
    expect(() => loadModelSync([{ type: 'dense', in: 2, out: 2, weights: [1, 2, 3, 4] } as never, { type: 'relu' }])).toThrow(TypeError);
    expect(() => loadModelSync([{ type: 'dense', in: 2, out: 2, weights: new Float32Array(3) }, { type: 'relu' }])).toThrow(RangeError);
    const chain = [...mlp([4, 3]), { type: 'relu' as const }, ...mlp([5, 2])];
    expect(() => loadModelSync(chain)).toThrow(expect.objectContaining({ code: 'PATHWISE_BAD_MODEL' }));
    expect(() => loadModelSync(mlp([4, 1]))).toThrow(expect.objectContaining({ code: 'PATHWISE_BAD_MODEL' }));
    expect(() => loadModelSync(mlp([4, 3]))).toThrow(/no ReLU/);
    expect(() => loadModelSync({ inputShape: [4], layers: [{ type: 'lstm' } as never] })).toThrow(expect.objectContaining({ code: 'PATHWISE_UNSUPPORTED_OP' }));
    const nan = mlp([3, 3, 2]);
    (nan[0] as { weights: Float32Array }).weights[1] = NaN;
    expect(() => loadModelSync(nan)).toThrow(/non-finite/);
    expect(() => loadModelSync('/nonexistent/model.onnx')).toThrow(expect.objectContaining({ code: 'PATHWISE_BAD_MODEL' }));
  });
});

describe('explain options', () => {
  const model = loadModelSync(mlp([8, 16, 12, 10, 4], 3));

  it('defaults to width all, depth all, the predicted class', () => {
    const ex = explainSync(model, x8);
    const logits = model.forward(x8);
    expect(ex.logits).toEqual(logits);
    expect(ex.predicted).toBe(Array.from(logits).indexOf(Math.max(...logits)));
    expect(ex.target).toBe(ex.predicted);
    expect(ex.layers.map((l) => l.ordinal)).toEqual([0, 1, 2]);
    expect(ex.pathLogit).toBe(ex.pathLogits[ex.target]);
    for (const l of ex.layers) {
      expect(l.units).toBeInstanceOf(Int32Array);
      expect(l.scores).toHaveLength(l.units.length);
      expect(Array.from(l.units)).toEqual(Array.from(l.units).sort((a, b) => a - b));
    }
  });

  it('takes width as a count, a percentage or all; a width beyond the layer keeps every candidate', () => {
    const all = explainSync(model, x8, { width: 'all' });
    const wide = explainSync(model, x8, { width: 1000 });
    expect(wide.layers.map((l) => Array.from(l.units))).toEqual(all.layers.map((l) => Array.from(l.units)));
    const one = explainSync(model, x8, { width: 1 });
    for (const l of one.layers) expect(l.units.length).toBe(1);
    const pct = explainSync(model, x8, { width: '25%' });
    // k = max(1, round(N/100 · 25)) = round(4) = 4, round(3) = 3, round(2.5) = 2 (half to even)
    expect(pct.layers.map((l) => l.k)).toEqual([4, 3, 2]);
    expect(explainSync(model, x8, { width: '1%' }).layers.map((l) => l.k)).toEqual([1, 1, 1]);
    expect(explainSync(model, x8, { width: '100%' }).layers.map((l) => l.k)).toEqual([16, 12, 10]);
  });

  it('takes depth as a count from the top or all', () => {
    expect(explainSync(model, x8, { depth: 1 }).layers.map((l) => l.ordinal)).toEqual([2]);
    expect(explainSync(model, x8, { depth: 2 }).layers.map((l) => l.ordinal)).toEqual([1, 2]);
    expect(explainSync(model, x8, { depth: 3 }).layers.map((l) => l.ordinal)).toEqual([0, 1, 2]);
  });

  it('rejects nonsense options with TypeError or RangeError', () => {
    for (const width of [0, -1, 1.5, '0%', '-5%', '101%', '%', 'ten', '10', NaN, Infinity])
      expect(() => explainSync(model, x8, { width: width as never }), String(width)).toThrow(RangeError);
    expect(() => explainSync(model, x8, { width: {} as never })).toThrow(TypeError);
    for (const depth of [0, 4, -1, 1.5])
      expect(() => explainSync(model, x8, { depth }), String(depth)).toThrow(RangeError);
    expect(() => explainSync(model, x8, { depth: 4 })).toThrow(/3 ReLU layers/);
    expect(() => explainSync(model, x8, { depth: '2' as never })).toThrow(TypeError);
    expect(() => explainSync(model, x8, { target: 4 })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { target: -1 })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { target: '1' as never })).toThrow(TypeError);
    expect(() => explainSync(model, x8, { threshold: 1 })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { threshold: -0.1 })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { threshold: '0' as never })).toThrow(TypeError);
    expect(() => explainSync(model, x8, { semantics: 'other' as never })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { widht: 3 } as never)).toThrow(/unknown option "widht"/);
    expect(() => explainSync(model, x8, null as never)).toThrow(TypeError);
  });

  it('rejects bad inputs', () => {
    expect(() => explainSync(model, new Float32Array(7))).toThrow(RangeError);
    expect(() => explainSync(model, 'abc' as never)).toThrow(TypeError);
    expect(() => explainSync(model, [1, 2, 3, 4, 5, 6, 7, 'x'] as never)).toThrow(TypeError);
    const bad = x8.slice();
    bad[3] = NaN;
    expect(() => explainSync(model, bad)).toThrow(/non-finite value at index 3/);
    expect(() => explainBatchSync(model, new Float32Array(12))).toThrow(RangeError);
    expect(() => explainBatchSync(model, new Float32Array(16), { targets: [0] })).toThrow(RangeError);
    expect(() => explainBatchSync(model, new Float32Array(0))).toThrow(RangeError);
  });

  it('bounds memory: chunks batches, and fails fast when one input cannot fit', () => {
    const rand = seeded(3);
    const xs = new Float32Array(7 * 8).map(rand);
    const whole = explainBatchSync(model, xs);
    // A bound that fits one example at a time (each example ~ a few KiB here).
    const chunked = explainBatchSync(model, xs, { maxMemoryBytes: 4096 });
    expect(chunked.map((e) => e.layers)).toEqual(whole.map((e) => e.layers));
    expect(() => explainSync(model, x8, { maxMemoryBytes: 64 })).toThrow(expect.objectContaining({ code: 'PATHWISE_MEMORY_LIMIT' }));
    expect(explainSync(model, x8).stats.classChunk).toBe(4);
    expect(() => explainSync(model, x8, { maxMemoryBytes: 0 })).toThrow(RangeError);
    expect(() => explainSync(model, x8, { maxMemoryBytes: '1GB' as never })).toThrow(TypeError);
  });

  it('accepts plain arrays and other typed arrays', () => {
    const a = explainSync(model, Array.from(x8));
    const b = explainSync(model, Float64Array.from(x8));
    expect(a.attribution).toEqual(explainSync(model, x8).attribution);
    expect(b.attribution).toEqual(a.attribution);
  });

  it('explains any target class, completeness included', () => {
    for (let t = 0; t < 4; t++) {
      const ex = explainSync(model, x8, { target: t });
      expect(ex.target).toBe(t);
      let sum = 0, abs = 0;
      for (const a of ex.attribution) { sum += a; abs += Math.abs(a); }
      expect(Math.abs(sum + ex.bias - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * (abs + Math.abs(ex.bias)) + 1e-7);
    }
  });

  it('async, sync and batch agree', async () => {
    const rand = seeded(11);
    const xs = new Float32Array(5 * 8).map(rand);
    const targets = [0, 1, 2, 3, 0];
    const batch = await explainBatch(model, xs, { width: 3, targets });
    const batchSync = explainBatchSync(model, xs, { width: 3, targets });
    for (let i = 0; i < 5; i++) {
      const xi = xs.subarray(i * 8, (i + 1) * 8);
      const one = await explain(model, xi, { width: 3, target: targets[i] });
      expect(batch[i].target).toBe(targets[i]);
      expect(batch[i].layers).toEqual(one.layers);
      expect(batchSync[i].layers).toEqual(one.layers);
      expect(Array.from(batch[i].attribution)).toEqual(Array.from(one.attribution).map((v, j) => expect.closeTo(v, 6)));
      expect(batchSync[i].attribution).toEqual(batch[i].attribution);
    }
  });

  it('rejects async misuse with a rejected promise, not a crash', async () => {
    await expect(explain(model, new Float32Array(3))).rejects.toThrow(RangeError);
    await expect(explain(model, x8, { depth: 9 })).rejects.toThrow(RangeError);
  });
});

describe('fallback', () => {
  it('keeps the single best unit when no unit passes the 1/C test', () => {
    // Every hidden unit feeds both classes with equal weight, so its two contributions are
    // identical, and it is rejected: the fallback must keep exactly one unit per path layer.
    const layers: LayerSpec[] = [
      { type: 'dense', in: 2, out: 3, weights: new Float32Array([1, 0, 0, 1, 1, 1]), bias: new Float32Array(3) },
      { type: 'relu' },
      { type: 'dense', in: 3, out: 2, weights: new Float32Array([1, 1, 1, 1, 1, 1]), bias: new Float32Array([0.5, 0]) },
    ];
    const model = loadModelSync(layers);
    const ex = explainSync(model, new Float32Array([2, 1]));
    expect(ex.layers[0].fallback).toBe(true);
    // All three units score exactly 1/2; ties go to the lowest index.
    expect(Array.from(ex.layers[0].units)).toEqual([0]);
    expect(ex.predicted).toBe(0);
    // Path through unit 0 only: ŷ = [2 + 0.5, 2], A = [2, 0], b = 0.5.
    expect(Array.from(ex.pathLogits)).toEqual([2.5, 2]);
    expect(Array.from(ex.attribution)).toEqual([2, 0]);
    expect(ex.bias).toBeCloseTo(0.5, 12);
    expect(ex.residual).toBe(0);
  });
});

describe('dispose', () => {
  it('is safe while calls are in flight, and later calls fail with a code', async () => {
    const model = loadModelSync(mlp([8, 32, 32, 4], 5));
    const pending = Array.from({ length: 20 }, () => explain(model, x8));
    model.dispose();
    const done = await Promise.all(pending);
    expect(done).toHaveLength(20);
    expect(() => explainSync(model, x8)).toThrow(PathwiseError);
    expect(() => model.forward(x8)).toThrow(expect.objectContaining({ code: 'PATHWISE_DISPOSED' }));
    model.dispose(); // twice is fine
  });
});

describe('memory-bounded mode', () => {
  it('holds fewer class rows at once and gives the same explanation, both semantics', async () => {
    const { fixtureDir } = await import('./helpers/fixtures.js');
    const { join } = await import('node:path');
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_cnn.onnx'));
    const x = new Float32Array(784).map((_, i) => Math.sin(i * 0.3) * 1.5);
    for (const semantics of ['official', 'linear'] as const) {
      const whole = explainSync(model, x, { semantics, width: 'all' });
      expect(whole.stats.classChunk).toBe(10);
      let smallest = 10;
      for (const maxMemoryBytes of [1_800_000, 1_500_000, 1_300_000]) {
        const bounded = explainSync(model, x, { semantics, width: 'all', maxMemoryBytes });
        expect(bounded.stats.classChunk).toBeLessThan(10);
        smallest = Math.min(smallest, bounded.stats.classChunk);
        expect(bounded.layers).toEqual(whole.layers);
        expect(bounded.attribution).toEqual(whole.attribution);
      }
      expect(smallest).toBe(1);
    }
    expect(() => explainSync(model, x, { maxMemoryBytes: 500_000 })).toThrow(/even one class at a time/);
  });
});

describe('pathPredicted', () => {
  it('is the path network\'s argmax (lowest index on ties), and narrow paths can lose the decision', async () => {
    const { fixtureDir } = await import('./helpers/fixtures.js');
    const { readNpyFile } = await import('../lib/index.js');
    const { join } = await import('node:path');
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_mlp.onnx'));
    const inputs = readNpyFile(join(fixtureDir('fashion_mlp'), 'inputs.npy'));
    const n = inputs.shape[0];
    let lost = 0;
    for (const width of [1, 'all'] as const) {
      const all = explainBatchSync(model, inputs.data as Float32Array, { width });
      for (const e of all) {
        let best = 0;
        for (let j = 1; j < e.pathLogits.length; j++) if (e.pathLogits[j] > e.pathLogits[best]) best = j;
        expect(e.pathPredicted).toBe(best);
        if (width === 'all') expect(e.pathPredicted).toBe(e.target);
        else if (e.pathPredicted !== e.target) lost++;
      }
    }
    // Width 1 keeps one unit per layer: on most Fashion images the path then predicts another class.
    expect(lost).toBeGreaterThan(0);
    expect(lost).toBeLessThanOrEqual(n);
    model.dispose();
  });
});
