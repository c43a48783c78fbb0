// Issue 6, part 5: concurrency. 1,000 explain promises in flight on one model, and the same in 4
// worker_threads (each loads the addon in its own context), give results identical to serial
// explanations; dispose() while calls are in flight is safe, and so is worker termination with
// calls of any async entry point (explain, attribute, unwrap, insertionDeletion) in flight.
import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadModelSync, explain, explainSync, explainBatch, attribute, attributeSync, PathwiseError, type Explanation } from '../lib/index.js';
import { lowerNetwork } from '../lib/model/lower.js';
import { unpackResults } from '../lib/explain/explain.js';
import type { NativeExplainPacked } from '../lib/addon/native.js';
import { inputs, smallCnn } from './helpers/small-models.js';

const root = join(import.meta.dirname, '..');
const CONCURRENT = Number(process.env.PATHWISE_CONCURRENT ?? 1000);
const spec = smallCnn(3);
const options = { width: 3 } as const;
const nativeOptions = { widthMode: 'count', widthValue: 3, depth: 0, semantics: 'official' };

type Comparable = Pick<Explanation, 'attribution' | 'weights' | 'bias' | 'pathLogits' | 'logits' | 'target' | 'predicted'> & {
  layers: { units: Int32Array }[];
};

/** Bit-for-bit the same explanation (float arrays compared as arrays, units per layer). */
function same(a: Comparable, b: Comparable): boolean {
  const eq = (x: Float32Array, y: Float32Array) => x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
  return eq(a.attribution, b.attribution) && eq(a.weights, b.weights) && eq(a.pathLogits, b.pathLogits) && eq(a.logits, b.logits) &&
    Object.is(a.bias, b.bias) && a.target === b.target && a.predicted === b.predicted && a.layers.length === b.layers.length &&
    a.layers.every((l, i) => l.units.length === b.layers[i].units.length && l.units.every((u, j) => u === b.layers[i].units[j]));
}

