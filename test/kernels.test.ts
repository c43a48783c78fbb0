// Every compiled kernel the CPU can run agrees with a float64 scalar reference on odd shapes
// (1, 7, 33, 129, …), both GEMM forms. Kernels differ from each other only by rounding: AVX
// kernels contract a·b + c into FMA, the scalar build does not (ECOSYSTEM §5).
import { describe, it, expect } from 'vitest';
import { kernelInfo } from '../lib/index.js';
import { nativeAddon } from '../lib/native.js';
import { execFileSync } from 'node:child_process';

function reference(transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array) {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * (transB ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = s;
    }
  return c;
}

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

const shapes = [
  [1, 1, 1], [1, 7, 33], [7, 33, 129], [33, 1, 7], [4, 64, 256], [5, 65, 257], [129, 33, 1], [10, 784, 256], [13, 130, 513],
];

describe('SIMD kernels', () => {
  const info = kernelInfo();

  it('reports the active kernel set and always includes the scalar path', () => {
    expect(info.available).toContain('scalar');
    expect(info.available).toContain(info.active);
    if (process.arch === 'x64') expect(['avx512', 'avx2', 'scalar']).toContain(info.active);
  });

  for (const kernel of info.available) {
    for (const transB of [false, true]) {
      it(`${kernel} gemm_${transB ? 'nt' : 'nn'} agrees with the scalar reference on odd shapes`, () => {
        const rand = seeded(42);
        for (const [m, n, k] of shapes) {
          const a = new Float32Array(m * k).map(rand);
          const b = new Float32Array(k * n).map(rand);
          const got = nativeAddon().gemmWithKernel(kernel, transB, m, n, k, a, b);
          const want = reference(transB, m, n, k, a, b);
          for (let i = 0; i < m * n; i++) {
            // |error| ≤ k · 2^-24 · Σ|a||b| bound, with Σ|a||b| ≤ k for entries in [−1, 1].
            expect(Math.abs(got[i] - want[i]), `${kernel} ${m}x${n}x${k} [${i}]`).toBeLessThanOrEqual(k * k * 6e-8 + 1e-6);
          }
        }
      });
    }
  }

  it('rejects an unknown kernel name with a RangeError', () => {
    expect(() => nativeAddon().gemmWithKernel('sse9', false, 1, 1, 1, new Float32Array(1), new Float32Array(1))).toThrow(RangeError);
  });
});

describe('PATHWISE_FORCE_KERNEL', () => {
  const root = new URL('..', import.meta.url).pathname;
  const probe = (value: string) => {
    const out = execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(require('node-gyp-build')(${JSON.stringify(root)}).kernelInfo()))`], {
      env: { ...process.env, PATHWISE_FORCE_KERNEL: value },
      encoding: 'utf8',
    });
    return JSON.parse(out) as { active: string; forceError?: string };
  };

  it('pins every available kernel', () => {
    for (const kernel of kernelInfo().available) expect(probe(kernel).active).toBe(kernel);
  });

  it('reports an unknown kernel and falls back to the best one', () => {
    const info = probe('sse9');
    expect(info.active).toBe(kernelInfo().available[0]);
    expect(info.forceError).toMatch(/PATHWISE_FORCE_KERNEL=sse9 is not available/);
  });
});
