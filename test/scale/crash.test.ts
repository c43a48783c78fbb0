// Crashes against a real redis-server and real worker processes: a worker SIGKILLed in the middle
// of a shard (another redoes it, nothing is lost), one SIGKILLed after its commit but before the
// job completed (the shard runs twice and is counted once), SIGTERM in the middle of a shard (it is
// finished first), poisoned jobs (they fail with their reason, the worker goes on), and Redis
// itself restarted in the middle of a run.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { planRun, reduceRun, runStatus } from '../../lib/scale/index.js';
import { QUEUE_NAME } from '../../lib/scale/run.js';
import { hasRedis, SKIP_MESSAGE, startRedis, type RedisServer } from './redis.js';
import { compileLib } from './build.js';
import { MLP, MLP_DYN, forkWorker, singleProcess, waitForRun, type WorkerProcess } from './helpers.js';

if (!hasRedis) console.warn(SKIP_MESSAGE);

async function until(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

// Short locks, so that a killed worker's job is taken back within about a second.
const FAST = { lockDurationMs: 1000, stalledIntervalMs: 500, threads: 1 };

describe.skipIf(!hasRedis)('crashes', () => {
  let redis: RedisServer;
  let lib: string;
  let out: string;
  let workers: WorkerProcess[] = [];
  const spawn = (options: Record<string, unknown> = {}) => {
    const w = forkWorker(lib, { redis: redis.url, ...FAST, ...options });
    workers.push(w);
    return w;
  };

  beforeAll(async () => {
    redis = await startRedis({ persist: true });
    lib = compileLib('crash');
    out = mkdtempSync(join(tmpdir(), 'pathwise-scale-crash-'));
  });
  afterEach(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    workers = [];
  });
  afterAll(async () => {
    await redis?.stop();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('a worker killed in the middle of a shard: the other redoes it, nothing is lost', async () => {
    const rows = 200;
    await planRun({ run: 'mid', models: [MLP], data: { kind: 'fashion-mnist' }, rows, shardSize: 50, out, redis: redis.url });
    const a = spawn({ stopAt: 'explained' });
    const at = await a.stopped;
    await a.kill();
    const killedAt = Date.now();
    const b = spawn();
    const status = await waitForRun('mid', redis.url);
    expect(status).toMatchObject({ committed: 4, rowsDone: rows, failed: [] });
    // The killed worker's shard was committed by the other one.
    expect(b.events.some((e) => e.type === 'committed' && e.job === at.job)).toBe(true);
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    const aggregate = await reduceRun({ run: 'mid', redis: redis.url });
    expect(aggregate.checkpoints[0].statistics).toEqual((await singleProcess(MLP, rows)).statistics);
  });

  it('a worker killed after its commit, before the job completed: the shard runs twice and counts once', async () => {
    const rows = 100;
    await planRun({ run: 'after', models: [MLP], data: { kind: 'fashion-mnist' }, rows, shardSize: 50, out, redis: redis.url });
    const a = spawn({ stopAt: 'committed' });
    const at = await a.stopped;
    await a.kill();
    const b = spawn();
    const status = await waitForRun('after', redis.url);
    expect(status).toMatchObject({ committed: 2, rowsDone: rows, failed: [], nondeterministic: {} });
    // The other worker gets the job again (once its lock expires) and finds it committed.
    await until(() => b.events.some((e) => e.type === 'skipped' && e.job === at.job));
    expect(await runStatus({ run: 'after', redis: redis.url })).toMatchObject({ committed: 2, rowsDone: rows, failed: [], active: 0 });
    const aggregate = await reduceRun({ run: 'after', redis: redis.url });
    expect(aggregate.checkpoints[0].count).toBe(rows);
    expect(aggregate.checkpoints[0].statistics).toEqual((await singleProcess(MLP, rows)).statistics);
  });

  it('SIGTERM in the middle of a shard: the worker finishes and commits it, then exits 0', async () => {
    await planRun({ run: 'term', models: [MLP], data: { kind: 'fashion-mnist' }, rows: 100, shardSize: 50, out, redis: redis.url });
    const a = spawn({ pauseAt: 'explained', pauseMs: 500 });
    const at = await a.paused;
    expect(await a.kill('SIGTERM')).toBe(0);
    expect(a.events.some((e) => e.type === 'committed' && e.job === at.job)).toBe(true);
    const status = await runStatus({ run: 'term', redis: redis.url });
    expect(status).toMatchObject({ active: 0, failed: [] });
    expect(status.committed).toBeGreaterThanOrEqual(1);
    spawn();
    expect((await waitForRun('term', redis.url)).rowsDone).toBe(100);
  });

  it('poisoned jobs fail with their reason; the worker goes on', async () => {
    const dir = mkdtempSync(join(out, 'models-'));
    const gone = join(dir, 'gone.onnx'), changed = join(dir, 'changed.onnx');
    // Models no worker of this file has loaded: a worker that holds a model with the planned sha256
    // uses it without reading the file again (the same bytes), so the poison must be new to it.
    copyFileSync(MLP_DYN, gone);
    copyFileSync(MLP_DYN, changed);
    await planRun({ run: 'poison', models: [gone, changed], data: { kind: 'fashion-mnist' }, rows: 50, shardSize: 50, out, redis: redis.url });
    unlinkSync(gone);
    copyFileSync(MLP, changed);
    // A job with rows outside the source, and one that is not a shard at all.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue(QUEUE_NAME, { connection });
    const good = (await planRun({ run: 'after-poison', models: [MLP], data: { kind: 'fashion-mnist' }, rows: 50, shardSize: 50, out, redis: redis.url })).manifest;
    await queue.add('shard', { run: 'poison', checkpoint: 2, shard: 0, model: good.models[0], data: good.data, start: 9990, count: 50, out, options: {} }, { jobId: 'poison.2.0', attempts: 3 });
    await queue.add('shard', { nonsense: true }, { jobId: 'poison.3.0', attempts: 3 });
    await queue.close();
    connection.disconnect();

    const w = spawn();
    const status = await waitForRun('poison', redis.url, 20_000, 4);
    const errors = Object.fromEntries(status.failed.map((f) => [f.job, f.error]));
    expect(errors['poison.0.0']).toMatch(/cannot read model .*gone\.onnx/);
    expect(errors['poison.1.0']).toMatch(/changed\.onnx has sha256 [0-9a-f]{64}, the run planned [0-9a-f]{64}/);
    expect(errors['poison.2.0']).toMatch(/cannot read rows \[9990, 10040\): rows \[9990, 10040\) are outside the source's 10000 rows/);
    expect(errors['poison.3.0']).toMatch(/not a pathwise shard/);
    // Failed at once (no retries), and the same worker finished the good run.
    expect(status.failed.every((f) => f.attempts === 1)).toBe(true);
    expect((await waitForRun('after-poison', redis.url)).committed).toBe(1);
    expect(w.child.exitCode).toBe(null);
  });

  it('Redis restarted in the middle of a run: the workers reconnect and the run finishes', async () => {
    const rows = 300;
    await planRun({ run: 'restart', models: [MLP], data: { kind: 'fashion-mnist' }, rows, shardSize: 25, out, redis: redis.url });
    const a = spawn(), b = spawn();
    // Restart after the first commit.
    for (;;) {
      const s = await runStatus({ run: 'restart', redis: redis.url });
      if (s.committed > 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await redis.restart();
    const status = await waitForRun('restart', redis.url);
    expect(status).toMatchObject({ committed: 12, rowsDone: rows, nondeterministic: {} });
    expect(a.child.exitCode).toBe(null);
    expect(b.child.exitCode).toBe(null);
    const aggregate = await reduceRun({ run: 'restart', redis: redis.url });
    expect(aggregate.checkpoints[0].statistics).toEqual((await singleProcess(MLP, rows)).statistics);
  });
});
