// The gated Fashion-MNIST fixture (tools/reference/train_fashion_leaky.py): a CNN whose three gate
// layers are LeakyReLU(0.1). It loads, its logits match onnxruntime-node, every gate layer is a path
// layer of kind 'leakyrelu', and its explanations keep completeness.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel, explainBatch, loadFashionMnist } from '../lib/index.js';
import { fixtureDir } from './helpers/fixtures.js';
import { expectExactSums } from './helpers/identities.js';
import { relErr, runOrt } from './helpers/ort.js';

const path = join(fixtureDir('models'), 'fashion_cnn_leaky.onnx');

describe('fashion_cnn_leaky.onnx', () => {
  it('is small, loads with three LeakyReLU path layers, and matches onnxruntime-node', async () => {
    const bytes = readFileSync(path);
    expect(bytes.length).toBeLessThan(1 << 20);
    const model = await loadModel(path);
    expect(model.gateLayers.map((g) => g.kind)).toEqual(['leakyrelu', 'leakyrelu', 'leakyrelu']);
    expect(model.gateLayers.map((g) => g.units)).toEqual([8 * 28 * 28, 16 * 14 * 14, 64]);
    const data = loadFashionMnist({ count: 8 });
    const ours = model.forward(data.inputs);
    for (let i = 0; i < data.count; i++) {
      const x = data.inputs.subarray(i * 784, (i + 1) * 784);
      const expected = await runOrt(bytes, x, [1, 1, 28, 28]);
      expect(relErr(ours.subarray(i * 10, (i + 1) * 10), expected)).toBeLessThan(1e-5);
    }
  });

  it('explains with exact sums in both semantics', async () => {
    const model = await loadModel(path);
    const data = loadFashionMnist({ count: 4 });
    for (const semantics of ['official', 'linear'] as const)
      for (const e of await explainBatch(model, data.inputs, { semantics, width: 16 })) expectExactSums(e);
  });
});
