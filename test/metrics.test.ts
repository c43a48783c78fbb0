// Insertion/deletion (docs/method.md §10) against the reference fixture curves (RISE `evaluation.py`, stable
// tie order) and against the straightforward per-step loop of bench/eval/insdel-loop.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  loadModelSync, insertionDeletion, insertionDeletionSync, insertionDeletionBatch, insertionDeletionBatchSync,
  curveAuc, blurSubstrate, explainBatchSync, type Model, type NetworkSpec, type LayerSpec,
} from '../lib/index.js';
import { nativeAddon as baselineAddon } from '../lib/addon/native.js';
import { fixtureDir } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';
import { fashionCnnSpec } from './helpers/fashion-cnn-spec.js';
import { loopCurve, loopOrder } from '../bench/eval/insdel-loop.js';

const D = 784;
const npy = (set: string, file: string) => readNpy(join(fixtureDir(set), file)).data;
const SPEC_V = [0.08795815, 0.08889612, 0.0904742, 0.09219112, 0.09348939, 0.09398206, 0.09348939, 0.09219112, 0.0904742, 0.08889612, 0.08795815];

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** 3 input channels (the union of per-channel blocks matters), 9 × 7 image, padding. */
function rgbCnn(seed = 4): NetworkSpec {
  const r = seeded(seed);
  const f = (n: number, s: number) => new Float32Array(n).map(() => r() * s);
  const layers: LayerSpec[] = [
    { type: 'conv', inChannels: 3, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(108, 0.6), bias: f(4, 0.1) },
    { type: 'relu' },
    { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'flatten' },
    { type: 'dense', in: 48, out: 5, weights: f(240, 0.5), bias: f(5, 0.1) },
  ];
  return { inputShape: [3, 9, 7], layers };
}

describe('blur substrate', () => {
  it("computes docs/method.md §10's v (scipy gaussian_filter σ = 5 of an impulse) in float64", () => {
    const v = baselineAddon().blurTaps();
    expect(v).toHaveLength(11);
    for (let i = 0; i < 11; i++) expect(Math.abs(v[i] - SPEC_V[i])).toBeLessThan(5e-9);
    expect(v.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 14);
  });

  it('is conv2d with K = v vᵀ per channel and zero padding 5', () => {
    const [C, H, W] = [3, 9, 13];
    const x = new Float32Array(C * H * W).map(seeded(2));
    const out = blurSubstrate([C, H, W], x);
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++) {
          let s = 0;
          for (let a = 0; a < 11; a++)
            for (let b = 0; b < 11; b++) {
              const sy = y + a - 5, sx = xx + b - 5;
              if (sy >= 0 && sy < H && sx >= 0 && sx < W) s += SPEC_V[a] * SPEC_V[b] * x[(c * H + sy) * W + sx];
            }
          expect(Math.abs(out[(c * H + y) * W + xx] - s)).toBeLessThan(1e-6);
        }
  });
});

