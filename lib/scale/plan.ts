/**
 * planRun: writes a run's manifest to Redis and puts one BullMQ job per shard and checkpoint on the
 * queue. Jobs carry references only; the job id `<run>.<checkpoint>.<shard>` makes planning the same
 * run again a no-op (BullMQ ignores a job whose id exists), and a different plan under the same run
 * id is refused.
 */
import { readFile, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { countRows, type DataSource } from './data.js';
import {
  QUEUE_NAME, checkRunId, connect, jobId, runKey, sha256,
  type RedisConnection, type RunExplainOptions, type RunManifest, type ShardJob,
} from './run.js';
import { positiveInteger } from '../validate.js';

export interface PlanOptions {
  run: string;
  /** ONNX files, one per checkpoint. */
  models: string[];
  data: DataSource;
  /** Rows per shard (default 1000). */
  shardSize?: number;
  /** Explain only the first `rows` rows of the source (default all). */
  rows?: number;
  /** Folder for the shard files; every worker must see it at the same path. */
  out: string;
  redis: RedisConnection;
  options?: RunExplainOptions;
  /** Tries per shard before it counts as failed (default 3; a bad job fails at once). */
  attempts?: number;
}

export interface PlanResult {
  manifest: RunManifest;
  /** Jobs added now (0 when the run was planned before). */
  added: number;
  jobs: number;
}

export async function planRun(options: PlanOptions): Promise<PlanResult> {
  const run = checkRunId(options.run);
  const shardSize = options.shardSize ?? 1000;
  positiveInteger(shardSize, 'shardSize');
  if (!Array.isArray(options.models) || options.models.length === 0) throw new RangeError('planRun needs at least one model (one per checkpoint)');
  const models = await Promise.all(options.models.map(async (m) => {
    const path = resolve(m);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new Error(`cannot read model ${path}: ${(cause as Error).message}`, { cause });
    }
    return { path, sha256: sha256(bytes) };
  }));
  const available = countRows(options.data);
  const rows = options.rows ?? available;
  positiveInteger(rows, 'rows');
  if (rows > available) throw new RangeError(`rows: the data source has ${available} rows, asked for ${rows}`);
  const out = resolve(options.out);
  await mkdir(out, { recursive: true });
  const manifest: RunManifest = {
    run, models, data: options.data, rows, shardSize, shards: Math.ceil(rows / shardSize), out, options: options.options ?? {},
  };

  const connection = await connect(options.redis);
  const { Queue } = await import('bullmq');
  const queue = new Queue<ShardJob>(QUEUE_NAME, { connection });
  try {
    const text = JSON.stringify(manifest);
    const set = await connection.set(runKey(run, 'manifest'), text, 'NX');
    if (set === null) {
      const before = await connection.get(runKey(run, 'manifest'));
      if (before !== text) throw new RangeError(`run ${run} was planned before with a different plan (models, data, shards or options); choose another run id`);
    }
    await connection.set(runKey(run, 'planned'), String(Date.now()), 'NX');
    const jobs = models.flatMap((model, checkpoint) => Array.from({ length: manifest.shards }, (_, shard): { name: string; data: ShardJob; opts: object } => {
      const start = shard * shardSize;
      return {
        name: 'shard',
        data: { run, checkpoint, shard, model, data: options.data, start, count: Math.min(shardSize, rows - start), out, options: manifest.options },
        opts: {
          jobId: jobId(run, checkpoint, shard),
          attempts: options.attempts ?? 3,
          backoff: { type: 'exponential', delay: 1000 },
          removeOnComplete: false,
          removeOnFail: false,
        },
      };
    }));
    let added = 0;
    for (let i = 0; i < jobs.length; i += 500) {
      const part = jobs.slice(i, i + 500);
      // A job id that exists already is not added again (and not counted here).
      const exists = await Promise.all(part.map((j) => queue.getJob((j.opts as { jobId: string }).jobId)));
      await queue.addBulk(part);
      added += exists.filter((e) => e === undefined || e === null).length;
    }
    return { manifest, added, jobs: jobs.length };
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
