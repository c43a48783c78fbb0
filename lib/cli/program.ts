/**
 * What every `pathwise` command shares: where it writes, the program with its version and error
 * output, and how an outcome becomes an exit code — 0 on success, 2 for a usage error (commander's
 * own or a UsageError), 1 for anything else, reported as one line "pathwise: …" on stderr.
 */
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot as findPackageRoot } from '../addon/binding.cjs';
import { PathwiseError } from '../errors.js';

/** Where the CLI writes; process.stdout / process.stderr by default. */
export interface CliStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export interface CliIO {
  stdout: CliStream;
  stderr: CliStream;
}

/** What a command's action needs: the streams, the arguments as given, and an exit code to set. */
export interface CliContext {
  io: CliIO;
  /** The arguments after `pathwise`, as given. */
  argv: readonly string[];
  /** The exit code when the action returns normally (0 unless the action sets it). */
  exitCode: number;
}

// No import.meta here: lib/ also compiles to CommonJS (dist/cjs).
export const packageRoot = findPackageRoot();

export function version(): string {
  try {
    return JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version as string;
  } catch {
    return 'unknown';
  }
}


/** A usage error: reported like commander's own (exit code 2). */
export class UsageError extends Error {}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

/** The program every command is added to: name, version, and errors as one "pathwise: …" line. */
export function newProgram(io: CliIO): Command {
  return new Command('pathwise')
    .description('Explain ReLU networks by their decision paths (ONNX or tfjs models).')
    .version(version(), '-v, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`pathwise: ${s.replace(/^error:\s*/, '').replace(/\s*\n\s*/g, ' ').trim()}\n`),
    })
    .showSuggestionAfterError(true);
}

/** Parses `ctx.argv` with `program` and runs the command it names; resolves to the exit code. */
export async function runProgram(program: Command, ctx: CliContext): Promise<number> {
  const { io } = ctx;
  try {
    await program.parseAsync([...ctx.argv], { from: 'user' });
    return ctx.exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed its message already (one line, see newProgram).
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      return 2;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`pathwise: ${oneLine(e.message)}\n`);
      return 2;
    }
    const err = e as Error;
    const code = e instanceof PathwiseError ? ` [${e.code}]` : '';
    io.stderr.write(`pathwise: ${oneLine(err?.message ?? String(e))}${code}\n`);
    if (process.env.PATHWISE_DEBUG) io.stderr.write(`${err?.stack ?? ''}\n`);
    return 1;
  }
}
