// `npm run bench`: runs every trial of bench/trials.mjs in a fresh `node` child process
// (better-sqlite3's benchmark/index.js), prints a table and writes the results as JSON to
// bench/results/<timestamp>.json.
//   npm run bench [-- --filter REGEX] [--skip REGEX] [--heavy] [--seconds S] [--rounds R] [--list]
// S (default 2) is each trial's time budget after warm-up; R (default 1) runs every trial R times,
// interleaved, and keeps each trial's best round. Heavy trials (minutes each, or the torchvision
// zoo) run only with --heavy. Numbers are best-of-N wall times on whatever else the machine is
// doing; the median beside them shows the spread. The run ends with the #15 speed targets
// (trials.mjs, `targets`): measure, value, target, met.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { models, targets, trials } from './trials.mjs';

const require = createRequire(import.meta.url);
const root = new URL('..', import.meta.url).pathname;

const args = process.argv.slice(2);
const USAGE = `usage: npm run bench [-- options]   (or: node bench/index.mjs [options])

Runs every trial of bench/trials.mjs in its own child process, prints a table and writes
bench/results/<timestamp>.json.

  --filter REGEX   only trials whose id or group matches
  --skip REGEX     leave out trials whose id or group matches
  --heavy          also the heavy trials (resnet18 with 1000 classes at width 16 depth 'all', one
                   timed call of minutes each; the torchvision zoo at width 64 depth 5)
  --seconds S      each trial's time budget after warm-up (default 2)
  --rounds R       run every trial R times, interleaved, keeping each trial's best (default 1)
  --list           list the trials and exit
  -h, --help       this help
`;
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write(USAGE);
  process.exit(0);
}
{
  const known = new Set(['--filter', '--skip', '--heavy', '--seconds', '--rounds', '--list']);
  const withValue = new Set(['--filter', '--skip', '--seconds', '--rounds']);
  for (let i = 0; i < args.length; i++) {
    if (!known.has(args[i])) {
      process.stderr.write(`bench: unknown argument ${JSON.stringify(args[i])}\n\n${USAGE}`);
      process.exit(2);
    }
    if (withValue.has(args[i])) i++;
  }
}
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const filter = opt('--filter') ? new RegExp(opt('--filter')) : null;
const skip = opt('--skip') ? new RegExp(opt('--skip')) : null;
const heavy = args.includes('--heavy');
const seconds = opt('--seconds') ?? '2';
const matches = (re, t) => re.test(t.id) || re.test(t.group);
const chosen = trials.filter((t) => (!filter || matches(filter, t)) && !(skip && matches(skip, t)));
const selected = chosen.filter((t) => heavy || !t.heavy);
const heavyLeftOut = chosen.length - selected.length;
if (args.includes('--list')) {
  for (const t of chosen) console.log(`${t.id.padEnd(40)} ${t.heavy ? 'heavy ' : '      '}${t.group}`);
  if (heavyLeftOut) console.log(`(${heavyLeftOut} heavy trial(s) run only with --heavy)`);
  process.exit(0);
}

// The bench imports the library from dist/ and the addon from build/ or prebuilds/: both are made
// by a plain `npm install` (install: node-gyp-build; prepare: tsc).
if (!existsSync(join(root, 'dist', 'index.js'))) {
  console.error('dist/ is missing: run `npm run build:ts` (or `npm install`) first.');
  process.exit(1);
}
let kernelInfo;
try {
  kernelInfo = require('node-gyp-build')(root).kernelInfo();
} catch (e) {
  console.error(`the native addon does not load (${e.message}); run \`npm run build:gyp\`.`);
  process.exit(1);
}

const rounds = Math.max(1, Number(opt('--rounds') ?? 1));
const perRound = [];
const started = new Date();
console.log(`pathwise bench: ${selected.length} trials × ${rounds} round(s), ${seconds} s each, one child process per trial` +
  (heavyLeftOut ? ` (${heavyLeftOut} heavy trial(s) left out: --heavy runs them)` : ''));
for (let round = 1; round <= rounds; round++) for (const trial of selected) {
  const env = { ...process.env, PATHWISE_BENCH_SECONDS: seconds, ...(trial.env ?? {}) };
  const r = spawnSync(process.execPath, ['--expose-gc', join(root, 'bench/run-trial.mjs'), trial.id], {
    env, encoding: 'utf8', timeout: (trial.timeoutMinutes ?? 15) * 60_000, maxBuffer: 1 << 24,
  });
  let result;
  try {
    result = JSON.parse(r.stdout.trim().split('\n').pop());
  } catch {
    result = { id: trial.id, error: `exit ${r.status} ${r.signal ?? ''}: ${(r.stderr || r.stdout).slice(-1000)}` };
  }
  perRound.push({ trial, result });
  const summary = result.skipped ? `skipped: ${result.skipped}` : result.error ? `ERROR ${result.error.split('\n')[0]}`
    : `${fmt(result.best)} ${result.unit} (median ${fmt(result.median)}, n=${result.samples})`;
  console.log(`  ${rounds > 1 ? `[${round}] ` : ''}${trial.id.padEnd(46)} ${summary}`);
}

