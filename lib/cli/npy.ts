/**
 * NumPy .npy files (format versions 1.0, 2.0 and 3.0): a reader for every numeric dtype NumPy
 * writes (either byte order, C or Fortran order, float16 included) and a float32 writer.
 *
 * Format: the magic "\x93NUMPY", a version byte pair, a little-endian header length (2 bytes in
 * 1.0, 4 bytes after), then a Python dict literal {'descr': '<f4', 'fortran_order': False,
 * 'shape': (2, 3), } padded with spaces and a newline, then the raw data.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface NpyArray {
  /** Shape as written (no dimension dropped); [] for a 0-d array. */
  shape: number[];
  /** The dtype descriptor from the header, e.g. '<f4'. */
  dtype: string;
  /** The values in C (row-major) order, converted to float64. */
  data: Float64Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

function fail(origin: string, message: string): never {
  throw new RangeError(`${origin}: ${message}`);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The header dict's three keys, parsed strictly enough to reject what we cannot read. */
function parseHeader(header: string, origin: string): { descr: string; fortran: boolean; shape: number[] } {
  const descr = /['"]descr['"]\s*:\s*['"]([^'"]+)['"]/.exec(header)?.[1];
  const fortranText = /['"]fortran_order['"]\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /['"]shape['"]\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined) {
    if (/['"]descr['"]\s*:\s*\[/.test(header)) fail(origin, 'structured (record) dtypes are not supported');
    fail(origin, `malformed .npy header ${JSON.stringify(header.trim())}`);
  }
  if (fortranText === undefined || shapeText === undefined) fail(origin, `malformed .npy header ${JSON.stringify(header.trim())}`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => {
    const n = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(n) || n < 0) fail(origin, `bad dimension ${JSON.stringify(s)} in the shape`);
    return n;
  });
  return { descr, fortran: fortranText === 'True', shape };
}

/** Parses .npy bytes. `origin` (a file name) prefixes error messages. */
export function parseNpy(bytes: Uint8Array, origin = 'npy'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail(origin, 'not a NumPy .npy file (bad magic)');
  const major = bytes[6];
  if (major !== 1 && major !== 2 && major !== 3) fail(origin, `unsupported .npy format version ${major}.${bytes[7]}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) fail(origin, 'truncated header');
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (headerStart + headerLen > bytes.length) fail(origin, 'truncated header');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, headerStart + headerLen));
  const { descr, fortran, shape } = parseHeader(header, origin);

  const m = /^([<>|=]?)([fiub])(\d+)$/.exec(descr);
  if (!m) fail(origin, `unsupported dtype ${JSON.stringify(descr)} (numeric arrays only: float, int, uint, bool)`);
  const [, order, kind, sizeText] = m;
  const size = Number(sizeText);
  const little = order !== '>';
  const ok = (kind === 'f' && (size === 2 || size === 4 || size === 8)) ||
    ((kind === 'i' || kind === 'u') && (size === 1 || size === 2 || size === 4 || size === 8)) ||
    (kind === 'b' && size === 1);
  if (!ok) fail(origin, `unsupported dtype ${JSON.stringify(descr)}`);

  let count = 1;
  for (const d of shape) count *= d;
  const offset = headerStart + headerLen;
  const need = count * size;
  if (bytes.length - offset < need) fail(origin, `truncated data: ${bytes.length - offset} bytes for ${count} values of ${size} bytes`);

  const read = (byteOffset: number): number => {
    const at = offset + byteOffset;
    switch (kind) {
      case 'f':
        if (size === 2) return halfToFloat(view.getUint16(at, little));
        return size === 4 ? view.getFloat32(at, little) : view.getFloat64(at, little);
      case 'i':
        if (size === 1) return view.getInt8(at);
        if (size === 2) return view.getInt16(at, little);
        if (size === 4) return view.getInt32(at, little);
        return Number(view.getBigInt64(at, little));
      case 'u':
        if (size === 1) return view.getUint8(at);
        if (size === 2) return view.getUint16(at, little);
        if (size === 4) return view.getUint32(at, little);
        return Number(view.getBigUint64(at, little));
      default:
        return view.getUint8(at) ? 1 : 0;
    }
  };

  const data = new Float64Array(count);
  if (!fortran || shape.length < 2) {
    for (let i = 0; i < count; i++) data[i] = read(i * size);
  } else {
    // Fortran order: the first index varies fastest. Walk the C-order index and map it.
    const rank = shape.length;
    const fStride = new Array<number>(rank);
    let s = 1;
    for (let d = 0; d < rank; d++) { fStride[d] = s; s *= shape[d]; }
    const idx = new Array<number>(rank).fill(0);
    for (let i = 0; i < count; i++) {
      let f = 0;
      for (let d = 0; d < rank; d++) f += idx[d] * fStride[d];
      data[i] = read(f * size);
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  }
  return { shape, dtype: descr, data };
}

/** Reads a .npy file (async). */
export async function readNpy(path: string): Promise<NpyArray> {
  return parseNpy(await readFile(path), path);
}

/** Reads a .npy file (sync). */
export function readNpySync(path: string): NpyArray {
  return parseNpy(readFileSync(path), path);
}

/** Encodes values as a little-endian float32 C-order .npy file (format 1.0). */
export function encodeNpy(values: ArrayLike<number>, shape: readonly number[]): Uint8Array {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`bad dimension ${d} in shape [${shape.join(', ')}]`);
    count *= d;
  }
  if (count !== values.length) throw new RangeError(`shape [${shape.join(', ')}] holds ${count} values, got ${values.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad so that the data starts on a 64-byte boundary; the header ends with a newline.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const out = new Uint8Array(total + count * 4);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  for (let i = 0; i < count; i++) view.setFloat32(total + i * 4, values[i], true);
  return out;
}
