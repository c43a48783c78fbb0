// Results do not depend on the thread count (DEVELOPERS.md, "Threads"): products, im2col/col2im on
// the pool and batch items in parallel all keep each number's arithmetic. The same explanations in
// child processes with PATHWISE_THREADS = 1, 2 and 3 must agree bit for bit.
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fixtureDir } from './helpers/fixtures.js';
import { explainBatchSync, kernelInfo, loadModelSync, setThreads } from '../lib/index.js';

const root = join(import.meta.dirname, '..');

describe('thread count', () => {
  it('gives bit-identical explanations with 1, 2 and 3 threads', () => {
    // The children import dist/ (built by `npm install`) and the addon in build/.
    expect(existsSync(join(root, 'dist', 'index.js')), 'dist/ is missing: run npm install').toBe(true);
    const run = (threads: number) => {
      const r = spawnSync(process.execPath, [join(root, 'test', 'helpers', 'threads-child.mjs'), join(root, 'dist', 'index.js'),
        join(fixtureDir('models'), 'fashion_cnn.onnx')], { encoding: 'utf8', env: { ...process.env, PATHWISE_THREADS: String(threads) } });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      return JSON.parse(r.stdout) as string[];
    };
    const one = run(1);
    expect(one).toHaveLength(3 + 16);
    expect(run(2)).toEqual(one);
    expect(run(3)).toEqual(one);
  }, 120_000);

  it('setThreads sets the pool, kernelInfo reads it back, and explanations do not change', () => {
    const model = loadModelSync(join(fixtureDir('models'), 'fashion_cnn.onnx'));
    const xs = new Float32Array(12 * 784).map((_, i) => Math.sin(i * 0.37));
    const before = kernelInfo().threads;
    expect(before).toBeGreaterThanOrEqual(1);
    const units = () => explainBatchSync(model, xs, { width: 16 }).map((e) => [Array.from(e.attribution), e.layers.map((l) => Array.from(l.units))]);
    try {
      setThreads(1);
      expect(kernelInfo().threads).toBe(1);
      const one = units();
      setThreads(3);
      expect(kernelInfo().threads).toBe(3);
      expect(units()).toEqual(one);
      expect(() => setThreads('2' as never)).toThrow(TypeError);
      for (const bad of [-1, 1.5, 2000, Number.NaN]) expect(() => setThreads(bad)).toThrow(RangeError);
    } finally {
      setThreads(0);
    }
    expect(kernelInfo().threads).toBe(before);
    model.dispose();
  });
});
