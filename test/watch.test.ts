// Long calls can be watched, bounded and stopped: estimate() (FLOPs as the bench counts them, the
// core's working memory, a predicted time within a factor of the measured one), explain /
// explainBatch with `signal` (an abort mid-call rejects with an AbortError soon, frees what it held,
// leaves the model working) and `onProgress` (layer steps, increasing to the total), the same bits
// with and without them, and worker termination while a progress-reporting call runs.
import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import {
  loadModelSync, estimate, explain, explainSync, explainBatch, explainBatchSync, explainFlopsSpec, specLayerMacs, type Explanation,
} from '../lib/index.js';
import { lowerNetwork } from '../lib/model/lower.js';
import { inputs, smallCnn } from './helpers/small-models.js';
import { vgg16Spec } from './helpers/shaped-models.mjs';

const root = join(import.meta.dirname, '..');
// Timings and RSS mean nothing under AddressSanitizer (instrumented kernels, shadow memory): those
// tests are skipped in sanitizer runs, which keep the rest (.ci/run).
// The estimate checks allow 10×: the probe runs once per process, and vitest runs two test files
// at a time on this 2-core machine, so the probe and the measured call may see different loads
// (the probe read 12–43 GFLOP/s from run to run on a loaded machine).
const sanitized = /libasan/.test(process.env.LD_PRELOAD ?? '');
const fashionCnn = join(root, 'test', 'fixtures', 'models', 'fashion_cnn.onnx');

function sameBits(a: Explanation, b: Explanation): boolean {
  const eq = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  return eq(a.attribution, b.attribution) && eq(a.weights, b.weights) && eq(a.pathLogits, b.pathLogits) && Object.is(a.bias, b.bias) &&
    a.target === b.target && a.layers.every((l, i) => l.units.length === b.layers[i].units.length && l.units.every((u, j) => u === b.layers[i].units[j]));
}

function seededInput(size: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: size }, () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32));
}

function bestSeconds(fn: () => void, reps: number): number {
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return best;
}

describe('estimate', () => {
  it('counts the FLOPs the bench counts (VGG16-shaped, Fashion CNN) and the core plans the working memory', () => {
    const spec = vgg16Spec(1, 224);
    const model = loadModelSync(spec);
    expect(specLayerMacs(spec).reduce((a, b) => a + b, 0)).toBe(15353070208); // docs/method.md §11.2
    for (const depth of [1, 5, 'all'] as const) {
      const e = estimate(model, { width: 64, depth });
      expect(e.flops).toBe(explainFlopsSpec(spec, 1, depth));
      expect(e.fits).toBe(true);
    }
    // Depth 5: forward 15.35 + 10 × 0.931 + 0.931 + 15.35 GMAC (bench/trials.mjs).
    expect(estimate(model, { depth: 5 }).flops / 1e9).toBeCloseTo(81.9, 0);
    // Working memory at depth 'all' is dominated by C × 3.2 M floats at conv1 (docs/method.md §11.1).
    const all = estimate(model);
    expect(all.workingBytes).toBeGreaterThan(10 * 3211264 * 4);
    expect(all.workingBytes).toBeLessThan(2 ** 31);
    expect(estimate(model, { batch: 3, depth: 5 }).flops).toBe(3 * estimate(model, { depth: 5 }).flops);
    // Above maxMemoryBytes: reported, not thrown (the call itself would fail with PATHWISE_MEMORY_LIMIT).
    expect(estimate(model, { maxMemoryBytes: 2 ** 24 }).fits).toBe(false);
    model.dispose();
  });

  it.skipIf(sanitized)('predicts the measured time within 10× (Fashion CNN, batch 1 and 32)', () => {
    const model = loadModelSync(fashionCnn);
    const x = seededInput(784, 3);
    explainSync(model, x);
    const one = estimate(model);
    expect(one.flops).toBe(17581824); // bench/trials.mjs: ≈ 17.6 MFLOP per example at depth all
    const measured = bestSeconds(() => explainSync(model, x), 20);
    expect(one.predictedSeconds / measured).toBeGreaterThan(1 / 10);
    expect(one.predictedSeconds / measured).toBeLessThan(10);
    const xs = seededInput(784 * 32, 4);
    const batch = estimate(model, { batch: 32 });
    const measuredBatch = bestSeconds(() => explainBatchSync(model, xs), 3);
    expect(batch.predictedSeconds / measuredBatch).toBeGreaterThan(1 / 10);
    expect(batch.predictedSeconds / measuredBatch).toBeLessThan(10);
    model.dispose();
  });

  it.skipIf(sanitized)('predicts the measured time within 10× (VGG16-shaped, width 64, depth 5)', () => {
    const model = loadModelSync(vgg16Spec(1, 224));
    const x = seededInput(3 * 224 * 224, 12);
    const predicted = estimate(model, { width: 64, depth: 5 }).predictedSeconds;
    const measured = bestSeconds(() => explainSync(model, x, { width: 64, depth: 5 }), 1);
    expect(predicted / measured).toBeGreaterThan(1 / 10);
    expect(predicted / measured).toBeLessThan(10);
    model.dispose();
  }, 120_000);

  it('checks its options as explain does', () => {
    const model = loadModelSync(fashionCnn);
    expect(() => estimate(model, { depth: 9 })).toThrow(RangeError);
    expect(() => estimate(model, { batch: 0 })).toThrow(RangeError);
    expect(() => estimate(model, { nope: 1 } as never)).toThrow(RangeError);
    model.dispose();
  });
});

