/**
 * `pathwise bench`: the benchmark suite (bench/index.mjs) is part of the repository, not of the npm
 * package; from a clone it runs here (like `npm run bench`), elsewhere the command says so.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, type CliContext } from './program.js';

function runBench(args: string[], ctx: CliContext): Promise<number> {
  const script = join(packageRoot, 'bench', 'index.mjs');
  if (!existsSync(script))
    throw new Error('the benchmark suite (bench/index.mjs) is not available in this installation yet: it is not part of the npm ' +
      'package and runs from a clone of the repository (`npm run bench`)');
  ctx.io.stderr.write(`pathwise: running ${script}\n`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit', cwd: packageRoot });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

export function addBenchCommand(program: Command, ctx: CliContext): void {
  program.command('bench')
    .description('run the benchmark suite (from a clone of the repository: npm run bench)')
    .argument('[args...]', 'passed to the benchmark')
    .allowUnknownOption(true)
    .action(async (args: string[]) => { ctx.exitCode = await runBench(args, ctx); });
}
