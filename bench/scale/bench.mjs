// Numbers for distributed runs (lib/scale) on this machine, against a private redis-server:
//   node bench/scale/bench.mjs [--rows N] [--quick] [--model FILE.onnx] (default the Fashion MLP)
// 1. one worker vs plain explainDataset on the same rows (overhead %);
// 2. per-job overhead at shard sizes 100 / 1 000 / 10 000;
// 3. two 1-thread workers vs one 2-thread worker;
// 4. recovery after SIGKILL (time from the kill to the lost shard's commit by another worker);
// 5. bytes per explanation in the Parquet shard files.
// Workers are real processes (test/scale/worker-child.mjs) on lib/ compiled into build/scale-bench.
// A multi-machine speed-up cannot be measured on one machine; the projection printed at the end is
// a model (stated with it), not a measurement. Results go to bench/results/scale-<time>.json.
import { execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const ROWS = Number(args[args.indexOf('--rows') + 1]) || (quick ? 2000 : 10_000);
// The explained model: the Fashion MLP by default (0.07 ms an explanation, so the per-row Parquet
// write dominates); --model test/fixtures/models/fashion_cnn.onnx shows a heavier model's share.
const MLP = args.includes('--model') ? join(process.cwd(), args[args.indexOf('--model') + 1]) : join(root, 'test/fixtures/models/fashion_mlp.onnx');

if (spawnSync('redis-server', ['--version']).status !== 0) {
  console.error('bench/scale: redis-server not found (apt-get install redis-server)');
  process.exit(1);
}
const lib = join(root, 'build', 'scale-bench');
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', lib]);
const p = await import(join(lib, 'index.js'));

const port = await new Promise((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
});
const redisDir = mkdtempSync(join(tmpdir(), 'pathwise-bench-redis-'));
const redisServer = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', redisDir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
const redis = `redis://127.0.0.1:${port}`;
for (let i = 0; spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() !== 'PONG'; i++) {
  if (i > 200) throw new Error('redis-server did not start');
  await new Promise((r) => setTimeout(r, 50));
}
const out = mkdtempSync(join(tmpdir(), 'pathwise-bench-scale-'));
const data = { kind: 'fashion-mnist' };

function worker(options) {
  const child = fork(join(root, 'test/scale/worker-child.mjs'), [lib, JSON.stringify({ redis, ...options })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const events = [];
  let onReady, onStopped;
  const ready = new Promise((r) => (onReady = r));
  const stopped = new Promise((r) => (onStopped = r));
  const exited = new Promise((r) => child.once('exit', r));
  child.on('message', (m) => {
    if (m.event) events.push({ ...m.event, at: performance.now() });
    if (m.ready) onReady();
    if (m.stopped) onStopped(m.stopped);
  });
  return { child, events, ready, stopped, kill: (s = 'SIGKILL') => { child.kill(s); return exited; } };
}

async function untilDone(run) {
  for (;;) {
    const s = await p.runStatus({ run, redis });
    if (s.failed.length > 0) throw new Error(`${run}: ${JSON.stringify(s.failed)}`);
    if (s.done) return performance.now();
    await new Promise((r) => setTimeout(r, 25));
  }
}

let runs = 0;
/**
 * Starts the workers, warms them up on a small run of the same model and source (model load, the
 * source read into memory, first-call compilation: paid once per worker, not per job), then plans
 * the measured run and times from the plan to the last commit.
 */
async function timedRun(rows, shardSize, workerOptions) {
  const workers = workerOptions.map((o) => worker(o));
  await Promise.all(workers.map((w) => w.ready));
  const warm = `b${runs++}`;
  await p.planRun({ run: warm, models: [MLP], data, rows: 100 * workers.length, shardSize: 100, out, redis });
  await untilDone(warm);
  const run = `b${runs++}`;
  const t0 = performance.now();
  await p.planRun({ run, models: [MLP], data, rows, shardSize, out, redis });
  const t1 = await untilDone(run);
  await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  const dir = join(out, run, 'c0');
  const bytes = readdirSync(dir).reduce((s, f) => s + statSync(join(dir, f)).size, 0);
  // Where a job's time goes, from the worker's events (ms since the job started).
  const ofRun = workers.flatMap((w) => w.events).filter((e) => e.job?.startsWith(`${run}.`));
  const mean = (type) => { const es = ofRun.filter((e) => e.type === type); return es.reduce((s, e) => s + e.ms, 0) / es.length; };
  const steps = { explainMs: mean('explained'), writeMs: mean('written') - mean('explained'), commitMs: mean('committed') - mean('written') };
  return { run, seconds: (t1 - t0) / 1000, jobs: Math.ceil(rows / shardSize), bytesPerExplanation: bytes / rows, steps };
}

async function plain(rows, threads) {
  // In a child process, as the workers: the same engine, thread count and data.
  const code = `
    const p = await import(${JSON.stringify(join(lib, 'index.js'))});
    p.setThreads(${threads});
    const set = p.loadFashionMnist({ count: ${rows} });
    const model = await p.loadModel(${JSON.stringify(MLP)});
    const items = Array.from({ length: ${rows} }, (_, i) => ({ input: set.inputs.subarray(i * 784, (i + 1) * 784), label: set.labels[i] }));
    const t0 = performance.now();
    let n = 0;
    for await (const r of p.explainDataset(model, items)) n++;
    console.log((performance.now() - t0) / 1000);`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' }).trim());
}

const results = { machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version }, rows: ROWS };
const log = (s) => console.log(s);
try {
  // 1 and 2: one 2-thread worker, shard sizes 100 / 1 000 / 10 000, against plain explainDataset.
  const base = Math.min(await plain(ROWS, 2), await plain(ROWS, 2));
  results.plainSeconds = base;
  log(`plain explainDataset, ${ROWS} rows, 2 threads: ${base.toFixed(2)} s (${(ROWS / base).toFixed(0)} rows/s)`);
  results.shardSizes = [];
  for (const shardSize of quick ? [100, 1000] : [100, 1000, 10_000]) {
    if (shardSize > ROWS) continue;
    const r = await timedRun(ROWS, shardSize, [{ threads: 2 }]);
    const overhead = r.seconds / base - 1;
    const perJobMs = ((r.seconds - base) / r.jobs) * 1000;
    results.shardSizes.push({ shardSize, ...r, overheadPercent: overhead * 100, perJobMs });
    log(`one worker, shard ${shardSize}: ${r.seconds.toFixed(2)} s, ${r.jobs} jobs, overhead ${(overhead * 100).toFixed(1)} % (${perJobMs.toFixed(1)} ms per job), ${r.bytesPerExplanation.toFixed(0)} bytes per explanation; ` +
      `per job: read + explain ${r.steps.explainMs.toFixed(1)} ms, Parquet write ${r.steps.writeMs.toFixed(1)} ms, commit ${r.steps.commitMs.toFixed(1)} ms`);
  }
  // Two jobs at once in one worker: one job's Parquet write overlaps the other's explaining.
  const overlapped = await timedRun(ROWS, 1000, [{ threads: 2, concurrency: 2 }]);
  results.concurrency2 = { shardSize: 1000, ...overlapped, overheadPercent: (overlapped.seconds / base - 1) * 100 };
  log(`one worker, shard 1000, concurrency 2: ${overlapped.seconds.toFixed(2)} s, overhead ${results.concurrency2.overheadPercent.toFixed(1)} %`);
  // 3: two 1-thread workers vs one 2-thread worker, shard 500.
  const two = await timedRun(ROWS, 500, [{ threads: 1 }, { threads: 1 }]);
  const one = await timedRun(ROWS, 500, [{ threads: 2 }]);
  results.workers = { twoOneThread: two.seconds, oneTwoThread: one.seconds };
  log(`shard 500: two 1-thread workers ${two.seconds.toFixed(2)} s, one 2-thread worker ${one.seconds.toFixed(2)} s`);
  // 4: recovery after SIGKILL, with a 5 s lock (stalled check every 1 s) and with BullMQ's defaults
  // (30 s, 30 s): the time from the kill until another worker takes the lost shard and commits it.
  results.recovery = [];
  for (const lock of quick ? [{ lockDurationMs: 5000, stalledIntervalMs: 1000 }] : [{ lockDurationMs: 5000, stalledIntervalMs: 1000 }, {}]) {
    const run = `b${runs++}`;
    await p.planRun({ run, models: [MLP], data, rows: 2000, shardSize: 500, out, redis });
    const a = worker({ ...lock, threads: 1, stopAt: 'explained' });
    const b = worker({ ...lock, threads: 1 });
    const lost = await a.stopped;
    await a.kill();
    const killedAt = performance.now();
    await untilDone(run);
    const redone = b.events.find((e) => e.type === 'committed' && e.job === lost.job);
    const retaken = b.events.find((e) => e.type === 'started' && e.job === lost.job);
    const r = { lockDurationMs: lock.lockDurationMs ?? 30_000, stalledIntervalMs: lock.stalledIntervalMs ?? 30_000, retakenSeconds: (retaken.at - killedAt) / 1000, seconds: (redone.at - killedAt) / 1000 };
    results.recovery.push(r);
    await b.kill('SIGTERM');
    log(`recovery after SIGKILL (lock ${r.lockDurationMs / 1000} s, stalled check ${r.stalledIntervalMs / 1000} s): the lost shard was taken up again ${r.retakenSeconds.toFixed(2)} s and committed ${r.seconds.toFixed(2)} s after the kill`);
  }

  // Projection (a model, not a measurement): m machines like this one, each one worker, shared
  // file system and one Redis; time ≈ plain time / m × (1 + the measured overhead at shard 1 000),
  // while the commits (one Lua call per shard) stay far below Redis's capacity.
  const o = results.shardSizes.find((s) => s.shardSize === 1000)?.overheadPercent ?? 0;
  const perMachine = ROWS / base / (1 + o / 100);
  results.projection = { model: 'rows/s ≈ m × plain rows/s ÷ (1 + overhead at shard 1000)', rowsPerSecondPerMachine: perMachine,
    hoursFor1MillionX20Checkpoints: { 1: 2e7 / perMachine / 3600, 10: 2e7 / perMachine / 3600 / 10 } };
  log(`projection (model, not measured): ${perMachine.toFixed(0)} rows/s per machine; 1 M inputs × 20 checkpoints ≈ ${(2e7 / perMachine / 3600).toFixed(1)} h on one machine, ${(2e7 / perMachine / 36000).toFixed(1)} h on ten`);
} finally {
  redisServer.kill('SIGKILL');
  rmSync(redisDir, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
}
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
log(`wrote ${file}`);
