/**
 * The `pathwise` command line: explain, report, info, eval, drift, bench, and the distributed plan, worker, status, reduce (one file each in lib/cli/).
 * `main(argv, io)` runs one command and resolves to the process exit code; bin/pathwise.js calls it
 * with process.argv.
 *
 * Errors are one line on stderr ("pathwise: …") and a non-zero exit code: 2 for a usage error, 1
 * for anything else (lib/cli/program.ts). Progress (items/s, ETA) goes to stderr, only when stderr
 * is a terminal.
 */
import { newProgram, runProgram, type CliContext, type CliIO } from './program.js';
import { addExplainCommand } from './explain.js';
import { addReportCommand } from './report.js';
import { addInfoCommand } from './info.js';
import { addEvalCommand } from './eval.js';
import { addBenchCommand } from './bench.js';
import { addDriftCommand } from './drift.js';
import { addPlanCommand } from './plan.js';
import { addWorkerCommand } from './worker.js';
import { addStatusCommand } from './status.js';
import { addReduceCommand } from './reduce.js';

export type { CliIO, CliStream } from './program.js';
export { openModel } from './explaining.js';
export { runDrift } from './drift.js';
export type { DriftFlags, DriftRun } from './drift.js';

/**
 * A closed stdout (`pathwise info m.onnx | head -1`) is the reader saying it has read enough: end
 * quietly with exit code 0 instead of an EPIPE stack trace.
 */
export function exitQuietlyOnEpipe(stream: NodeJS.WriteStream = process.stdout): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

/** Runs the CLI with `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: readonly string[], io?: CliIO): Promise<number> {
  if (!io) {
    exitQuietlyOnEpipe(process.stdout);
    io = { stdout: process.stdout, stderr: process.stderr };
  }
  const ctx: CliContext = { io, argv, exitCode: 0 };
  const program = newProgram(io);
  for (const add of [addExplainCommand, addReportCommand, addInfoCommand, addEvalCommand, addDriftCommand, addBenchCommand]) add(program, ctx);
  for (const add of [addPlanCommand, addWorkerCommand, addStatusCommand, addReduceCommand]) add(program, ctx);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return 2;
  }
  return runProgram(program, ctx);
}