describe.each([
  { set: 'fashion_mlp', source: () => join(fixtureDir('models'), 'fashion_mlp.onnx') as string | NetworkSpec },
  { set: 'fashion_cnn_dither', source: () => fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx')) as string | NetworkSpec },
])('insertion/deletion against the $set fixture curves', ({ set, source }) => {
  let model: Model;
  let inputs: Float32Array;
  let index: { insdel: { step: number; order: string; auc: Record<string, { ins: number[]; del: number[] }> } };
  beforeAll(() => {
    model = loadModelSync(source());
    inputs = npy(set, 'inputs.npy') as Float32Array;
    index = JSON.parse(readFileSync(join(fixtureDir(set), 'index.json'), 'utf8'));
  });
  afterAll(() => model.dispose());

  it.each([
    { name: 'gradient', attr: 'gradient.npy' },
    { name: 'pathwise_wall_dall', attr: 'pathwise_wall_dall_attr.npy' },
  ])('$name: every curve point and AUC within 1e-4 (stable order, step 28)', ({ name, attr }) => {
    expect(index.insdel.step).toBe(28);
    expect(index.insdel.order).toBe('stable');
    const a = npy(set, attr) as Float32Array;
    const ins = npy(set, `insdel_${name}_ins.npy`) as Float64Array;
    const del = npy(set, `insdel_${name}_del.npy`) as Float64Array;
    const out = insertionDeletionBatchSync(model, inputs, a, { order: 'stable' });
    expect(out.steps).toBe(28);
    expect(out.step).toBe(28);
    const targets = Array.from(npy(set, 'targets.npy') as BigInt64Array, Number);
    let sumIns = 0, sumDel = 0;
    for (let j = 0; j < 16; j++) {
      const r = out.results[j];
      expect(r.target).toBe(targets[j]);
      expect(maxAbs(r.insertion!, ins.subarray(j * 29, (j + 1) * 29)), `ins ${j}`).toBeLessThanOrEqual(1e-4);
      expect(maxAbs(r.deletion!, del.subarray(j * 29, (j + 1) * 29)), `del ${j}`).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(r.insertionAuc! - index.insdel.auc[name].ins[j])).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(r.deletionAuc! - index.insdel.auc[name].del[j])).toBeLessThanOrEqual(1e-4);
      expect(r.insertionAuc).toBeCloseTo(curveAuc(r.insertion!), 12);
      sumIns += r.insertionAuc!;
      sumDel += r.deletionAuc!;
    }
    expect(out.meanInsertionAuc).toBeCloseTo(sumIns / 16, 12);
    expect(out.meanDeletionAuc).toBeCloseTo(sumDel / 16, 12);
    // 16 class forwards + 1 shared zeros forward + 16 × (28 insertion + 27 deletion) states at most.
    expect(out.forwards).toBeLessThanOrEqual(16 + 1 + 16 * 55);
  });

  it('single, async, chunked and no-reuse forms give the same curves', async () => {
    const a = npy(set, 'gradient.npy') as Float32Array;
    const batch = insertionDeletionBatchSync(model, inputs.subarray(0, 3 * D), a.subarray(0, 3 * D));
    const asyncBatch = await insertionDeletionBatch(model, inputs.subarray(0, 3 * D), a.subarray(0, 3 * D), { chunkSize: 7 });
    const noReuse = insertionDeletionBatchSync(model, inputs.subarray(0, 3 * D), a.subarray(0, 3 * D), { reuseKnownStates: false, chunkSize: 1 });
    expect(noReuse.forwards).toBe(3 + 3 * 2 * 29);
    expect(batch.forwards).toBeLessThan(noReuse.forwards);
    for (let j = 0; j < 3; j++) {
      const x = inputs.subarray(j * D, (j + 1) * D), aj = a.subarray(j * D, (j + 1) * D);
      const one = insertionDeletionSync(model, x, aj);
      const two = await insertionDeletion(model, x, aj);
      for (const r of [one, two, asyncBatch.results[j], noReuse.results[j]]) {
        expect(maxAbs(r.insertion!, batch.results[j].insertion!)).toBeLessThan(1e-6);
        expect(maxAbs(r.deletion!, batch.results[j].deletion!)).toBeLessThan(1e-6);
      }
    }
    const onlyDel = insertionDeletionSync(model, inputs.subarray(0, D), a.subarray(0, D), { insertion: false });
    expect(onlyDel.insertion).toBeUndefined();
    expect(maxAbs(onlyDel.deletion!, batch.results[0].deletion!)).toBeLessThan(1e-6);
  });

  it("pathwise attributions from the engine reproduce the fixture AUCs ('official', all/all)", () => {
    const ex = explainBatchSync(model, inputs, { width: 'all', depth: 'all' });
    const a = new Float32Array(16 * D);
    ex.forEach((e, j) => a.set(e.attribution, j * D));
    const out = insertionDeletionBatchSync(model, inputs, a);
    for (let j = 0; j < 16; j++) {
      expect(Math.abs(out.results[j].insertionAuc! - index.insdel.auc.pathwise_wall_dall.ins[j]), `ins ${j}`).toBeLessThanOrEqual(1e-4);
      expect(Math.abs(out.results[j].deletionAuc! - index.insdel.auc.pathwise_wall_dall.del[j]), `del ${j}`).toBeLessThanOrEqual(1e-4);
    }
  });
});

