/**
 * Images as model inputs: a PNG's pixels scaled to [0, 1], converted to the model's channels
 * (grey ↔ RGB by luminance), optionally resampled to its H × W, and normalised per channel as
 * (p − mean) / std. Nothing is guessed: a picture of another size is refused unless `resize` says
 * so, and mean and std come together or not at all.
 */
import { readFileSync } from 'node:fs';
import { decodePng, imageShapeOf, resamplePlane, type ImageShape } from '../render/image.js';

export interface ImageInputOptions {
  /** Per-channel mean of p in [0, 1] (1 or C values); give it with `std`. Default: none (0). */
  mean?: readonly number[];
  /** Per-channel standard deviation (1 or C values); give it with `mean`. Default: none (1). */
  std?: readonly number[];
  /** Resample a picture whose size differs from the model's H × W (default false: an error). */
  resize?: boolean;
  /** Where the picture came from, for messages. */
  origin?: string;
}

function perChannel(values: readonly number[] | undefined, channels: number, what: string, fallback: number): number[] {
  if (values === undefined) return new Array<number>(channels).fill(fallback);
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length !== channels) throw new RangeError(`--${what} needs 1 or ${channels} values (one per channel), got ${values.length}`);
  return [...values];
}

/** Turns a decoded picture (8-bit RGBA) into one normalised model input of the given image shape. */
export function imageToInput(png: { width: number; height: number; data: Uint8Array }, shape: ImageShape, options: ImageInputOptions = {}): Float32Array {
  const { channels: c, height: h, width: w } = shape;
  const origin = options.origin ?? 'the image';
  if (c !== 1 && c !== 3)
    throw new RangeError(`a PNG can feed a model with 1 or 3 input channels; this model reads ${c} channels of ${h}×${w}`);
  if ((options.mean === undefined) !== (options.std === undefined))
    throw new RangeError(`--mean and --std go together (got only ${options.mean === undefined ? '--std' : '--mean'}): the input is (p − mean) / std`);
  if ((png.width !== w || png.height !== h) && options.resize !== true)
    throw new RangeError(`${origin} is ${png.width}×${png.height}; the model reads ${w}×${h} images: resize it first, or pass --resize (resize: true) to resample it`);
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

/**
 * Reads a PNG file as one model input for a model of this input shape (e.g. model.inputShape):
 * `loadImage('shoe.png', model.inputShape, { mean: [0.286], std: [0.353] })`.
 */
export function loadImage(path: string, inputShape: readonly number[], options: Omit<ImageInputOptions, 'origin'> = {}): Float32Array {
  return imageToInput(decodePng(readFileSync(path), path), imageShapeOf(inputShape), { ...options, origin: path });
}

/**
 * Whether values look like raw pixels rather than normalised inputs: all in [0, 1], or all
 * integers in [0, 255] (and not all zero).
 */
export function looksUnnormalised(values: ArrayLike<number>): false | '[0, 1]' | '[0, 255]' {
  let unit = true, bytes = true, any = false;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v !== 0) any = true;
    if (v < 0 || v > 1) unit = false;
    if (v < 0 || v > 255 || !Number.isInteger(v)) bytes = false;
    if (!unit && !bytes) return false;
  }
  if (!any) return false;
  return unit ? '[0, 1]' : '[0, 255]';
}
