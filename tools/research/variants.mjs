#!/usr/bin/env node
// The research comparison of docs/research.md: pathwise variants against input × gradient and
// integrated gradients, by insertion / deletion AUC (docs/method.md §10) and sparseness (Gini,
// lib/eval/quality.ts), on Fashion-MNIST test images. Runs dist/ (npm run build:ts first).
//
//   node tools/research/variants.mjs [--count 200] [--offset 0] [--models mlp,cnn,resnet,leaky]
//        [--variants name,name,...] [--json out.json]
//
// Deterministic: the images are test images offset … offset+count−1 of the Debian package
// dataset-fashion-mnist; nothing is drawn at random. Targets: the predicted class for every method.
// Reported per variant: mean ± standard error over the images, and the paired difference to
// integrated gradients (variant − IG, mean ± s.e. of the per-image differences).
import { writeFileSync } from 'node:fs';
import {
  loadModel, loadFashionMnist, explainBatch, explainIntegrated, explainRegional, attributeBatch, insertionDeletionBatch,
  evaluateQuality, setThreads,
} from '../../dist/index.js';

import { MODELS, modelPath } from './models.mjs';

// name → how to compute the attributions of n inputs (back to back).
const pathwise = (options) => async (model, x) => (await explainBatch(model, x, options)).map((r) => r.attribution);
const baseline = (method, extra = {}) => async (model, x) => (await attributeBatch(model, x, { method, ...extra })).map((r) => r.attribution);
const VARIANTS = {
  'input × gradient': baseline('inputXGradient'),
  'integrated gradients': baseline('integratedGradients'),
  // The reference rule ('official' default) at its best depth on these models and at its default.
  'official d1': pathwise({ depth: 1 }),
  'official': pathwise({}),
  // Score threshold: 0 (every unit whose contributions differ), adaptive per layer.
  'threshold 0': pathwise({ threshold: 0 }),
  'threshold 0 d1': pathwise({ threshold: 0, depth: 1 }),
  'threshold adaptive': pathwise({ threshold: 'adaptive' }),
  // Score by the contribution to the target logit.
  'target score': pathwise({ score: 'target' }),
  'target score adaptive': pathwise({ score: 'target', threshold: 'adaptive' }),
  // Keep the units that oppose the target.
  'keep opposing': pathwise({ keepOpposing: true }),
  'keep opposing d1': pathwise({ keepOpposing: true, depth: 1 }),
  'target score + opposing': pathwise({ score: 'target', keepOpposing: true }),
  // Log-probability objective (the gradient of log softmax of the path network).
  'logSoftmax': pathwise({ objective: 'logSoftmax' }),
  'logSoftmax d1': pathwise({ objective: 'logSoftmax', depth: 1 }),
  'logSoftmax + opposing d1': pathwise({ objective: 'logSoftmax', keepOpposing: true, depth: 1 }),
  // Integrated along α·x (16 Gauss–Legendre points).
  'integrated': async (model, x) => (await explainIntegrated(model, x, { steps: 16 })).map((r) => r.attribution),
  'integrated d1': async (model, x) => (await explainIntegrated(model, x, { steps: 16, depth: 1 })).map((r) => r.attribution),
  'integrated logSoftmax d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, depth: 1, objective: 'logSoftmax' })).map((r) => r.attribution),
  'integrated logSoftmax + opposing d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, depth: 1, objective: 'logSoftmax', keepOpposing: true })).map((r) => r.attribution),
  // Integrated with the opposing units kept (the reference's selection otherwise).
  'integrated + opposing': async (model, x) => (await explainIntegrated(model, x, { steps: 16, keepOpposing: true })).map((r) => r.attribution),
  'integrated + opposing d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, keepOpposing: true, depth: 1 })).map((r) => r.attribution),
  // A stricter discriminative filter with the opposing units kept.
  'keep opposing adaptive': pathwise({ keepOpposing: true, threshold: 'adaptive' }),
  'keep opposing t0.3': pathwise({ keepOpposing: true, threshold: 0.3 }),
  'integrated + opposing adaptive': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, keepOpposing: true, threshold: 'adaptive' })).map((r) => r.attribution),
  'integrated + opposing t0.3': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, keepOpposing: true, threshold: 0.3 })).map((r) => r.attribution),
  // Integrated with decision weighting (the derivative of the explained quantity along the line).
  'integrated decision d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, depth: 1, weighting: 'decision' })).map((r) => r.attribution),
  'integrated decision + opposing d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, depth: 1, weighting: 'decision', keepOpposing: true })).map((r) => r.attribution),
  'integrated decision logSoftmax + opposing d1': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, depth: 1, weighting: 'decision', objective: 'logSoftmax', keepOpposing: true })).map((r) => r.attribution),
  'integrated decision logSoftmax + opposing': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, weighting: 'decision', objective: 'logSoftmax', keepOpposing: true })).map((r) => r.attribution),
  'integrated decision gradients of log p': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, weighting: 'decision', semantics: 'linear', threshold: 0, objective: 'logSoftmax' })).map((r) => r.attribution),
  // Regional mosaic, 4 × 4 tiles.
  'regional 4×4': async (model, x) => (await explainRegional(model, x, { tiles: 4 })).map((r) => r.attribution),
  'regional 4×4 d1': async (model, x) => (await explainRegional(model, x, { tiles: 4, depth: 1 })).map((r) => r.attribution),
  // Reference points that are not pathwise: input × gradient of the log-probability (linear, threshold 0,
  // everything kept: unwrapping) and its integrated form.
  'input × gradient of log p': pathwise({ semantics: 'linear', threshold: 0, objective: 'logSoftmax' }),
  'integrated gradients of log p': async (model, x) =>
    (await explainIntegrated(model, x, { steps: 16, semantics: 'linear', threshold: 0, objective: 'logSoftmax' })).map((r) => r.attribution),
};

