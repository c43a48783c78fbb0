/**
 * IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed: a big-endian header
 * 0x00 0x00 <type> <rank>, then `rank` big-endian uint32 dimensions, then the values, big-endian.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  dtype: 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
  dims: number[];
  data: IdxData;
}

const TYPES: Record<number, { dtype: IdxArray['dtype']; bytes: number }> = {
  0x08: { dtype: 'uint8', bytes: 1 },
  0x09: { dtype: 'int8', bytes: 1 },
  0x0b: { dtype: 'int16', bytes: 2 },
  0x0c: { dtype: 'int32', bytes: 4 },
  0x0d: { dtype: 'float32', bytes: 4 },
  0x0e: { dtype: 'float64', bytes: 8 },
};

/** Parses IDX bytes; gzip input (magic 1f 8b) is decompressed first. */
export function parseIdx(bytes: Uint8Array, origin = 'IDX data'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) throw new RangeError(`${origin}: not an IDX file (bad magic)`);
  const type = TYPES[bytes[2]];
  if (!type) throw new RangeError(`${origin}: unknown IDX element type 0x${bytes[2].toString(16)}`);
  const rank = bytes[3];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4 + 4 * rank) throw new RangeError(`${origin}: truncated header`);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = 4 + 4 * rank;
  if (bytes.length !== offset + count * type.bytes)
    throw new RangeError(`${origin}: ${bytes.length - offset} data bytes for dims [${dims.join(', ')}] of ${type.dtype} (expected ${count * type.bytes})`);
  let data: IdxData;
  switch (type.dtype) {
    case 'uint8': data = bytes.slice(offset); break;
    case 'int8': data = new Int8Array(bytes.slice(offset).buffer); break;
    default: {
      const Ctor = { int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }[type.dtype];
      const out = new Ctor(count);
      for (let i = 0; i < count; i++) {
        const at = offset + i * type.bytes;
        out[i] = type.dtype === 'int16' ? view.getInt16(at, false) : type.dtype === 'int32' ? view.getInt32(at, false)
          : type.dtype === 'float32' ? view.getFloat32(at, false) : view.getFloat64(at, false);
      }
      data = out;
    }
  }
  return { dtype: type.dtype, dims, data };
}

/** Reads an IDX file (`.gz` or not). */
export function readIdx(path: string): IdxArray {
  return parseIdx(readFileSync(path), path);
}
