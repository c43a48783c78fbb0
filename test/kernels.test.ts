// Every compiled kernel the CPU can run agrees with a float64 scalar reference on odd shapes
// (1, 7, 33, 129, …), both GEMM forms. Kernels differ from each other only by rounding: AVX
// kernels contract a·b + c into FMA, the scalar build does not (DEVELOPERS.md "Toolchain notes").
import { describe, it, expect } from 'vitest';
import { kernelInfo } from '../lib/index.js';
import { nativeAddon } from '../lib/addon/native.js';
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

// Odd sizes, and sizes that cross the register tiles (MR 12/6/4, NR 32/16/4), the KC = 256 depth
// blocks, the NC = 512 column blocks and the small-m direct path (m ≤ 2·MR) of every kernel.
const shapes = [
  [1, 1, 1], [1, 7, 33], [7, 33, 129], [33, 1, 7], [4, 64, 256], [5, 65, 257], [129, 33, 1], [10, 784, 256], [13, 130, 513],
  [24, 1100, 300], [25, 97, 520], [97, 530, 300], [3, 2049, 65], [1, 1100, 300], [2, 530, 257],
];

type GemmBench = (kernel: string, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
  iterations: number, threads: number) => { seconds: Float64Array; threads: number; c: Float32Array };
const gemmBench = (): GemmBench => (nativeAddon() as unknown as { gemmBench: GemmBench }).gemmBench;

describe('SIMD kernels', () => {
  const info = kernelInfo();
  const references = new Map<string, Float64Array>();

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
          const key = `${transB} ${m} ${n} ${k}`; // same seed per test, so the same a and b
          const want = references.get(key) ?? references.set(key, reference(transB, m, n, k, a, b)).get(key)!;
          for (let i = 0; i < m * n; i++) {
            // |error| ≤ k · 2^-24 · Σ|a||b| bound, with Σ|a||b| ≤ k for entries in [−1, 1].
            expect(Math.abs(got[i] - want[i]), `${kernel} ${m}x${n}x${k} [${i}]`).toBeLessThanOrEqual(k * k * 6e-8 + 1e-6);
          }
        }
      });
    }
  }

  for (const kernel of info.available) {
    it(`${kernel} gives the same bits on 1, 2 and 3 threads (gemmBench)`, () => {
      const rand = seeded(7);
      // All above the 32 MFLOP threshold of the x86 kernels, so the products are really split.
      for (const [m, n, k] of [[10, 4096, 512], [300, 200, 300], [640, 784, 64]]) {
        const a = new Float32Array(m * k).map(rand);
        const b = new Float32Array(k * n).map(rand);
        for (const transB of [false, true]) {
          const one = gemmBench()(kernel, transB, m, n, k, a, b, 1, 1);
          expect(one.threads).toBe(1);
          for (const threads of [2, 3]) {
            const r = gemmBench()(kernel, transB, m, n, k, a, b, 1, threads);
            expect(r.seconds.length).toBe(1);
            expect(Buffer.from(r.c.buffer).equals(Buffer.from(one.c.buffer)), `${kernel} ${m}x${n}x${k} t${threads}`).toBe(true);
          }
        }
      }
    });
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
