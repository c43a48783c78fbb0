/**
 * Raster images for pictures: an RGBA buffer type, PNG encoding and decoding (pngjs), resampling,
 * and the mapping from a network input's shape to an image's channels × height × width.
 */
import { PNG } from 'pngjs';

/** An 8-bit RGBA raster, row-major, 4 bytes per pixel. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** How a flat NCHW tensor is read as a picture. */
export interface ImageShape {
  channels: number;
  height: number;
  width: number;
}

export function createImage(width: number, height: number, fill: [number, number, number, number] = [0, 0, 0, 255]): RgbaImage {
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1)
    throw new RangeError(`image size must be positive integers, got ${width} × ${height}`);
  const data = new Uint8Array(width * height * 4);
  for (let i = 0; i < data.length; i += 4) data.set(fill, i);
  return { width, height, data };
}

export function encodePng(image: RgbaImage): Buffer {
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  // Paeth on every row: as small as pngjs's adaptive choice on these pictures, three times faster.
  return PNG.sync.write(png, { colorType: 6, filterType: 4 });
}

/**
 * Decodes a PNG of any colour type and bit depth to 8-bit RGBA (16-bit samples are rescaled,
 * palettes expanded, grey replicated to R = G = B). `origin` prefixes error messages.
 */
export function decodePng(bytes: Uint8Array, origin = 'png'): RgbaImage {
  let png;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (cause) {
    throw new RangeError(`${origin}: not a readable PNG (${(cause as Error).message})`, { cause });
  }
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}

