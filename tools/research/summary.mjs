#!/usr/bin/env node
// Merges the JSON reports of tools/research/variants.mjs (same images, same IG in each) into the
// compact tables of docs/research.md: one row per variant, per model the insertion / deletion /
// sparseness means and the paired differences to integrated gradients, "▲" marking a difference
// better than IG by more than two paired standard errors and "▼" worse by more than two.
//
//   node tools/research/summary.mjs [--compact name,name,…] report1.json report2.json … > table.md
//
// --compact: one table, one cell per model "Ins / Del / Gini" with the marks, for the named variants.
import { readFileSync } from 'node:fs';

const argv = process.argv.slice(2);
const compactAt = argv.indexOf('--compact');
const compact = compactAt >= 0 ? argv.splice(compactAt, 2)[1].split(',') : undefined;
const reports = argv.map((f) => JSON.parse(readFileSync(f, 'utf8')));
const models = ['mlp', 'cnn', 'resnet', 'leaky'];
const merged = {};
for (const r of reports)
  for (const [model, rows] of Object.entries(r.models))
    for (const [variant, row] of Object.entries(rows)) ((merged[variant] ??= {})[model] ??= row);

function mark(diff, higherIsBetter) {
  const better = higherIsBetter ? diff.mean > 2 * diff.se : -diff.mean > 2 * diff.se;
  const worse = higherIsBetter ? -diff.mean > 2 * diff.se : diff.mean > 2 * diff.se;
  return better ? ' ▲' : worse ? ' ▼' : '';
}
const cell = (row, key, diffKey, higher) =>
  row ? `${row[key].mean.toFixed(3)} (${row[diffKey].mean >= 0 ? '+' : ''}${row[diffKey].mean.toFixed(4)}${mark(row[diffKey], higher)})` : '–';

if (compact) {
  const short = (row, key, diffKey, higher) => `${row[key].mean.toFixed(3)}${mark(row[diffKey], higher)}`;
  console.log(`| variant | ${models.map((m) => `${m}: Ins ↑ / Del ↓ / Gini ↑`).join(' | ')} |`);
  console.log(`| --- | ${models.map(() => '---').join(' | ')} |`);
  for (const variant of compact) {
    const byModel = merged[variant];
    if (!byModel) throw new Error(`no rows for ${variant}`);
    console.log(`| ${variant} | ${models.map((m) => byModel[m]
      ? [short(byModel[m], 'insertion', 'insertionMinusIg', true), short(byModel[m], 'deletion', 'deletionMinusIg', false),
        short(byModel[m], 'sparseness', 'sparsenessMinusIg', true)].join(' / ') : '–').join(' | ')} |`);
  }
  process.exit(0);
}

for (const [metric, key, diffKey, higher] of [
  ['Insertion AUC ↑', 'insertion', 'insertionMinusIg', true],
  ['Deletion AUC ↓', 'deletion', 'deletionMinusIg', false],
  ['Sparseness (Gini) ↑', 'sparseness', 'sparsenessMinusIg', true],
]) {
  console.log(`#### ${metric}: mean (paired difference to IG; ▲/▼ better/worse than IG by > 2 s.e.)\n`);
  console.log(`| variant | ${models.join(' | ')} |`);
  console.log(`| --- | ${models.map(() => '---').join(' | ')} |`);
  for (const [variant, byModel] of Object.entries(merged))
    console.log(`| ${variant} | ${models.map((m) => cell(byModel[m], key, diffKey, higher)).join(' | ')} |`);
  console.log('');
}
