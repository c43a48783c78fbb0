/**
 * NumPy .npy files (format 1.0–3.0, C order): the little- and big-endian numeric dtypes a dataset
 * or an attribution batch comes in, and a writer for float32/float64/int32 arrays.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { halfToFloat } from './float16.js';

export type NpyData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

export interface NpyArray {
  /** NumPy dtype string, e.g. '<f4'. */
  dtype: string;
  shape: number[];
  data: NpyData;
}

const CTORS: Record<string, { ctor: new (n: number) => NpyData; bytes: number; get: (v: DataView, at: number, le: boolean) => number | bigint }> = {
  f4: { ctor: Float32Array, bytes: 4, get: (v, at, le) => v.getFloat32(at, le) },
  f8: { ctor: Float64Array, bytes: 8, get: (v, at, le) => v.getFloat64(at, le) },
  i1: { ctor: Int8Array, bytes: 1, get: (v, at) => v.getInt8(at) },
  u1: { ctor: Uint8Array, bytes: 1, get: (v, at) => v.getUint8(at) },
  b1: { ctor: Uint8Array, bytes: 1, get: (v, at) => v.getUint8(at) },
  i2: { ctor: Int16Array, bytes: 2, get: (v, at, le) => v.getInt16(at, le) },
  u2: { ctor: Uint16Array, bytes: 2, get: (v, at, le) => v.getUint16(at, le) },
  i4: { ctor: Int32Array, bytes: 4, get: (v, at, le) => v.getInt32(at, le) },
  u4: { ctor: Uint32Array, bytes: 4, get: (v, at, le) => v.getUint32(at, le) },
  i8: { ctor: BigInt64Array, bytes: 8, get: (v, at, le) => v.getBigInt64(at, le) },
  u8: { ctor: BigUint64Array, bytes: 8, get: (v, at, le) => v.getBigUint64(at, le) },
};

/** The header dict's three keys, parsed strictly enough to reject what we cannot read. */
function parseHeader(header: string, origin: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortranText = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined && /['"]descr['"]\s*:\s*\[/.test(header))
    throw new RangeError(`${origin}: structured (record) dtypes are not supported`);
  if (descr === undefined || fortranText === undefined || shapeText === undefined)
    throw new RangeError(`${origin}: malformed .npy header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((t) => t.trim()).filter(Boolean).map((t) => {
    const n = Number(t.replace(/L$/, ''));
    if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${origin}: bad dimension ${JSON.stringify(t)} in the shape`);
    return n;
  });
  return { descr, fortran: fortranText === 'True', shape };
}

/**
 * Parses .npy bytes: every numeric dtype NumPy writes (either byte order), float16 (read as
 * float32), bool (0/1 bytes), C or Fortran order (returned in C order), format 1.0–3.0. Data
 * keep their dtype (uint8 images stay 1 byte a pixel). `origin` prefixes error messages.
 */
export function parseNpy(bytes: Uint8Array, origin = '.npy data'): NpyArray {
  if (bytes.length < 10 || String.fromCharCode(...bytes.subarray(0, 6)) !== '\x93NUMPY')
    throw new RangeError(`${origin}: not a NumPy .npy file (bad magic)`);
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) throw new RangeError(`${origin}: unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start) throw new RangeError(`${origin}: truncated header`);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (start + headerLen > bytes.length) throw new RangeError(`${origin}: truncated header`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLen));
  const { descr, fortran, shape } = parseHeader(header, origin);
  const order = '<>|='.includes(descr[0]) ? descr[0] : '=';
  const kind = '<>|='.includes(descr[0]) ? descr.slice(1) : descr;
  const half = kind === 'f2';
  const type = half ? { ctor: Float32Array as unknown as new (n: number) => NpyData, bytes: 2, get: (v: DataView, at: number, le: boolean) => halfToFloat(v.getUint16(at, le)) } : CTORS[kind];
  if (!type) throw new RangeError(`${origin}: unsupported dtype ${JSON.stringify(descr)} (numeric arrays only: float, int, uint, bool)`);
  const little = order !== '>';
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (bytes.length - offset < count * type.bytes)
    throw new RangeError(`${origin}: truncated data: ${bytes.length - offset} bytes for ${count} values of ${type.bytes} bytes`);
  const data = new type.ctor(count);
  const out = data as unknown as (number | bigint)[];
  if (!fortran || shape.length < 2) {
    if (!half && little && (bytes.byteOffset + offset) % type.bytes === 0) {
      data.set(new (type.ctor as unknown as new (b: ArrayBufferLike, o: number, n: number) => NpyData)(bytes.buffer, bytes.byteOffset + offset, count) as never);
    } else {
      for (let i = 0; i < count; i++) out[i] = type.get(view, offset + i * type.bytes, little);
    }
  } else {
    // Fortran order: the first index varies fastest. Walk the C-order index and map it.
    const rank = shape.length;
    const stride = new Array<number>(rank);
    for (let d = 0, s = 1; d < rank; d++) { stride[d] = s; s *= shape[d]; }
    const idx = new Array<number>(rank).fill(0);
    for (let i = 0; i < count; i++) {
      let f = 0;
      for (let d = 0; d < rank; d++) f += idx[d] * stride[d];
      out[i] = type.get(view, offset + f * type.bytes, little);
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  if (kind === 'b1') for (let i = 0; i < count; i++) if (out[i]) out[i] = 1;
  return { dtype: descr, shape, data };
}

export function readNpyFile(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

/**
 * Encodes a float32, float64 or int32 array as .npy (format 1.0, little-endian, C order); any
 * other array of numbers is written as float32.
 */
export function encodeNpy(values: Float32Array | Float64Array | Int32Array | ArrayLike<number>, shape: readonly number[]): Uint8Array {
  const data = values instanceof Float32Array || values instanceof Float64Array || values instanceof Int32Array ? values : Float32Array.from(values);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`shape [${shape.join(', ')}] holds ${count} values, the data ${data.length}`);
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Float64Array ? '<f8' : '<i4';
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

export function writeNpyFile(path: string, data: Float32Array | Float64Array | Int32Array | ArrayLike<number>, shape: readonly number[]): void {
  writeFileSync(path, encodeNpy(data, shape));
}