function runWorker(data: Record<string, unknown>): { worker: Worker; done: Promise<Record<string, unknown>> } {
  const worker = new Worker(join(import.meta.dirname, 'helpers', 'explain-worker.cjs'), { workerData: data });
  const done = new Promise<Record<string, unknown>>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with ${code} before replying`)));
  });
  return { worker, done };
}

describe('concurrency', () => {
  const model = loadModelSync(spec);
  const xs = inputs(CONCURRENT, model.inputSize, 11);
  const serial = xs.map((x) => explainSync(model, x, options));

  it(`${CONCURRENT} concurrent explain promises on one model equal the serial results`, async () => {
    const results = await Promise.all(xs.map((x) => explain(model, x, options)));
    const differ = results.map((r, i) => (same(r, serial[i]) ? -1 : i)).filter((i) => i >= 0);
    expect(differ).toEqual([]);
    // The explanations differ from one input to the next (the comparison is not vacuous).
    expect(new Set(serial.map((s) => s.layers.map((l) => l.units.join(',')).join('|'))).size).toBeGreaterThan(CONCURRENT / 10);
    // Batches in flight alongside single calls.
    const batches = await Promise.all([0, 1, 2, 3].map((b) => {
      const chunk = xs.slice(b * 10, b * 10 + 10);
      const flat = new Float32Array(chunk.length * model.inputSize);
      chunk.forEach((x, i) => flat.set(x, i * model.inputSize));
      return explainBatch(model, flat, options);
    }));
    batches.forEach((batch, b) => batch.forEach((r, i) => expect(r.layers.map((l) => Array.from(l.units))).toEqual(serial[b * 10 + i].layers.map((l) => Array.from(l.units)))));
  });

  it(`4 worker_threads × ${CONCURRENT} concurrent explains (the addon loaded in each) equal the serial results`, async () => {
    const { nativeLayers, inputShape3 } = lowerNetwork(spec);
    const runs = [0, 1, 2, 3].map(() => runWorker({ root, inputShape: inputShape3, layers: nativeLayers, inputs: xs, options: nativeOptions, mode: 'explain' }));
    const replies = await Promise.all(runs.map((r) => r.done));
    for (const reply of replies) {
      expect(reply.error).toBeUndefined();
      const results: Comparable[] = (reply.results as NativeExplainPacked[]).map((packed) => unpackResults(packed)[0]);
      expect(results).toHaveLength(CONCURRENT);
      expect(results.map((r, i) => (same(r, serial[i]) ? -1 : i)).filter((i) => i >= 0)).toEqual([]);
      expect(reply.after).toBe('ok');
    }
    await Promise.all(runs.map((r) => r.worker.terminate()));
  });

  it('dispose() while calls are in flight: every call finishes with the right result, later calls fail with PATHWISE_DISPOSED', async () => {
    for (const when of [0, 1, 100, 500]) {
      const m = loadModelSync(spec);
      const pending = xs.slice(0, 600).map((x) => explain(m, x, options));
      if (when > 0) await Promise.all(pending.slice(0, when));
      m.dispose();
      const results = await Promise.all(pending);
      expect(results.map((r, i) => (same(r, serial[i]) ? -1 : i)).filter((i) => i >= 0)).toEqual([]);
      expect(() => explainSync(m, xs[0], options)).toThrow(PathwiseError);
      await expect(explain(m, xs[0], options)).rejects.toMatchObject({ code: 'PATHWISE_DISPOSED' });
      m.dispose();
    }
  });

  it('dispose() in a worker with its calls in flight', async () => {
    const { nativeLayers, inputShape3 } = lowerNetwork(spec);
    const run = runWorker({ root, inputShape: inputShape3, layers: nativeLayers, inputs: xs.slice(0, 300), options: nativeOptions, mode: 'dispose' });
    const reply = await run.done;
    expect(reply.error).toBeUndefined();
    expect((reply.results as NativeExplainPacked[]).every((packed, i) => same(unpackResults(packed)[0], serial[i]))).toBe(true);
    expect(reply.after).toBe('PATHWISE_DISPOSED');
    await run.worker.terminate();
  });

  // Every async entry point of the addon, with the native options lib/ would pass it.
  const asyncEntries = {
    explain: nativeOptions,
    attribute: { method: 'integratedGradients', steps: 8 },
    unwrap: {},
    insertionDeletion: {},
  } as const;

  for (const [entry, entryOptions] of Object.entries(asyncEntries)) {
    it(`terminating workers with ${entry} calls queued or running does not crash the process`, async () => {
      const { nativeLayers, inputShape3 } = lowerNetwork(spec);
      for (let round = 0; round < 4; round++) {
        const runs = [0, 1].map(() =>
          runWorker({ root, inputShape: inputShape3, layers: nativeLayers, inputs: xs.slice(0, 400), options: entryOptions, mode: 'hold', entry }),
        );
        const replies = await Promise.all(runs.map((r) => r.done));
        for (const reply of replies) expect(reply.queued).toBe(400);
        // Terminate at once, or after the thread pool has had time to start on the queue.
        if (round % 2) await new Promise((r) => setTimeout(r, 20));
        await Promise.all(runs.map((r) => r.worker.terminate()));
      }
      // The main thread's model still works, and so does the thread pool.
      expect(same(await explain(model, xs[0], options), serial[0])).toBe(true);
      const sync = attributeSync(model, xs[0], { method: 'saliency' });
      expect(Array.from((await attribute(model, xs[0], { method: 'saliency' })).attribution)).toEqual(Array.from(sync.attribution));
    });
  }

  it('dropping the last reference to a model with calls in flight is safe (the calls keep the network)', async () => {
    let pending: Promise<Explanation>[] = [];
    (() => {
      const m = loadModelSync(spec);
      pending = xs.slice(0, 200).map((x) => explain(m, x, options));
    })();
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc(); // collects the Model and its NativeNetwork wrapper: the finalizer runs with calls queued
    await new Promise((r) => setImmediate(r));
    gc();
    const results = await Promise.all(pending);
    expect(results.every((r, i) => same(r, serial[i]))).toBe(true);
  });
});
