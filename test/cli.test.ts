// The `pathwise` command line: explain / report / info / bench in process (main(argv, io)), and the
// real executable (bin/pathwise.js → dist/cli) in a child process.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync, spawnSync } from 'node:child_process';
import { PNG } from 'pngjs';
import * as tf from '@tensorflow/tfjs';
import { main, type CliStream } from '../lib/cli/main.js';
import { encodeNpy } from '../lib/io/npy.js';
import { imageToInput } from '../lib/cli/inputs.js';
import { loadModel, loadModelSync, explainSync, type Model } from '../lib/index.js';
import { loadTfjsModel } from '../lib/tfjs/index.js';
import { fixtureDir, loadFixtureSet, maxRelDiff } from './helpers/fixtures.js';

const root = join(import.meta.dirname, '..');
const MLP = join(root, 'test', 'fixtures', 'models', 'fashion_mlp.onnx');
const set = loadFixtureSet(fixtureDir('fashion_mlp'));
const SIZE = 784;

class Capture implements CliStream {
  text = '';
  constructor(public isTTY = false) {}
  write(chunk: string) { this.text += chunk; return true; }
}

async function run(argv: string[], tty = false) {
  const stdout = new Capture(), stderr = new Capture(tty);
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

let dir: string;
let model: Model;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pathwise-cli-'));
  model = await loadModel(MLP);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  model.dispose();
});

const npyOf = (values: Float32Array, shape: number[], name: string) => {
  const path = join(dir, name);
  writeFileSync(path, encodeNpy(values, shape));
  return path;
};

/** The fixture image as an 8-bit picture (undoing the normalisation), optionally enlarged. */
function fixturePng(i: number, name: string, factor = 1, colour = false): string {
  const x = set.inputs.subarray(i * SIZE, (i + 1) * SIZE);
  const png = new PNG({ width: 28 * factor, height: 28 * factor });
  for (let y = 0; y < 28 * factor; y++)
    for (let xx = 0; xx < 28 * factor; xx++) {
      const v = Math.round(Math.min(1, Math.max(0, x[Math.floor(y / factor) * 28 + Math.floor(xx / factor)] * 0.353 + 0.286)) * 255);
      const q = (y * 28 * factor + xx) * 4;
      // A colour picture whose luminance is the grey value.
      png.data[q] = v; png.data[q + 1] = v; png.data[q + 2] = v; png.data[q + 3] = 255;
      if (colour && v >= 60 && v <= 200) { png.data[q] = v + 19; png.data[q + 2] = v - 50; } // 0.299·19 ≈ 0.114·50
    }
  const path = join(dir, name);
  writeFileSync(path, PNG.sync.write(png));
  return path;
}

