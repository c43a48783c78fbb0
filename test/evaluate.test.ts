// The evaluation runner, its CLI and the dataset readers (IDX, .npy, Fashion-MNIST).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import {
  loadModelSync, evaluate, formatTable, parseIdx, parseNpy, encodeNpy, readNpyFile, loadNpyDataset, loadFashionMnist,
  insertionDeletionBatchSync, FASHION_MNIST_DIR, type Model, type Dataset,
} from '../lib/index.js';
import { runEvaluateCli } from '../lib/cli/eval.js';
import { fixtureDir } from './helpers/fixtures.js';
import { readNpy } from './helpers/npy.js';

const D = 784;
const mlpPath = join(fixtureDir('models'), 'fashion_mlp.onnx');
const fixture = (file: string) => join(fixtureDir('fashion_mlp'), file);

function idx(type: number, dims: number[], write: (v: DataView, at: number, i: number) => void, bytes: number): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * dims.length + count * bytes);
  const v = new DataView(out.buffer);
  out[2] = type;
  out[3] = dims.length;
  dims.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) write(v, 4 + 4 * dims.length + i * bytes, i);
  return out;
}

describe('IDX reader', () => {
  it('reads uint8, int32 and float32 (big-endian), gzip or not', () => {
    const u8 = idx(0x08, [2, 3], (v, at, i) => v.setUint8(at, i * 40), 1);
    for (const bytes of [u8, new Uint8Array(gzipSync(u8))]) {
      const a = parseIdx(bytes);
      expect(a.dtype).toBe('uint8');
      expect(a.dims).toEqual([2, 3]);
      expect(Array.from(a.data)).toEqual([0, 40, 80, 120, 160, 200]);
    }
    const i32 = parseIdx(idx(0x0c, [3], (v, at, i) => v.setInt32(at, -i * 70000, false), 4));
    expect(Array.from(i32.data)).toEqual([0, -70000, -140000]);
    const f32 = parseIdx(idx(0x0d, [2], (v, at, i) => v.setFloat32(at, i + 0.5, false), 4));
    expect(Array.from(f32.data)).toEqual([0.5, 1.5]);
  });

  it('rejects what is not IDX', () => {
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]))).toThrow(/not an IDX/);
    expect(() => parseIdx(new Uint8Array([0, 0, 0x42, 1, 0, 0, 0, 1, 0]))).toThrow(/element type/);
    expect(() => parseIdx(idx(0x08, [4], () => {}, 1).subarray(0, 10))).toThrow(/bytes/);
  });
});

describe('.npy reader and writer', () => {
  it('round-trips float32, float64 and int32', () => {
    const f = Float32Array.from([1.5, -2, 3.25, 0, 7, 8]);
    const back = parseNpy(encodeNpy(f, [2, 3]));
    expect(back.dtype).toBe('<f4');
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.data as Float32Array)).toEqual(Array.from(f));
    expect(Array.from(parseNpy(encodeNpy(Float64Array.from([Math.PI]), [1])).data as Float64Array)).toEqual([Math.PI]);
    expect(Array.from(parseNpy(encodeNpy(Int32Array.from([-1, 2]), [2])).data as Int32Array)).toEqual([-1, 2]);
    // The header is padded so the data starts on a 64-byte boundary (NumPy's rule).
    const bytes = encodeNpy(f, [2, 3]);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
  });

  it('reads big-endian data and the fixture files as the test helper does', () => {
    const header = "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }";
    const bytes = new Uint8Array(10 + header.length + 1 + 8);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(bytes.buffer).setUint16(8, header.length + 1, true);
    for (let i = 0; i < header.length; i++) bytes[10 + i] = header.charCodeAt(i);
    bytes[10 + header.length] = 10;
    new DataView(bytes.buffer).setFloat32(11 + header.length, 1.25, false);
    new DataView(bytes.buffer).setFloat32(15 + header.length, -3, false);
    expect(Array.from(parseNpy(bytes).data as Float32Array)).toEqual([1.25, -3]);
    const mine = readNpyFile(fixture('inputs.npy'));
    expect(mine.shape).toEqual([16, 1, 28, 28]);
    expect(Array.from(mine.data as Float32Array)).toEqual(Array.from(readNpy(fixture('inputs.npy')).data as Float32Array));
    const labels = readNpyFile(fixture('labels.npy'));
    expect(labels.dtype).toBe('<i8');
  });

  it('loads an .npy batch as a dataset, with labels and a slice', () => {
    const ds = loadNpyDataset(fixture('inputs.npy'), { labels: fixture('labels.npy'), offset: 4, count: 3 });
    expect(ds.count).toBe(3);
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(ds.inputs).toHaveLength(3 * D);
    expect(Array.from(ds.labels!)).toEqual(Array.from(readNpy(fixture('labels.npy')).data as BigInt64Array, Number).slice(4, 7));
    expect(() => loadNpyDataset(fixture('inputs.npy'), { offset: 16 })).toThrow(RangeError);
    expect(() => loadNpyDataset(fixture('labels.npy'))).toThrow(/expected \[N/);
  });
});

