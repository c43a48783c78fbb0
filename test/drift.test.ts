// Training analysis: a tfjs fit callback recording path statistics per epoch (pathwiseCallback),
// PathStatistics through JSON, explainDataset on a dataset object, comparePaths refusing different
// architectures, and `pathwise drift` over ONNX checkpoints (tables, JSON, plot).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import * as onnxSchema from '../lib/gen/onnx_subset_pb.js';
import { onnxBuilders } from './helpers/onnx-bytes.mjs';
import {
  loadModelSync, loadSamples, explainDataset, pathStatistics, pathStatisticsAsync, comparePaths, pathStatisticsToJSON,
  pathStatisticsFromJSON, pathwiseCallback, tfjsLayersModelToSpec, type PathRecord,
} from '../lib/index.js';
import { runCli } from './helpers/cli-run.js';

const { specToOnnx } = onnxBuilders(onnxSchema);
const samples = loadSamples();

function mlp(hidden: number[], seed: number): tf.Sequential {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: hidden[0], activation: 'relu', kernelInitializer: init(1) }),
      ...hidden.slice(1).map((u, i) => tf.layers.dense({ units: u, activation: 'relu', kernelInitializer: init(2 + i) })),
      tf.layers.dense({ units: 10, kernelInitializer: init(9) }),
    ],
  });
}

