// The README's example, extracted from README.md and run as written (only the package import is
// pointed at the source tree), so the documentation cannot drift from the API.
import { it, expect } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

it('runs the README example', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const block = /## Example\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(block).toBeDefined();
  const root = join(import.meta.dirname, '..');
  const source = block!
    .replace("from 'pathwise'", `from ${JSON.stringify(pathToFileURL(join(root, 'lib', 'index.ts')).href)}`)
    .replace("'test/fixtures/", `'${root}/test/fixtures/`)
    .replace(/console\.log\(/g, 'log(');
  const dir = mkdtempSync(join(tmpdir(), 'pathwise-readme-'));
  const file = join(dir, 'example.ts');
  writeFileSync(file, `export async function run(log: (...a: unknown[]) => void) {\n${source.replace(/^import .*$/m, '')}\n}\n` +
    source.match(/^import .*$/m)![0] + '\n');
  const lines: unknown[][] = [];
  try {
    const mod = await import(pathToFileURL(file).href);
    await mod.run((...a: unknown[]) => lines.push(a));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(lines).toHaveLength(3);
  expect(Math.abs(lines[2][0] as number)).toBeLessThan(1e-3);
});