describe.skipIf(!existsSync(FASHION_MNIST_DIR))('Fashion-MNIST from dataset-fashion-mnist', () => {
  it("reproduces the fixtures' normalised inputs bit for bit (test images 5000–5015)", () => {
    const ds = loadFashionMnist({ offset: 5000, count: 16 });
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(ds.count).toBe(16);
    expect(Array.from(ds.inputs)).toEqual(Array.from(readNpy(fixture('inputs.npy')).data as Float32Array));
    expect(Array.from(ds.labels!)).toEqual(Array.from(readNpy(fixture('labels.npy')).data as BigInt64Array, Number));
    const all = loadFashionMnist({ count: 10 });
    expect(all.name).toBe('Fashion-MNIST test');
    expect(() => loadFashionMnist({ offset: 10000 })).toThrow(RangeError);
    expect(() => loadFashionMnist({ dir: '/nonexistent' })).toThrow(/apt-get install dataset-fashion-mnist/);
  });
});

describe('evaluate', () => {
  let model: Model;
  let dataset: Dataset;
  let index: { insdel: { auc: Record<string, { ins: number[]; del: number[] }> } };
  beforeAll(() => {
    model = loadModelSync(mlpPath);
    dataset = loadNpyDataset(fixture('inputs.npy'), { labels: fixture('labels.npy'), name: 'fixture' });
    index = JSON.parse(readFileSync(fixture('index.json'), 'utf8'));
  });
  afterAll(() => model.dispose());

  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  const se = (a: number[]) => {
    const m = mean(a);
    return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / (a.length - 1) / a.length);
  };

  it('reproduces the fixture AUC means (pathwise all/all, saliency) and reports |S_l|, timings, accuracy', async () => {
    const rows: string[] = [];
    const report = await evaluate(model, dataset, {
      methods: ['pathwise', 'saliency', 'random'], grid: { width: ['all', 4], depth: ['all', 1] }, batchSize: 5,
      datasetName: 'Fashion-MNIST test 5000–5015', modelName: 'MLP', onRow: (r) => rows.push(r.method),
    });
    expect(report.count).toBe(16);
    expect(report.steps).toBe(28);
    expect(report.step).toBe(28);
    const targets = Array.from(readNpy(fixture('targets.npy')).data as BigInt64Array, Number);
    const labels = Array.from(readNpy(fixture('labels.npy')).data as BigInt64Array, Number);
    expect(report.accuracy).toBe(targets.filter((t, j) => t === labels[j]).length / 16);
    expect(report.rows.map((r) => [r.method, r.depth, r.width])).toEqual([
      ['pathwise', 'all', 'all'], ['pathwise', 'all', 4], ['pathwise', 1, 'all'], ['pathwise', 1, 4],
      ['saliency', undefined, undefined], ['random', undefined, undefined],
    ]);
    expect(rows).toHaveLength(6);
    for (const [row, ref] of [[report.rows[0], index.insdel.auc.pathwise_wall_dall], [report.rows[4], index.insdel.auc.gradient]] as const) {
      expect(Math.abs(row.insertion.mean - mean(ref.ins))).toBeLessThan(1e-4);
      expect(Math.abs(row.deletion.mean - mean(ref.del))).toBeLessThan(1e-4);
      expect(row.insertion.se).toBeCloseTo(se(ref.ins), 4);
      expect(row.deletion.se).toBeCloseTo(se(ref.del), 4);
    }
    const w4 = report.rows[1];
    expect(w4.semantics).toBe('official');
    expect(w4.meanUnits).toHaveLength(3);
    for (const u of w4.meanUnits!) expect(u).toBeGreaterThan(0), expect(u!).toBeLessThanOrEqual(4);
    expect(report.rows[3].meanUnits!.slice(0, 2)).toEqual([null, null]);
    expect(report.rows[4].meanUnits).toBeUndefined();
    for (const r of report.rows) {
      expect(r.msPerExplanation).toBeGreaterThanOrEqual(0);
      expect(r.msPerInsDel).toBeGreaterThan(0);
    }
    const table = formatTable(report);
    expect(table.split('\n')).toHaveLength(2 + 6);
    expect(table).toContain('| dataset | model | method | semantics | depth | width | Ins AUC ↑ | Del AUC ↓ | mean \\|S_l\\| per layer | ms / explanation |');
    expect(table).toContain('| Fashion-MNIST test 5000–5015 | MLP | pathwise | official | 1 | 4 |');
    expect(table).toContain('– / – / ');
  });

  it('random attributions are reproducible per input, independent of the batch size, and change with the seed', async () => {
    const a = await evaluate(model, dataset, { methods: ['random'], batchSize: 16 });
    const b = await evaluate(model, dataset, { methods: ['random'], batchSize: 3 });
    const c = await evaluate(model, dataset, { methods: ['random'], seed: 1 });
    expect(b.rows[0].insertion).toEqual(a.rows[0].insertion);
    expect(c.rows[0].insertion.mean).not.toBe(a.rows[0].insertion.mean);
  });

  it('both semantics, offset and count, the tie order and the step', async () => {
    const r = await evaluate(model, dataset, {
      methods: ['pathwise', 'inputXGradient'], semantics: ['official', 'linear'], grid: { width: [16], depth: ['all'] },
      offset: 3, count: 5, order: 'reference', step: 56,
    });
    expect(r.rows.map((x) => x.semantics)).toEqual(['official', 'linear', undefined]);
    expect(r.count).toBe(5);
    expect(r.offset).toBe(3);
    expect(r.steps).toBe(14);
    const x = dataset.inputs.subarray(3 * D, 8 * D);
    const ixg = readNpy(fixture('input_x_gradient.npy')).data as Float32Array;
    const direct = insertionDeletionBatchSync(model, x, ixg.subarray(3 * D, 8 * D), { order: 'reference', step: 56 });
    expect(r.rows[2].insertion.mean).toBeCloseTo(direct.meanInsertionAuc!, 5);
    expect(r.rows[2].deletion.mean).toBeCloseTo(direct.meanDeletionAuc!, 5);
  });

  it('rejects bad options', async () => {
    await expect(evaluate(model, dataset, { methods: ['lime' as never] })).rejects.toThrow(RangeError);
    await expect(evaluate(model, dataset, { count: 17 })).rejects.toThrow(RangeError);
    await expect(evaluate(model, dataset, { semantics: 'exact' as never })).rejects.toThrow(RangeError);
    await expect(evaluate(model, dataset, { colour: 1 } as never)).rejects.toThrow(/unknown option/);
    await expect(evaluate(model, { ...dataset, count: 15 })).rejects.toThrow(RangeError);
  });
});