let dir: string;
let records: PathRecord[];
let checkpoints: string[];
let other: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'pathwise-drift-'));
  const model = mlp([32, 16], 3);
  model.compile({ optimizer: tf.train.adam(1e-2), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
  const xs = tf.tensor2d(samples.inputs, [samples.count, 784]);
  const ys = tf.oneHot(tf.tensor1d(samples.labels, 'int32'), 10);
  checkpoints = [];
  // Each record also saves the model as an ONNX checkpoint, as a PyTorch user would export one per epoch.
  const cb = pathwiseCallback({
    model, probe: samples, every: 1, width: '25%', target: 'label',
    onRecord: (r) => {
      const file = join(dir, `ckpt_${r.epoch}.onnx`);
      writeFileSync(file, specToOnnx(tfjsLayersModelToSpec(model)));
      checkpoints.push(file);
    },
  });
  await model.fit(xs, ys, { epochs: 2, batchSize: 5, shuffle: false, verbose: 0, callbacks: [cb] });
  records = cb.records;
  other = join(dir, 'wider.onnx');
  const wider = mlp([48, 16], 5);
  writeFileSync(other, specToOnnx(tfjsLayersModelToSpec(wider)));
  xs.dispose(); ys.dispose(); model.dispose(); wider.dispose();
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pathwiseCallback', () => {
  it('records path statistics of the probe before training and after each of 2 epochs', () => {
    expect(records.map((r) => r.epoch)).toEqual([0, 1, 2]);
    for (const r of records) {
      expect(r.stats).toMatchObject({ by: 'label', count: 10, architecture: { inputSize: 784, numClasses: 10, reluUnits: [32, 16] } });
      expect(r.stats.classes.map((c) => c.class)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(r.accuracy).toBeGreaterThanOrEqual(0);
    }
    expect(records[0].logs).toBeUndefined();
    expect(records[2].logs?.loss).toBeGreaterThan(0);
    // Two epochs of Adam on ten images move the paths.
    const c = comparePaths(records[0].stats, records[2].stats);
    expect(c.classes).toHaveLength(10);
    expect(c.layers.map((l) => l.ordinal)).toEqual([0, 1]);
    expect(c.layers.some((l) => l.weightedJaccard < 1)).toBe(true);
  });
});

describe('PathStatistics', () => {
  it('survive JSON: pathStatisticsToJSON / pathStatisticsFromJSON, and comparePaths takes a plain JSON.parse too', () => {
    const s = records[1].stats;
    const text = JSON.stringify(pathStatisticsToJSON(s));
    expect(JSON.parse(text).format).toBe('pathwise.pathStatistics');
    const back = pathStatisticsFromJSON(text);
    expect(back).toEqual(s);
    expect(back.classes[0].layers[0].units).toBeInstanceOf(Int32Array);
    // The failure: `l2.units.forEach is not a function` on JSON.parse(JSON.stringify(stats)).
    const plain = JSON.parse(JSON.stringify(s));
    expect(comparePaths(records[0].stats, plain)).toEqual(comparePaths(records[0].stats, s));
    expect(() => pathStatisticsFromJSON('{"classes": 3}')).toThrow(TypeError);
  });

  it('explainDataset takes the dataset object loadSamples / loadFashionMnist return, with target "label"', async () => {
    const model = loadModelSync(tfjsLayersModelToSpec(mlp([32, 16], 3)));
    const results = [];
    for await (const r of explainDataset(model, samples, { width: 4, target: 'label', batchSize: 4 })) results.push(r);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(results.map((r) => r.label)).toEqual(Array.from(samples.labels));
    expect(results.map((r) => r.explanation.target)).toEqual(Array.from(samples.labels));
    // Without labels: the predicted class; progress knows the total.
    const totals: (number | undefined)[] = [];
    const s = await pathStatisticsAsync(explainDataset(model, { inputs: samples.inputs }, { onProgress: (p) => totals.push(p.total) }));
    expect(s.count).toBe(10);
    expect(totals).toEqual([10]);
    await expect(explainDataset(model, { inputs: new Float32Array(100) }).next()).rejects.toThrow(/not a multiple of the model's input size 784/);
    await expect(explainDataset(model, { inputs: samples.inputs }, { target: 'label' }).next()).rejects.toThrow(/target 'label' needs a label/);
    model.dispose();
  });

  it('comparePaths refuses statistics of different architectures with a RangeError naming both', () => {
    const wide = loadModelSync(other);
    const stats = pathStatistics([], { model: wide });
    expect(stats.architecture?.reluUnits).toEqual([48, 16]);
    expect(() => comparePaths(records[0].stats, stats)).toThrow(RangeError);
    expect(() => comparePaths(records[0].stats, stats)).toThrow(
      'comparePaths: a and b summarise different architectures (a: 784 input values, 10 classes, ReLU layers of [32, 16] units; ' +
      'b: 784 input values, 10 classes, ReLU layers of [48, 16] units)');
    wide.dispose();
  });
});

const run = runCli;

describe('pathwise drift', () => {
  it('compares ONNX checkpoints on a probe set: Markdown tables, JSON, an SVG plot and each checkpoint\'s statistics', async () => {
    const out = join(dir, 'drift');
    const r = await run(['drift', ...checkpoints, '--data', 'samples', '--width', '25%', '--out', out]);
    expect(r.stderr).toMatch(/^pathwise drift: ckpt_0\.onnx: 10 probe explanations in [\d.]+ s, probe accuracy \d+\.\d%\n/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\| checkpoints \| probe acc\. \| ReLU 0: J \/ wJ \| ReLU 1: J \/ wJ \| ReLU 0: \+in \/ −out \| ReLU 1: \+in \/ −out \|/);
    expect(r.stdout).toContain('| ckpt_0.onnx → ckpt_1.onnx |');
    const md = readFileSync(join(out, 'path-drift.md'), 'utf8');
    expect(md).toContain('## Per class');
    expect(md).toMatch(/\| ckpt_1\.onnx → ckpt_2\.onnx \| 9 \(Ankle boot\) \| \d\.\d\d \| \d\.\d\d \| \d+ \/ \d+ \| \d+ \/ \d+ \|/);
    expect(md).toContain('Probe: 10 inputs of pathwise samples');
    const json = JSON.parse(readFileSync(join(out, 'path-drift.json'), 'utf8'));
    expect(json.checkpoints.map((c: { name: string }) => c.name)).toEqual(['ckpt_0.onnx', 'ckpt_1.onnx', 'ckpt_2.onnx']);
    expect(json.drift).toHaveLength(2);
    expect(json.drift[0].classes[9]).toMatchObject({ class: 9, name: 'Ankle boot' });
    expect(Array.isArray(json.drift[0].classes[9].layers[0].entered)).toBe(true);
    const svg = readFileSync(join(out, 'path-drift.svg'), 'utf8');
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    // File names are long: the steps are numbered and a key names the checkpoints.
    expect(svg).toContain('>1→2</text>');
    expect(svg).toContain('>1: ckpt_0.onnx</text>');
    expect(svg).toContain('>3: ckpt_2.onnx</text>');
    // The statistics the CLI computed are the callback's (same weights, probe, options).
    const first = pathStatisticsFromJSON(readFileSync(join(out, 'stats', '0-ckpt_0.onnx.json'), 'utf8'));
    expect(comparePaths(first, records[0].stats).layers.every((l) => l.jaccard === 1)).toBe(true);
    expect(existsSync(join(out, 'stats', '2-ckpt_2.onnx.json'))).toBe(true);
  });

  it('refuses checkpoints of different architectures, a single checkpoint, and unknown data', async () => {
    const r = await run(['drift', checkpoints[0], other, '--data', 'samples', '--out', join(dir, 'bad')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/pathwise: comparePaths: a and b summarise different architectures/);
    const one = await run(['drift', checkpoints[0], '--data', 'samples', '--out', join(dir, 'bad')]);
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/at least two checkpoints/);
    const data = await run(['drift', ...checkpoints, '--data', 'mnist', '--out', join(dir, 'bad')]);
    expect(data.code).toBe(2);
    expect(data.stderr).toMatch(/--data must be fashion-mnist, fashion-mnist:train, samples or an \.npy batch/);
  });
});