function args() {
  const a = { count: 200, offset: 0, models: Object.keys(MODELS), variants: Object.keys(VARIANTS), json: undefined };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--count') a.count = Number(v);
    else if (k === '--offset') a.offset = Number(v);
    else if (k === '--models') a.models = v.split(',');
    else if (k === '--variants') a.variants = ['integrated gradients', ...v.split(',').filter((n) => n !== 'integrated gradients')];
    else if (k === '--json') a.json = v;
    else throw new Error(`unknown argument ${k}`);
  }
  for (const m of a.models) if (!MODELS[m]) throw new Error(`unknown model ${m}`);
  for (const v of a.variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v}`);
  return a;
}

function meanSe(values) {
  const n = values.length;
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / Math.max(1, n - 1);
  return { mean, se: Math.sqrt(variance / n) };
}

const fmt = ({ mean, se }, digits = 3) => `${mean.toFixed(digits)} ± ${se.toFixed(digits)}`;
const fmtDiff = ({ mean, se }) => `${mean >= 0 ? '+' : ''}${mean.toFixed(4)} ± ${se.toFixed(4)}`;

async function main() {
  const a = args();
  setThreads(1);
  const data = loadFashionMnist({ offset: a.offset, count: a.count });
  const report = { count: a.count, offset: a.offset, models: {} };
  for (const name of a.models) {
    const model = await loadModel(modelPath(name));
    const d = model.inputSize;
    const x = data.inputs;
    const rows = {};
    for (const variant of a.variants) {
      const t0 = performance.now();
      const maps = await VARIANTS[variant](model, x);
      const ms = (performance.now() - t0) / a.count;
      const flat = new Float32Array(a.count * d);
      maps.forEach((m, i) => flat.set(m, i * d));
      const curves = await insertionDeletionBatch(model, x, flat);
      const quality = await evaluateQuality(model, x, flat, { metrics: ['sparseness'] });
      rows[variant] = {
        insertion: curves.results.map((r) => r.insertionAuc),
        deletion: curves.results.map((r) => r.deletionAuc),
        sparseness: Array.from(quality.sparseness.values),
        msPerImage: ms,
      };
      process.stderr.write(`${name} ${variant}: ins ${fmt(meanSe(rows[variant].insertion))} del ${fmt(meanSe(rows[variant].deletion))} ` +
        `gini ${fmt(meanSe(rows[variant].sparseness))} (${ms.toFixed(2)} ms/image)\n`);
    }
    const ig = rows['integrated gradients'];
    const lines = [
      `### ${name} (${MODELS[name]}), test images ${a.offset}–${a.offset + a.count - 1}`,
      '',
      '| variant | Ins AUC ↑ | Del AUC ↓ | sparseness (Gini) ↑ | Ins − IG (paired) | Del − IG (paired) | Gini − IG (paired) | beats IG on Ins and Del | ms / image |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ];
    const summary = {};
    for (const [variant, r] of Object.entries(rows)) {
      const diff = (key) => meanSe(r[key].map((v, i) => v - ig[key][i]));
      const dIns = diff('insertion'), dDel = diff('deletion'), dGini = diff('sparseness');
      // "Beats" = better by more than two paired standard errors.
      const wins = dIns.mean > 2 * dIns.se && -dDel.mean > 2 * dDel.se;
      summary[variant] = {
        insertion: meanSe(r.insertion), deletion: meanSe(r.deletion), sparseness: meanSe(r.sparseness),
        insertionMinusIg: dIns, deletionMinusIg: dDel, sparsenessMinusIg: dGini, beatsIg: wins, msPerImage: r.msPerImage,
      };
      lines.push(`| ${variant} | ${fmt(meanSe(r.insertion))} | ${fmt(meanSe(r.deletion))} | ${fmt(meanSe(r.sparseness))} | ` +
        `${fmtDiff(dIns)} | ${fmtDiff(dDel)} | ${fmtDiff(dGini)} | ${wins ? 'yes' : 'no'} | ${r.msPerImage.toFixed(2)} |`);
    }
    report.models[name] = summary;
    console.log(lines.join('\n') + '\n');
    model.dispose?.();
  }
  if (a.json) writeFileSync(a.json, JSON.stringify(report, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
