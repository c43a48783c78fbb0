/**
 * Datasets for evaluation: Fashion-MNIST from Debian's `dataset-fashion-mnist` (gzip IDX files)
 * and batches saved as .npy. A dataset is a flat float32 batch of model inputs (N × C × H × W,
 * already normalised as the model expects) with optional labels.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from './idx.js';
import { readNpyFile, type NpyArray } from './npy.js';

export interface Dataset {
  name: string;
  /** count × product(shape) values, NCHW, back to back. */
  inputs: Float32Array;
  /** Shape of one input, without the batch dimension. */
  shape: number[];
  count: number;
  labels?: Int32Array;
}

/** Where Debian's dataset-fashion-mnist installs the files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
/** The training normalisation of the shared Fashion-MNIST models: x = (p / 255 − mean) / std. */
export const FASHION_MNIST_NORMALISATION = Object.freeze({ scale: 255, mean: 0.286, std: 0.353 });

export interface Normalisation {
  /** Divide raw values by this first (255 for bytes). */
  scale: number;
  mean: number;
  std: number;
}

export interface SliceOptions {
  /** First example (default 0). */
  offset?: number;
  /** Number of examples (default: all from offset). */
  count?: number;
}

export interface FashionMnistOptions extends SliceOptions {
  /** 'test' (t10k, 10 000 images; default) or 'train' (60 000). */
  split?: 'test' | 'train';
  /** Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]; default FASHION_MNIST_DIR. */
  dir?: string;
  /** Default FASHION_MNIST_NORMALISATION; false keeps raw bytes as floats 0 … 255. */
  normalise?: Normalisation | false;
}

function slice(total: number, o: SliceOptions, what: string): [number, number] {
  const offset = o.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= total)
    throw new RangeError(`${what}: offset must be an integer in [0, ${total}), got ${offset}`);
  const count = o.count ?? total - offset;
  if (!Number.isSafeInteger(count) || count < 1 || offset + count > total)
    throw new RangeError(`${what}: count must be an integer in [1, ${total - offset}] from offset ${offset}, got ${count}`);
  return [offset, count];
}

/**
 * Normalises as torchvision's ToTensor + Normalize do, in float32 steps: t = float32(p / scale),
 * then (t − mean) / std with mean and std rounded to float32. Bit-identical to the fixtures' inputs.
 */
export function normalise(values: ArrayLike<number>, n: Normalisation): Float32Array {
  const mean = Math.fround(n.mean), std = Math.fround(n.std), scale = n.scale;
  const out = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = Math.fround(Math.fround(values[i] / scale) - mean) / std;
  return out;
}

function findFile(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new RangeError(
    `Fashion-MNIST: ${join(dir, base)}[.gz] not found. On Debian: apt-get install dataset-fashion-mnist ` +
      `(installs ${FASHION_MNIST_DIR}); or pass dir.`,
  );
}

/** Fashion-MNIST images (1 × 28 × 28, normalised) and labels. */
export function loadFashionMnist(options: FashionMnistOptions = {}): Dataset {
  const split = options.split ?? 'test';
  if (split !== 'test' && split !== 'train') throw new RangeError(`split must be 'test' or 'train', got ${String(split)}`);
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const prefix = split === 'test' ? 't10k' : 'train';
  const images = readIdx(findFile(dir, `${prefix}-images-idx3-ubyte`));
  const labels = readIdx(findFile(dir, `${prefix}-labels-idx1-ubyte`));
  if (images.dtype !== 'uint8' || images.dims.length !== 3) throw new RangeError('Fashion-MNIST: images must be uint8 [N, H, W]');
  if (labels.dims[0] !== images.dims[0]) throw new RangeError('Fashion-MNIST: image and label counts differ');
  const [total, h, w] = images.dims;
  const [offset, count] = slice(total, options, 'Fashion-MNIST');
  const d = h * w;
  const raw = images.data.subarray(offset * d, (offset + count) * d);
  const norm = options.normalise === undefined ? FASHION_MNIST_NORMALISATION : options.normalise;
  return {
    name: `Fashion-MNIST ${split}`,
    inputs: norm === false ? Float32Array.from(raw) : normalise(raw, norm),
    shape: [1, h, w],
    count,
    labels: Int32Array.from(labels.data.subarray(offset, offset + count)),
  };
}

function toFloat(a: NpyArray): Float32Array {
  if (a.data instanceof Float32Array) return a.data;
  if (a.data instanceof BigInt64Array || a.data instanceof BigUint64Array) return Float32Array.from(a.data, Number);
  return Float32Array.from(a.data as ArrayLike<number>);
}

export interface NpyDatasetOptions extends SliceOptions {
  /** Labels: a .npy file of N integers. */
  labels?: string;
  name?: string;
  /** Applied to the values as read (e.g. raw uint8 images); default none. */
  normalise?: Normalisation;
}

/** A batch saved as .npy: [N, ...shape] of any numeric dtype (float32 is used in place). */
export function loadNpyDataset(path: string, options: NpyDatasetOptions = {}): Dataset {
  const arr = readNpyFile(path);
  if (arr.shape.length < 2) throw new RangeError(`${path}: expected [N, ...input shape], got [${arr.shape.join(', ')}]`);
  const [total, ...shape] = arr.shape;
  const [offset, count] = slice(total, options, path);
  const d = shape.reduce((a, b) => a * b, 1);
  let inputs = toFloat(arr).subarray(offset * d, (offset + count) * d);
  if (options.normalise) inputs = normalise(inputs, options.normalise);
  const out: Dataset = { name: options.name ?? path, inputs, shape, count };
  if (options.labels) {
    const l = readNpyFile(options.labels);
    if (l.shape[0] !== total) throw new RangeError(`${options.labels}: ${l.shape[0]} labels for ${total} inputs`);
    out.labels = Int32Array.from(Array.from(l.data as ArrayLike<number | bigint>, Number).slice(offset, offset + count));
  }
  return out;
}
