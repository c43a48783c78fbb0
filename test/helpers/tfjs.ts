/** Helpers of the tfjs loader tests: a seeded generator, NHWC → NCHW batches, tfjs predict, refusals. */
import { expect } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { PathwiseError } from '../../lib/index.js';

/** Uniform values in [−1, 1) from a 32-bit LCG (repeatable without tfjs's own seeding). */
export function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

/** n × size seeded values in [−scale, scale). */
export const batch = (n: number, size: number, seed: number, scale = 1) =>
  new Float32Array(n * size).map(seeded(seed)).map((v) => v * scale);

/** NHWC batch → NCHW batch. */
export function toNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + xx] = x[((b * h + y) * w + xx) * c + ch];
  return out;
}

/** tfjs model.predict on a batch of the given shape, as a flat Float32Array. */
export function predict(model: tf.LayersModel, x: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => (model.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync() as Float32Array);
}

/** `fn` throws a PathwiseError PATHWISE_UNSUPPORTED_OP whose message matches. */
export function expectUnsupported(fn: () => unknown, message: RegExp) {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err).toBeInstanceOf(PathwiseError);
  expect(err).toMatchObject({ code: 'PATHWISE_UNSUPPORTED_OP', message: expect.stringMatching(message) });
}
