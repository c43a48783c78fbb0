/**
 * runStatus: how far a run is — shards committed per checkpoint, rows explained, an ETA from the
 * commit rate, the shards that failed with their errors, and any non-determinism the commits saw.
 */
import type { Job } from 'bullmq';
import { QUEUE_NAME, checkRunId, connect, readManifest, runKey, type RedisConnection, type ShardJob } from './run.js';

export interface FailedShard {
  /** `<run>.<checkpoint>.<shard>` */
  job: string;
  error: string;
  attempts: number;
}

export interface RunStatus {
  run: string;
  checkpoints: number;
  /** Shards per checkpoint. */
  shards: number;
  /** Committed shards over all checkpoints (of checkpoints × shards). */
  committed: number;
  /** Per checkpoint. */
  committedByCheckpoint: number[];
  rows: number;
  rowsDone: number;
  /** Jobs being worked on now. */
  active: number;
  failed: FailedShard[];
  /** Shards that ran twice with different bytes: `<checkpoint>.<shard>` → the two sha256. */
  nondeterministic: Record<string, string>;
  /** Milliseconds since the plan. */
  elapsedMs: number;
  /** From the commit rate so far; undefined before two commits or once done. */
  etaMs?: number;
  done: boolean;
}

export async function runStatus(options: { run: string; redis: RedisConnection }): Promise<RunStatus> {
  const run = checkRunId(options.run);
  const connection = await connect(options.redis);
  const { Queue } = await import('bullmq');
  const queue = new Queue<ShardJob>(QUEUE_NAME, { connection });
  try {
    const manifest = await readManifest(connection, run);
    const [counts, nondeterministic, planned, first, last] = await Promise.all([
      connection.hgetall(runKey(run, 'counts')),
      connection.hgetall(runKey(run, 'nondeterministic')),
      connection.get(runKey(run, 'planned')),
      connection.get(runKey(run, 'first')),
      connection.get(runKey(run, 'last')),
    ]);
    const ofRun = (jobs: Job<ShardJob>[]) => jobs.filter((j) => j?.id?.startsWith(`${run}.`));
    const [failedJobs, activeJobs] = await Promise.all([queue.getFailed(), queue.getActive()]);
    const committedByCheckpoint = manifest.models.map((_, c) => Number(counts[`c${c}:shards`] ?? 0));
    const committed = committedByCheckpoint.reduce((a, b) => a + b, 0);
    const rowsDone = manifest.models.reduce((s, _, c) => s + Number(counts[`c${c}:rows`] ?? 0), 0);
    const total = manifest.shards * manifest.models.length;
    const done = committed === total;
    let etaMs: number | undefined;
    if (!done && committed >= 2 && first !== null && last !== null && Number(last) > Number(first))
      etaMs = ((total - committed) * (Number(last) - Number(first))) / (committed - 1);
    return {
      run,
      checkpoints: manifest.models.length,
      shards: manifest.shards,
      committed,
      committedByCheckpoint,
      rows: manifest.rows * manifest.models.length,
      rowsDone,
      active: ofRun(activeJobs).length,
      failed: ofRun(failedJobs).map((j) => ({ job: j.id!, error: j.failedReason, attempts: j.attemptsMade })),
      nondeterministic,
      elapsedMs: planned !== null ? Date.now() - Number(planned) : 0,
      etaMs,
      done,
    };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