/** The PNG as a data: URI, for self-contained HTML. */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png.buffer, png.byteOffset, png.byteLength).toString('base64')}`;
}

/**
 * Reads an input shape (no batch dimension) as an image: [C, H, W] as is, [H, W] as one channel,
 * and a flat [N] as a square (N = s² → 1 × s × s, N = 3s² → 3 × s × s, for s ≥ 8) or else a 1 × N strip.
 * `override` ([C, H, W] with the same number of values) says how to read a flat input.
 */
export function imageShapeOf(inputShape: readonly number[], override?: readonly number[]): ImageShape {
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (override !== undefined) {
    if (override.length !== 3 || !override.every((d) => Number.isSafeInteger(d) && d > 0))
      throw new RangeError(`image shape must be C,H,W (3 positive integers), got ${JSON.stringify(override)}`);
    if (override[0] * override[1] * override[2] !== size)
      throw new RangeError(`image shape [${override.join(', ')}] holds ${override[0] * override[1] * override[2]} values; the model input has ${size}`);
    return { channels: override[0], height: override[1], width: override[2] };
  }
  if (inputShape.length === 3) return { channels: inputShape[0], height: inputShape[1], width: inputShape[2] };
  if (inputShape.length === 2) return { channels: 1, height: inputShape[0], width: inputShape[1] };
  const s = Math.round(Math.sqrt(size));
  if (s >= 8 && s * s === size) return { channels: 1, height: s, width: s };
  const s3 = Math.round(Math.sqrt(size / 3));
  if (s3 >= 8 && 3 * s3 * s3 === size) return { channels: 3, height: s3, width: s3 };
  return { channels: 1, height: 1, width: size };
}

/**
 * Resamples one float plane (h × w) to th × tw: an area average when shrinking, bilinear
 * interpolation (pixel centres aligned) when growing, per axis.
 */
export function resamplePlane(src: Float64Array | Float32Array, h: number, w: number, th: number, tw: number): Float64Array {
  if (h === th && w === tw) return Float64Array.from(src);
  const rows = resampleAxis(src, h, w, th, true);
  return resampleAxis(rows, th, w, tw, false);
}

function resampleAxis(src: ArrayLike<number>, h: number, w: number, target: number, vertical: boolean): Float64Array {
  const n = vertical ? h : w;
  const other = vertical ? w : h;
  const out = new Float64Array(vertical ? target * w : h * target);
  const get = (i: number, o: number) => (vertical ? src[i * w + o] : src[o * w + i]);
  const set = (i: number, o: number, v: number) => {
    if (vertical) out[i * w + o] = v;
    else out[o * target + i] = v;
  };
  if (target === n) {
    for (let i = 0; i < n; i++) for (let o = 0; o < other; o++) set(i, o, get(i, o));
    return out;
  }
  if (target < n) {
    // Box filter: each target cell averages the source interval [i·n/target, (i+1)·n/target).
    const ratio = n / target;
    for (let i = 0; i < target; i++) {
      const a = i * ratio, b = (i + 1) * ratio;
      for (let o = 0; o < other; o++) {
        let acc = 0;
        for (let j = Math.floor(a); j < Math.ceil(b); j++) {
          const wgt = Math.min(b, j + 1) - Math.max(a, j);
          if (wgt > 0) acc += wgt * get(j, o);
        }
        set(i, o, acc / ratio);
      }
    }
    return out;
  }
  const ratio = n / target;
  for (let i = 0; i < target; i++) {
    const x = Math.min(Math.max((i + 0.5) * ratio - 0.5, 0), n - 1);
    const j = Math.floor(x), f = x - j, j1 = Math.min(j + 1, n - 1);
    for (let o = 0; o < other; o++) set(i, o, get(j, o) * (1 - f) + get(j1, o) * f);
  }
  return out;
}

/** Nearest-neighbour enlargement by an integer factor (keeps pixels crisp). */
export function upscale(image: RgbaImage, factor: number): RgbaImage {
  if (!Number.isSafeInteger(factor) || factor < 1) throw new RangeError(`scale factor must be a positive integer, got ${factor}`);
  if (factor === 1) return image;
  const W = image.width * factor;
  const out = { width: W, height: image.height * factor, data: new Uint8Array(W * image.height * factor * 4) };
  const src = image.data, dst = out.data;
  for (let y = 0; y < image.height; y++) {
    // Build the first enlarged row, then copy it factor − 1 times.
    const rowStart = y * factor * W * 4;
    for (let x = 0; x < image.width; x++) {
      const s = (y * image.width + x) * 4;
      for (let k = 0; k < factor; k++) {
        const d = rowStart + (x * factor + k) * 4;
        dst[d] = src[s]; dst[d + 1] = src[s + 1]; dst[d + 2] = src[s + 2]; dst[d + 3] = src[s + 3];
      }
    }
    for (let k = 1; k < factor; k++) dst.copyWithin(rowStart + k * W * 4, rowStart, rowStart + W * 4);
  }
  return out;
}

/** The integer factor that makes the longer side at least `minSide` pixels (at most 64). */
export function autoScale(height: number, width: number, minSide = 224): number {
  return Math.max(1, Math.min(64, Math.ceil(minSide / Math.max(height, width))));
}

export interface InputImageOptions {
  /** Per-channel mean used to normalise the input (1 or C values); with std, undoes it. */
  mean?: readonly number[];
  /** Per-channel standard deviation (1 or C values). */
  std?: readonly number[];
  /** Integer enlargement; default autoScale. */
  scale?: number;
}

function perChannel(values: readonly number[] | undefined, channels: number, what: string, fallback: number): number[] {
  if (values === undefined) return new Array<number>(channels).fill(fallback);
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length !== channels) throw new RangeError(`${what} needs 1 or ${channels} values (one per channel), got ${values.length}`);
  return [...values];
}

/**
 * Renders a network input (flat NCHW) as a picture: 1 channel as grey, 3 as RGB, any other count
 * as the grey mean over channels. With mean and std the normalisation is undone and values are
 * read on [0, 1]; without them the picture is stretched to the input's own range.
 */
export function renderInput(input: ArrayLike<number>, shape: ImageShape, options: InputImageOptions = {}): RgbaImage {
  const { channels: c, height: h, width: w } = shape;
  if (input.length !== c * h * w) throw new RangeError(`input has ${input.length} values, the image shape ${c}×${h}×${w} needs ${c * h * w}`);
  const known = options.mean !== undefined || options.std !== undefined;
  const mean = perChannel(options.mean, c, 'mean', 0);
  const std = perChannel(options.std, c, 'std', 1);
  const plane = h * w;
  const value = (ch: number, p: number) => input[ch * plane + p] * std[ch] + mean[ch];
  let lo = 0, hi = 1;
  if (!known) {
    lo = Infinity; hi = -Infinity;
    for (let i = 0; i < input.length; i++) {
      if (input[i] < lo) lo = input[i];
      if (input[i] > hi) hi = input[i];
    }
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
  }
  const byte = (v: number) => Math.round(Math.min(1, Math.max(0, (v - lo) / (hi - lo))) * 255);
  const img = createImage(w, h);
  for (let p = 0; p < plane; p++) {
    let r: number, g: number, b: number;
    if (c === 3) {
      r = byte(value(0, p)); g = byte(value(1, p)); b = byte(value(2, p));
    } else {
      let acc = 0;
      for (let ch = 0; ch < c; ch++) acc += value(ch, p);
      r = g = b = byte(acc / c);
    }
    img.data[p * 4] = r; img.data[p * 4 + 1] = g; img.data[p * 4 + 2] = b; img.data[p * 4 + 3] = 255;
  }
  return upscale(img, options.scale ?? autoScale(h, w));
}
