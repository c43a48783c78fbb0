// tfjs LayersModels → NetworkSpec: models built and trained briefly by @tensorflow/tfjs (pure JS,
// CPU backend) inside the test, saved as model.json + weight shards, loaded back by pathwise; the
// engine's logits (NCHW input) must match tfjs predict (NHWC input).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { loadModel, loadModelSync, explainSync } from '../lib/index.js';
import { loadTfjsModel, loadTfjsModelSync, tfjsLayersModelToSpec, tfjsArtifactsToSpec, isTfjsLayersModel } from '../lib/tfjs/index.js';
import { isTfjsSource, tfjsSourceToSpec } from '../lib/model/sources.js';
import { maxRelDiff } from './helpers/fixtures.js';
import { batch, expectUnsupported, predict, seeded, toNchw } from './helpers/tfjs.js';

tf.setBackend('cpu');

let dir: string;
beforeAll(async () => {
  await tf.ready();
  dir = mkdtempSync(join(tmpdir(), 'pathwise-tfjs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Saves a model as model.json + `shards` weight files (the file:// layout), returns the json path. */
async function save(model: tf.LayersModel, name: string, shards = 2): Promise<string> {
  const sub = join(dir, name);
  rmSync(sub, { recursive: true, force: true });
  let path = '';
  await model.save(tf.io.withSaveHandler(async (a) => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub, { recursive: true });
    const bytes = new Uint8Array(a.weightData as ArrayBuffer);
    const paths: string[] = [];
    const size = Math.ceil(bytes.length / shards);
    for (let i = 0; i < shards; i++) {
      const file = `group1-shard${i + 1}of${shards}.bin`;
      writeFileSync(join(sub, file), bytes.subarray(i * size, Math.min(bytes.length, (i + 1) * size)));
      paths.push(file);
    }
    path = join(sub, 'model.json');
    writeFileSync(path, JSON.stringify({
      format: a.format, generatedBy: a.generatedBy, convertedBy: a.convertedBy,
      modelTopology: a.modelTopology, weightsManifest: [{ paths, weights: a.weightSpecs }],
    }));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  return path;
}

/** Trains briefly on a synthetic 3-class problem (a linear rule on the inputs). */
async function train(model: tf.LayersModel, inputShape: number[], n = 96, epochs = 3) {
  const size = inputShape.reduce((a, b) => a * b, 1);
  const rand = seeded(11);
  const xs = new Float32Array(n * size).map(() => rand());
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < size; j++) s += xs[i * size + j] * Math.sin(j);
    labels[i] = s > 0.8 ? 0 : s < -0.8 ? 1 : 2;
  }
  const x = tf.tensor(xs, [n, ...inputShape]);
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), 3);
  model.compile({ optimizer: tf.train.adam(0.01), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
  const h = await model.fit(x, y, { epochs, batchSize: 16, verbose: 0 });
  x.dispose(); y.dispose();
  return h.history.loss as number[];
}

describe('tfjs MLP', () => {
  let model: tf.Sequential;
  let path: string;
  beforeAll(async () => {
    model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [12], units: 16, activation: 'relu' }),
        tf.layers.dropout({ rate: 0.2 }),
        tf.layers.dense({ units: 10 }),
        tf.layers.reLU(),
        tf.layers.dense({ units: 8, activation: 'linear' }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const loss = await train(model, [12]);
    expect(loss[loss.length - 1]).toBeLessThan(loss[0]);
    path = await save(model, 'mlp');
  });

  it('loads model.json + shards and agrees with tfjs predict', async () => {
    const spec = await loadTfjsModel(path);
    expect(spec.inputShape).toEqual([12]);
    expect(spec.layers.map((l) => l.type)).toEqual(['dense', 'relu', 'dense', 'relu', 'dense', 'relu', 'dense']);
    const m = loadModelSync(spec);
    expect(m.reluLayers.map((r) => r.units)).toEqual([16, 10, 8]);
    const x = batch(20, 12, 3);
    expect(maxRelDiff(m.forward(x), predict(model, x, [20, 12]))).toBeLessThan(1e-4);
    m.dispose();
  });

  it('the sync loader, the in-memory model and the artifacts agree with the file', async () => {
    const a = loadTfjsModelSync(path);
    const b = tfjsLayersModelToSpec(model);
    const c = await tfjsSourceToSpec(model);
    let artifacts: unknown;
    await model.save(tf.io.withSaveHandler(async (art) => { artifacts = art; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
    const d = tfjsArtifactsToSpec(artifacts as never);
    const x = batch(4, 12, 5);
    const ref = loadModelSync(a).forward(x);
    for (const s of [b, c, d]) expect(Array.from(loadModelSync(s).forward(x))).toEqual(Array.from(ref));
    // loadModel takes the model.json path and the in-memory tf.LayersModel directly.
    expect(Array.from((await loadModel(path)).forward(x))).toEqual(Array.from(ref));
    expect(Array.from(loadModelSync(path).forward(x))).toEqual(Array.from(ref));
    expect(Array.from(loadModelSync(model as never).forward(x))).toEqual(Array.from(ref));
  });

  it('explains', () => {
    const m = loadModelSync(loadTfjsModelSync(path));
    const x = batch(1, 12, 9);
    const ex = explainSync(m, x, { width: 4 });
    expect(ex.layers).toHaveLength(3);
    const sum = ex.attribution.reduce((p, q) => p + q, 0);
    expect(Math.abs(sum + ex.bias - ex.pathLogit)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ex.pathLogit)));
    m.dispose();
  });

  it('recognises tfjs sources', () => {
    expect(isTfjsSource('a/model.json')).toBe(true);
    expect(isTfjsSource('a/model.onnx')).toBe(false);
    expect(isTfjsSource(model)).toBe(true);
    expect(isTfjsLayersModel({ inputShape: [2], layers: [{ type: 'dense' }] })).toBe(false);
  });
});

describe('tfjs CNN (channels-last → NCHW)', () => {
  const [H, W, C] = [9, 7, 3];
  let model: tf.Sequential;
  let path: string;
  beforeAll(async () => {
    model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [H, W, C], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }),
        tf.layers.batchNormalization({ momentum: 0.5 }),
        tf.layers.maxPooling2d({ poolSize: 2 }),
        tf.layers.conv2d({ filters: 5, kernelSize: [2, 3], strides: [1, 1] }),
        tf.layers.reLU(),
        tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dropout({ rate: 0.1 }),
        tf.layers.dense({ units: 8 }),
        tf.layers.activation({ activation: 'relu' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const loss = await train(model, [H, W, C], 64, 2);
    expect(loss.every(Number.isFinite)).toBe(true);
    path = await save(model, 'cnn', 3);
  });

  it('converts shapes and layouts', async () => {
    const spec = await loadTfjsModel(path);
    expect(spec.inputShape).toEqual([C, H, W]);
    const conv = spec.layers[0];
    expect(conv).toMatchObject({ type: 'conv', inChannels: 3, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1] });
    // [kh, kw, cin, cout] → [cout, cin, kh, kw]
    const k = model.layers[0].getWeights()[0].dataSync();
    const w = (conv as { weights: Float32Array }).weights;
    expect(w[((2 * 3 + 1) * 3 + 0) * 3 + 2]).toBe(k[((0 * 3 + 2) * 3 + 1) * 4 + 2]);
    const m = loadModelSync(spec);
    expect(m.reluLayers.map((r) => r.shape)).toEqual([[4, 9, 7], [5, 3, 1], [8]]);
    m.dispose();
  });

  it('agrees with tfjs predict to 1e-4 (NHWC there, NCHW here)', async () => {
    const m = loadModelSync(await loadTfjsModel(path));
    const n = 16;
    const x = batch(n, H * W * C, 21);
    const theirs = predict(model, x, [n, H, W, C]);
    const ours = m.forward(toNchw(x, n, H, W, C));
    expect(maxRelDiff(ours, theirs)).toBeLessThan(1e-4);
    // The in-memory model too.
    const mem = loadModelSync(tfjsLayersModelToSpec(model));
    expect(maxRelDiff(mem.forward(toNchw(x, n, H, W, C)), theirs)).toBeLessThan(1e-4);
    m.dispose(); mem.dispose();
  });

  it('explains, with the attribution in NCHW', async () => {
    const m = loadModelSync(await loadTfjsModel(path));
    const x = toNchw(batch(1, H * W * C, 33), 1, H, W, C);
    const ex = explainSync(m, x, { width: '25%', depth: 2 });
    expect(ex.layers.map((l) => l.ordinal)).toEqual([1, 2]);
    expect(ex.attribution).toHaveLength(C * H * W);
    const sum = ex.attribution.reduce((p, q) => p + q, 0);
    expect(Math.abs(sum + ex.bias - ex.pathLogit)).toBeLessThan(1e-3 * Math.max(1, Math.abs(ex.pathLogit)));
    m.dispose();
  });
});

describe('tfjs functional graphs', () => {
  it('residual add, same-padded pools, global pooling, BatchNorm on flattened features', async () => {
    const [H, W, C] = [7, 9, 2];
    const input = tf.input({ shape: [H, W, C] });
    const a = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    const b = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(a) as tf.SymbolicTensor;
    const s = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
    const r = tf.layers.reLU().apply(s) as tf.SymbolicTensor;
    const p = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }).apply(r) as tf.SymbolicTensor;
    const q = tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }).apply(p) as tf.SymbolicTensor;
    const f = tf.layers.flatten().apply(q) as tf.SymbolicTensor;
    const bn = tf.layers.batchNormalization().apply(f) as tf.SymbolicTensor;
    const d = tf.layers.dense({ units: 6, activation: 'relu' }).apply(bn) as tf.SymbolicTensor;
    const g = tf.layers.globalAveragePooling2d({}).apply(r) as tf.SymbolicTensor;
    const gd = tf.layers.dense({ units: 6 }).apply(g) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([d, gd]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ units: 4 }).apply(sum) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    // Non-trivial BatchNorm statistics.
    const bnLayer = model.layers.find((l) => l.getClassName() === 'BatchNormalization')!;
    const rand = seeded(5);
    bnLayer.setWeights(bnLayer.getWeights().map((t, i) =>
      tf.tensor(new Float32Array(t.size).map(() => (i === 3 ? 0.5 + Math.abs(rand()) : rand())), t.shape)));
    const path = await save(model, 'functional', 1);
    const n = 8;
    const x = batch(n, H * W * C, 44);
    const theirs = predict(model, x, [n, H, W, C]);
    for (const spec of [await loadTfjsModel(path), tfjsLayersModelToSpec(model)]) {
      expect(spec.inputShape).toEqual([C, H, W]);
      const m = loadModelSync(spec);
      expect(maxRelDiff(m.forward(toNchw(x, n, H, W, C)), theirs)).toBeLessThan(1e-4);
      m.dispose();
    }
  });

  it('a final softmax is refused by default and dropped with stripSoftmax', async () => {
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [5], units: 6, activation: 'relu' }), tf.layers.dense({ units: 3, activation: 'softmax' })],
    });
    const path = await save(model, 'softmax', 1);
    await expect(loadTfjsModel(path)).rejects.toMatchObject({ code: 'PATHWISE_UNSUPPORTED_OP', message: expect.stringMatching(/dense_Dense\d+.*softmax.*stripSoftmax/) });
    const m = loadModelSync(await loadTfjsModel(path, { stripSoftmax: true }));
    const x = batch(3, 5, 8);
    const probs = predict(model, x, [3, 5]);
    const logits = m.forward(x);
    for (let i = 0; i < 3; i++) {
      const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
      const mx = Math.max(...row), e = row.map((v) => Math.exp(v - mx)), z = e.reduce((p, q) => p + q, 0);
      for (let c = 0; c < 3; c++) expect(e[c] / z).toBeCloseTo(probs[i * 3 + c], 5);
    }
  });
});

