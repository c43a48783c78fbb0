// The .npy reader and writer (lib/io/npy.ts) behind the CLI's inputs and the datasets.
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNpy, encodeNpy, readNpyFile as readNpySync } from '../lib/io/npy.js';
import { readNpy as helperReadNpy } from './helpers/npy.js';
import { fixtureDir } from './helpers/fixtures.js';

/** Builds an .npy file by hand: header dict + raw bytes. */
function npy(descr: string, shape: number[], data: Uint8Array, { fortran = false, major = 1 } = {}): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': ${shapeText}, }`;
  const pre = major === 1 ? 10 : 12;
  header = header.padEnd(Math.ceil((pre + header.length + 1) / 64) * 64 - pre - 1, ' ') + '\n';
  const out = new Uint8Array(pre + header.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, header.length, true);
  else view.setUint32(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[pre + i] = header.charCodeAt(i);
  out.set(data, pre + header.length);
  return out;
}

describe('parseNpy', () => {
  it('reads the fixtures like the test helper does', () => {
    const path = join(fixtureDir('fashion_mlp'), 'inputs.npy');
    const ours = readNpySync(path);
    const theirs = helperReadNpy(path);
    expect(ours.shape).toEqual(theirs.shape);
    expect(ours.dtype).toBe('<f4');
    expect(Array.from(ours.data as ArrayLike<number>)).toEqual(Array.from(theirs.data as Float32Array));
    const targets = readNpySync(join(fixtureDir('fashion_mlp'), 'targets.npy'));
    expect(targets.dtype).toBe('<i8');
    expect(Array.from(targets.data as BigInt64Array, Number)).toEqual(Array.from(helperReadNpy(join(fixtureDir('fashion_mlp'), 'targets.npy')).data as BigInt64Array, Number));
  });

  it('reads every numeric dtype, both byte orders, float16, bool, format 2.0', () => {
    const f8be = new Uint8Array(16);
    new DataView(f8be.buffer).setFloat64(0, 1.5, false);
    new DataView(f8be.buffer).setFloat64(8, -2.25, false);
    expect(Array.from(parseNpy(npy('>f8', [2], f8be)).data as ArrayLike<number>)).toEqual([1.5, -2.25]);
    expect(Array.from(parseNpy(npy('<f2', [3], new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x35]))).data as ArrayLike<number>)).toEqual([1, -2, 0.3125]);
    expect(Array.from(parseNpy(npy('|u1', [2], new Uint8Array([0, 255]))).data as ArrayLike<number>)).toEqual([0, 255]);
    expect(Array.from(parseNpy(npy('|i1', [2], new Uint8Array([0xff, 0x7f]))).data as ArrayLike<number>)).toEqual([-1, 127]);
    expect(Array.from(parseNpy(npy('<i2', [1], new Uint8Array([0x00, 0x80]))).data as ArrayLike<number>)).toEqual([-32768]);
    expect(Array.from(parseNpy(npy('>u4', [1], new Uint8Array([0, 0, 1, 0]))).data as ArrayLike<number>)).toEqual([256]);
    expect(Array.from(parseNpy(npy('|b1', [3], new Uint8Array([1, 0, 1]))).data as ArrayLike<number>)).toEqual([1, 0, 1]);
    const v2 = parseNpy(npy('<f4', [1, 1], new Uint8Array(new Float32Array([7]).buffer), { major: 2 }));
    expect(v2.shape).toEqual([1, 1]);
    expect(Array.from(v2.data as ArrayLike<number>)).toEqual([7]);
    expect(parseNpy(npy('<f4', [], new Uint8Array(new Float32Array([3]).buffer))).shape).toEqual([]);
  });

  it('turns Fortran order into C order', () => {
    // [[1, 2, 3], [4, 5, 6]] in Fortran order is 1 4 2 5 3 6.
    const data = new Uint8Array(new Float32Array([1, 4, 2, 5, 3, 6]).buffer);
    const a = parseNpy(npy('<f4', [2, 3], data, { fortran: true }));
    expect(Array.from(a.data as ArrayLike<number>)).toEqual([1, 2, 3, 4, 5, 6]);
    // Rank 3: element [i, j, k] sits at i + 2j + 4k.
    const f = new Float32Array(8);
    for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) for (let k = 0; k < 2; k++) f[i + 2 * j + 4 * k] = 100 * i + 10 * j + k;
    expect(Array.from(parseNpy(npy('<f4', [2, 2, 2], new Uint8Array(f.buffer), { fortran: true })).data as ArrayLike<number>)).toEqual([0, 1, 10, 11, 100, 101, 110, 111]);
  });

  it('rejects what it cannot read, saying why', () => {
    expect(() => parseNpy(new Uint8Array(20), 'a.npy')).toThrow(/a\.npy: not a NumPy \.npy file/);
    expect(() => parseNpy(npy('<c8', [1], new Uint8Array(8)), 'c.npy')).toThrow(/unsupported dtype "<c8"/);
    expect(() => parseNpy(npy('<U3', [1], new Uint8Array(12)))).toThrow(/unsupported dtype/);
    expect(() => parseNpy(npy('<f4', [4], new Uint8Array(8)), 't.npy')).toThrow(/t\.npy: truncated data/);
    const dict = "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }\n";
    const structured = Buffer.from(`\x93NUMPY\x01\x00${String.fromCharCode(dict.length)}\x00${dict}`, 'latin1');
    expect(() => parseNpy(structured)).toThrow(/structured/);
  });
});

describe('encodeNpy', () => {
  it('writes float32 .npy that reads back, with a 64-byte aligned header', () => {
    const values = [1.5, -2, 3.25, 0, 1e-7, 42];
    const bytes = encodeNpy(values, [2, 3]);
    const back = parseNpy(bytes);
    expect(back.shape).toEqual([2, 3]);
    expect(back.dtype).toBe('<f4');
    expect(Array.from(back.data as ArrayLike<number>)).toEqual(values.map(Math.fround));
    expect((bytes.length - 6 * 4) % 64).toBe(0);
    expect(parseNpy(encodeNpy([5], [1])).shape).toEqual([1]);
    expect(() => encodeNpy([1, 2], [3])).toThrow(RangeError);
    // Same bytes as NumPy writes for the fixtures' header layout.
    const fixture = readFileSync(join(fixtureDir('fashion_mlp'), 'logits.npy'));
    const parsed = parseNpy(fixture);
    expect(Buffer.from(encodeNpy(parsed.data as Float32Array, parsed.shape)).equals(fixture)).toBe(true);
  });
});
