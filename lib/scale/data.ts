/**
 * Data sources a run reads by reference: a job names its source and a row range, never the values.
 * A source is Fashion-MNIST as Debian installs it (gzip IDX), a `.npy` batch ([N, ...input shape],
 * optionally with a `.npy` of N labels) or a folder of PNG images (sorted by file name, read as
 * `pathwise explain` reads a PNG: scaled to [0, 1], resized, normalised by mean and std).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { FASHION_MNIST_DIR, loadFashionMnist, loadNpyDataset, type Dataset } from '../io/datasets.js';
import { readNpyFile } from '../io/npy.js';
import { readIdx } from '../io/idx.js';
import { decodePng, imageShapeOf } from '../render/image.js';
import { imageToInput } from '../cli/inputs.js';

export type DataSource =
  | { kind: 'fashion-mnist'; split?: 'test' | 'train'; dir?: string }
  | { kind: 'npy'; path: string; labels?: string }
  | { kind: 'png-dir'; path: string; mean?: number[]; std?: number[]; imageShape?: number[] };

/** Rows [start, start + count) of a source, as model inputs. */
export interface DataRows {
  inputs: Float32Array;
  count: number;
  labels?: Int32Array;
}

/**
 * Reads a source from its command-line text: `fashion-mnist[:test|train[:DIR]]`, a `.npy` file
 * (`FILE.npy[:LABELS.npy]`), or a folder of `.png` files. Paths become absolute, so that a job
 * means the same file on every worker that shares the file system.
 */
export function parseDataSource(text: string): DataSource {
  if (text === 'fashion-mnist' || text.startsWith('fashion-mnist:')) {
    const [, split = 'test', ...dir] = text.split(':');
    if (split !== 'test' && split !== 'train') throw new RangeError(`data source ${text}: the split must be test or train, got ${split}`);
    return dir.length > 0 ? { kind: 'fashion-mnist', split, dir: resolve(dir.join(':')) } : { kind: 'fashion-mnist', split };
  }
  const npy = /^(.*?\.npy)(?::(.+\.npy))?$/i.exec(text);
  if (npy) return npy[2] ? { kind: 'npy', path: resolve(npy[1]), labels: resolve(npy[2]) } : { kind: 'npy', path: resolve(npy[1]) };
  let isDir = false;
  try {
    isDir = statSync(text).isDirectory();
  } catch {
    // reported below
  }
  if (isDir) return { kind: 'png-dir', path: resolve(text) };
  throw new RangeError(`data source ${JSON.stringify(text)}: expected fashion-mnist[:test|train[:DIR]], FILE.npy[:LABELS.npy] or a folder of PNG files`);
}

function pngFiles(dir: string): string[] {
  const files = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
  if (files.length === 0) throw new RangeError(`${dir}: no .png files`);
  return files;
}

/** Number of rows of a source (read from the headers only where the format allows). */
export function countRows(source: DataSource): number {
  switch (source.kind) {
    case 'fashion-mnist': {
      const dir = source.dir ?? FASHION_MNIST_DIR;
      const prefix = (source.split ?? 'test') === 'test' ? 't10k' : 'train';
      const base = join(dir, `${prefix}-labels-idx1-ubyte`);
      let file = `${base}.gz`;
      try {
        statSync(file);
      } catch {
        file = base;
      }
      return readIdx(file).dims[0];
    }
    case 'npy':
      return readNpyFile(source.path).shape[0];
    case 'png-dir':
      return pngFiles(source.path).length;
  }
}

function checkRange(total: number, start: number, count: number): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(count) || start < 0 || count < 1 || start + count > total)
    throw new RangeError(`rows [${start}, ${start + count}) are outside the source's ${total} rows`);
}

// The last IDX or .npy source read, whole: a worker reads many shards of one source, and both
// formats are read whole anyway (the IDX files are gzipped).
let cache: { key: string; set: Dataset } | undefined;

function wholeSource(source: DataSource & { kind: 'fashion-mnist' | 'npy' }): Dataset {
  const key = JSON.stringify(source);
  if (cache?.key !== key) {
    cache = undefined;
    const set = source.kind === 'fashion-mnist' ? loadFashionMnist({ split: source.split, dir: source.dir }) : loadNpyDataset(source.path, { labels: source.labels });
    cache = { key, set };
  }
  return cache.set;
}

/** Reads rows [start, start + count) for a model with this input shape. */
export function readRows(source: DataSource, start: number, count: number, inputShape: readonly number[]): DataRows {
  const size = inputShape.reduce((a, b) => a * b, 1);
  let rows: DataRows;
  switch (source.kind) {
    case 'fashion-mnist':
    case 'npy': {
      const set = wholeSource(source);
      checkRange(set.count, start, count);
      const d = set.inputs.length / set.count;
      rows = { inputs: set.inputs.subarray(start * d, (start + count) * d), count, labels: set.labels?.subarray(start, start + count) };
      break;
    }
    case 'png-dir': {
      const files = pngFiles(source.path);
      checkRange(files.length, start, count);
      const shape = imageShapeOf(inputShape, source.imageShape);
      const inputs = new Float32Array(count * size);
      for (let i = 0; i < count; i++) {
        const file = join(source.path, files[start + i]);
        inputs.set(imageToInput(decodePng(readFileSync(file), file), shape, { mean: source.mean, std: source.std }), i * size);
      }
      rows = { inputs, count };
      break;
    }
  }
  if (rows.inputs.length !== count * size)
    throw new RangeError(`the source's rows hold ${rows.inputs.length / count} values each; the model input [${inputShape.join(', ')}] needs ${size}`);
  return rows;
}
