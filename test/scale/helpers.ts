// Shared by the scale tests and bench: forked worker processes (test/scale/worker-child.mjs) with
// their events, waiting for a run to finish, and the single-process reference of a run.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { loadModel } from '../../lib/model/model.js';
import { explainDataset, pathStatistics, type DatasetResult } from '../../lib/explain/dataset.js';
import { loadFashionMnist } from '../../lib/io/datasets.js';
import { runStatus, type RunStatus } from '../../lib/scale/index.js';
import type { WorkerEvent } from '../../lib/scale/worker.js';

export const MLP = join(import.meta.dirname, '..', 'fixtures', 'models', 'fashion_mlp.onnx');
export const MLP_DYN = join(import.meta.dirname, '..', 'fixtures', 'models', 'fashion_mlp_dyn.onnx');

export interface WorkerProcess {
  child: ChildProcess;
  events: WorkerEvent[];
  /** Resolves with the event at which the worker stopped (its `stopAt`). */
  stopped: Promise<WorkerEvent>;
  /** Resolves with the first event at which the worker paused (its `pauseAt`). */
  paused: Promise<WorkerEvent>;
  ready: Promise<void>;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

export function forkWorker(libDir: string, options: Record<string, unknown>): WorkerProcess {
  const child = fork(join(import.meta.dirname, 'worker-child.mjs'), [libDir, JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const events: WorkerEvent[] = [];
  let onStopped!: (e: WorkerEvent) => void, onPaused!: (e: WorkerEvent) => void, onReady!: () => void;
  const stopped = new Promise<WorkerEvent>((r) => (onStopped = r));
  const paused = new Promise<WorkerEvent>((r) => (onPaused = r));
  const ready = new Promise<void>((r) => (onReady = r));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  child.on('message', (m: { event?: WorkerEvent; stopped?: WorkerEvent; paused?: WorkerEvent; ready?: boolean }) => {
    if (m.event) events.push(m.event);
    if (m.stopped) onStopped(m.stopped);
    if (m.paused) onPaused(m.paused);
    if (m.ready) onReady();
  });
  return {
    child, events, stopped, paused, ready, exited,
    kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls runStatus until the run is done (or has failures, when `untilFailed` says how many). */
export async function waitForRun(run: string, redis: string, timeoutMs = 40_000, untilFailed?: number): Promise<RunStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await runStatus({ run, redis });
    if (untilFailed !== undefined ? status.failed.length >= untilFailed : status.done) return status;
    if (Date.now() > deadline) throw new Error(`run ${run} did not finish in ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** explainDataset + pathStatistics (by target and by label) in this process, the run's reference. */
export async function singleProcess(modelPath: string, rows: number, options: { batchSize?: number } = {}) {
  const set = loadFashionMnist({ count: rows });
  const model = await loadModel(modelPath);
  try {
    const items = Array.from({ length: rows }, (_, i) => ({ input: set.inputs.subarray(i * 784, (i + 1) * 784), label: set.labels![i] }));
    const results: DatasetResult[] = [];
    for await (const r of explainDataset(model, items, options)) results.push(r);
    return { results, statistics: pathStatistics(results), byLabel: pathStatistics(results, { by: 'label' }) };
  } finally {
    model.dispose();
  }
}
