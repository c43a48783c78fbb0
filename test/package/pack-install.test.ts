// The published package, end to end: `npm pack` (after `npm run prebuilds`), install the tarball
// into an empty folder whose PATH has node and npm but no compiler or make, and use it there the
// way a user would: the README example from ESM and from CommonJS, the prebuild's kernel dispatch
// on CPUs without AVX-512 (qemu-user), and the loader's message when no binary can be loaded.
//
// Needs `npm run prebuilds` first (the test does not build it: prebuildify rebuilds build/, which
// other test files load concurrently). Outside CI a missing or stale prebuild skips the suite,
// naming the reason; in CI it fails. Slow-ish (pack ≈ 2 s, install ≈ 3 s from the npm cache,
// qemu ≈ 4–6 s per CPU model): PATHWISE_SKIP_PACK=1 skips it. CI runs it (.ci/run).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, renameSync,
  rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const tuple = `${process.platform}-${process.arch}`;
const prebuild = join(root, 'prebuilds', tuple, 'pathwise.node');

interface Run { status: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], opts: SpawnSyncOptions): Run {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 180_000, ...opts });
  if (r.error) throw r.error;
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Newest modification time of the files a prebuild is compiled from. */
function newestNativeSource(): number {
  let newest = statSync(join(root, 'binding.gyp')).mtimeMs;
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) { if (p !== join(root, 'native', 'test')) walk(p); }
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  walk(join(root, 'native'));
  return newest;
}

/** The README's example, as the user would paste it. */
function readmeExample(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /## Example\n[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no "## Example" ts block');
  return block;
}

/** The example's one output line per console.log: the class, the path, the top pixels, completeness. */
function checkExampleOutput(r: Run): void {
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(4);
  expect(lines[0]).toMatch(/^Ankle boot: logit 11\.38, path logit \d+\.\d\d$/);
  expect(lines[1]).toBe('ReLU 0: 16 units, ReLU 1: 16 units, ReLU 2: 16 units');
  expect(lines[2]).toMatch(/^\(\d+, \d+\): \d\.\d{3}, /);
  expect(Math.abs(Number(lines[3]))).toBeLessThan(1e-3); // completeness
}

const prebuildState = !existsSync(prebuild) ? 'missing'
  : statSync(prebuild).mtimeMs < newestNativeSource() ? 'older than native/ or binding.gyp' : 'fresh';
const skipReason = process.env.PATHWISE_SKIP_PACK === '1' ? 'PATHWISE_SKIP_PACK=1'
  : prebuildState !== 'fresh' && process.env.CI !== 'true' ? `prebuild ${prebuildState}: run npm run prebuilds` : '';

