/**
 * What every part of a distributed run shares: the queue's name, the Redis keys of a run, the run's
 * manifest and shard jobs (references only: model path + sha256, data source + row range, options),
 * and the one Lua script that commits a shard.
 *
 * Keys of run R (all under `pathwise:run:R:`):
 *   manifest              the plan (JSON; planning the same run again must give the same one)
 *   committed:C.S         sha256 of shard S of checkpoint C's Parquet file, set once (NX)
 *   counts                hash of integer counts, incremented only by the commit that set committed:C.S
 *   nondeterministic      hash C.S → "first-sha256 other-sha256": a shard that ran twice and differed
 *   planned, first, last  ms timestamps of the plan, the first and the latest commit (for the ETA)
 * The queue (BullMQ, name `pathwise`) holds one job per shard, id `R.C.S`: adding it again is a no-op.
 */
import { createHash } from 'node:crypto';
import type { RedisOptions } from 'ioredis';
import type { Redis } from 'ioredis';
import type { ExplainBatchOptions } from '../explain/types.js';
import type { DataSource } from './data.js';

/** The BullMQ queue every run uses; jobs name their run. */
export const QUEUE_NAME = 'pathwise';

/** A Redis URL (redis://host:port/db) or ioredis options. */
export type RedisConnection = string | RedisOptions;

/** The explain options a run may carry (plain JSON: they travel in the job). */
export type RunExplainOptions = Pick<ExplainBatchOptions, 'width' | 'depth' | 'semantics' | 'threshold' | 'maxMemoryBytes'> & {
  /** The class to explain for every row; default each row's predicted class. */
  target?: number;
  /** Inputs per engine call inside a shard (default 32, as explainDataset). */
  batchSize?: number;
};

export interface RunModel {
  /** Absolute path of the ONNX file (every worker must see it there). */
  path: string;
  sha256: string;
}

export interface RunManifest {
  run: string;
  /** One model per checkpoint, in the order given. */
  models: RunModel[];
  data: DataSource;
  rows: number;
  shardSize: number;
  shards: number;
  /** Where the shard files go: <out>/<run>/c<checkpoint>/shard-<shard>.parquet. */
  out: string;
  options: RunExplainOptions;
}

export interface ShardJob {
  run: string;
  checkpoint: number;
  shard: number;
  model: RunModel;
  data: DataSource;
  start: number;
  count: number;
  out: string;
  options: RunExplainOptions;
}

const RUN_ID = /^[A-Za-z0-9_-]{1,100}$/;

export function checkRunId(run: unknown): string {
  if (typeof run !== 'string' || !RUN_ID.test(run))
    throw new RangeError(`run id must be 1 to 100 letters, digits, '-' or '_', got ${JSON.stringify(run)}`);
  return run;
}

export const runKey = (run: string, part: string): string => `pathwise:run:${run}:${part}`;
export const shardName = (checkpoint: number, shard: number): string => `${checkpoint}.${shard}`;
export const jobId = (run: string, checkpoint: number, shard: number): string => `${run}.${shardName(checkpoint, shard)}`;
export const shardFile = (out: string, run: string, checkpoint: number, shard: number): string =>
  `${out}/${run}/c${checkpoint}/shard-${String(shard).padStart(6, '0')}.parquet`;

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Opens an ioredis connection as BullMQ needs it (commands wait for a reconnect instead of failing). */
export async function connect(redis: RedisConnection): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const options: RedisOptions = { maxRetriesPerRequest: null, enableReadyCheck: true };
  return typeof redis === 'string' ? new Redis(redis, options) : new Redis({ ...redis, ...options });
}

/**
 * Commits a shard once. KEYS: committed:C.S, counts, nondeterministic, first, last.
 * ARGV: the shard's name, its sha256, the time (ms), then field/increment pairs for counts.
 * Returns 1 (committed now), 0 (committed before with the same bytes) or the sha256 committed
 * before (a different one: non-determinism, recorded).
 */
export const COMMIT_SCRIPT = `
if redis.call('SET', KEYS[1], ARGV[2], 'NX') then
  for i = 4, #ARGV, 2 do redis.call('HINCRBY', KEYS[2], ARGV[i], ARGV[i + 1]) end
  redis.call('SET', KEYS[4], ARGV[3], 'NX')
  redis.call('SET', KEYS[5], ARGV[3])
  return 1
end
local before = redis.call('GET', KEYS[1])
if before == ARGV[2] then return 0 end
redis.call('HSET', KEYS[3], ARGV[1], before .. ' ' .. ARGV[2])
return before
`;

/** Integer counts of one shard, as the commit adds them to the run's `counts` hash. */
export function shardCounts(checkpoint: number, rows: readonly { target: number; predicted: number }[]): Record<string, number> {
  const counts: Record<string, number> = { [`c${checkpoint}:shards`]: 1, [`c${checkpoint}:rows`]: rows.length };
  for (const r of rows) {
    const k = `c${checkpoint}:class:${r.target}`;
    counts[k] = (counts[k] ?? 0) + 1;
    if (r.target === r.predicted) counts[`c${checkpoint}:predicted`] = (counts[`c${checkpoint}:predicted`] ?? 0) + 1;
  }
  return counts;
}

export async function readManifest(connection: Redis, run: string): Promise<RunManifest> {
  const text = await connection.get(runKey(checkRunId(run), 'manifest'));
  if (text === null) throw new RangeError(`run ${run} is not planned on this Redis (pathwise plan --run ${run} ...)`);
  return JSON.parse(text) as RunManifest;
}
