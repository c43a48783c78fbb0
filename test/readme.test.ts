// The README's example, extracted from README.md and run as written (only the package import is
// pointed at the source tree, whose samples/ folder is the package's), so the documentation cannot
// drift from the API; and the output the README shows is what it prints.
import { it, expect } from 'vitest';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';

it('runs the README example', async () => {
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
  const block = /## Example\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
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
  // The shipped sample model and images: a confident, correct ankle boot, its path and top pixels.
  expect(lines).toHaveLength(4);
  expect(lines[0][0]).toMatch(/^Ankle boot: logit 11\.38, path logit \d+\.\d\d$/);
  expect(lines[1][0]).toBe('ReLU 0: 16 units, ReLU 1: 16 units, ReLU 2: 16 units');
  expect(lines[2][0]).toMatch(/^(\(\d+, \d+\): \d\.\d{3}(, |$)){3}/);
  expect(Math.abs(lines[3][0] as number)).toBeLessThan(1e-3);
  // The printed output in the README is what the example prints.
  const printed = /\nprints\n\n```\n([\s\S]*?)```/.exec(readme)?.[1].trim().split('\n');
  expect(printed?.slice(0, 3)).toEqual(lines.slice(0, 3).map((l) => l[0]));
});
