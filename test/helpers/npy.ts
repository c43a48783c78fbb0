/** A minimal reader for NumPy .npy files (format 1.0/2.0, little-endian, C order) used by tests. */
import { readFileSync } from 'node:fs';

export interface NpyArray {
  shape: number[];
  dtype: string;
  data: Float32Array | Float64Array | Int32Array | BigInt64Array;
}

export function readNpy(path: string): NpyArray {
  const buf = readFileSync(path);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${path}: not an .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const headerStart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', headerStart, headerStart + headerLen);
  const dtype = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!dtype || fortran !== 'False' || shapeText === undefined) throw new Error(`${path}: unsupported header ${header}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const offset = headerStart + headerLen;
  // Copy: the file buffer may come from Node's shared pool at an unaligned offset.
  const bytes = new Uint8Array(buf.subarray(offset)).slice().buffer;
  switch (dtype) {
    case '<f4': return { shape, dtype, data: new Float32Array(bytes) };
    case '<f8': return { shape, dtype, data: new Float64Array(bytes) };
    case '<i4': return { shape, dtype, data: new Int32Array(bytes) };
    case '<i8': return { shape, dtype, data: new BigInt64Array(bytes) };
    default: throw new Error(`${path}: unsupported dtype ${dtype}`);
  }
}
