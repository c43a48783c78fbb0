/** onnxruntime-node as the oracle of the loader tests, and small comparison helpers. */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { PathwiseError } from '../../lib/errors.js';

/** Runs a model with one input and returns its (first) output. */
export async function runOrt(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    return res[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b| over all entries. */
export function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

export function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, none was thrown');
}

/** Expects a PathwiseError with `code` whose message contains every part. */
export function expectPathwiseError(fn: () => unknown, code: PathwiseError['code'], ...parts: string[]): PathwiseError {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(PathwiseError);
  const e = err as PathwiseError;
  expect(e.code, e.message).toBe(code);
  for (const p of parts) expect(e.message).toContain(p);
  return e;
}
