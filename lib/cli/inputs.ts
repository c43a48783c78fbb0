/**
 * Reading model inputs for the CLI: .npy arrays, .json number arrays and PNG images.
 *
 * .npy and .json values are taken as already normalised, in the model's NCHW order; a file may
 * hold one input or a batch (any multiple of the input size). PNG pixels are scaled to [0, 1],
 * converted to the model's channels (grey ↔ RGB), resized to its H × W and normalised per channel
 * as (p − mean) / std. The alpha channel is ignored.
 */
import { readFile } from 'node:fs/promises';
import { extname, basename } from 'node:path';
import { parseNpy } from '../io/npy.js';
import { checkFinite } from '../validate.js';
import { decodePng, resamplePlane, type ImageShape } from '../render/image.js';

export interface InputBatch {
  /** n × inputSize values back to back. */
  values: Float32Array;
  count: number;
  /** One caption per input (file name, with an index for batches). */
  labels: string[];
}

export interface NormaliseOptions {
  /** Per-channel mean (1 or C values), default 0. */
  mean?: readonly number[];
  /** Per-channel standard deviation (1 or C values), default 1. */
  std?: readonly number[];
}

function perChannel(values: readonly number[] | undefined, channels: number, what: string, fallback: number): number[] {
  if (values === undefined) return new Array<number>(channels).fill(fallback);
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length !== channels) throw new RangeError(`--${what} needs 1 or ${channels} values (one per channel), got ${values.length}`);
  return [...values];
}

/** Turns a decoded PNG into one normalised model input of the given image shape. */
export function imageToInput(png: { width: number; height: number; data: Uint8Array }, shape: ImageShape, options: NormaliseOptions = {}): Float32Array {
  const { channels: c, height: h, width: w } = shape;
  if (c !== 1 && c !== 3)
    throw new RangeError(`a PNG can feed a model with 1 or 3 input channels; this model reads ${c} channels of ${h}×${w}`);
  const mean = perChannel(options.mean, c, 'mean', 0);
  const std = perChannel(options.std, c, 'std', 1);
  std.forEach((s, i) => {
    if (!(s > 0) || !Number.isFinite(s)) throw new RangeError(`--std values must be positive, got ${s} for channel ${i}`);
  });
  const n = png.width * png.height;
  const planes: Float64Array[] = [];
  if (c === 1) {
    const grey = new Float64Array(n);
    for (let p = 0; p < n; p++)
      grey[p] = (0.299 * png.data[p * 4] + 0.587 * png.data[p * 4 + 1] + 0.114 * png.data[p * 4 + 2]) / 255;
    planes.push(grey);
  } else {
    for (let k = 0; k < 3; k++) {
      const plane = new Float64Array(n);
      for (let p = 0; p < n; p++) plane[p] = png.data[p * 4 + k] / 255;
      planes.push(plane);
    }
  }
  const out = new Float32Array(c * h * w);
  planes.forEach((plane, ch) => {
    const resized = resamplePlane(plane, png.height, png.width, h, w);
    for (let p = 0; p < h * w; p++) out[ch * h * w + p] = (resized[p] - mean[ch]) / std[ch];
  });
  return out;
}

function flattenJson(value: unknown, out: number[], path: string): void {
  if (typeof value === 'number') {
    out.push(value);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => flattenJson(v, out, `${path}[${i}]`));
    return;
  }
  throw new TypeError(`${path} must be a number or an array of numbers, got ${value === null ? 'null' : typeof value}`);
}

function batchOf(values: Float32Array, inputSize: number, origin: string, shapeText: string, modelShape: readonly number[]): number {
  if (values.length === 0 || values.length % inputSize !== 0)
    throw new RangeError(
      `${origin} holds ${values.length} values${shapeText}; the model input [${modelShape.join(', ')}] needs ${inputSize} per input`,
    );
  return values.length / inputSize;
}

/**
 * Reads the inputs from files (.npy, .json, .png; several files make one batch).
 * `imageShape` is how a PNG maps onto the model input.
 */
export async function readInputs(
  files: readonly string[],
  model: { inputShape: readonly number[]; inputSize: number },
  imageShape: ImageShape,
  options: NormaliseOptions = {},
): Promise<InputBatch> {
  if (files.length === 0) throw new RangeError('no input given (--input <file>)');
  const parts: Float32Array[] = [];
  const labels: string[] = [];
  for (const file of files) {
    const ext = extname(file).toLowerCase();
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (cause) {
      throw new Error(`cannot read input ${file}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`, { cause });
    }
    const name = basename(file);
    let values: Float32Array;
    let count: number;
    if (ext === '.png') {
      values = imageToInput(decodePng(bytes, file), imageShape, options);
      count = 1;
    } else if (ext === '.npy') {
      const arr = parseNpy(bytes, file);
      values = Float32Array.from(arr.data as ArrayLike<number | bigint>, Number);
      count = batchOf(values, model.inputSize, file, ` (shape [${arr.shape.join(', ')}])`, model.inputShape);
      // A channels-last image given to an NCHW model is a common slip: say so.
      const ms = model.inputShape;
      const tail = arr.shape.slice(-3);
      if (ms.length === 3 && ms[0] > 1 && tail.length === 3 && tail.join() === [ms[1], ms[2], ms[0]].join() && tail.join() !== ms.join())
        throw new RangeError(`${file} has shape [${arr.shape.join(', ')}], which looks channels-last (H, W, C); pathwise takes NCHW inputs [${ms.join(', ')}]: transpose it first`);
    } else if (ext === '.json') {
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch (cause) {
        throw new RangeError(`${file}: not JSON (${(cause as Error).message})`, { cause });
      }
      const flat: number[] = [];
      flattenJson(json, flat, file);
      values = Float32Array.from(flat);
      count = batchOf(values, model.inputSize, file, '', model.inputShape);
    } else {
      throw new RangeError(`input ${file}: unknown file type ${JSON.stringify(ext || '(none)')} (use .npy, .json or .png)`);
    }
    checkFinite(values, file);
    parts.push(values);
    for (let i = 0; i < count; i++) labels.push(count > 1 ? `${name} [${i}]` : name);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const values = new Float32Array(total);
  let at = 0;
  for (const p of parts) { values.set(p, at); at += p.length; }
  return { values, count: total / model.inputSize, labels };
}
