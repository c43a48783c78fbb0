/** `pathwise status --run ID --redis URL`: a run's progress, ETA, failed shards with their errors. */
import type { Command } from 'commander';
import type { CliContext, CliIO } from './program.js';
import { redisOption, redisUrl } from './plan.js';
import { runStatus } from '../scale/status.js';

function seconds(ms: number): string {
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`;
}

async function runStatusCommand(flags: { run: string; redis?: string; json?: boolean }, io: CliIO): Promise<void> {
  const s = await runStatus({ run: flags.run, redis: redisUrl(flags) });
  if (flags.json) {
    io.stdout.write(JSON.stringify(s) + '\n');
    return;
  }
  const total = s.shards * s.checkpoints;
  const lines = [
    `run ${s.run}: ${s.committed}/${total} shards committed (${((100 * s.committed) / total).toFixed(1)}%), ${s.rowsDone}/${s.rows} rows; ` +
      `${s.active} running; ${s.done ? 'done' : s.etaMs !== undefined ? `ETA ${seconds(s.etaMs)}` : 'ETA unknown (fewer than two commits)'}; ${seconds(s.elapsedMs)} since planned`,
  ];
  if (s.checkpoints > 1) lines.push(`  per checkpoint: ${s.committedByCheckpoint.map((n, c) => `${c}: ${n}/${s.shards}`).join(', ')}`);
  for (const f of s.failed) lines.push(`  failed ${f.job} (after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}): ${f.error}`);
  for (const [shard, shas] of Object.entries(s.nondeterministic)) lines.push(`  non-deterministic shard ${shard}: sha256 ${shas.split(' ').join(' then ')}`);
  io.stdout.write(lines.join('\n') + '\n');
}

export function addStatusCommand(program: Command, ctx: CliContext): void {
  redisOption(program.command('status')
    .description("a run's progress, ETA, and failed shards with their errors")
    .requiredOption('--run <id>', 'the run id'))
    .option('--json', 'machine-readable output on stdout')
    .action(async (flags: { run: string; redis?: string; json?: boolean }) => runStatusCommand(flags, ctx.io));
}
