// Distributed runs against a real redis-server (test/scale/redis.ts) and real forked worker
// processes: two workers finish a run and its reduce equals the single-process statistics; the
// shard files round-trip the explanations; planning twice is a no-op.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { comparePaths } from '../../lib/explain/dataset.js';
import { readExplanationsParquet } from '../../lib/io/parquet.js';
import { Redis } from 'ioredis';
import { planRun, reduceRun, runStatus } from '../../lib/scale/index.js';
import { COMMIT_SCRIPT, runKey } from '../../lib/scale/run.js';
import { hasRedis, SKIP_MESSAGE, startRedis, type RedisServer } from './redis.js';
import { compileLib } from './build.js';
import { MLP, MLP_DYN, forkWorker, singleProcess, waitForRun, type WorkerProcess } from './helpers.js';

if (!hasRedis) console.warn(SKIP_MESSAGE);

describe.skipIf(!hasRedis)('a run on two worker processes', () => {
  let redis: RedisServer;
  let lib: string;
  let out: string;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    lib = compileLib('run');
    out = mkdtempSync(join(tmpdir(), 'pathwise-scale-'));
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill()));
    await redis?.stop();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('finishes, and reduce equals explainDataset + pathStatistics in one process', async () => {
    const rows = 300;
    const plan = { run: 'two', models: [MLP, MLP_DYN], data: { kind: 'fashion-mnist' as const }, rows, shardSize: 50, out, redis: redis.url };
    const planned = await planRun(plan);
    expect(planned).toMatchObject({ added: 12, jobs: 12 });
    expect((await planRun(plan)).added).toBe(0);
    await expect(planRun({ ...plan, shardSize: 60 })).rejects.toThrow(/planned before with a different plan/);

    for (let i = 0; i < 2; i++) workers.push(forkWorker(lib, { redis: redis.url, threads: 1 }));
    const status = await waitForRun('two', redis.url);
    expect(status).toMatchObject({ committed: 12, committedByCheckpoint: [6, 6], rows: 600, rowsDone: 600, failed: [], nondeterministic: {} });

    const aggregate = await reduceRun({ run: 'two', redis: redis.url });
    const single = [await singleProcess(MLP, rows), await singleProcess(MLP_DYN, rows)];
    expect(aggregate.checkpoints.map((c) => c.count)).toEqual([rows, rows]);
    for (const c of [0, 1]) {
      expect(aggregate.checkpoints[c].statistics).toEqual(single[c].statistics);
      expect(aggregate.checkpoints[c].byLabel).toEqual(single[c].byLabel);
    }
    expect(aggregate.comparisons).toEqual([{ from: 0, to: 1, comparison: comparePaths(single[0].statistics, single[1].statistics) }]);

    // A shard file holds the explanations bit for bit.
    const files = readdirSync(join(out, 'two', 'c0')).sort();
    expect(files).toHaveLength(6);
    const { rows: read, metadata } = await readExplanationsParquet(join(out, 'two', 'c0', files[1]));
    expect(metadata).toMatchObject({ 'pathwise.run': 'two', 'pathwise.checkpoint': '0', 'pathwise.shard': '1' });
    expect(read.map((r) => r.index)).toEqual(Array.from({ length: 50 }, (_, i) => 50 + i));
    for (const r of read) {
      const e = single[0].results[r.index];
      expect(r.label).toBe(e.label);
      expect(r.explanation.attribution).toEqual(e.explanation.attribution);
      expect(r.explanation).toMatchObject({ target: e.explanation.target, predicted: e.explanation.predicted, pathLogit: e.explanation.pathLogit, bias: e.explanation.bias });
      expect(r.explanation.layers).toEqual(e.explanation.layers);
    }

    // Both workers took part, and a SIGTERM closes each cleanly.
    expect(workers.every((w) => w.events.some((e) => e.type === 'committed'))).toBe(true);
    const codes = await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    expect(codes).toEqual([0, 0]);
    expect((await runStatus({ run: 'two', redis: redis.url })).active).toBe(0);
  });

  it('the commit script counts a shard once and reports a different sha256 as non-determinism', async () => {
    const connection = new Redis(redis.url);
    try {
      const keys = ['committed:0.0', 'counts', 'nondeterministic', 'first', 'last'].map((k) => runKey('commit', k));
      const commit = (sha: string) => connection.eval(COMMIT_SCRIPT, 5, ...keys, '0.0', sha, Date.now(), 'c0:rows', 50);
      expect(await commit('a'.repeat(64))).toBe(1);
      expect(await commit('a'.repeat(64))).toBe(0);
      expect(await commit('b'.repeat(64))).toBe('a'.repeat(64));
      expect(await connection.hgetall(runKey('commit', 'counts'))).toEqual({ 'c0:rows': '50' });
      expect(await connection.hgetall(runKey('commit', 'nondeterministic'))).toEqual({ '0.0': `${'a'.repeat(64)} ${'b'.repeat(64)}` });
    } finally {
      connection.disconnect();
    }
  });
});
