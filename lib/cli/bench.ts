/**
 * `pathwise bench`: the benchmark suite (bench/index.mjs) needs the repository's dev dependencies
 * (onnxruntime-node, the PyTorch reference), so it is not part of the npm package. The command is
 * offered only where the suite is present (a clone of the repository, like `npm run bench`); an
 * installed package does not list it and says how to get it if asked.
 */
import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot, UsageError, type CliContext } from './program.js';

const benchScript = () => join(packageRoot, 'bench', 'index.mjs');

/** Whether this installation has the benchmark suite (a clone does, the npm package does not). */
export function benchAvailable(): boolean {
  return existsSync(benchScript());
}

function runBench(args: string[], ctx: CliContext): Promise<number> {
  const script = benchScript();
  ctx.io.stderr.write(`pathwise: running ${script}\n`);
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [script, ...args], { stdio: 'inherit', cwd: packageRoot });
    child.on('error', fail);
    child.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
  });
}

export function addBenchCommand(program: Command, ctx: CliContext): void {
  if (benchAvailable()) {
    program.command('bench')
      .description('run the benchmark suite (this is a clone of the repository: same as npm run bench)')
      .argument('[args...]', 'passed to the benchmark (--help lists them)')
      .allowUnknownOption(true)
      .helpOption(false)
      .action(async (args: string[]) => { ctx.exitCode = await runBench(args, ctx); });
    return;
  }
  // Not listed in the help: an installed package has no benchmark suite.
  program.command('bench', { hidden: true })
    .allowUnknownOption(true)
    .argument('[args...]')
    .action(() => {
      throw new UsageError('the benchmark suite is not part of the npm package: it needs the repository\'s dev dependencies ' +
        '(onnxruntime-node, the PyTorch reference); run `npm run bench` in a clone of the repository');
    });
}
