/**
 * `pathwise reduce --run ID --redis URL --out FILE.json`: the aggregates of a finished run — path
 * statistics per checkpoint (by class, and by label when the data has labels) and the comparison of
 * consecutive checkpoints (lib/scale/reduce.ts).
 */
import type { Command } from 'commander';
import { writeFile } from 'node:fs/promises';
import type { CliContext, CliIO } from './program.js';
import { parseNumber } from './parse.js';
import { redisOption, redisUrl } from './plan.js';
import { aggregateToJson, reduceRun } from '../scale/reduce.js';

async function runReduce(flags: { run: string; redis?: string; out: string; threshold?: number }, io: CliIO): Promise<void> {
  const aggregate = await reduceRun({ run: flags.run, redis: redisUrl(flags), threshold: flags.threshold });
  await writeFile(flags.out, aggregateToJson(aggregate) + '\n');
  io.stdout.write(`run ${aggregate.run}: ${aggregate.checkpoints.map((c) => `checkpoint ${c.checkpoint}: ${c.count} explanations`).join(', ')}; wrote ${flags.out}\n`);
  for (const { from, to, comparison } of aggregate.comparisons)
    io.stdout.write(`  checkpoint ${from} → ${to}: ${comparison.layers.map((l) => `layer ${l.ordinal} Jaccard ${l.jaccard.toFixed(3)}`).join(', ')}\n`);
}

export function addReduceCommand(program: Command, ctx: CliContext): void {
  redisOption(program.command('reduce')
    .description('aggregate a finished run: path statistics per checkpoint and their comparison, as JSON')
    .requiredOption('--run <id>', 'the run id'))
    .requiredOption('--out <file>', 'the JSON file to write')
    .option('--threshold <f>', 'comparePaths: a unit is on a class path when selected in at least this fraction (default 0.5)', parseNumber('threshold'))
    .action(async (flags: { run: string; redis?: string; out: string; threshold?: number }) => runReduce(flags, ctx.io));
}
