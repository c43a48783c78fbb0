/**
 * Finds and loads the compiled addon, or explains in one message why it cannot.
 *
 * CommonJS on purpose (`.cts` compiles to `.cjs` in both builds): `__dirname` and `require` then
 * mean the same thing in the ESM build (dist/addon/binding.cjs), the CommonJS build
 * (dist/cjs/addon/binding.cjs) and the sources vitest runs (lib/addon/binding.cts). `import.meta.url`, which
 * an ESM-only loader would use, is a syntax error in CommonJS output.
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';

type NodeGypBuild = ((dir: string) => unknown) & { resolve(dir: string): string };

/**
 * The package root: the nearest folder at or above this file that holds binding.gyp (it ships in
 * the tarball for the source-build fallback). This file sits in lib/addon/, dist/addon/ or
 * dist/cjs/addon/: two or three folders below it.
 */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return join(__dirname, '..', '..');
}

/** Why the binary could not be loaded: the parts of the message, kept for tests. */
export interface LoadFailure {
  message: string;
  cause: unknown;
}

/**
 * Loads the addon through node-gyp-build (build/Release, build/Debug, then
 * prebuilds/<platform>-<arch>/), or returns the reason it could not, as one actionable message.
 */
export function loadBinding(): { addon: unknown } | { failure: LoadFailure } {
  const root = packageRoot();
  const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
  let file: string | undefined;
  try {
    file = nodeGypBuild.resolve(root);
    return { addon: require(file) };
  } catch (cause) {
    return { failure: { message: describeFailure(root, file, cause), cause } };
  }
}

function firstLines(cause: unknown, n: number): string {
  const text = cause instanceof Error ? cause.message : String(cause);
  return text.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, n).join(' ');
}

function describeFailure(root: string, found: string | undefined, cause: unknown): string {
  const { platform, arch } = process;
  const libc = platform === 'linux' ? (existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : '';
  const target =
    `${platform}-${arch}${libc ? ` (${libc})` : ''}, Node ${process.versions.node} ` +
    `(ABI ${process.versions.modules}, N-API ${process.versions.napi}; pathwise needs N-API >= 8)`;
  let shipped: string[] = [];
  try {
    shipped = readdirSync(join(root, 'prebuilds'));
  } catch {
    // no prebuilds/ folder at all: reported below
  }
  const tried = [
    `${join(root, 'build', 'Release', 'pathwise.node')} (a source build)`,
    `${join(root, 'build', 'Debug', 'pathwise.node')}`,
    `${join(root, 'prebuilds', `${platform}-${arch}`, '*.node')} (prebuilt; this package has ` +
      (shipped.length ? `prebuilds for ${shipped.join(', ')})` : 'no prebuilds/ folder)'),
  ];
  const what = found
    ? `found ${found} but it failed to load: ${firstLines(cause, 3)}`
    : `no binary matched (${firstLines(cause, 1)})`;
  return [
    `pathwise: no native binary could be loaded for ${target}; ${what}.`,
    `Tried, in order: ${tried.join('; ')}.`,
    'To fix it: reinstall pathwise with install scripts enabled (not --ignore-scripts) so that it ' +
      'picks its prebuilt binary or builds one, and do not bundle it (mark it external in ' +
      'webpack/esbuild/rollup so prebuilds/ stays beside it); or build from source, which needs ' +
      'a C++17 compiler (g++ >= 9 or clang >= 10), make and Python 3: ' +
      '`npm rebuild pathwise --build-from-source` (or `npx node-gyp rebuild` in ' + root + ').',
  ].join('\n');
}
