/**
 * startWorker: a BullMQ worker that explains shards. For each job it reads the model (checking its
 * sha256) and the job's rows, explains them with explainDataset (the engine runs on the libuv
 * pool, so the event loop stays free to renew BullMQ's lock), writes the shard's Parquet file to a
 * temporary name and renames it into place, then commits once with COMMIT_SCRIPT (lib/scale/run.ts).
 *
 * At-least-once delivery, exactly-once results: a job whose shard is committed already returns at
 * once; a rerun that finishes after another run committed adds nothing; a rerun whose bytes differ is
 * recorded as non-determinism and fails. A bad job (missing model, sha256 mismatch, rows outside the
 * source, options the engine refuses) fails that job at once with its reason and never the worker.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Job, Worker } from 'bullmq';
import { loadModel, type Model } from '../model/model.js';
import { explainDataset, type DatasetItem } from '../explain/dataset.js';
import { setThreads } from '../addon/runtime.js';
import { writeExplanationsParquet, type ExplanationRow } from '../io/parquet.js';
import { readRows } from './data.js';
import {
  COMMIT_SCRIPT, QUEUE_NAME, connect, runKey, sha256, shardCounts, shardFile, shardName,
  type RedisConnection, type RunModel, type ShardJob,
} from './run.js';

export type WorkerEventType = 'started' | 'explained' | 'written' | 'committed' | 'skipped' | 'duplicate' | 'failed' | 'error';

/** What a worker reports as it goes (the CLI prints them; tests use them to stop a worker at a point). */
export interface WorkerEvent {
  type: WorkerEventType;
  /** The job id `<run>.<checkpoint>.<shard>` (absent for connection errors). */
  job?: string;
  rows?: number;
  sha256?: string;
  /** Milliseconds since the job started. */
  ms?: number;
  error?: string;
}

export interface StartWorkerOptions {
  redis: RedisConnection;
  /** Jobs at once (default 1). Each explains on its own libuv thread. */
  concurrency?: number;
  /** Engine threads (setThreads); default the engine's default. */
  threads?: number;
  /** BullMQ's lock on a running job; a worker that stops renewing it (killed) loses the job after this (default 30 000). */
  lockDurationMs?: number;
  /** How often stalled jobs are looked for (default lockDurationMs). */
  stalledIntervalMs?: number;
  /** Times a job may be lost to a dead worker before it fails (default 3). */
  maxStalledCount?: number;
  /** Called (and awaited) at every step of every job. */
  onEvent?: (event: WorkerEvent) => void | Promise<void>;
}

export interface WorkerHandle {
  /** Stops taking jobs, lets the running ones finish, and disconnects. */
  close(): Promise<void>;
  /** The BullMQ worker itself. */
  readonly worker: Worker<ShardJob>;
}

/** Deterministic failures: rerunning the job cannot help. */
class BadJob extends Error {}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function checkJob(d: ShardJob): void {
  const ok = d !== null && typeof d === 'object' && typeof d.run === 'string' && Number.isSafeInteger(d.checkpoint) && Number.isSafeInteger(d.shard)
    && typeof d.model?.path === 'string' && typeof d.model?.sha256 === 'string' && d.data !== null && typeof d.data === 'object'
    && Number.isSafeInteger(d.start) && Number.isSafeInteger(d.count) && typeof d.out === 'string';
  if (!ok) throw new BadJob('the job is not a pathwise shard (planRun makes them)');
}

