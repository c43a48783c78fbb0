/**
 * Reading model inputs for the CLI: .npy arrays, .json number arrays and PNG images.
 *
 * .npy and .json values are taken as already normalised, in the model's NCHW order: an .npy holds
 * one input (the model's input shape, or flat) or a batch ([N, ...input shape], or [N, inputSize]),
 * and any other shape is an error naming both shapes; values that look like raw pixels draw a
 * warning. PNG pixels are scaled to [0, 1], converted to the model's channels (grey ↔ RGB) and
 * normalised per channel as (p − mean) / std (lib/io/image.ts); a PNG of another size than the
 * model's is refused unless `resize`. The alpha channel is ignored.
 */
import { readFile } from 'node:fs/promises';
import { extname, basename } from 'node:path';
import { parseNpy } from '../io/npy.js';
import { checkFinite } from '../validate.js';
import { decodePng, type ImageShape } from '../render/image.js';
import { imageToInput, looksUnnormalised } from '../io/image.js';

export interface InputBatch {
  /** n × inputSize values back to back. */
  values: Float32Array;
  count: number;
  /** One caption per input (file name, with an index for batches). */
  labels: string[];
}

export interface NormaliseOptions {
  /** Per-channel mean (1 or C values); with std. */
  mean?: readonly number[];
  /** Per-channel standard deviation (1 or C values); with mean. */
  std?: readonly number[];
  /** Resample PNGs of another size to the model's (default: refuse them). */
  resize?: boolean;
  /** Where warnings go (one line each, without the "pathwise: warning: " prefix). */
  warn?: (message: string) => void;
}

export { imageToInput };

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

const shapeText = (shape: readonly number[]) => `[${shape.join(', ')}]`;

/**
 * How many inputs an array of this shape holds for a model of this input shape, or an error naming
 * both: the input shape itself or flat [inputSize] is one input; [N, ...input shape] or
 * [N, inputSize] is N inputs; for a one-channel model, [N, H, W] is N inputs too.
 */
export function batchOfShape(shape: readonly number[], model: { inputShape: readonly number[]; inputSize: number }, origin: string): number {
  const ms = model.inputShape, size = model.inputSize;
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (same(shape, ms) || same(shape, [size])) return 1;
  const [n, ...rest] = shape;
  if (shape.length >= 2 && n >= 1 && (same(rest, ms) || same(rest, [size]) || (ms.length === 3 && ms[0] === 1 && same(rest, ms.slice(1))))) return n;
  // A channels-last image given to an NCHW model is a common slip: say so.
  const tail = shape.slice(-3);
  if (ms.length === 3 && ms[0] > 1 && tail.length === 3 && same(tail, [ms[1], ms[2], ms[0]]))
    throw new RangeError(`${origin} has shape ${shapeText(shape)}, which looks channels-last (H, W, C); pathwise takes NCHW inputs ${shapeText(ms)}: transpose it first`);
  throw new RangeError(`${origin} has shape ${shapeText(shape)} (${shape.reduce((a, b) => a * b, 1)} values); the model takes ${shapeText(ms)} ` +
    `(one input of ${size} values) or [N, ${ms.join(', ')}] (a batch)`);
}

/** The shape of a regular nested JSON array of numbers, or undefined if it is ragged. */
function jsonShape(value: unknown): number[] | undefined {
  if (typeof value === 'number') return [];
  if (!Array.isArray(value) || value.length === 0) return undefined;
  const inner = jsonShape(value[0]);
  if (!inner) return undefined;
  for (let i = 1; i < value.length; i++) {
    const s = jsonShape(value[i]);
    if (!s || s.length !== inner.length || s.some((d, k) => d !== inner[k])) return undefined;
  }
  return [value.length, ...inner];
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
      values = imageToInput(decodePng(bytes, file), imageShape, { mean: options.mean, std: options.std, resize: options.resize, origin: file });
      count = 1;
    } else if (ext === '.npy') {
      const arr = parseNpy(bytes, file);
      count = batchOfShape(arr.shape, model, file);
      values = Float32Array.from(arr.data as ArrayLike<number | bigint>, Number);
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
      const shape = jsonShape(json);
      if (shape && shape.length > 1) count = batchOfShape(shape, model, file);
      else if (values.length > 0 && values.length % model.inputSize === 0) count = values.length / model.inputSize;
      else throw new RangeError(`${file} holds ${values.length} values; the model input ${shapeText(model.inputShape)} needs ${model.inputSize} per input`);
    } else {
      throw new RangeError(`input ${file}: unknown file type ${JSON.stringify(ext || '(none)')} (use .npy, .json or .png)`);
    }
    checkFinite(values, file);
    if (ext !== '.png') {
      const raw = looksUnnormalised(values);
      if (raw && options.warn)
        options.warn(`${file}: every value is in ${raw}, which looks like raw pixels; .npy and .json inputs are used as given ` +
          '(normalised, as the model was trained): normalise them first, or give PNG images with --mean/--std');
    }
    parts.push(values);
    for (let i = 0; i < count; i++) labels.push(count > 1 ? `${name} [${i}]` : name);
  }
  const total = parts.reduce((a, p) => a + p.length, 0);
  const values = new Float32Array(total);
  let at = 0;
  for (const p of parts) { values.set(p, at); at += p.length; }
  return { values, count: total / model.inputSize, labels };
}