describe('onProgress and signal', () => {
  it('reports layer steps increasing to the total, before the promise settles, with the same bits', async () => {
    const model = loadModelSync(fashionCnn);
    const x = seededInput(784, 5);
    const steps: [number, number][] = [];
    const watched = await explain(model, x, { width: 20, onProgress: (d, t) => steps.push([d, t]), signal: new AbortController().signal });
    expect(sameBits(watched, explainSync(model, x, { width: 20 }))).toBe(true);
    const total = estimate(model, { width: 20 }).progressSteps;
    expect(total).toBe(4); // three path layers and the path network
    expect(steps).toEqual([[1, 4], [2, 4], [3, 4], [4, 4]]);

    // A batch: chunks explained in parallel report into one count.
    const xs = seededInput(784 * 40, 6);
    const batchSteps: [number, number][] = [];
    const batch = await explainBatch(model, xs, { depth: 2, onProgress: (d, t) => batchSteps.push([d, t]) });
    const batchTotal = estimate(model, { depth: 2, batch: 40 }).progressSteps;
    expect(batchSteps.length).toBe(batchTotal);
    expect(batchSteps.map(([d]) => d)).toEqual(Array.from({ length: batchTotal }, (_, i) => i + 1));
    expect(batchSteps.every(([, t]) => t === batchTotal)).toBe(true);
    const plain = explainBatchSync(model, xs, { depth: 2 });
    expect(batch.every((e, i) => sameBits(e, plain[i]))).toBe(true);
    model.dispose();
  });

  it('an already-aborted signal rejects with an AbortError before any work; the sync forms refuse both options', async () => {
    const model = loadModelSync(fashionCnn);
    const x = seededInput(784, 7);
    const controller = new AbortController();
    const reason = new Error('stop');
    controller.abort(reason);
    let progressed = 0;
    const err = await explain(model, x, { signal: controller.signal, onProgress: () => progressed++ }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
    await expect(explainBatch(model, x, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
    expect(progressed).toBe(0);
    expect(() => explainSync(model, x, { signal: controller.signal })).toThrow(TypeError);
    expect(() => explainBatchSync(model, x, { onProgress: () => {} })).toThrow(TypeError);
    await expect(explain(model, x, { signal: {} as AbortSignal })).rejects.toThrow(TypeError);
    await expect(explain(model, x, { onProgress: 3 as never })).rejects.toThrow(TypeError);
    model.dispose();
  });

  it('an onProgress that throws stops the call and rejects with its error', async () => {
    const model = loadModelSync(fashionCnn);
    const boom = new Error('boom');
    await expect(explain(model, seededInput(784, 8), { onProgress: () => { throw boom; } })).rejects.toBe(boom);
    expect(explainSync(model, seededInput(784, 8)).residual).toBeTypeOf('number');
    model.dispose();
  });

  it.skipIf(sanitized)('aborting a long explanation (VGG16-shaped, width 64, depth all) rejects well before the call would end; the model still works', async () => {
    const spec = vgg16Spec(1, 224);
    const model = loadModelSync(spec);
    const x = seededInput(3 * 224 * 224, 9);
    const logits = model.forward(x);
    const full = estimate(model, { width: 64 });
    const controller = new AbortController();
    let abortedAt = 0;
    const started = performance.now();
    const call = explain(model, x, {
      width: 64, signal: controller.signal,
      onProgress: (done) => {
        if (done === 2 && !abortedAt) {
          abortedAt = performance.now();
          controller.abort();
        }
      },
    });
    const err = await call.catch((e: unknown) => e);
    const stoppedAfter = (performance.now() - abortedAt) / 1000;
    expect(err).toMatchObject({ name: 'AbortError' });
    expect(abortedAt).toBeGreaterThan(0);
    // The steps left after the second are the expensive ones (C rows through conv1–conv4):
    // stopping takes at most the step that was running.
    expect(stoppedAfter).toBeLessThan(Math.max(2, full.predictedSeconds / 4));
    expect((performance.now() - started) / 1000).toBeLessThan(full.predictedSeconds);
    expect(Array.from(model.forward(x))).toEqual(Array.from(logits));
    model.dispose();
  }, 120_000);

  it.skipIf(sanitized)('repeated aborts free what the calls held (RSS does not grow) and the model then explains the same bits', async () => {
    const model = loadModelSync(vgg16Spec(1, 64));
    const x = seededInput(3 * 64 * 64, 10);
    const abortOnce = async () => {
      const controller = new AbortController();
      return explain(model, x, { width: 64, signal: controller.signal, onProgress: () => controller.abort() }).then(() => 'finished', (e: Error) => e.name);
    };
    for (let i = 0; i < 3; i++) await abortOnce(); // warm up the allocator and the pool
    const before = process.memoryUsage().rss;
    const outcomes: string[] = [];
    for (let i = 0; i < 20; i++) outcomes.push(await abortOnce());
    const grown = process.memoryUsage().rss - before;
    expect(outcomes.filter((o) => o === 'AbortError').length).toBeGreaterThan(10);
    expect(outcomes.every((o) => o === 'AbortError' || o === 'finished')).toBe(true);
    expect(grown).toBeLessThan(64 * 2 ** 20);
    const after = await explain(model, x, { width: 64, depth: 5, onProgress: () => {} });
    expect(sameBits(after, explainSync(model, x, { width: 64, depth: 5 }))).toBe(true);
    model.dispose();
  }, 120_000);

  it('terminating workers with progress-reporting explain calls running does not crash the process', async () => {
    const spec = smallCnn(3);
    const { nativeLayers, inputShape3 } = lowerNetwork(spec);
    const model = loadModelSync(spec);
    const xs = inputs(400, model.inputSize, 11);
    const options = { widthMode: 'count', widthValue: 3, depth: 0, semantics: 'official' };
    for (let round = 0; round < 4; round++) {
      const workers = [0, 1].map(() => new Worker(join(import.meta.dirname, 'helpers', 'explain-worker.cjs'), {
        workerData: { root, inputShape: inputShape3, layers: nativeLayers, inputs: xs, options, mode: 'hold', entry: 'explainWatched' },
      }));
      const replies = await Promise.all(workers.map((w) => new Promise<{ queued: number }>((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      })));
      for (const reply of replies) expect(reply.queued).toBe(400);
      if (round % 2) await new Promise((r) => setTimeout(r, 20));
      await Promise.all(workers.map((w) => w.terminate()));
    }
    const steps: number[] = [];
    const watched = await explain(model, xs[0], { width: 3, onProgress: (d) => steps.push(d) });
    expect(sameBits(watched, explainSync(model, xs[0], { width: 3 }))).toBe(true);
    expect(steps.length).toBeGreaterThan(0);
    model.dispose();
  });
});
