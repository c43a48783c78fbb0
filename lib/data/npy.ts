/**
 * NumPy .npy files (format 1.0–3.0, C order): the little- and big-endian numeric dtypes a dataset
 * or an attribution batch comes in, and a writer for float32/float64/int32 arrays.
 */
import { readFileSync, writeFileSync } from 'node:fs';

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

export function parseNpy(bytes: Uint8Array, origin = '.npy data'): NpyArray {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw new RangeError(`${origin}: not an .npy file`);
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || fortran === undefined || shapeText === undefined) throw new RangeError(`${origin}: unreadable header ${header.trim()}`);
  if (fortran === 'True') throw new RangeError(`${origin}: Fortran-order arrays are not supported (save with np.ascontiguousarray)`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const order = descr[0], kind = descr.slice(1);
  const type = CTORS[kind];
  if (!type || !'<>|='.includes(order)) throw new RangeError(`${origin}: unsupported dtype ${descr}`);
  const little = order !== '>';
  const count = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  if (bytes.length - offset < count * type.bytes) throw new RangeError(`${origin}: truncated data (${count} × ${descr} expected)`);
  const data = new type.ctor(count);
  if (little && (bytes.byteOffset + offset) % type.bytes === 0) {
    data.set(new (type.ctor as unknown as new (b: ArrayBufferLike, o: number, n: number) => NpyData)(bytes.buffer, bytes.byteOffset + offset, count) as never);
  } else {
    for (let i = 0; i < count; i++) (data as unknown as (number | bigint)[])[i] = type.get(view, offset + i * type.bytes, little);
  }
  return { dtype: descr, shape, data };
}

export function readNpyFile(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

/** Encodes a float32, float64 or int32 array as .npy (format 1.0, little-endian, C order). */
export function encodeNpy(data: Float32Array | Float64Array | Int32Array, shape: readonly number[]): Uint8Array {
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

export function writeNpyFile(path: string, data: Float32Array | Float64Array | Int32Array, shape: readonly number[]): void {
  writeFileSync(path, encodeNpy(data, shape));
}
