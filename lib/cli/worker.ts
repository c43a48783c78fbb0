/**
 * `pathwise worker --redis URL [--threads N] [--concurrency N]`: explains shards from the queue until
 * SIGTERM or SIGINT, then finishes the shards it holds and exits 0 (lib/scale/worker.ts).
 */
import type { Command } from 'commander';
import type { CliContext, CliIO } from './program.js';
import { parseInteger } from './parse.js';
import { redisOption, redisUrl } from './plan.js';
import { startWorker, type WorkerEvent } from '../scale/worker.js';

interface WorkerFlags {
  redis?: string;
  threads?: number;
  concurrency?: number;
  lockDuration?: number;
  quiet?: boolean;
}

function eventLine(e: WorkerEvent): string | undefined {
  switch (e.type) {
    case 'committed': return `committed ${e.job} (${e.rows} rows, ${e.ms} ms)`;
    case 'skipped': return `skipped ${e.job} (committed before)`;
    case 'duplicate': return `duplicate ${e.job} (another run of it committed the same file first)`;
    case 'failed': return `failed ${e.job}: ${e.error}`;
    case 'error': return `error: ${e.error}`;
    default: return undefined;
  }
}

async function runWorker(flags: WorkerFlags, io: CliIO): Promise<void> {
  const redis = redisUrl(flags);
  const handle = await startWorker({
    redis, threads: flags.threads, concurrency: flags.concurrency, lockDurationMs: flags.lockDuration,
    onEvent: (e) => {
      const line = eventLine(e);
      if (line && (!flags.quiet || e.type === 'failed' || e.type === 'error')) io.stderr.write(`pathwise worker: ${line}\n`);
    },
  });
  io.stderr.write(`pathwise worker: waiting for shards on ${redis} (SIGTERM or Ctrl-C stops after the running shards)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      io.stderr.write('pathwise worker: stopping: finishing the running shards\n');
      handle.close().then(resolve, resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
}

export function addWorkerCommand(program: Command, ctx: CliContext): void {
  redisOption(program.command('worker')
    .description('explain shards from the queue until SIGTERM (then finish the running ones and exit)'))
    .option('--threads <n>', 'engine threads (default all cores)', parseInteger('threads'))
    .option('--concurrency <n>', 'shards at once (default 1)', parseInteger('concurrency'))
    .option('--lock-duration <ms>', 'how long a silent (killed) worker keeps a shard before another takes it; stalled shards are looked for as often (default 30000)', parseInteger('lock-duration'))
    .option('--quiet', 'print only failures')
    .action(async (flags: WorkerFlags) => runWorker(flags, ctx.io));
}