// With several rounds (trials interleaved, so each competitor meets the machine's quiet and busy
// moments alike), a trial's result is its best round; `rounds` keeps every round's best.
const better = (a, b) => (a.unit === 'GFLOP/s' ? a.best > b.best : a.best < b.best);
const results = selected.map((trial) => {
  const runs = perRound.filter((r) => r.trial === trial).map((r) => r.result);
  const good = runs.filter((r) => !r.skipped && !r.error);
  if (!good.length) return { trial, result: runs[0] };
  const best = good.reduce((a, b) => (better(b, a) ? b : a));
  return { trial, result: { ...best, rounds: good.map((r) => r.best) } };
});

function fmt(v, digits = 3) {
  if (v === undefined || v === null || Number.isNaN(v)) return '–';
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toPrecision(digits);
}

// ---------------------------------------------------------------------------------------------
// Table.
const byId = new Map(results.map((r) => [r.trial.id, r.result]));
const ok = (r) => r && !r.skipped && !r.error;
const lines = [];
const groups = [...new Set(results.map((r) => r.trial.group))];

// Measured GEMM peak per thread count: the best of our 512³ kernels in this run.
const peak = {};
for (const { trial, result } of results)
  if (trial.driver === 'pathwise-gemm' && trial.shape[0] === 512 && ok(result))
    peak[trial.threads] = Math.max(peak[trial.threads] ?? 0, result.best);

const config = (t) => (t.width !== undefined && t.depth !== undefined ? ` w${t.width} d${t.depth === 'all' ? "'all'" : t.depth}` : '');
function label(t) {
  switch (t.driver) {
    case 'pathwise-gemm': return `pathwise ${t.kernel} gemm_${t.transB ? 'nt' : 'nn'}`;
    case 'ort-matmul': return `onnxruntime MatMul, B ${t.bInitializer ? 'initializer (pre-packed)' : 'input'}`;
    case 'pathwise-explain': return `pathwise ${t.async ? 'explain (async)' : t.batch === 1 ? 'explainSync' : 'explainBatchSync'}${config(t)}`;
    case 'ort-forward': return 'onnxruntime forward (no explanation)';
    case 'pathwise-forward': return 'pathwise model.forward (no explanation)';
    case 'torch-reference': return `PyTorch reference${config(t)}`;
    case 'torch-gradient': return 'PyTorch input gradient (forward + backward)';
    default: return t.driver;
  }
}

for (const group of groups) {
  const rows = results.filter((r) => r.trial.group === group);
  lines.push('', `## ${group}`);
  if (rows[0].trial.driver === 'ort-matmul' || rows[0].trial.driver === 'pathwise-gemm') {
    // GEMM: GFLOP/s, and the ratio to the better of the two onnxruntime variants.
    const ort = Math.max(...rows.filter((r) => r.trial.driver === 'ort-matmul' && ok(r.result)).map((r) => r.result.best), 0);
    lines.push(`| ${'competitor'.padEnd(48)} | GFLOP/s best | median | ms (best) | vs best onnxruntime |`, `|${'-'.repeat(50)}|---:|---:|---:|---:|`);
    for (const { trial, result } of rows) {
      if (!ok(result)) { lines.push(`| ${label(trial).padEnd(48)} | ${result.skipped ? `skipped: ${result.skipped}` : 'error'} | | | |`); continue; }
      lines.push(`| ${label(trial).padEnd(48)} | ${fmt(result.best)} | ${fmt(result.median)} | ${fmt(result.ms)} | ${ort ? `${(result.best / ort).toFixed(2)}×` : '–'} |`);
    }
  } else {
    // Explain and its anchors: ms per call (batch), calls/s; the speed-up over the PyTorch
    // reference of the same width and depth at 1 thread; this row's time over onnxruntime's
    // forward and over the PyTorch input gradient of the same group, each at its best up to this
    // row's thread count (how many inferences / gradients one call costs; as in the targets, so
    // that torch's slow 2-thread moments on a shared machine do not flatter us); achieved GFLOP/s
    // and its share of the measured GEMM peak at the same thread count.
    const find = (pred) => rows.filter((r) => ok(r.result) && pred(r.trial))
      .reduce((a, r) => (a && a.result.best <= r.result.best ? a : r), undefined);
    const times = (row, anchor) => (anchor && anchor.trial !== row.trial ? `${fmt(row.result.best / anchor.result.best)}×` : '');
    lines.push(`| ${'competitor'.padEnd(48)} | threads | ms/call best | median | n | per s | speed-up vs reference (1 thread) | × onnxruntime forward | × PyTorch gradient | GFLOP/s | % of GEMM peak |`,
      `|${'-'.repeat(50)}|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`);
    for (const row of rows) {
      const { trial, result } = row;
      if (!ok(result)) { lines.push(`| ${label(trial).padEnd(48)} | ${trial.threads || 'default'} | ${result.skipped ? `skipped: ${result.skipped}` : `error: ${result.error.split('\n')[0].slice(0, 160)}`} | | | | | | | | |`); continue; }
      const reference = ['pathwise-explain', 'torch-reference'].includes(trial.driver)
        && find((t) => t.driver === 'torch-reference' && t.threads === 1 && t.width === trial.width && t.depth === trial.depth);
      const speedup = reference ? `${fmt(reference.result.best / result.best)}×` : '';
      const ort = find((t) => t.driver === 'ort-forward' && t.threads <= trial.threads);
      const grad = find((t) => t.driver === 'torch-gradient' && t.threads <= trial.threads);
      const pk = peak[trial.threads];
      const share = result.gflops && pk ? `${((result.gflops / pk) * 100).toFixed(0)} %` : '';
      lines.push(`| ${label(trial).padEnd(48)} | ${trial.threads || result.threadsUsed || 'default'} | ${fmt(result.best)} | ${fmt(result.median)} | ${result.samples} | ${fmt(result.perSecond)} | ${speedup} | ${times(row, ort)} | ${times(row, grad)} | ${result.gflops ? fmt(result.gflops) : ''} | ${share} |`);
    }
  }
}
if (Object.keys(peak).length)
  lines.push('', `GEMM peak of this run (best pathwise 512³): ${Object.entries(peak).map(([t, v]) => `${t} thread(s) ${fmt(v)} GFLOP/s`).join(', ')}.`);

