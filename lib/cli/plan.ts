/**
 * `pathwise plan --run ID --model M.onnx [--model M2.onnx …] --data SRC --shard-size N --out DIR
 * --redis URL [explain options]`: puts a run's shards on the queue (lib/scale/plan.ts). Planning the
 * same run again adds nothing.
 */
import type { Command } from 'commander';
import type { CliContext, CliIO } from './program.js';
import { UsageError } from './program.js';
import { numberList, parseInteger, parseNumber, parseDepth, parseWidth } from './parse.js';
import { planRun } from '../scale/plan.js';
import { parseDataSource } from '../scale/data.js';
import type { RunExplainOptions } from '../scale/run.js';
import type { Depth, Semantics, Width } from '../explain/types.js';

/** The Redis of a run: --redis, else $PATHWISE_REDIS, else a local server. */
export const DEFAULT_REDIS = 'redis://127.0.0.1:6379';

export function redisOption(cmd: Command): Command {
  return cmd.option('--redis <url>', `the Redis server of the queue (default $PATHWISE_REDIS or ${DEFAULT_REDIS})`);
}

export function redisUrl(flags: { redis?: string }): string {
  return flags.redis ?? process.env.PATHWISE_REDIS ?? DEFAULT_REDIS;
}

interface PlanFlags {
  run: string;
  model: string[];
  data: string;
  shardSize: number;
  rows?: number;
  out: string;
  redis?: string;
  width?: Width;
  depth?: Depth;
  target?: number;
  semantics?: string;
  threshold?: number;
  batchSize?: number;
  attempts?: number;
  mean?: number[];
  std?: number[];
  imageShape?: number[];
  json?: boolean;
}

async function runPlan(flags: PlanFlags, io: CliIO): Promise<void> {
  let data;
  try {
    data = parseDataSource(flags.data);
  } catch (e) {
    throw new UsageError(`--data: ${(e as Error).message}`);
  }
  if (data.kind === 'png-dir') {
    if (flags.mean) data.mean = flags.mean;
    if (flags.std) data.std = flags.std;
    if (flags.imageShape) data.imageShape = flags.imageShape;
  } else if (flags.mean || flags.std || flags.imageShape) throw new UsageError('--mean, --std and --image-shape apply to a folder of PNG files');
  const options: RunExplainOptions = {};
  if (flags.width !== undefined) options.width = flags.width;
  if (flags.depth !== undefined) options.depth = flags.depth;
  if (flags.target !== undefined) options.target = flags.target;
  if (flags.semantics !== undefined) options.semantics = flags.semantics as Semantics;
  if (flags.threshold !== undefined) options.threshold = flags.threshold;
  if (flags.batchSize !== undefined) options.batchSize = flags.batchSize;
  const result = await planRun({
    run: flags.run, models: flags.model, data, shardSize: flags.shardSize, rows: flags.rows, out: flags.out, redis: redisUrl(flags), options,
    attempts: flags.attempts,
  });
  const m = result.manifest;
  if (flags.json) {
    io.stdout.write(JSON.stringify({ ...result }) + '\n');
    return;
  }
  io.stdout.write(
    `run ${m.run}: ${m.models.length} checkpoint${m.models.length === 1 ? '' : 's'} × ${m.shards} shard${m.shards === 1 ? '' : 's'} of up to ${m.shardSize} rows (${m.rows} rows); ` +
      `${result.added === 0 ? 'planned before, nothing added' : `${result.added} job${result.added === 1 ? '' : 's'} added`}; files under ${m.out}/${m.run}\n`,
  );
}

export function addPlanCommand(program: Command, ctx: CliContext): void {
  const collect = (value: string, previous: string[]) => [...previous, value];
  redisOption(program.command('plan')
    .description('put a run on the queue: one job per shard and checkpoint (workers explain them, `pathwise reduce` sums them up)')
    .requiredOption('--run <id>', 'the run id (letters, digits, - and _); planning it again adds nothing')
    .requiredOption('--model <file>', 'an ONNX model; repeat for several checkpoints', collect, [] as string[])
    .requiredOption('--data <source>', 'fashion-mnist[:test|train[:DIR]], FILE.npy[:LABELS.npy] or a folder of PNG files')
    .option('--shard-size <n>', 'rows per shard (default 1000)', parseInteger('shard-size'), 1000)
    .option('--rows <n>', 'explain only the first n rows', parseInteger('rows'))
    .requiredOption('--out <dir>', 'where the shard files (Parquet) go; every worker must see this folder at the same path'))
    .option('--width <k|P%|all>', 'units kept per path layer (default all)', parseWidth)
    .option('--depth <d|all>', 'number of path layers, counted from the output (default all)', parseDepth)
    .option('--target <class>', 'class to explain (default: the predicted class)', parseInteger('target'))
    .option('--semantics <name>', 'official (default) or linear')
    .option('--threshold <t>', 'selection threshold on the class-softmax score (default 1/C)', parseNumber('threshold'))
    .option('--batch-size <n>', 'inputs per engine call inside a shard (default 32)', parseInteger('batch-size'))
    .option('--attempts <n>', 'tries per shard before it counts as failed (default 3)', parseInteger('attempts'))
    .option('--mean <values>', 'PNG folders: per-channel mean of the input normalisation', numberList('mean'))
    .option('--std <values>', 'PNG folders: per-channel standard deviation', numberList('std'))
    .option('--image-shape <C,H,W>', 'PNG folders: how a flat model input reads as an image', numberList('image-shape'))
    .option('--json', 'machine-readable output on stdout')
    .action(async (flags: PlanFlags) => runPlan(flags, ctx.io));
}
