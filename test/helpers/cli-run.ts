// Runs the `pathwise` CLI in process (main(argv, io)) with captured stdout and stderr.
import { main, type CliStream } from '../../lib/cli/main.js';

export class Capture implements CliStream {
  text = '';
  constructor(public isTTY = false) {}
  write(chunk: string) { this.text += chunk; return true; }
}

/** The exit code and everything written, for one CLI run. */
export async function runCli(argv: string[], tty = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new Capture(), stderr = new Capture(tty);
  const code = await main(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
