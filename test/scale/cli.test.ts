// The commands of a distributed run (pathwise plan / worker / status / reduce) against a real
// redis-server, with a .npy data source and labels; and the data sources read without Redis.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../lib/cli/main.js';
import { writeNpyFile } from '../../lib/io/npy.js';
import { loadFashionMnist } from '../../lib/io/datasets.js';
import { encodePng } from '../../lib/render/image.js';
import { imageToInput } from '../../lib/cli/inputs.js';
import { loadModel } from '../../lib/model/model.js';
import { explainDataset, pathStatistics, type DatasetResult } from '../../lib/explain/dataset.js';
import { aggregateToJson } from '../../lib/scale/reduce.js';
import { countRows, parseDataSource, readRows, type DataSource } from '../../lib/scale/data.js';
import { hasRedis, SKIP_MESSAGE, startRedis, type RedisServer } from './redis.js';
import { compileLib } from './build.js';
import { MLP } from './helpers.js';

if (!hasRedis) console.warn(SKIP_MESSAGE);

function capture() {
  let out = '', err = '';
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } }, out: () => out, err: () => err };
}

const set = loadFashionMnist({ count: 120 });

describe('data sources', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pathwise-sources-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads Fashion-MNIST, .npy with labels and a folder of PNGs by row range', () => {
    expect(parseDataSource('fashion-mnist')).toEqual({ kind: 'fashion-mnist', split: 'test' });
    expect(countRows({ kind: 'fashion-mnist' })).toBe(10_000);
    const fm = readRows({ kind: 'fashion-mnist' }, 10, 5, [1, 28, 28]);
    expect(fm.inputs).toEqual(set.inputs.subarray(10 * 784, 15 * 784));
    expect(fm.labels).toEqual(set.labels!.subarray(10, 15));

    writeNpyFile(join(dir, 'x.npy'), set.inputs, [120, 1, 28, 28]);
    writeNpyFile(join(dir, 'y.npy'), set.labels!, [120]);
    const npy = parseDataSource(`${dir}/x.npy:${dir}/y.npy`);
    expect(npy).toEqual({ kind: 'npy', path: join(dir, 'x.npy'), labels: join(dir, 'y.npy') });
    expect(countRows(npy)).toBe(120);
    expect(readRows(npy, 100, 20, [1, 28, 28])).toEqual({ inputs: set.inputs.subarray(100 * 784, 120 * 784), count: 20, labels: set.labels!.subarray(100, 120) });
    expect(() => readRows(npy, 110, 20, [1, 28, 28])).toThrow(/rows \[110, 130\) are outside the source.s 120 rows/);
    expect(() => readRows(npy, 0, 2, [3, 28, 28])).toThrow(/needs 2352/);

    const pngs = join(dir, 'pngs');
    mkdirSync(pngs);
    const images = [0, 1, 2].map((i) => {
      const data = new Uint8Array(28 * 28 * 4);
      for (let p = 0; p < 784; p++) data.set([(p * (i + 3)) % 256, (p * 7) % 256, i * 80, 255], p * 4);
      return { width: 28, height: 28, data };
    });
    images.forEach((img, i) => writeFileSync(join(pngs, `img${i}.png`), encodePng(img)));
    const png = { ...parseDataSource(pngs), mean: [0.286], std: [0.353] } as DataSource;
    expect(countRows(png)).toBe(3);
    const rows = readRows(png, 1, 2, [1, 28, 28]);
    expect(rows.inputs.subarray(0, 784)).toEqual(imageToInput(images[1], { channels: 1, height: 28, width: 28 }, { mean: [0.286], std: [0.353] }));
    expect(rows.labels).toBeUndefined();
    expect(() => parseDataSource(join(dir, 'nothing'))).toThrow(/expected fashion-mnist/);
  });
});

describe.skipIf(!hasRedis)('pathwise plan, worker, status, reduce', () => {
  let redis: RedisServer;
  let lib: string;
  let dir: string;

  beforeAll(async () => {
    redis = await startRedis();
    lib = compileLib('cli');
    dir = mkdtempSync(join(tmpdir(), 'pathwise-scale-cli-'));
  });
  afterAll(async () => {
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a job end to end; SIGTERM stops the worker with exit code 0', async () => {
    writeNpyFile(join(dir, 'x.npy'), set.inputs, [120, 1, 28, 28]);
    writeNpyFile(join(dir, 'y.npy'), set.labels!, [120]);
    const data = `${join(dir, 'x.npy')}:${join(dir, 'y.npy')}`;
    const args = ['--run', 'cli', '--model', MLP, '--data', data, '--shard-size', '40', '--out', join(dir, 'out'), '--redis', redis.url, '--width', '10%'];
    let c = capture();
    expect(await main(['plan', ...args], c.io)).toBe(0);
    expect(c.out()).toMatch(/run cli: 1 checkpoint × 3 shards of up to 40 rows \(120 rows\); 3 jobs added/);
    c = capture();
    expect(await main(['plan', ...args], c.io)).toBe(0);
    expect(c.out()).toMatch(/planned before, nothing added/);
    c = capture();
    expect(await main(['plan', ...args.slice(0, -2), '--width', '5'], c.io)).toBe(1);
    expect(c.err()).toMatch(/^pathwise: run cli was planned before with a different plan/);

    let stderr = '';
    const worker = fork(join(import.meta.dirname, 'cli-child.mjs'), [lib, 'worker', '--redis', redis.url, '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    worker.stderr!.on('data', (b) => (stderr += b));
    const exited = new Promise<number | null>((r) => worker.once('exit', (code) => r(code)));
    let status: { done: boolean } = { done: false };
    const deadline = Date.now() + 30_000;
    while (!status.done && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      c = capture();
      expect(await main(['status', '--run', 'cli', '--redis', redis.url, '--json'], c.io)).toBe(0);
      status = JSON.parse(c.out());
    }
    expect(status).toMatchObject({ done: true, committed: 3, rowsDone: 120, failed: [] });
    c = capture();
    await main(['status', '--run', 'cli', '--redis', redis.url], c.io);
    expect(c.out()).toMatch(/^run cli: 3\/3 shards committed \(100\.0%\), 120\/120 rows; 0 running; done/);

    worker.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/committed cli\.0\.0 \(40 rows/);

    c = capture();
    const out = join(dir, 'aggregate.json');
    expect(await main(['reduce', '--run', 'cli', '--redis', redis.url, '--out', out], c.io)).toBe(0);
    expect(c.out()).toMatch(/checkpoint 0: 120 explanations/);
    const model = await loadModel(MLP);
    const results: DatasetResult[] = [];
    const items = Array.from({ length: 120 }, (_, i) => ({ input: set.inputs.subarray(i * 784, (i + 1) * 784), label: set.labels![i] }));
    for await (const r of explainDataset(model, items, { width: '10%' })) results.push(r);
    model.dispose();
    const written = JSON.parse(readFileSync(out, 'utf8'));
    const expected = JSON.parse(aggregateToJson({ run: 'cli', checkpoints: [{ checkpoint: 0, model: MLP, sha256: written.checkpoints[0].sha256, count: 120, statistics: pathStatistics(results), byLabel: pathStatistics(results, { by: 'label' }) }], comparisons: [] }));
    expect(written).toEqual(expected);

    c = capture();
    expect(await main(['status', '--run', 'nope', '--redis', redis.url], c.io)).toBe(1);
    expect(c.err()).toMatch(/run nope is not planned/);
  });
});
