// Compiles lib/ twice from clean: ESM into dist/ (tsconfig.build.json) and CommonJS into dist/cjs/
// (tsconfig.cjs.json), which package.json "exports" serve to `import` and `require` respectively.
// dist/ is wiped first so a file deleted from lib/ cannot linger in the published tarball.
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const project of ['tsconfig.build.json', 'tsconfig.cjs.json'])
  execFileSync(process.execPath, [tsc, '-p', join(root, project)], { stdio: 'inherit' });
// Without it, Node would read dist/cjs/*.js as ESM (the package is "type": "module").
writeFileSync(join(root, 'dist', 'cjs', 'package.json'), '{ "type": "commonjs" }\n');
