// The scale tests fork real worker processes, which run compiled JavaScript: lib/ is compiled once
// per test file into build/scale-test-<name>/ (inside the package, so the compiled files find the
// dependencies and the addon as dist/ does; not dist/ itself, which test/cli.test.ts rebuilds).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');

export function compileLib(name: string): string {
  const out = join(root, 'build', `scale-test-${name}`);
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out], { cwd: root });
  return out;
}
