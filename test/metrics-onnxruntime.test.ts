// The forward passes behind the baselines and the metric against onnxruntime-node: the logits the
// engine reports, integrated gradients' delta, and whole insertion/deletion curves scored by
// onnxruntime-node on the same states (the per-step loop of bench/eval/insdel-loop.ts).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelSync, attributeBatchSync, insertionDeletionBatchSync, unwrapBatchSync, type Model } from '../lib/index.js';
import { fixtureDir, maxRelDiff } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';
import { argmax, curveStates, softmaxAt } from '../bench/eval/insdel-loop.js';

const D = 784;

describe.each([
  { name: 'fashion_mlp', set: 'fashion_mlp' },
  { name: 'fashion_cnn', set: 'fashion_cnn_dither' },
])('$name against onnxruntime-node', ({ name, set }) => {
  let model: Model;
  let session: ort.InferenceSession;
  let inputs: Float32Array;
  const run = async (x: Float32Array, n: number): Promise<Float32Array> => {
    const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, 1, 28, 28]) });
    return res[session.outputNames[0]].data as Float32Array;
  };
  beforeAll(async () => {
    model = loadModelSync(join(fixtureDir('models'), `${name}.onnx`));
    session = await ort.InferenceSession.create(readFileSync(join(fixtureDir('models'), `${name}_dyn.onnx`)));
    inputs = readNpy(join(fixtureDir(set), 'inputs.npy')).data as Float32Array;
  });
  afterAll(() => model.dispose());

  it('the logits attribute and unwrap report; integrated gradients’ delta', async () => {
    const theirs = await run(inputs, 16);
    const f0 = await run(new Float32Array(D), 1);
    for (const method of ['saliency', 'guidedBackprop', 'integratedGradients'] as const) {
      const out = attributeBatchSync(model, inputs, { method });
      out.forEach((a, j) => {
        const row = theirs.subarray(j * 10, (j + 1) * 10);
        expect(maxRelDiff(a.logits, row)).toBeLessThan(1e-5);
        expect(a.predicted).toBe(argmax(row));
        if (method === 'integratedGradients') {
          const sum = a.attribution.reduce((s, v) => s + v, 0);
          expect(Math.abs(a.delta! - (sum - (row[a.target] - f0[a.target])))).toBeLessThan(1e-4 * (Math.abs(row[a.target]) + 1));
        }
      });
    }
    unwrapBatchSync(model, inputs.subarray(0, 4 * D)).forEach((u, j) => expect(maxRelDiff(u.logits, theirs.subarray(j * 10, (j + 1) * 10))).toBeLessThan(1e-5));
  });

  it('insertion/deletion curves equal onnxruntime-node scoring every state', async () => {
    const attr = readNpy(join(fixtureDir(set), 'gradient.npy')).data as Float32Array;
    const ours = insertionDeletionBatchSync(model, inputs.subarray(0, 4 * D), attr.subarray(0, 4 * D));
    const logitsX = await run(inputs.subarray(0, 4 * D), 4);
    for (let j = 0; j < 4; j++) {
      const x = inputs.slice(j * D, (j + 1) * D), a = attr.subarray(j * D, (j + 1) * D);
      const c = argmax(logitsX.subarray(j * 10, (j + 1) * 10));
      for (const mode of ['ins', 'del'] as const) {
        const states: Float32Array[] = [];
        for (const s of curveStates([1, 28, 28], x, a, { mode })) states.push(Float32Array.from(s));
        const batch = new Float32Array(states.length * D);
        states.forEach((s, i) => batch.set(s, i * D));
        const logits = await run(batch, states.length);
        const curve = states.map((_, i) => softmaxAt(logits.subarray(i * 10, (i + 1) * 10), c));
        const mine = mode === 'ins' ? ours.results[j].insertion! : ours.results[j].deletion!;
        expect(mine).toHaveLength(29);
        for (let i = 0; i < 29; i++) expect(Math.abs(mine[i] - curve[i]), `${mode} ${j} state ${i}`).toBeLessThan(1e-5);
      }
    }
  });
});