describe('insertion/deletion against the per-step loop (Reference structure)', () => {
  it('3-channel CNN: the union of the channels’ blocks, ties, both orders, odd steps', () => {
    const spec = rgbCnn();
    const model = loadModelSync(spec);
    const rand = seeded(9);
    const d = 3 * 9 * 7, n = 4;
    const x = new Float32Array(n * d).map(() => rand() * 1.5);
    // Quantised attributions: many exact ties, and each channel ordered differently.
    const a = new Float32Array(n * d).map(() => Math.round(rand() * 2));
    for (const order of ['stable', 'reference'] as const)
      for (const step of [7, 5, 63]) {
        const out = insertionDeletionBatchSync(model, x, a, { order, step });
        expect(out.steps).toBe(Math.ceil(63 / step));
        for (let j = 0; j < n; j++) {
          const xj = x.subarray(j * d, (j + 1) * d), aj = a.subarray(j * d, (j + 1) * d);
          const ins = loopCurve(model, xj, aj, { mode: 'ins', step, order });
          const del = loopCurve(model, xj, aj, { mode: 'del', step, order });
          expect(maxAbs(out.results[j].insertion!, ins), `${order} ${step} ins ${j}`).toBeLessThan(1e-6);
          expect(maxAbs(out.results[j].deletion!, del), `${order} ${step} del ${j}`).toBeLessThan(1e-6);
        }
      }
    model.dispose();
  });

  it("'stable' and 'reference' differ exactly in the order of tied pixels", () => {
    expect(loopOrder([0, 1, 0, 1, 0.5], 'stable')).toEqual([1, 3, 4, 0, 2]);
    expect(loopOrder([0, 1, 0, 1, 0.5], 'reference')).toEqual([3, 1, 4, 2, 0]);
    // An all-zero attribution: 'stable' deletes the top rows first, 'reference' the bottom rows.
    const model = loadModelSync(fashionCnnSpec(join(fixtureDir('models'), 'fashion_cnn.onnx')));
    const x = (npy('fashion_cnn_dither', 'inputs.npy') as Float32Array).subarray(0, D);
    const zero = new Float32Array(D);
    const s = insertionDeletionSync(model, x, zero, { order: 'stable' });
    const r = insertionDeletionSync(model, x, zero, { order: 'reference' });
    expect(maxAbs(s.deletion!, loopCurve(model, x, zero, { mode: 'del', order: 'stable' }))).toBeLessThan(1e-6);
    expect(maxAbs(r.deletion!, loopCurve(model, x, zero, { mode: 'del', order: 'reference' }))).toBeLessThan(1e-6);
    // Rows 26–27 never reach the CNN's output: deleting them first leaves the score unchanged.
    expect(r.deletion![1]).toBe(r.deletion![0]);
    expect(r.deletion![2]).toBe(r.deletion![0]);
    expect(s.deletion![1]).not.toBe(s.deletion![0]);
    model.dispose();
  });

  it('an explicit target tracks that class', () => {
    const model = loadModelSync(rgbCnn());
    const x = new Float32Array(189).map(seeded(3));
    const a = new Float32Array(189).map(seeded(4));
    const r = insertionDeletionSync(model, x, a, { target: 2 });
    expect(r.target).toBe(2);
    expect(maxAbs(r.insertion!, loopCurve(model, x, a, { mode: 'ins', target: 2 }))).toBeLessThan(1e-6);
    model.dispose();
  });
});

describe('insertion/deletion: errors', () => {
  const cnn = loadModelSync(rgbCnn());
  const x = new Float32Array(189), a = new Float32Array(189);
  it('rejects bad arguments with the documented error classes', async () => {
    const flat = loadModelSync([{ type: 'dense', in: 4, out: 3, weights: new Float32Array(12) }, { type: 'relu' }, { type: 'dense', in: 3, out: 2, weights: new Float32Array(6) }]);
    expect(() => insertionDeletionSync(flat, new Float32Array(4), new Float32Array(4))).toThrow(/image input/);
    expect(() => insertionDeletionSync(cnn, x, a.subarray(0, 10))).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { order: 'random' as 'stable' })).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { step: 0 })).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { step: 64 })).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { insertion: false, deletion: false })).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { target: 5 })).toThrow(RangeError);
    expect(() => insertionDeletionSync(cnn, x, a, { steps: 3 } as never)).toThrow(/unknown option/);
    expect(() => insertionDeletionSync(cnn, x, new Float32Array(189).fill(NaN))).toThrow(RangeError);
    await expect(insertionDeletion(cnn, x, a, { step: 64 })).rejects.toThrow(RangeError);
    expect(() => curveAuc([1])).toThrow(RangeError);
    expect(curveAuc([1, 0])).toBe(0.5);
  });
});