// ---------------------------------------------------------------------------------------------
// The speed targets (trials.mjs): value = per-example best of `num` / of `den` (each the fastest
// of its listed trials that ran), same run.
const trialById = new Map(trials.map((t) => [t.id, t]));
const why = (id) => {
  const r = byId.get(id);
  if (r?.skipped) return `${id} skipped`;
  if (r?.error) return `${id} failed`;
  if (!selected.some((t) => t.id === id)) return trialById.get(id)?.heavy && !heavy ? `${id} is heavy (--heavy)` : `${id} not selected`;
  return null;
};
// The fastest per-example time among `ids` that ran: { id, ms } or { missing: reason }.
const fastest = (ids) => {
  const ran = [ids].flat().filter((id) => ok(byId.get(id)))
    .map((id) => ({ id, ms: byId.get(id).best / trialById.get(id).batch }));
  if (!ran.length) return { missing: `not measured: ${[ids].flat().map(why).find(Boolean) ?? 'no result'}` };
  return ran.reduce((a, b) => (b.ms < a.ms ? b : a));
};
const targetResults = targets.map((g) => {
  const num = fastest(g.num), den = fastest(g.den);
  const goal = g.max !== undefined ? `≤ ${g.max}×` : `≥ ${g.min}×`;
  if (num.missing || den.missing) return { ...g, goal, value: null, met: null, note: num.missing ?? den.missing };
  const value = num.ms / den.ms;
  return { ...g, goal, value, met: g.max !== undefined ? value <= g.max : value >= g.min, used: { num: num.id, den: den.id } };
});
lines.push('', '## targets (issue #15; same-run ratios of best-of-N times per example; ours at N threads, anchors at their best up to N)',
  `| ${'measure'.padEnd(80)} | value | target | met? |`, `|${'-'.repeat(82)}|---:|---:|---|`);
for (const t of targetResults)
  lines.push(`| ${t.measure.padEnd(80)} | ${t.value === null ? '–' : `${fmt(t.value)}×`} | ${t.goal} | ${t.met === null ? t.note : t.met ? 'yes' : 'no'} |`);
console.log(lines.join('\n'));

// ---------------------------------------------------------------------------------------------
// JSON.
const version = (pkg) => {
  try { return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version; } catch { return null; }
};
let commit = null;
try { commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(); } catch {}
const out = {
  date: started.toISOString(), commit,
  host: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, platform: `${process.platform}-${process.arch}` },
  versions: { 'onnxruntime-node': version('onnxruntime-node') },
  kernelInfo, secondsPerTrial: Number(seconds), rounds, gemmPeak: peak, models: Object.keys(models),
  heavy, targets: targetResults,
  results: results.map(({ trial, result }) => ({ ...trial, result })),
};
const dir = join(root, 'bench', 'results');
mkdirSync(dir, { recursive: true });
const file = join(dir, `${started.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nwrote ${file}`);
