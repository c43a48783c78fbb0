#!/usr/bin/env node
// The long ONNX-loader fuzz run (issue 6): mutated and truncated fixture models through parseOnnx,
// loadModelSync and (every --explain-every-th accepted model) forward and explainSync. Every
// outcome must be an accepted model or a documented rejection (scripts/onnx-mutator.mjs runOne);
// anything else is a finding, saved as <out>/onnx-<seed>-<i>.onnx and replayable with --replay i.
// Runs against the built package (dist/: `npm run build:ts`) and the addon in build/.
//
//   node scripts/fuzz-onnx.mjs [--count 1000000] [--seed 1] [--explain-every 20] [--out fuzz-findings]
//   node scripts/fuzz-onnx.mjs --replay 12345 [--seed 1]
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMutator, prng, runOne } from './onnx-mutator.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { loadModelSync, explainSync, PathwiseError } = await import(join(root, 'dist', 'index.js'));
const { parseOnnx } = await import(join(root, 'dist', 'onnx', 'load.js'));
const api = { parseOnnx, loadModelSync, explainSync, PathwiseError };

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const count = Number(opt('count', 1_000_000));
const seed = Number(opt('seed', 1));
const explainEvery = Number(opt('explain-every', 20));
const out = opt('out', join(root, 'fuzz-findings'));
const replay = opt('replay', undefined);

const dir = join(root, 'test', 'fixtures', 'models');
const names = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
const seeds = names.map((f) => new Uint8Array(readFileSync(join(dir, f))));
// tiny_resnet holds the most op variety in the fewest bytes: half the mutations start from it.
const mutator = createMutator(seeds, names.map((n) => (n.startsWith('tiny_resnet') ? names.length - 1 : 1)));

/** Iteration i is a pure function of (seed, i): replayable on its own. */
function iteration(i) {
  const rand = prng((seed * 0x9e3779b1) ^ i);
  const bytes = mutator.next(rand);
  const t0 = performance.now();
  const r = runOne(bytes, api, rand, i % explainEvery === 0);
  return { ...r, bytes, ms: performance.now() - t0 };
}

if (replay !== undefined) {
  const r = iteration(Number(replay));
  console.log(`iteration ${replay}: ${r.outcome} in ${r.ms.toFixed(1)} ms (${r.bytes.length} bytes)`);
  if (r.error) console.log(r.error);
  process.exit(r.outcome.startsWith('finding') ? 1 : 0);
}

const counts = new Map();
const atLoad = new Map();
const findings = [];
let slowest = { ms: 0, i: -1 };
const rssStart = process.memoryUsage().rss;
let rssPeak = rssStart;
const start = performance.now();
for (let i = 0; i < count; i++) {
  const r = iteration(i);
  counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  if (r.ms > slowest.ms) slowest = { ms: r.ms, i };
  if (r.outcome.endsWith('(at load)')) {
    const key = String(r.error?.message).replace(/layer \d+ \("[^"]*"\)/, 'layer N');
    atLoad.set(key, (atLoad.get(key) ?? 0) + 1);
  }
  if (r.outcome.startsWith('finding')) {
    findings.push({ i, outcome: r.outcome, error: String(r.error?.stack ?? r.error).split('\n').slice(0, 4).join(' | ') });
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, `onnx-${seed}-${i}.onnx`), r.bytes);
  }
  if ((i + 1) % 10_000 === 0) {
    const rss = process.memoryUsage().rss;
    rssPeak = Math.max(rssPeak, rss);
    const rate = ((i + 1) / ((performance.now() - start) / 1000)).toFixed(0);
    console.log(`${i + 1} executions, ${rate}/s, ${findings.length} findings, rss ${(rss / 2 ** 20).toFixed(0)} MiB, slowest ${slowest.ms.toFixed(0)} ms (#${slowest.i})`);
  }
}
const seconds = (performance.now() - start) / 1000;
console.log(`\nONNX fuzz: ${count} executions in ${seconds.toFixed(0)} s (seed ${seed}); slowest ${slowest.ms.toFixed(1)} ms (#${slowest.i}); ` +
  `rss ${(rssStart / 2 ** 20).toFixed(0)} → peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB`);
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`  ${k}: ${v}`);
for (const [k, v] of [...atLoad].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  at load, ${v}×: ${k.slice(0, 160)}`);
const byKind = new Map();
for (const f of findings) {
  const key = `${f.outcome}: ${f.error.split(' | ')[0]}`;
  if (!byKind.has(key)) byKind.set(key, []);
  byKind.get(key).push(f.i);
}
for (const [k, is] of byKind) console.log(`FINDING ${k} — ${is.length}× (first #${is.slice(0, 5).join(', #')})`);
console.log(`${findings.length} findings`);
process.exit(findings.length ? 1 : 0);
