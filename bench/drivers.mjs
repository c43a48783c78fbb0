// Competitors of `npm run bench` (better-sqlite3's benchmark/drivers.js): each driver runs one
// trial inside the child process and returns { unit, best, median, samples, ... } or
// { skipped: reason }. Times are wall clock: the machine is shared, so `best` (best-of-N) is the
// figure of record and `median` shows the spread.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { matmulModel } from './support/onnx.mjs';

const require = createRequire(import.meta.url);
export const root = new URL('..', import.meta.url).pathname;
const TIME_BUDGET_S = Number(process.env.PATHWISE_BENCH_SECONDS ?? 2);

function seeded(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function stats(seconds) {
  const sorted = [...seconds].sort((a, b) => a - b);
  return { best: sorted[0], median: sorted[Math.floor(sorted.length / 2)], samples: sorted.length };
}

// Runs fn (sync or async) repeatedly for the time budget after `warmup` calls; per-call seconds.
async function timeCalls(fn, { warmup = 3, minSamples = 10, maxSamples = 5000 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const seconds = [];
  const end = performance.now() + TIME_BUDGET_S * 1e3;
  while (seconds.length < minSamples || (performance.now() < end && seconds.length < maxSamples)) {
    const t0 = process.hrtime.bigint();
    await fn();
    seconds.push(Number(process.hrtime.bigint() - t0) * 1e-9);
  }
  return seconds;
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    return null;
  }
}

async function loadPathwise() {
  const dist = join(root, 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build:ts` (npm install runs it)');
  return import(dist);
}

/**
 * A full-size torchvision classifier (`model.torchvision = { name, classes }`): exported with random
 * weights by tools/reference/export_torchvision.py (no references) into a temporary folder that
 * the trials of a run share (each trial is its own process; the export is seeded, so a folder
 * left by an earlier run holds the same model). Returns the model entry with absolute `onnx` and
 * `inputNpy`, or { skipped } without /usr/bin/python3 + torch, torchvision and onnx.
 */
function exportedTorchvision(model) {
  const { name, classes } = model.torchvision;
  const dir = join(tmpdir(), 'pathwise-bench-torchvision');
  const id = `${name}-c${classes}`;
  const entry = { ...model, onnx: join(dir, `${id}.onnx`), inputNpy: join(dir, id, 'input.npy') };
  if (existsSync(entry.onnx) && existsSync(entry.inputNpy)) return entry;
  const python = '/usr/bin/python3';
  if (!existsSync(python)) return { skipped: `${python} not found` };
  const probe = spawnSync(python, ['-c', 'import torch, torchvision, onnx'], { encoding: 'utf8' });
  if (probe.status !== 0) return { skipped: `${python} cannot import torch, torchvision and onnx (apt-get install python3-torchvision python3-onnx)` };
  const r = spawnSync(python, [join(root, 'tools/reference/export_torchvision.py'), dir, name, '--classes', String(classes), '--no-references'],
    { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`export_torchvision.py failed: ${r.stderr.slice(-2000)}`);
  return entry;
}

// The model entry a driver uses: torchvision models are exported first (or skipped).
function resolveModel(model) {
  return model?.torchvision ? exportedTorchvision(model) : model;
}

async function inputsFor(model, batch) {
  const size = model.inputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(batch * size);
  if (model.inputNpy) {
    const { readNpyFile } = await loadPathwise();
    const { data } = readNpyFile(resolve(root, model.inputNpy));
    const count = data.length / size;
    for (let e = 0; e < batch; e++) out.set(data.subarray((e % count) * size, (e % count + 1) * size), e * size);
  } else {
    const rand = seeded(5);
    for (let i = 0; i < out.length; i++) out[i] = rand();
  }
  return out;
}

// What pathwise loads for a model entry: a path (ONNX file) or the builder's layer spec.
export function loadModelFor(pw, model) {
  if (model.build) return pw.loadModelSync(model.build().spec);
  return pw.loadModelSync(resolve(root, model.onnx));
}

/**
 * FLOPs of one explain call on a chain of dense layers (what native/core/path/explain.cc does):
 * the original forward (n rows through every layer), the Jacobian of C rows per example pulled
 * down through every dense layer above the lowest path ReLU, the masked forward from that ReLU up,
 * and the final VJP of one row per example through every layer. Selection, softmax and ReLU masks
 * are not counted (they are O(units), not O(weights)).
 */
export function explainFlops(model, batch, depth) {
  const sizes = [model.inputSize, ...model.reluLayers.map((l) => l.units), model.numClasses];
  const dense = sizes.slice(1).map((out, i) => sizes[i] * out); // weights per dense layer
  const relus = model.reluLayers.length;
  const d = depth === 'all' ? relus : depth;
  const lowest = relus - d; // dense layers with index > lowest sit above the lowest path ReLU
  const above = dense.filter((_, i) => i > lowest).reduce((a, b) => a + b, 0);
  const all = dense.reduce((a, b) => a + b, 0);
  const C = model.numClasses;
  return 2 * batch * (all + C * above + above + all);
}

export const drivers = {
  // Our GEMM, timed in C++ by the addon's gemmBench (no JS between calls).
  async 'pathwise-gemm'(trial) {
    const addon = require('node-gyp-build')(root);
    const info = addon.kernelInfo();
    if (!info.available.includes(trial.kernel)) return { skipped: `kernel ${trial.kernel} not available on this CPU` };
    const [m, n, k] = trial.shape;
    const rand = seeded(1);
    const a = new Float32Array(m * k).map(rand), b = new Float32Array(k * n).map(rand);
    const probe = addon.gemmBench(trial.kernel, trial.transB, m, n, k, a, b, 3, trial.threads);
    const once = Math.min(...probe.seconds);
    const iterations = Math.max(20, Math.min(5000, Math.ceil(TIME_BUDGET_S / once)));
    const r = addon.gemmBench(trial.kernel, trial.transB, m, n, k, a, b, iterations, trial.threads);
    const s = stats(r.seconds);
    const flops = 2 * m * n * k;
    return {
      unit: 'GFLOP/s', best: flops / s.best * 1e-9, median: flops / s.median * 1e-9, samples: s.samples,
      ms: s.best * 1e3, threadsUsed: r.threads, kernel: info.active, description: info.description,
    };
  },

  // onnxruntime-node MatMul (MLAS), timed around session.run in JS (N-API and tensor wrapping
  // included: tens of µs, ~1–2 % of these calls).
  async 'ort-matmul'(trial) {
    const ort = loadOrt();
    if (!ort) return { skipped: 'onnxruntime-node is not installed' };
    const [m, n, k] = trial.shape;
    const rand = seeded(1);
    const a = new Float32Array(m * k).map(rand), b = new Float32Array(k * n).map(rand);
    const bytes = matmulModel(m, n, k, trial.bInitializer ? b : undefined);
    const session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: trial.threads, interOpNumThreads: 1, executionMode: 'sequential',
    });
    const feeds = { A: new ort.Tensor('float32', a, [m, k]) };
    if (!trial.bInitializer) feeds.B = new ort.Tensor('float32', b, [k, n]);
    const s = stats(await timeCalls(() => session.run(feeds)));
    const flops = 2 * m * n * k;
    return { unit: 'GFLOP/s', best: flops / s.best * 1e-9, median: flops / s.median * 1e-9, samples: s.samples, ms: s.best * 1e3 };
  },

  // pathwise explain through the public API from dist/: explainSync / explainBatchSync, or the
  // async explain (libuv pool) with `async`.
  async 'pathwise-explain'(trial, model) {
    model = resolveModel(model);
    if (model.skipped) return model;
    const pw = await loadPathwise();
    const m = loadModelFor(pw, model);
    const x = await inputsFor(model, trial.batch);
    const opts = { width: trial.width, depth: trial.depth };
    let fn;
    if (trial.async) fn = () => pw.explain(m, x, opts);
    else if (trial.batch === 1) fn = () => pw.explainSync(m, x, opts);
    else fn = () => pw.explainBatchSync(m, x, opts);
    const s = stats(await timeCalls(fn, model.repetitions));
    const flops = model.flops ? model.flops(trial.batch, trial) : explainFlops(m, trial.batch, trial.depth);
    return {
      unit: 'ms', best: s.best * 1e3, median: s.median * 1e3, samples: s.samples,
      perSecond: trial.batch / s.best, gflops: flops / s.best * 1e-9, flops,
      kernel: pw.kernelInfo().active,
    };
  },

  // onnxruntime-node forward pass of the same model (no explanation: the cost of one inference).
  async 'ort-forward'(trial, model) {
    const ort = loadOrt();
    if (!ort) return { skipped: 'onnxruntime-node is not installed' };
    model = resolveModel(model);
    if (model.skipped) return model;
    if (model.build && !model.ortBytes) return { skipped: 'this built model has no ONNX bytes' };
    const source = model.ortBytes ? model.ortBytes() : resolve(root, model.ortOnnx ?? model.onnx);
    const session = await ort.InferenceSession.create(source, {
      intraOpNumThreads: trial.threads, interOpNumThreads: 1, executionMode: 'sequential',
    });
    const x = await inputsFor(model, trial.batch);
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [trial.batch, ...model.inputShape]) };
    const s = stats(await timeCalls(() => session.run(feeds)));
    const flops = trial.driver === 'ort-forward' && model.flops ? model.flops(trial.batch, { ...trial, driver: 'pathwise-forward' }) : 0;
    return {
      unit: 'ms', best: s.best * 1e3, median: s.median * 1e3, samples: s.samples, perSecond: trial.batch / s.best,
      ...(flops && model.build ? { gflops: flops / s.best * 1e-9, flops } : {}),
    };
  },

  // pathwise's own forward (model.forward, logits only): the anchor for models without a reference.
  async 'pathwise-forward'(trial, model) {
    model = resolveModel(model);
    if (model.skipped) return model;
    const pw = await loadPathwise();
    const m = loadModelFor(pw, model);
    const x = await inputsFor(model, trial.batch);
    const s = stats(await timeCalls(() => m.forward(x)));
    const flops = model.flops ? model.flops(trial.batch, trial) : 0;
    return {
      unit: 'ms', best: s.best * 1e3, median: s.median * 1e3, samples: s.samples, perSecond: trial.batch / s.best,
      ...(flops ? { gflops: flops / s.best * 1e-9, flops } : {}), kernel: pw.kernelInfo().active,
    };
  },

  // The PyTorch reference algorithm (tools/reference/time_ref.py) in its own Python process.
  async 'torch-reference'(trial, model) {
    const python = '/usr/bin/python3';
    if (!existsSync(python)) return { skipped: `${python} not found` };
    const probe = spawnSync(python, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
    if (probe.status !== 0) return { skipped: `${python} cannot import torch, onnx and numpy (apt-get install python3-torch python3-onnx)` };
    let onnxPath = model.onnx && join(root, model.onnx), npyPath = model.inputNpy && join(root, model.inputNpy);
    if (model.build) {
      // A built network (VGG16-shaped): the ONNX bytes onnxruntime runs and the same seeded inputs
      // pathwise explains, written to a temporary directory for the Python process.
      if (!model.ortBytes) return { skipped: 'no ONNX form of this built model for the reference' };
      const { encodeNpy } = await loadPathwise();
      const dir = mkdtempSync(join(tmpdir(), 'pathwise-bench-'));
      onnxPath = join(dir, 'model.onnx');
      npyPath = join(dir, 'inputs.npy');
      writeFileSync(onnxPath, model.ortBytes());
      writeFileSync(npyPath, encodeNpy(await inputsFor(model, trial.batch), [trial.batch, ...model.inputShape]));
    }
    if (!onnxPath || !npyPath) return { skipped: 'no .npy inputs / ONNX file for the reference' };
    const args = [join(root, 'tools/reference/time_ref.py'), '--model', onnxPath,
      '--inputs', npyPath, '--width', String(trial.width), '--depth', String(trial.depth),
      '--batch', String(trial.batch), '--threads', String(trial.threads), '--seconds', String(TIME_BUDGET_S),
      ...(trial.referenceSamples ? ['--warmup', '1', '--min-samples', String(trial.referenceSamples)] : [])];
    const r = spawnSync(python, args, { encoding: 'utf8', timeout: 600_000 });
    if (r.status !== 0) throw new Error(`time_ref.py failed: ${r.stderr.slice(-2000)}`);
    const out = JSON.parse(r.stdout.trim().split('\n').pop());
    return {
      unit: 'ms', best: out.best_ms, median: out.median_ms, samples: out.samples,
      perSecond: trial.batch / (out.best_ms * 1e-3), threadsUsed: out.threads, torch: out.torch,
    };
  },
};