describe('pathwise explain', () => {
  it('--format parquet writes explanations.parquet with the library\'s explanations', async () => {
    const { readExplanationsParquet, loadModelSync, explainBatchSync } = await import('../lib/index.js');
    const x = set.inputs.slice(0, 3 * SIZE);
    const input = npyOf(x, [3, 1, 28, 28], 'three-parquet.npy');
    const out = join(dir, 'out-parquet');
    const r = await run(['explain', MLP, '--input', input, '--width', '16', '--out', out, '--format', 'parquet']);
    expect(r.code).toBe(0);
    expect(existsSync(join(out, 'explanation.json'))).toBe(false);
    const { rows, metadata } = await readExplanationsParquet(readFileSync(join(out, 'explanations.parquet')));
    expect(metadata['pathwise.classes']).toBe('10');
    const model = loadModelSync(MLP);
    const ref = explainBatchSync(model, Float32Array.from(x), { width: 16 });
    model.dispose();
    expect(rows.map((row) => row.index)).toEqual([0, 1, 2]);
    rows.forEach((row, i) => {
      expect(row.explanation.target).toBe(ref[i].target);
      expect(row.explanation.pathLogit).toBe(ref[i].pathLogit);
      expect(Array.from(row.explanation.attribution)).toEqual(Array.from(ref[i].attribution));
      expect(row.explanation.layers.map((l) => Array.from(l.units))).toEqual(ref[i].layers.map((l) => Array.from(l.units)));
    });
    const bad = await run(['explain', MLP, '--input', input, '--out', out, '--format', 'csv']);
    expect(bad.code).toBe(2);
  });

  it('writes explanation.json and pictures that match the library', async () => {
    const x = set.inputs.slice(0, SIZE);
    const input = npyOf(x, [1, 1, 28, 28], 'one.npy');
    const out = join(dir, 'out-one');
    const r = await run(['explain', MLP, '--input', input, '--width', '16', '--depth', 'all', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^one\.npy: class \d \(predicted\), path logit -?\d+\.\d{4} \(-?\d+\.\d{2} × the logit\), 3 path layers \(\d+, \d+, \d+ units, top → bottom\)\nwrote 5 files to /);
    const doc = JSON.parse(readFileSync(join(out, 'explanation.json'), 'utf8'));
    const ref = explainSync(model, x, { width: 16 });
    expect(doc.model).toMatchObject({ inputShape: [1, 28, 28], numClasses: 10 });
    expect(doc.settings).toMatchObject({ width: 16, depth: 'all', target: 'predicted', semantics: 'official' });
    expect(doc.explanations).toHaveLength(1);
    const e = doc.explanations[0];
    expect(e.target).toBe(ref.target);
    expect(e.layers.map((l: { units: number[] }) => l.units)).toEqual(ref.layers.map((l) => Array.from(l.units)));
    // float32 values written with 9 significant digits read back exactly.
    expect(Float32Array.from(e.attribution)).toEqual(ref.attribution);
    expect(Float32Array.from(e.layers[0].scores)).toEqual(ref.layers[0].scores);
    expect(e.pathLogit).toBe(ref.pathLogit);
    expect((({ width, height }) => [width, height])(PNG.sync.read(readFileSync(join(out, 'input.png'))))).toEqual([224, 224]);
    // The heatmaps are figures: the 224 × 224 map with a title above and a colour bar below.
    for (const f of ['heatmap.png', 'heatmap-overlay.png']) {
      const png = PNG.sync.read(readFileSync(join(out, f)));
      expect(png.width).toBeGreaterThanOrEqual(224 + 20);
      expect(png.height).toBeGreaterThan(224 + 60);
    }
    expect(readFileSync(join(out, 'path.svg'), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>$/);
    expect(e.files).toEqual({ input: 'input.png', heatmap: 'heatmap.png', overlay: 'heatmap-overlay.png', diagram: 'path.svg' });
  });

  it('explains a batch with --target and --json; progress only on a terminal', async () => {
    const input = npyOf(set.inputs.slice(0, 5 * SIZE), [5, 1, 28, 28], 'five.npy');
    const out = join(dir, 'out-five');
    const r = await run(['explain', MLP, '-i', input, '--target', '3', '--width', '10%', '--depth', '2', '-o', out, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(''); // not a terminal: no progress bar
    const j = JSON.parse(r.stdout);
    expect(j.explanations).toHaveLength(5);
    expect(j.explanations.map((e: { target: number }) => e.target)).toEqual([3, 3, 3, 3, 3]);
    expect(j.explanations[0].layers.map((l: { ordinal: number }) => l.ordinal)).toEqual([1, 2]);
    expect(j.files).toContain(join(out, '4-heatmap.png'));
    expect(j.files).toContain(join(out, 'explanation.json'));
    expect(existsSync(join(out, '0-path.svg'))).toBe(true);

    const tty = await run(['explain', MLP, '-i', input, '-o', join(dir, 'out-tty')], true);
    expect(tty.code).toBe(0);
    expect(tty.stderr).toMatch(/explaining .* \d+\/5 \| [\d.]+ items\/s \| ETA/);
    const quiet = await run(['explain', MLP, '-i', input, '-o', join(dir, 'out-tty'), '--no-progress'], true);
    expect(quiet.stderr).toBe('');
  });

  it('reads PNG (grey or colour, any size with --resize) and JSON inputs, normalised with --mean/--std', async () => {
    const x = set.inputs.slice(0, SIZE);
    const expected = imageToInput(PNG.sync.read(readFileSync(fixturePng(0, 'grey.png'))), { channels: 1, height: 28, width: 28 }, { mean: [0.286], std: [0.353] });
    expect(maxRelDiff(expected, x)).toBeLessThan(0.01);
    const pngs = [fixturePng(0, 'grey.png'), fixturePng(0, 'big-colour.png', 3, true)];
    const out = join(dir, 'out-png');
    const r = await run(['explain', MLP, '-i', ...pngs, '--mean', '0.286', '--std', '0.353', '--resize', '-o', out, '--json']);
    expect(r.stderr).toBe('pathwise: PNG inputs normalised as (p − 0.286) / 0.353, p = pixel / 255 (from --mean/--std)\n');
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(out, 'explanation.json'), 'utf8'));
    const ref = explainSync(model, expected);
    for (const e of doc.explanations) {
      expect(e.target).toBe(set.targets[0]);
      expect(maxRelDiff(e.logits, ref.logits)).toBeLessThan(2e-3);
    }
    // The grey PNG reproduces the library's input exactly.
    expect(Float32Array.from(doc.explanations[0].logits)).toEqual(ref.logits);
    expect(doc.explanations.map((e: { input: string }) => e.input)).toEqual(['grey.png', 'big-colour.png']);

    const json = join(dir, 'x.json');
    const nested = Array.from({ length: 28 }, (_, r) => Array.from(x.subarray(r * 28, (r + 1) * 28)));
    writeFileSync(json, JSON.stringify([nested]));
    const rj = await run(['explain', MLP, '-i', json, '-o', join(dir, 'out-json'), '--json']);
    expect(rj.code).toBe(0);
    expect(JSON.parse(rj.stdout).explanations[0].pathLogit).toBe(explainSync(model, x).pathLogit);
  });

  it('--report and --per-channel', async () => {
    const out = join(dir, 'out-report');
    const r = await run(['explain', MLP, '-i', npyOf(set.inputs.slice(0, SIZE), [784], 'flat.npy'), '-o', out, '--report', '--per-channel']);
    expect(r.code).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('flat.npy');
    expect(existsSync(join(out, 'heatmap-c0.png'))).toBe(false); // one channel: nothing per channel
  });

  it('--decompose, --paths, --threshold, --semantics and --baseline reach the library and the files', async () => {
    const x = set.inputs.slice(0, SIZE);
    const out = join(dir, 'out-extra');
    const r = await run(['explain', MLP, '-i', npyOf(x, [784], 'extra.npy'), '-o', out, '--width', '8', '--decompose', 'top:3',
      '--decompose-layer', '1', '--paths', '4', '--threshold', '0.05', '--baseline', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const e = JSON.parse(readFileSync(join(out, 'explanation.json'), 'utf8')).explanations[0];
    const ref = explainSync(model, x, { width: 8, decompose: { layer: 1, by: { top: 3 } }, paths: { k: 4 }, threshold: 0.05 });
    expect(e.decomposition.ordinal).toBe(1);
    expect(e.decomposition.components.map((c: { contribution: number }) => c.contribution)).toEqual(ref.decomposition!.components.map((c) => c.contribution));
    expect(e.paths.items.map((p: { units: number[] }) => p.units)).toEqual(ref.paths!.items.map((p) => Array.from(p.units)));
    expect(e.files.components).toEqual(['component-0.png', 'component-1.png', 'component-2.png', 'component-3.png']);
    expect(e.files.baseline).toBe('baseline-input-x-gradient.png');
    expect(existsSync(join(out, 'baseline-input-x-gradient.png'))).toBe(true);
    const lin = await run(['explain', MLP, '-i', join(dir, 'extra.npy'), '-o', join(dir, 'out-lin'), '--semantics', 'linear', '--json']);
    expect(lin.code).toBe(0);
    expect(JSON.parse(lin.stdout).explanations[0].pathLogit).toBe(explainSync(model, x, { semantics: 'linear' }).pathLogit);
    const bad = await run(['explain', MLP, '-i', join(dir, 'extra.npy'), '-o', join(dir, 'out-lin'), '--semantics', 'wrong']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^pathwise: semantics must be/);
  });
});

describe('pathwise report / info', () => {
  it('report writes one HTML file', async () => {
    const file = join(dir, 'rep', 'r.html');
    const r = await run(['report', MLP, '-i', npyOf(set.inputs.slice(0, 2 * SIZE), [2, 784], 'two.npy'), '-o', file, '--width', '8', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ report: file, examples: 2 });
    expect(readFileSync(file, 'utf8').match(/<section class="example"/g)).toHaveLength(2);
  });

  it('info describes the model', async () => {
    const r = await run(['info', MLP, '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ inputShape: [1, 28, 28], inputSize: 784, numClasses: 10, reluLayers: [{ units: 256 }, { units: 128 }, { units: 64 }] });
    const h = await run(['info', MLP]);
    expect(h.stdout).toContain('3 ReLU layers');
  });
});

describe('tfjs models from the command line', () => {
  it('explains a model.json (NCHW input) like the library', async () => {
    await tf.setBackend('cpu');
    const m = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [6, 5, 2], filters: 3, kernelSize: 3, activation: 'relu' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 4, activation: 'relu' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    const sub = join(dir, 'tfjs');
    mkdirSync(sub, { recursive: true });
    await m.save(tf.io.withSaveHandler(async (a) => {
      writeFileSync(join(sub, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
      writeFileSync(join(sub, 'model.json'), JSON.stringify({ modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const info = await run(['info', join(sub, 'model.json'), '--json']);
    expect(JSON.parse(info.stdout).inputShape).toEqual([2, 6, 5]);
    const x = new Float32Array(60).map((_, i) => Math.sin(i));
    const out = join(dir, 'out-tfjs');
    const r = await run(['explain', join(sub, 'model.json'), '-i', npyOf(x, [1, 2, 6, 5], 'tf.npy'), '-o', out, '--per-channel', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lib = loadModelSync(await loadTfjsModel(join(sub, 'model.json')));
    const doc = JSON.parse(readFileSync(join(out, 'explanation.json'), 'utf8'));
    expect(doc.explanations[0].pathLogit).toBe(explainSync(lib, x).pathLogit);
    expect(doc.explanations[0].files.channels).toEqual(['heatmap-c0.png', 'heatmap-c1.png']);
    // A channels-last array is caught with a hint.
    const hwc = await run(['explain', join(sub, 'model.json'), '-i', npyOf(x, [1, 6, 5, 2], 'hwc.npy'), '-o', out]);
    expect(hwc.code).toBe(1);
    expect(hwc.stderr).toMatch(/^pathwise: .*hwc\.npy has shape \[1, 6, 5, 2\], which looks channels-last .* NCHW inputs \[2, 6, 5\]: transpose it first\n$/);
    lib.dispose();
  });
});

describe('errors: one line on stderr, non-zero exit', () => {
  const oneLine = (s: string) => expect(s).toMatch(/^pathwise: [^\n]+\n$/);
  const input = () => npyOf(set.inputs.slice(0, SIZE), [784], 'err.npy');

  it.each([
    [['explain', MLP, '-o', 'x'], 2, /required option '-i, --input <files\.\.\.>' not specified/],
    [['explain', MLP, '-i', 'a.npy'], 2, /required option '-o, --out <dir>'/],
    [['explian', MLP], 2, /unknown command 'explian' \(Did you mean explain\?\)/],
    [['explain', MLP, '-i', 'a.npy', '-o', 'x', '--widht', '3'], 2, /unknown option '--widht'/],
    [['explain', MLP, '-i', 'INPUT', '-o', 'OUT', '--width', 'lots'], 2, /--width must be an integer, a percentage such as 10% or all; got "lots"/],
    [['explain', MLP, '-i', 'INPUT', '-o', 'OUT', '--depth', '7'], 1, /depth must be an integer in \[1, 3\]/],
    [['explain', MLP, '-i', 'INPUT', '-o', 'OUT', '--target', '10'], 1, /targets\[0\] must be an integer in \[0, 10\), got 10/],
    [['explain', MLP, '-i', 'missing.npy', '-o', 'OUT'], 1, /cannot read input missing\.npy: no such file/],
    [['explain', 'nope.onnx', '-i', 'INPUT', '-o', 'OUT'], 1, /cannot read model file nope\.onnx.* \[PATHWISE_BAD_MODEL\]$/m],
    [['explain', MLP, '-i', 'INPUT', '-o', 'OUT', '--strip-softmax'], 2, /--strip-softmax applies to tfjs models/],
    [['explain', MLP, '-i', 'BAD', '-o', 'OUT'], 1, /bad\.npy has shape \[10\] \(10 values\); the model takes \[1, 28, 28\] \(one input of 784 values\) or \[N, 1, 28, 28\] \(a batch\)/],
    [['explain', MLP, '-i', 'TXT', '-o', 'OUT'], 1, /unknown file type "\.txt" \(use \.npy, \.json or \.png\)/],
    [['explain', MLP, '-i', 'COLOURPNG', '-o', 'OUT', '--mean', '1,2', '--std', '1'], 1, /--mean needs 1 or 1 values/],
    [['explain', MLP, '-i', 'COLOURPNG', '-o', 'OUT', '--mean', '0.5'], 2, /--mean and --std go together \(got only --mean\)/],
    [['info'], 2, /missing required argument 'model'/],
  ])('%j → exit %i', async (argv, code, message) => {
    const bad = npyOf(new Float32Array(10), [10], 'bad.npy');
    writeFileSync(join(dir, 'x.txt'), '1');
    const map: Record<string, string> = { INPUT: input(), OUT: join(dir, 'out-err'), BAD: bad, TXT: join(dir, 'x.txt'), COLOURPNG: fixturePng(1, 'c.png') };
    const r = await run((argv as string[]).map((a) => map[a] ?? a));
    expect(r.code).toBe(code);
    oneLine(r.stderr);
    expect(r.stderr).toMatch(message as RegExp);
    expect(r.stdout).toBe('');
  });

  it('bench is offered in a clone (the suite is there); test/package checks an installed package does not offer it', async () => {
    expect(existsSync(join(root, 'bench', 'index.mjs'))).toBe(true);
    const h = await run(['--help']);
    expect(h.stdout).toMatch(/^\s+bench /m);
  });

  it('help and version exit 0; no arguments prints help and exits 2', async () => {
    const h = await run(['--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toContain('Usage: pathwise');
    const v = await run(['--version']);
    expect(v.stdout.trim()).toBe(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version);
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('Usage: pathwise');
  });
});

describe('the installed executable (bin/pathwise.js → dist/cli)', () => {
  beforeAll(() => {
    // What `npm install` (prepare) does: compile lib/ to dist/.
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json')], { cwd: root });
  });

  it('explains, and fails with one line and exit code 1', () => {
    const out = join(dir, 'out-bin');
    const input = npyOf(set.inputs.slice(0, 3 * SIZE), [3, 1, 28, 28], 'bin.npy');
    const ok = spawnSync(process.execPath, [join(root, 'bin', 'pathwise.js'), 'explain', MLP, '-i', input, '-o', out, '--json', '--report'], { encoding: 'utf8' });
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(JSON.parse(ok.stdout).explanations).toHaveLength(3);
    expect(existsSync(join(out, 'report.html'))).toBe(true);
    const bad = spawnSync(process.execPath, [join(root, 'bin', 'pathwise.js'), 'explain', MLP, '-i', join(dir, 'none.npy'), '-o', out], { encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^pathwise: cannot read input .*none\.npy: no such file\n$/);
    expect(bad.stdout).toBe('');
  });
});

describe('pathwise eval', () => {
  it('runs the evaluation runner and reports usage errors with exit code 2', async () => {
    const bad = await run(['eval']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--model is required/);
    const ok = await run(['eval', '--model', join(fixtureDir('models'), 'fashion_mlp.onnx'), '--count', '4', '--methods', 'saliency,random']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/\| saliency \|/);
  });
});
