// The metric runner (lib/eval/evaluate-metrics.ts), `pathwise eval --metrics`, and the docs/results.md
// generator (lib/eval/results.ts, tools/results/make-results.mjs) on a few images.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  loadModelSync, loadNpyDataset, evaluateMetrics, evaluateQuality, insertionDeletionBatchSync, methodExplainer, randomAttribution,
  formatMetricsTable, parseOnnx, FASHION_MNIST_DIR, type Dataset, type EvalMetric,
} from '../lib/index.js';
import { runEvaluateCli } from '../lib/cli/eval.js';
import { makeResults } from '../lib/eval/results.js';
import { fixtureDir } from './helpers/fixtures.js';

const modelsDir = fixtureDir('models');
const mlpPath = join(modelsDir, 'fashion_mlp.onnx');
const fixture = (file: string) => join(fixtureDir('fashion_mlp'), file);
const root = join(fixtureDir('models'), '..', '..', '..');

describe('evaluateMetrics', () => {
  const model = loadModelSync(mlpPath);
  const spec = parseOnnx(readFileSync(mlpPath));
  let dataset: Dataset;
  beforeAll(() => { dataset = loadNpyDataset(fixture('inputs.npy'), { labels: fixture('labels.npy'), name: 'fixture' }); });
  const metrics: EvalMetric[] = ['insertion', 'deletion', 'faithfulnessCorrelation', 'regionPerturbationMorf', 'maxSensitivity', 'mprt', 'inputInvariance'];
  const settings = { runs: 10, sensitivitySamples: 3, patchSize: 7 };

  it('scores every method configuration by every metric, with the same values as the metric functions', async () => {
    const r = await evaluateMetrics(model, dataset, {
      metrics, spec, settings, count: 3, methods: ['pathwise', 'inputXGradient', 'random'], grid: { width: [16], depth: ['all'] }, semantics: ['official', 'linear'],
    });
    expect(r.rows.map((row) => row.method)).toEqual(['pathwise', 'pathwise', 'inputXGradient', 'random']);
    expect(r.accuracy).toBeGreaterThan(0);
    for (const row of r.rows) for (const m of metrics) expect(row.metrics[m]!.count + (Number.isNaN(row.metrics[m]!.mean) ? 3 : 0)).toBeGreaterThan(0);
    // The input × gradient row against the functions themselves.
    const x = dataset.inputs.subarray(0, 3 * 784);
    const explainer = methodExplainer({ method: 'inputXGradient' });
    const targets = Int32Array.from([0, 1, 2], (i) => { const l = Array.from(model.forward(x.subarray(i * 784, (i + 1) * 784))); return l.indexOf(Math.max(...l)); });
    const a = Float32Array.from(await explainer(x, targets, model));
    const insDel = insertionDeletionBatchSync(model, x, a, { targets });
    expect(r.rows[2].metrics.insertion!.mean).toBeCloseTo(insDel.meanInsertionAuc!, 12);
    const q = await evaluateQuality(model, x, a, { ...settings, metrics: ['faithfulnessCorrelation', 'maxSensitivity', 'mprt'], targets, seed: 42, explainer, spec });
    expect(r.rows[2].metrics.faithfulnessCorrelation!.mean).toBeCloseTo(q.faithfulnessCorrelation!.mean, 12);
    expect(r.rows[2].metrics.maxSensitivity!.mean).toBeCloseTo(q.maxSensitivity!.mean, 12);
    expect(r.rows[2].metrics.mprt!.mean).toBeCloseTo(q.mprt!.mean, 12);
    // The random attribution never depends on the network: MPRT 1.
    expect(r.rows[3].metrics.mprt!.mean).toBeCloseTo(1, 12);
    const table = formatMetricsTable(r);
    expect(table).toContain('| pathwise official d=all w=16 |');
    expect(table).toContain('MPRT (Spearman) ↓');
  }, 120_000);

  it('does not depend on batchSize', async () => {
    const opts = { metrics: ['deletion', 'faithfulnessCorrelation', 'avgSensitivity'] as EvalMetric[], settings, count: 3, methods: ['saliency' as const, 'random' as const] };
    const one = await evaluateMetrics(model, dataset, { ...opts, batchSize: 1 });
    const all = await evaluateMetrics(model, dataset, opts);
    for (let k = 0; k < 2; k++) for (const m of opts.metrics) expect(one.rows[k].metrics[m]!.mean).toBe(all.rows[k].metrics[m]!.mean);
  });

  it('random attributions: fixed by input and class, another class another map', () => {
    const x = dataset.inputs.slice(0, 784);
    expect(randomAttribution(x, 3, 42)).toEqual(randomAttribution(x.slice(), 3, 42));
    expect(randomAttribution(x, 4, 42)).not.toEqual(randomAttribution(x, 3, 42));
    expect(randomAttribution(x, 3, 43)).not.toEqual(randomAttribution(x, 3, 42));
  });

  it('validates metrics and needs the spec for mprt', async () => {
    await expect(evaluateMetrics(model, dataset, { metrics: ['nope' as EvalMetric] })).rejects.toThrow(RangeError);
    await expect(evaluateMetrics(model, dataset, { metrics: [] })).rejects.toThrow(TypeError);
    await expect(evaluateMetrics(model, dataset, { metrics: ['mprt'], count: 1, methods: ['saliency'] })).rejects.toThrow(/spec/);
  });
});

