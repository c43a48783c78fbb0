// The engine's own forward pass (the one every explanation starts from) against onnxruntime-node
// on the fixture models, batch and single, plus Fashion-MNIST-like inputs the fixtures do not hold.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelSync } from '../lib/index.js';
import { fixtureDir, maxRelDiff } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';

describe('engine forward vs onnxruntime-node', () => {
  it.each(['fashion_mlp.onnx', 'fashion_mlp_dyn.onnx'])('%s', async (file) => {
    const path = join(fixtureDir('models'), file);
    const session = await ort.InferenceSession.create(readFileSync(path));
    const model = loadModelSync(path);
    const inputs = readNpy(join(fixtureDir('fashion_mlp'), 'inputs.npy')).data as Float32Array;
    // The fixture inputs and 16 synthetic ones (sine patterns in the normalised range).
    const synthetic = new Float32Array(16 * 784).map((_, i) => 2.5 * Math.sin(i * 0.37) - 0.3);
    for (const batch of [inputs, synthetic]) {
      const ours = model.forward(batch);
      for (let j = 0; j < 16; j++) {
        const x = batch.slice(j * 784, (j + 1) * 784);
        const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 1, 28, 28]) });
        const theirs = res[session.outputNames[0]].data as Float32Array;
        expect(maxRelDiff(ours.subarray(j * 10, (j + 1) * 10), theirs)).toBeLessThan(1e-5);
      }
    }
    model.dispose();
  });
});
