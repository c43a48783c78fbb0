/**
 * The `pathwise` command line: explain, report, info, eval, bench (one file each in lib/cli/).
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
import { addPlanCommand } from './plan.js';
import { addWorkerCommand } from './worker.js';
import { addStatusCommand } from './status.js';
import { addReduceCommand } from './reduce.js';

export type { CliIO, CliStream } from './program.js';
export { openModel } from './explaining.js';

/** Runs the CLI with `argv` (without node and the script) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CliIO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const ctx: CliContext = { io, argv, exitCode: 0 };
  const program = newProgram(io);
  for (const add of [addExplainCommand, addReportCommand, addInfoCommand, addEvalCommand, addBenchCommand]) add(program, ctx);
  for (const add of [addPlanCommand, addWorkerCommand, addStatusCommand, addReduceCommand]) add(program, ctx);
  if (argv.length === 0) {
    io.stderr.write(program.helpInformation());
    return 2;
  }
  return runProgram(program, ctx);
}