describe('runEvaluateCli', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pathwise-eval-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = async (argv: string[]) => {
    let out = '', err = '';
    const code = await runEvaluateCli(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } });
    return { code, out, err };
  };

  it('writes the table, a Markdown report and JSON', async () => {
    const md = join(dir, 'r.md'), json = join(dir, 'r.json');
    const r = await run(['--model', mlpPath, '--data', fixture('inputs.npy'), '--labels', fixture('labels.npy'), '--count', '16',
      '--methods', 'pathwise,saliency', '--widths', 'all,10%', '--depths', 'all', '--semantics', 'official,linear', '--out', md, '--json', json]);
    expect(r.err).not.toContain('Error');
    expect(r.code).toBe(0);
    expect(r.out.split('\n').filter((l) => l.startsWith('| inputs.npy'))).toHaveLength(5);
    expect(r.err).toContain('[5/5] saliency');
    const report = JSON.parse(readFileSync(json, 'utf8'));
    expect(report.rows).toHaveLength(5);
    expect(report.command).toContain('--methods pathwise,saliency');
    const text = readFileSync(md, 'utf8');
    expect(text).toContain('pathwise eval --model');
    expect(text).toContain('accuracy');
  });

  it('loads a model from a JS module (a layer spec, or a function returning one)', async () => {
    const spec = join(dir, 'tiny.mjs');
    writeFileSync(spec, `export default () => ({ inputShape: [1, 28, 28], layers: [
      { type: 'flatten' },
      { type: 'dense', in: 784, out: 8, weights: new Float32Array(784 * 8).map((_, i) => Math.sin(i) * 0.05) },
      { type: 'relu' },
      { type: 'dense', in: 8, out: 3, weights: new Float32Array(24).map((_, i) => Math.cos(i)) },
    ] });\n`);
    const r = await run(['--model', spec, '--data', fixture('inputs.npy'), '--count', '4', '--methods', 'inputXGradient,random']);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('| tiny.mjs | input × gradient |');
  });

  it('usage and argument errors', async () => {
    expect((await run(['--help'])).code).toBe(0);
    expect((await run(['--help'])).out).toContain('usage: pathwise eval');
    expect((await run([])).code).toBe(2);
    expect((await run(['--model', mlpPath, '--bogus', '1'])).code).toBe(2);
    expect((await run(['--model', mlpPath, '--count'])).code).toBe(2);
    const bad = await run(['--model', mlpPath, '--data', fixture('inputs.npy'), '--count', '2', '--methods', 'lime']);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('unknown method');
  });
});