describe.skipIf(skipReason !== '')(`the packed tarball, installed without a compiler${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let tmp: string;
  let consumer: string;
  let installed: string;
  let tarball: string;
  let packFiles: string[];
  let packSize: number;
  let installLog: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    // 1. A prebuild for this host that is not older than the sources.
    if (prebuildState !== 'fresh') throw new Error(`${prebuild} is ${prebuildState}: run \`npm run prebuilds\` first`);

    // 2. npm pack, which runs `prepare` (the TypeScript build) as publishing would.
    tmp = mkdtempSync(join(tmpdir(), 'pathwise-pack-'));
    const pack = run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: root });
    if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
    const info = JSON.parse(pack.stdout)[0] as { filename: string; size: number; files: { path: string }[] };
    tarball = join(tmp, info.filename);
    packFiles = info.files.map((f) => f.path);
    packSize = info.size;

    // 3. A bin folder with node, npm and sh only (npm runs scripts with `sh` from PATH): no g++,
    // c++, cc, make. `#!/usr/bin/env node` finds node here.
    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const npmCli = realpathSync(run('/bin/sh', ['-c', 'command -v npm'], {}).stdout.trim());
    symlinkSync(npmCli, join(bin, 'npm'));
    const cache = run('npm', ['config', 'get', 'cache'], { cwd: root }).stdout.trim();
    env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !/^(npm_|init_cwd$|vitest|pathwise_|node_options$)/i.test(k)),
    );
    Object.assign(env, {
      PATH: bin,
      npm_config_cache: cache,
      // Dependencies (@bufbuild/protobuf, node-addon-api, node-gyp-build) from the cache when
      // `npm ci` put them there, else from the registry.
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      npm_config_update_notifier: 'false',
      npm_config_foreground_scripts: 'true',
    });

    // 4. Install into an empty folder.
    consumer = join(tmp, 'consumer');
    mkdirSync(consumer);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }) + '\n');
    const install = run(join(bin, 'npm'), ['install', tarball], { cwd: consumer, env });
    installLog = install.stdout + install.stderr;
    if (install.status !== 0) throw new Error(`npm install of the tarball failed:\n${installLog}`);
    installed = join(consumer, 'node_modules', 'pathwise');
    mkdirSync(join(consumer, 'test', 'fixtures', 'models'), { recursive: true });
    copyFileSync(join(root, 'test', 'fixtures', 'models', 'fashion_mlp.onnx'),
      join(consumer, 'test', 'fixtures', 'models', 'fashion_mlp.onnx'));
  }, 240_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const node = (args: string[], extra: NodeJS.ProcessEnv = {}): Run =>
    run(join(tmp, 'bin', 'node'), args, { cwd: consumer, env: { ...env, ...extra } });

  it('ships prebuilds, dist (ESM + CJS + .d.ts) and the sources of the fallback build; no tests, fixtures or tools', () => {
    const has = (p: string) => expect(packFiles, p).toContain(p);
    for (const p of ['package.json', 'README.md', 'binding.gyp', `prebuilds/${tuple}/pathwise.node`,
      'dist/index.js', 'dist/index.d.ts', 'dist/addon/binding.cjs', 'dist/cjs/index.js', 'dist/cjs/index.d.ts',
      'dist/cjs/addon/binding.cjs', 'dist/cjs/package.json']) has(p);
    // Every source binding.gyp compiles, and every header next to them.
    const gyp = JSON.parse(readFileSync(join(root, 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
    for (const s of gyp.targets[0].sources) has(s);
    const walk = (dir: string): string[] => readdirSync(join(root, dir), { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(`${dir}/${e.name}`) : [`${dir}/${e.name}`]));
    for (const h of walk('native/core').filter((f) => /\.(h|inc)$/.test(f))) has(h);
    const unwanted = packFiles.filter((p) =>
      /^(test|tools|lib|scripts|bench|proto|node_modules|build|\.ci)\//.test(p) ||
      p.startsWith('native/test/') || p.endsWith('.map') || /(?<!\.d)\.c?ts$/.test(p) || (p.endsWith('.onnx') && !p.startsWith('samples/')));
    expect(unwanted).toEqual([]);
    // The samples a first run needs: one small model and ten images with their description.
    for (const p of ['samples/fashion_cnn.onnx', 'samples/fashion-mnist/samples.json', 'samples/fashion-mnist/9-ankle-boot.png', 'bin/pathwise.js']) has(p);
    expect(packFiles.filter((p) => p.endsWith('.onnx'))).toEqual(['samples/fashion_cnn.onnx']);
    // 988 KB at the time of writing: the sample model (436 KB, about 400 KB compressed), the stripped
    // prebuild (700 KB, 281 KB compressed), the C++ sources and dist/.
    expect(packSize).toBeLessThan(1_500_000);
  });

  it('installs from the prebuild: no compiler on PATH, no build, no prepare, no TypeScript', () => {
    const found = run('/bin/sh', ['-c', 'command -v g++ c++ cc gcc clang make'], { env });
    expect(found.stdout.trim()).toBe('');
    expect(installLog).toMatch(/pathwise@[\d.]+ install\n> node-gyp-build/);
    // `prepare` (the TypeScript build) is for the repository; dist/ ships compiled. (npm 11 still
    // names it in its allowScripts notice, hence the banner rather than the word.)
    expect(installLog).not.toMatch(/^> (pathwise@[\d.]+ prepare|node scripts\/build-ts)/m);
    expect(installLog).not.toMatch(/gyp info|gyp ERR/);
    expect(existsSync(join(installed, 'build'))).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', 'typescript'))).toBe(false);
    const which = node(['-p', "require('node-gyp-build').resolve('node_modules/pathwise')"]);
    expect(which.stdout.trim()).toBe(join(installed, 'prebuilds', tuple, 'pathwise.node'));
  });

  it('runs the README example from ESM (import)', () => {
    writeFileSync(join(consumer, 'example.mjs'), readmeExample());
    checkExampleOutput(node(['example.mjs']));
  });

  it('runs the README example from CommonJS (require)', () => {
    const example = readmeExample();
    const body = example.replace(/^import \{([^}]*)\} from 'pathwise';$/m, "const {$1} = require('pathwise');");
    expect(body).not.toBe(example);
    writeFileSync(join(consumer, 'example.cjs'),
      `(async () => {\n${body}\n})().catch((e) => { console.error(e); process.exit(1); });\n`);
    checkExampleOutput(node(['example.cjs']));
    // Each style gets its own build; both load the same prebuild.
    const resolved = node(['--input-type=module', '-e',
      "import { createRequire } from 'node:module'; const r = createRequire(process.cwd() + '/');" +
      "console.log(r.resolve('pathwise'), import.meta.resolve('pathwise'))"]);
    const [cjs, esm] = resolved.stdout.trim().split(' ');
    expect(relative(installed, cjs)).toBe(join('dist', 'cjs', 'index.js'));
    expect(esm).toMatch(/node_modules\/pathwise\/dist\/index\.js$/);
  });

  it('the installed CLI explains a sample PNG with the model\'s own normalisation and class names; bench is not offered', () => {
    const bin = join(consumer, 'node_modules', '.bin', 'pathwise');
    const png = join(installed, 'samples', 'fashion-mnist', '9-ankle-boot.png');
    const r = node([bin, 'explain', join(installed, 'samples', 'fashion_cnn.onnx'), '-i', png, '-o', 'out']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain("PNG inputs normalised as (p − 0.286) / 0.353, p = pixel / 255 (from the model's metadata");
    expect(r.stdout).toMatch(/^9-ankle-boot\.png: class 9 \(Ankle boot\) \(predicted\)/);
    expect(existsSync(join(consumer, 'out', 'heatmap.png'))).toBe(true);
    const help = node([bin, '--help']);
    expect(help.stdout).toContain('explain');
    expect(help.stdout).not.toMatch(/^\s+bench/m);
    const bench = node([bin, 'bench']);
    expect(bench.status).toBe(2);
    expect(bench.stderr).toMatch(/^pathwise: the benchmark suite is not part of the npm package.*npm run bench/);
  });

  // The prebuild is compiled on an AVX-512 host without -march; dispatch must pick what the CPU
  // has. qemu-user (Debian's qemu-user) emulates Haswell (AVX2+FMA, no AVX-512) and the plain
  // x86-64 baseline (SSE2).
  const qemu = run('/bin/sh', ['-c', 'command -v qemu-x86_64'], {}).stdout.trim();
  const onX64 = process.platform === 'linux' && process.arch === 'x64';
  for (const [cpu, kernel] of [['Haswell', 'avx2'], ['qemu64', 'scalar']] as const) {
    it.skipIf(!onX64 || (!qemu && process.env.CI !== 'true'))(
      `the prebuild picks ${kernel} and explains correctly on a ${cpu} CPU (qemu-user)`, () => {
        expect(qemu, 'CI needs qemu-user (apt-get install qemu-user)').not.toBe('');
        writeFileSync(join(consumer, 'check.mjs'), [
          "import { kernelInfo, loadModel, explainSync } from 'pathwise';",
          "const model = await loadModel('test/fixtures/models/fashion_mlp.onnx');",
          'const x = new Float32Array(model.inputSize).fill(0.5);',
          "const ex = explainSync(model, x, { width: '10%', depth: 'all' });",
          'const sum = ex.attribution.reduce((a, b) => a + b, 0);',
          'console.log(JSON.stringify({ ...kernelInfo(), predicted: ex.predicted,',
          '  units: ex.layers.map((l) => Array.from(l.units)), completeness: sum + ex.bias - ex.pathLogit }));',
        ].join('\n'));
        const host = JSON.parse(node(['check.mjs']).stdout);
        const r = run(qemu, ['-cpu', cpu, process.execPath, 'check.mjs'], { cwd: consumer, env });
        expect(r.status, r.stderr.replace(/^qemu-x86_64: warning: TCG.*\n/gm, '')).toBe(0);
        const emu = JSON.parse(r.stdout);
        expect(emu.active).toBe(kernel);
        expect(emu.available).not.toContain('avx512');
        // Same decision path as the host's kernel; completeness holds to float32 rounding.
        expect(emu.predicted).toBe(host.predicted);
        expect(emu.units).toEqual(host.units);
        expect(Math.abs(emu.completeness)).toBeLessThan(1e-4);
      }, 60_000);
  }

  // Last: these take the binary away from the installed package.
  it('without any binary, throws one PATHWISE_NO_BINARY error that says what was tried and how to build', () => {
    renameSync(join(installed, 'prebuilds'), join(installed, 'prebuilds.off'));
    try {
      writeFileSync(join(consumer, 'nobinary.mjs'), [
        "import { loadModel } from 'pathwise';",
        "try { await loadModel('test/fixtures/models/fashion_mlp.onnx'); console.log('loaded?!'); }",
        'catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }',
      ].join('\n'));
      const r = node(['nobinary.mjs']);
      const e = JSON.parse(r.stdout);
      expect(e.name).toBe('PathwiseError');
      expect(e.code).toBe('PATHWISE_NO_BINARY');
      const m: string = e.message;
      // Platform and ABI.
      expect(m).toContain(`no native binary could be loaded for ${tuple}`);
      expect(m).toContain(`Node ${process.versions.node} (ABI ${process.versions.modules}, N-API ${process.versions.napi}`);
      // What it tried, in node-gyp-build's order.
      expect(m).toContain('no binary matched');
      const tried = [join(installed, 'build', 'Release', 'pathwise.node'), join(installed, 'build', 'Debug', 'pathwise.node'),
        join(installed, 'prebuilds', tuple, '*.node')].map((p) => m.indexOf(p));
      expect(tried.every((i) => i > 0) && tried[0] < tried[1] && tried[1] < tried[2]).toBe(true);
      expect(m).toContain('no prebuilds/ folder');
      // How to get one.
      expect(m).toContain('C++17 compiler');
      expect(m).toContain('make and Python 3');
      expect(m).toContain('npm rebuild pathwise --build-from-source');
      expect(m).toContain('--ignore-scripts');
      expect(m.split('\n')).toHaveLength(3);
    } finally {
      renameSync(join(installed, 'prebuilds.off'), join(installed, 'prebuilds'));
    }
  });

  it('with a prebuild that cannot load, says which file failed and why (CommonJS)', () => {
    const good = join(installed, 'prebuilds', tuple, 'pathwise.node');
    renameSync(good, `${good}.off`);
    try {
      writeFileSync(good, 'not an ELF file');
      const r = node(['-e', [
        "try { require('pathwise').kernelInfo(); console.log('loaded?!'); }",
        'catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }',
      ].join('\n')]);
      const e = JSON.parse(r.stdout);
      expect(e.code).toBe('PATHWISE_NO_BINARY');
      expect(e.message).toContain(`found ${good} but it failed to load`);
      expect(e.message).toContain(`this package has prebuilds for ${tuple}`);
      expect(e.message).toContain('npm rebuild pathwise --build-from-source');
    } finally {
      renameSync(`${good}.off`, good);
    }
  });
});
