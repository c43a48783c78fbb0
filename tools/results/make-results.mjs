#!/usr/bin/env node
// Regenerates docs/results.md and docs/results/*.metrics.json from the TypeScript build
// (npm run build:ts first):
//   node tools/results/make-results.mjs [--count N] [--only fashion_mlp,fashion_cnn] [--from-json]
// --only runs some models (the page is written from every model's JSON in docs/results/);
// --from-json rewrites the page from those JSON reports without running anything.
// The work is lib/eval/results.ts (makeResults); this file only reads the arguments.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { makeResults } from '../../dist/eval/results.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const count = Number(flag('count', '200'));
if (!Number.isSafeInteger(count) || count < 1) throw new RangeError(`--count must be a positive integer, got ${flag('count')}`);
await makeResults({
  count,
  modelsDir: join(root, 'test', 'fixtures', 'models'),
  jsonDir: flag('json-dir', join(root, 'docs', 'results')),
  outFile: flag('out', join(root, 'docs', 'results.md')),
  ...(flag('only') ? { only: flag('only').split(',') } : {}),
  fromJson: args.includes('--from-json'),
  log: (s) => process.stderr.write(s),
});
