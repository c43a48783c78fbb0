/** Small integer helpers shared by the ONNX loader: element counts, strides, int64 conversion. */
import { badModel } from './deps.js';

/** The number of elements of a tensor of shape `dims`. */
export function product(dims: number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

/** Row-major strides of a tensor of shape `dims`. */
export function stridesOf(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let a = dims.length - 1; a >= 0; a--) {
    s[a] = acc;
    acc *= dims[a];
  }
  return s;
}

export function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** An int64 as a number, clamped to ±(2^53 − 1). */
export function saturate(v: bigint): number {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(v > max ? max : v < -max ? -max : v);
}

/** An int64 as a number; beyond ±(2^53 − 1) is PATHWISE_BAD_MODEL naming `where`. */
export function bigToNumber(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw badModel(`Integer ${v} in ${where} is out of range`);
  }
  return Number(v);
}