export async function startWorker(options: StartWorkerOptions): Promise<WorkerHandle> {
  const { concurrency = 1, onEvent = () => {} } = options;
  if (options.threads !== undefined) setThreads(options.threads);
  const connection = await connect(options.redis);
  const { Worker, UnrecoverableError } = await import('bullmq');
  // Models by sha256, so that consecutive shards of a checkpoint load it once: a job whose model's
  // sha256 is cached uses it without reading the file again (the same bytes, wherever they are now).
  // A model no job is using is disposed once more than `concurrency` others are cached.
  const models = new Map<string, { model: Promise<Model>; users: number }>();

  const acquireModel = (ref: RunModel): Promise<Model> => {
    let entry = models.get(ref.sha256);
    if (!entry) {
      const model = (async () => {
        let bytes: Uint8Array;
        try {
          bytes = await readFile(ref.path);
        } catch (e) {
          throw new BadJob(`cannot read model ${ref.path}: ${describeError(e)}`);
        }
        const actual = sha256(bytes);
        if (actual !== ref.sha256) throw new BadJob(`model ${ref.path} has sha256 ${actual}, the run planned ${ref.sha256} (the file changed since planning)`);
        try {
          return await loadModel(bytes);
        } catch (e) {
          throw new BadJob(`cannot load model ${ref.path}: ${describeError(e)}`);
        }
      })();
      entry = { model, users: 0 };
      models.set(ref.sha256, entry);
    }
    entry.users++;
    return entry.model;
  };

  const releaseModel = (ref: RunModel): void => {
    const entry = models.get(ref.sha256);
    if (!entry) return;
    entry.users--;
    entry.model.catch(() => models.delete(ref.sha256));
    for (const [sha, e] of models) {
      if (models.size <= concurrency) break;
      if (e.users === 0 && sha !== ref.sha256) {
        models.delete(sha);
        e.model.then((m) => m.dispose(), () => {});
      }
    }
  };

  const processShard = async (job: Job<ShardJob>) => {
    const d = job.data;
    const id = job.id;
    const t0 = performance.now();
    const ms = () => Math.round(performance.now() - t0);
    let acquired: RunModel | undefined;
    try {
      checkJob(d);
      const name = shardName(d.checkpoint, d.shard);
      const committedKey = runKey(d.run, `committed:${name}`);
      await onEvent({ type: 'started', job: id, rows: d.count });
      if ((await connection.get(committedKey)) !== null) {
        await onEvent({ type: 'skipped', job: id, ms: ms() });
        return { skipped: true };
      }
      acquired = d.model;
      const model = await acquireModel(d.model);
      let items: DatasetItem[];
      let labels: Int32Array | undefined;
      try {
        const rows = readRows(d.data, d.start, d.count, model.inputShape);
        labels = rows.labels;
        items = Array.from({ length: rows.count }, (_, i) => ({ input: rows.inputs.subarray(i * model.inputSize, (i + 1) * model.inputSize), label: labels?.[i] }));
      } catch (e) {
        throw new BadJob(`cannot read rows [${d.start}, ${d.start + d.count}): ${describeError(e)}`);
      }
      const { target, batchSize, ...explainOptions } = d.options ?? {};
      const results: ExplanationRow[] = [];
      try {
        for await (const r of explainDataset(model, items, { ...explainOptions, target, batchSize }))
          results.push({ index: d.start + r.index, label: r.label, explanation: r.explanation });
      } catch (e) {
        throw new BadJob(`explaining rows [${d.start}, ${d.start + d.count}) failed: ${describeError(e)}`);
      }
      await onEvent({ type: 'explained', job: id, rows: results.length, ms: ms() });

      const file = shardFile(d.out, d.run, d.checkpoint, d.shard);
      await mkdir(dirname(file), { recursive: true });
      const bytes = await writeExplanationsParquet(file, results, {
        'pathwise.run': d.run, 'pathwise.checkpoint': String(d.checkpoint), 'pathwise.shard': String(d.shard),
        'pathwise.model': d.model.path, 'pathwise.model.sha256': d.model.sha256,
        // The rows keep no logits: the reduce takes the class count from here for the statistics' architecture.
        'pathwise.classes': String(model.numClasses),
      });
      const digest = sha256(bytes);
      await onEvent({ type: 'written', job: id, rows: results.length, sha256: digest, ms: ms() });

      const counts = shardCounts(d.checkpoint, results.map((r) => r.explanation));
      const outcome = await connection.eval(
        COMMIT_SCRIPT, 5,
        committedKey, runKey(d.run, 'counts'), runKey(d.run, 'nondeterministic'), runKey(d.run, 'first'), runKey(d.run, 'last'),
        name, digest, Date.now(), ...Object.entries(counts).flat(),
      );
      if (outcome === 0) {
        await onEvent({ type: 'duplicate', job: id, sha256: digest, ms: ms() });
        return { duplicate: true, sha256: digest };
      }
      if (outcome !== 1)
        throw new BadJob(`non-determinism: shard ${name} ran twice and gave different files (sha256 ${String(outcome)} committed, then ${digest})`);
      await onEvent({ type: 'committed', job: id, rows: results.length, sha256: digest, ms: ms() });
      return { sha256: digest, rows: results.length };
    } catch (e) {
      await onEvent({ type: 'failed', job: id, error: describeError(e), ms: ms() });
      // BullMQ fails an UnrecoverableError at once; anything else (a file system or Redis hiccup) is retried.
      if (e instanceof BadJob) throw new UnrecoverableError(e.message);
      throw e;
    } finally {
      if (acquired) releaseModel(acquired);
    }
  };

  const worker = new Worker<ShardJob>(QUEUE_NAME, processShard, {
    connection,
    concurrency,
    lockDuration: options.lockDurationMs ?? 30_000,
    stalledInterval: options.stalledIntervalMs ?? options.lockDurationMs ?? 30_000,
    maxStalledCount: options.maxStalledCount ?? 3,
  });
  worker.on('error', (e) => { void onEvent({ type: 'error', error: describeError(e) }); });
  await worker.waitUntilReady();
  let closing: Promise<void> | undefined;
  return {
    worker,
    close() {
      closing ??= (async () => {
        await worker.close();
        connection.disconnect();
        for (const e of models.values()) await e.model.then((m) => m.dispose(), () => {});
        models.clear();
      })();
      return closing;
    },
  };
}
