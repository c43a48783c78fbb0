/** Small shape and argument helpers shared by the loaders and the public API. */

export function product(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

export function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v;
}

/**
 * Reads a numeric array argument as float32. A Float32Array is used as is (no copy); any other
 * typed array or array of numbers is converted.
 */
export function toFloat32(value: unknown, what: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    if (typeof (value as unknown as ArrayLike<unknown>)[0] === 'bigint')
      throw new TypeError(`${what} must hold numbers, got ${describe(value)}`);
    return Float32Array.from(value as unknown as ArrayLike<number>);
  }
  if (Array.isArray(value)) {
    const out = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v !== 'number') throw new TypeError(`${what}[${i}] must be a number, got ${describe(v)}`);
      out[i] = v;
    }
    return out;
  }
  throw new TypeError(`${what} must be a Float32Array (or another numeric array), got ${describe(value)}`);
}