describe('tfjs errors', () => {

  it('names the layer with an unsupported activation or type', async () => {
    const tanh = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: 'tanh', name: 'hidden_tanh' }), tf.layers.dense({ units: 2 })] });
    expectUnsupported(() => tfjsLayersModelToSpec(tanh), /"hidden_tanh" \(Dense\).*tanh/);
    const p = await save(tanh, 'tanh', 1);
    await expect(loadTfjsModel(p)).rejects.toMatchObject({ code: 'PATHWISE_UNSUPPORTED_OP', message: expect.stringContaining('hidden_tanh') });

    const conv1d = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [8, 2], filters: 3, kernelSize: 3, name: 'c1d' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    expectUnsupported(() => tfjsLayersModelToSpec(conv1d), /"c1d" \(Conv1D\): unsupported layer type/);

    const sig = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5 }), tf.layers.activation({ activation: 'sigmoid', name: 'act_sig' }), tf.layers.dense({ units: 2 })] });
    expectUnsupported(() => tfjsLayersModelToSpec(sig), /"act_sig" \(Activation\).*sigmoid/);

    const relu6 = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5 }), tf.layers.reLU({ maxValue: 6, name: 'r6' }), tf.layers.dense({ units: 2 })] });
    // Issue 14: a clipped ReLU is a gate now (test/tfjs-arch.test.ts covers the others).
    expect(tfjsLayersModelToSpec(relu6).layers[1]).toEqual({ type: 'clip', name: 'r6', min: 0, max: 6 });

    const dense3d = tf.sequential({ layers: [tf.layers.dense({ inputShape: [3, 4], units: 5, name: 'd3' }), tf.layers.flatten(), tf.layers.dense({ units: 2 })] });
    expectUnsupported(() => tfjsLayersModelToSpec(dense3d), /"d3" \(Dense\).*Flatten/);
  });

  it('reports missing files and malformed json as PATHWISE_BAD_MODEL', async () => {
    await expect(loadTfjsModel(join(dir, 'nope', 'model.json'))).rejects.toMatchObject({ code: 'PATHWISE_BAD_MODEL' });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"modelTopology": 1}');
    expect(() => loadTfjsModelSync(bad)).toThrow(expect.objectContaining({ code: 'PATHWISE_BAD_MODEL' }));
    writeFileSync(bad, 'not json');
    expect(() => loadTfjsModelSync(bad)).toThrow(/not JSON/);
    expect(() => tfjsLayersModelToSpec({ layers: [] })).toThrow(TypeError);
  });

  it('reports a short weight file', async () => {
    const m = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: 'relu' }), tf.layers.dense({ units: 2 })] });
    const p = await save(m, 'short', 1);
    writeFileSync(join(dir, 'short', 'group1-shard1of1.bin'), new Uint8Array(10));
    expect(() => loadTfjsModelSync(p)).toThrow(expect.objectContaining({ code: 'PATHWISE_BAD_MODEL', message: expect.stringMatching(/weight data has 10/) }));
  });
});
