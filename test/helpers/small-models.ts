/** Small seeded networks for the reliability tests: fast to explain, with every routing feature. */
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';

export function uniformRand(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/**
 * [2, 8, 8] → conv 3×3 → relu → maxpool 2 → conv 3×3 → relu → add (residual) → relu → dense 16 →
 * relu → dense 5: MaxPool routing ('official' recomputes), a residual DAG and 4 path layers.
 */
export function smallCnn(seed = 1): NetworkSpec {
  const rand = uniformRand(seed);
  const f = (n: number, scale: number) => new Float32Array(n).map(() => rand() * scale);
  const layers: LayerSpec[] = [
    { type: 'conv', inChannels: 2, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(72, 0.5), bias: f(4, 0.1) },
    { type: 'relu' },
    { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'conv', inChannels: 4, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(144, 0.3), bias: f(4, 0.1) },
    { type: 'relu' },
    { type: 'add', inputs: [4, 2] },
    { type: 'relu' },
    { type: 'flatten' },
    { type: 'dense', in: 64, out: 16, weights: f(1024, 0.2), bias: f(16, 0.1) },
    { type: 'relu' },
    { type: 'dense', in: 16, out: 5, weights: f(80, 0.4), bias: f(5, 0.1) },
  ];
  return { inputShape: [2, 8, 8], layers };
}

/** n inputs of `size` values, seeded. */
export function inputs(n: number, size: number, seed: number): Float32Array[] {
  const rand = uniformRand(seed);
  return Array.from({ length: n }, () => new Float32Array(size).map(() => rand()));
}
