#!/usr/bin/env node
// How faithful the path network itself is, per selection rule (docs/research.md "Why"): over
// Fashion-MNIST test images, the mean inflation of the path logit over the network's logit
// (ŷ_t − f_t), how often the path network still predicts the explained class, and the mean number of
// units kept per path layer. Runs dist/ (npm run build:ts first).
//
//   node tools/research/path-logits.mjs [--count 200] [--models mlp,cnn,resnet,leaky]
import { loadModel, loadFashionMnist, explainBatch, setThreads } from '../../dist/index.js';

import { MODELS, modelPath } from './models.mjs';
const RULES = {
  'official (depth all)': {},
  'official d1': { depth: 1 },
  'official width 1': { width: 1 },
  'threshold adaptive': { threshold: 'adaptive' },
  'target score': { score: 'target' },
  'keep opposing': { keepOpposing: true },
  'keep opposing adaptive': { keepOpposing: true, threshold: 'adaptive' },
};

const argv = process.argv.slice(2);
let count = 200;
let models = Object.keys(MODELS);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] === '--count') count = Number(argv[i + 1]);
  else if (argv[i] === '--models') models = argv[i + 1].split(',');
  else throw new Error(`unknown argument ${argv[i]}`);
}
setThreads(1);
const data = loadFashionMnist({ count });
console.log('| model | rule | mean ŷ_t − f_t | path predicts t | mean units kept per path layer (bottom → top) |');
console.log('| --- | --- | --- | --- | --- |');
for (const name of models) {
  const model = await loadModel(modelPath(name));
  for (const [rule, options] of Object.entries(RULES)) {
    const rows = await explainBatch(model, data.inputs, options);
    let inflation = 0, agree = 0;
    const kept = rows[0].layers.map(() => 0);
    for (const r of rows) {
      inflation += r.pathLogit - r.logits[r.target];
      if (r.pathPredicted === r.target) agree++;
      r.layers.forEach((l, j) => (kept[j] += l.units.length));
    }
    console.log(`| ${name} | ${rule} | ${(inflation / count).toFixed(2)} | ${agree} / ${count} | ${kept.map((k) => (k / count).toFixed(1)).join(' / ')} |`);
  }
}