describe('pathwise eval --metrics', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pathwise-metrics-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the metric table, Markdown and JSON; mprt reads the spec from the .onnx file', async () => {
    let out = '', err = '';
    const json = join(dir, 'm.json'), md = join(dir, 'm.md');
    const code = await runEvaluateCli(['--model', mlpPath, '--data', fixture('inputs.npy'), '--count', '2', '--methods', 'saliency,random',
      '--metrics', 'deletion,mprt,sparseness', '--metric-options', '{"patchSize":4}', '--json', json, '--out', md],
    { out: (s) => { out += s; }, err: (s) => { err += s; } });
    expect(code, err).toBe(0);
    expect(out).toContain('| saliency |');
    expect(out).toContain('MPRT (Spearman) ↓');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.rows).toHaveLength(2);
    expect(report.settings).toEqual({ patchSize: 4 });
    expect(readFileSync(md, 'utf8')).toContain('--metrics deletion,mprt,sparseness');
    let e2 = '';
    expect(await runEvaluateCli(['--model', mlpPath, '--data', fixture('inputs.npy'), '--metrics', 'nope'], { out: () => {}, err: (s) => { e2 += s; } })).not.toBe(0);
    expect(e2).toContain('unknown metric');
    expect(await runEvaluateCli(['--model', mlpPath, '--data', fixture('inputs.npy'), '--metrics', 'sparseness', '--metric-options', '[1'], { out: () => {}, err: () => {} })).not.toBe(0);
  }, 120_000);
});

describe.skipIf(!existsSync(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz')))('docs/results.md generator', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pathwise-results-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the four models end to end on 2 images and writes the page, then rewrites it from the JSON', async () => {
    const out = join(dir, 'results.md');
    const reports = await makeResults({
      count: 2, modelsDir, jsonDir: dir, outFile: out, widths: [16], depths: ['all'],
      settings: { featuresInStep: 98, runs: 5, patchSize: 14, monotonicityFeaturesInStep: 196, monotonicitySamples: 2, sensitivitySamples: 2 },
    });
    expect(reports.map((r) => r.model)).toEqual(['fashion_mlp.onnx', 'fashion_cnn.onnx', 'fashion_resnet.onnx', 'fashion_cnn_leaky.onnx']);
    const text = readFileSync(out, 'utf8');
    for (const label of ['Fashion MLP', 'Fashion CNN', 'Fashion ResNet', 'Fashion CNN, LeakyReLU']) expect(text).toContain(`## ${label}`);
    expect(text).toContain('## Where pathwise wins and where it loses');
    expect(text).toContain('| Fashion CNN | MPRT (Spearman) ↓ |');
    expect(text).toContain('guided Grad-CAM');
    await makeResults({ count: 2, modelsDir, jsonDir: dir, outFile: join(dir, 'again.md'), fromJson: true });
    expect(readFileSync(join(dir, 'again.md'), 'utf8')).toBe(text);
  }, 600_000);

  it.skipIf(!existsSync(join(root, 'dist', 'eval', 'results.js')))('the command (tools/results/make-results.mjs) runs on the build', () => {
    const out = join(dir, 'cli.md');
    execFileSync(process.execPath, [join(root, 'tools', 'results', 'make-results.mjs'), '--count', '1', '--only', 'fashion_mlp', '--json-dir', join(dir, 'cli'), '--out', out], { stdio: 'pipe' });
    expect(readFileSync(out, 'utf8')).toContain('## Fashion MLP (`fashion_mlp.onnx`), 1 images');
  }, 600_000);
});
