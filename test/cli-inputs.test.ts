// The first run and what the CLI accepts: the shipped samples (samplePath, loadSamples), ONNX
// metadata (pathwise.mean / pathwise.std / pathwise.classes), inputs checked against the model's
// shape and size rather than guessed (.npy shapes, PNG sizes, --mean with --std), what the CLI says
// about the normalisation it applied, and the small things: EPIPE, bench --help.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import { runCli } from './helpers/cli-run.js';
import { encodeNpy } from '../lib/io/npy.js';
import { batchOfShape } from '../lib/cli/inputs.js';
import { loadModel, explainSync, loadSamples, samplePath, loadImage, readOnnxMetadata, loadFashionMnist, FASHION_MNIST_CLASSES } from '../lib/index.js';
import { metadataNormalisation, withOnnxMetadata } from '../lib/io/onnx-metadata.js';
import { looksUnnormalised } from '../lib/io/image.js';

const root = join(import.meta.dirname, '..');
const SAMPLE = join(root, 'samples', 'fashion_cnn.onnx');
const PLAIN_CNN = join(root, 'test', 'fixtures', 'models', 'fashion_cnn.onnx');
const BOOT = join(root, 'samples', 'fashion-mnist', '9-ankle-boot.png');

const run = runCli;

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'pathwise-inputs-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the shipped samples', () => {
  it('samplePath finds the model and images; loadSamples gives the normalised images with labels and names', async () => {
    expect(samplePath('fashion_cnn.onnx')).toBe(SAMPLE);
    expect(() => samplePath('nope.onnx')).toThrow(/no sample "nope\.onnx"; samples\/ holds .*fashion_cnn\.onnx/);
    expect(() => samplePath('../package.json')).toThrow(TypeError);
    const s = loadSamples();
    expect(s.count).toBe(10);
    expect(s.shape).toEqual([1, 28, 28]);
    expect(Array.from(s.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(s.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(s.normalisation).toEqual({ scale: 255, mean: 0.286, std: 0.353 });
    // Bit-identical to the same test images read from the dataset (where it is installed).
    let dataset;
    try { dataset = loadFashionMnist(); } catch { dataset = undefined; }
    if (dataset) s.testIndices.forEach((t, i) =>
      expect(s.inputs.subarray(i * 784, (i + 1) * 784)).toEqual(dataset.inputs.subarray(t * 784, (t + 1) * 784)));
    // The sample model classifies every sample correctly.
    const model = await loadModel(samplePath('fashion_cnn.onnx'));
    const logits = model.forward(s.inputs);
    for (let i = 0; i < 10; i++) {
      const row = Array.from(logits.subarray(i * 10, (i + 1) * 10));
      expect(row.indexOf(Math.max(...row))).toBe(i);
    }
    // loadImage reads the PNG as loadSamples does (up to its float32 steps).
    const img = loadImage(BOOT, model.inputShape, { mean: [0.286], std: [0.353] });
    const boot = s.inputs.subarray(9 * 784, 10 * 784);
    expect(Math.max(...img.map((v, i) => Math.abs(v - boot[i])))).toBeLessThan(1e-5);
    model.dispose();
  });

  it('the sample model carries its normalisation and class names in metadata_props; appending and reading round-trip', () => {
    const meta = readOnnxMetadata(readFileSync(SAMPLE));
    expect(meta.get('pathwise.mean')).toBe('0.286');
    expect(meta.get('pathwise.std')).toBe('0.353');
    expect(meta.get('pathwise.classes')?.split(',')).toEqual(FASHION_MNIST_CLASSES);
    expect(readOnnxMetadata(readFileSync(PLAIN_CNN)).size).toBe(0);
    const bytes = withOnnxMetadata(new Uint8Array([0x08, 0x07]), { 'pathwise.mean': '0.485,0.456,0.406', 'pathwise.std': '0.229, 0.224, 0.225', é: 'ü' });
    const back = readOnnxMetadata(bytes);
    expect(metadataNormalisation(back)).toEqual({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    expect(back.get('é')).toBe('ü');
    expect(() => metadataNormalisation(new Map([['pathwise.mean', '0.5']]))).toThrow(/without the other/);
    expect(() => metadataNormalisation(new Map([['pathwise.mean', '0.5'], ['pathwise.std', '0']]))).toThrow(/must be positive/);
  });
});

describe('inputs are checked, never guessed', () => {
  const npy = (shape: number[], fill = -0.5, name = `a${shape.join('x')}.npy`) => {
    const path = join(dir, name);
    writeFileSync(path, encodeNpy(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill), shape));
    return path;
  };
  const png = (w: number, h: number, name: string) => {
    const p = new PNG({ width: w, height: h });
    p.data.fill(200);
    const path = join(dir, name);
    writeFileSync(path, PNG.sync.write(p));
    return path;
  };

  it('.npy shapes: [C,H,W], [N,C,H,W], flat or [N, size], and [N,H,W] for one channel; anything else names both shapes', () => {
    const m = { inputShape: [1, 28, 28], inputSize: 784 };
    expect(batchOfShape([1, 28, 28], m, 'x')).toBe(1);
    expect(batchOfShape([784], m, 'x')).toBe(1);
    expect(batchOfShape([5, 1, 28, 28], m, 'x')).toBe(5);
    expect(batchOfShape([5, 784], m, 'x')).toBe(5);
    expect(batchOfShape([5, 28, 28], m, 'x')).toBe(5);
    expect(() => batchOfShape([3, 224, 224], m, 'x.npy')).toThrow(
      'x.npy has shape [3, 224, 224] (150528 values); the model takes [1, 28, 28] (one input of 784 values) or [N, 1, 28, 28] (a batch)');
    expect(() => batchOfShape([2, 392], m, 'x')).toThrow(/has shape \[2, 392\]/);
    expect(() => batchOfShape([32, 32, 3], { inputShape: [3, 32, 32], inputSize: 3072 }, 'x')).toThrow(/looks channels-last/);
  });

  it('the CLI: a [3, 224, 224] array for a [1, 28, 28] model is an error, not 192 explanations', async () => {
    const r = await run(['explain', SAMPLE, '-i', npy([3, 224, 224]), '-o', join(dir, 'o1')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^pathwise: .*a3x224x224\.npy has shape \[3, 224, 224\] \(150528 values\); the model takes \[1, 28, 28\]/);
    expect(r.stdout).toBe('');
  });

  it('a PNG of another size is refused unless --resize', async () => {
    const big = png(32, 32, 'big.png');
    const r = await run(['explain', SAMPLE, '-i', big, '-o', join(dir, 'o2')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/big\.png is 32×32; the model reads 28×28 images: resize it first, or pass --resize/);
    const ok = await run(['explain', SAMPLE, '-i', big, '--resize', '-o', join(dir, 'o2')]);
    expect(ok.code).toBe(0);
  });

  it('--mean and --std together, one value or one per channel', async () => {
    for (const [args, message] of [
      [['--mean', '0.3'], /--mean and --std go together \(got only --mean\)/],
      [['--std', '0.3'], /--mean and --std go together \(got only --std\)/],
      [['--mean', '0.1,0.2', '--std', '0.3'], /--mean needs 1 or 1 values \(one per channel\), got 2/],
    ] as const) {
      const r = await run(['explain', SAMPLE, '-i', BOOT, '-o', join(dir, 'o3'), ...args]);
      expect(r.code).toBeGreaterThan(0);
      expect(r.stderr).toMatch(message);
    }
  });

  it('says which normalisation it applied: the model metadata, the flags, or none (with a warning)', async () => {
    const fromModel = await run(['explain', SAMPLE, '-i', BOOT, '-o', join(dir, 'o4'), '--json']);
    expect(fromModel.code).toBe(0);
    expect(fromModel.stderr).toBe("pathwise: PNG inputs normalised as (p − 0.286) / 0.353, p = pixel / 255 (from the model's metadata pathwise.mean / pathwise.std)\n");
    const doc = JSON.parse(readFileSync(join(dir, 'o4', 'explanation.json'), 'utf8'));
    expect(doc.settings).toMatchObject({ mean: [0.286], std: [0.353], normalisation: 'model metadata', classNames: FASHION_MNIST_CLASSES });
    // The confident boot of the issue, not a near-tie.
    expect(doc.explanations[0].predicted).toBe(9);
    expect(doc.explanations[0].logits[9]).toBeCloseTo(11.38, 1);

    const flags = await run(['explain', PLAIN_CNN, '-i', BOOT, '-o', join(dir, 'o5'), '--mean', '0.286', '--std', '0.353']);
    expect(flags.stderr).toBe('pathwise: PNG inputs normalised as (p − 0.286) / 0.353, p = pixel / 255 (from --mean/--std)\n');
    expect(flags.stdout).toMatch(/^9-ankle-boot\.png: class 9 \(predicted\)/);

    const none = await run(['explain', PLAIN_CNN, '-i', BOOT, '-o', join(dir, 'o6')]);
    expect(none.code).toBe(0);
    expect(none.stderr).toMatch(/^pathwise: warning: PNG inputs read as p = pixel \/ 255 in \[0, 1\], not normalised: .*pass --mean and --std\n$/);

    // .npy values that look like raw pixels draw a warning; normalised ones do not.
    const raw = await run(['explain', SAMPLE, '-i', npy([1, 1, 28, 28], 255, 'raw.npy'), '-o', join(dir, 'o7')]);
    expect(raw.stderr).toMatch(/^pathwise: warning: .*raw\.npy: every value is in \[0, 255\], which looks like raw pixels/);
    const fine = await run(['explain', SAMPLE, '-i', npy([1, 1, 28, 28], -0.5, 'fine.npy'), '-o', join(dir, 'o8')]);
    expect(fine.stderr).toBe('');
    expect(looksUnnormalised([0, 0.5, 1])).toBe('[0, 1]');
    expect(looksUnnormalised([0, 3, 255])).toBe('[0, 255]');
    expect(looksUnnormalised([0, 0])).toBe(false);
    expect(looksUnnormalised([-0.8, 2.1])).toBe(false);
  });

  it('--classes from a list or a file names the classes; a wrong count is an error', async () => {
    const names = FASHION_MNIST_CLASSES.map((c) => c.replace('/', '-'));
    const file = join(dir, 'names.txt');
    writeFileSync(file, names.join('\n') + '\n');
    const a = await run(['explain', PLAIN_CNN, '-i', BOOT, '-o', join(dir, 'o9'), '--mean', '0.286', '--std', '0.353', '--classes', file]);
    expect(a.stdout).toMatch(/^9-ankle-boot\.png: class 9 \(Ankle boot\) \(predicted\)/);
    const b = await run(['explain', PLAIN_CNN, '-i', BOOT, '-o', join(dir, 'o9'), '--mean', '0.286', '--std', '0.353', '--classes', names.join(',')]);
    expect(b.stdout).toMatch(/class 9 \(Ankle boot\)/);
    const c = await run(['explain', PLAIN_CNN, '-i', BOOT, '-o', join(dir, 'o9'), '--classes', 'a,b,c']);
    expect(c.code).toBe(2);
    expect(c.stderr).toMatch(/--classes names 3 classes; the model has 10/);
  });
});

describe('small ones', () => {
  it('info shows the normalisation and class names a model declares', async () => {
    const r = await run(['info', SAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('input [1, 28, 28] (NCHW, 784 values), normalised as (p − 0.286) / 0.353 of p = pixel / 255 (model metadata)');
    expect(r.stdout).toContain('10 classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot');
    const j = JSON.parse((await run(['info', SAMPLE, '--json'])).stdout);
    expect(j.normalisation).toEqual({ mean: [0.286], std: [0.353] });
    const plain = await run(['info', PLAIN_CNN]);
    expect(plain.stdout).toContain('input [1, 28, 28] (NCHW, 784 values)\n  10 classes\n');
  });

  it('a closed stdout (EPIPE) ends quietly with exit code 0', () => {
    // `true` exits without reading, so every write of `info` meets a closed pipe.
    const r = spawnSync('bash', ['-c', `set -o pipefail; node ${JSON.stringify(join(root, 'bin', 'pathwise.js'))} info ${JSON.stringify(SAMPLE)} | true`],
      { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('npm run bench -- --help prints the help and exits; unknown arguments are refused', () => {
    const h = spawnSync(process.execPath, [join(root, 'bench', 'index.mjs'), '--help'], { encoding: 'utf8', timeout: 10_000 });
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/^usage: npm run bench/);
    expect(h.stdout).toContain('--filter REGEX');
    const bad = spawnSync(process.execPath, [join(root, 'bench', 'index.mjs'), '--sekonds', '1'], { encoding: 'utf8', timeout: 10_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^bench: unknown argument "--sekonds"/);
  });
});
