/**
 * Helpers shared by the tfjs layer converters (convert.ts, conv.ts, activations.ts): config access
 * in either key style, weight lookup, errors that name the layer, TF's padding arithmetic, and the
 * record of where a converted tensor lives.
 */
import type { LayerSpec } from '../model/layers.js';
import { PathwiseError } from '../errors.js';
import type { TfjsLayer } from './convert.js';

export function unsupported(layer: TfjsLayer, what: string): PathwiseError {
  return new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs layer "${layer.name}" (${layer.className}): ${what}`);
}

export function bad(layer: TfjsLayer | undefined, what: string): PathwiseError {
  return new PathwiseError('PATHWISE_BAD_MODEL', layer ? `tfjs layer "${layer.name}" (${layer.className}): ${what}` : `tfjs model: ${what}`);
}

/** snake_case or camelCase config access. */
export function cfg(layer: TfjsLayer, camel: string): unknown {
  const c = layer.config;
  if (camel in c) return c[camel];
  const snake = camel.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
  return c[snake];
}

/** 'channels_last' / 'channelsLast' → 'channelslast'. */
export const norm = (v: unknown) => (typeof v === 'string' ? v.replace(/_/g, '').toLowerCase() : v);

export function pairOf(layer: TfjsLayer, key: string, fallback?: [number, number]): [number, number] {
  const v = cfg(layer, key);
  if (v === undefined || v === null) {
    if (fallback) return fallback;
    throw bad(layer, `missing ${key}`);
  }
  const arr = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => Number.isSafeInteger(x) && x > 0))
    throw bad(layer, `${key} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return [arr[0], arr[1]];
}

export function weight(layer: TfjsLayer, short: string, shape: number[] | undefined): Float32Array {
  const w = layer.weights.get(short);
  if (!w) throw bad(layer, `weight "${short}" is missing`);
  const count = w.shape.reduce((a, b) => a * b, 1);
  if (w.data.length !== count) throw bad(layer, `weight "${short}" has ${w.data.length} values for shape [${w.shape.join(', ')}]`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])))
    throw bad(layer, `weight "${short}" has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return w.data;
}

/** Where a tensor lives: which spec layer made it and how our layout relates to tfjs's. */
export interface Tensor {
  /** Spec layer index producing it; -1 = the network input. */
  ref: number;
  /** Our shape (NCHW for images). */
  shape: number[];
  /** 'image': our [C, H, W] is tfjs's [H, W, C] (or [C, H, W] itself under channels_first). */
  kind: 'image' | 'flat' | 'other';
  /** For 'flat': ours[j] = tfjs[perm[j]]; null = the same order. */
  perm: Int32Array | null;
}

/** Appends a spec layer fed by `from` and returns the tensor it makes. */
export type Emit = (layer: LayerSpec, from: Tensor[], shape: number[], kind: Tensor['kind'], perm?: Int32Array | null) => Tensor;

/** TF's 'same' padding for one axis: [begin, end] with the extra pixel at the end. */
export function samePads(size: number, k: number, s: number, d: number): [number, number, number] {
  const out = Math.ceil(size / s);
  const span = (k - 1) * d + 1;
  const total = Math.max((out - 1) * s + span - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2), out];
}

export function validExtent(size: number, k: number, s: number, d: number): number {
  const span = (k - 1) * d + 1;
  return size < span ? 0 : Math.floor((size - span) / s) + 1;
}

/**
 * The pads ([top, left, bottom, right]) and output size of a window sliding over [h, w] under the
 * layer's `padding` ('valid' or 'same', TF's rule).
 */
export function windowGeometry(
  layer: TfjsLayer, h: number, w: number, kernel: [number, number], stride: [number, number], dilation: [number, number],
): { pads: [number, number, number, number]; oh: number; ow: number } {
  const padding = norm(cfg(layer, 'padding') ?? 'valid');
  if (padding === 'same') {
    const [t, b, oh] = samePads(h, kernel[0], stride[0], dilation[0]);
    const [l, r, ow] = samePads(w, kernel[1], stride[1], dilation[1]);
    return { pads: [t, l, b, r], oh, ow };
  }
  if (padding === 'valid')
    return { pads: [0, 0, 0, 0], oh: validExtent(h, kernel[0], stride[0], dilation[0]), ow: validExtent(w, kernel[1], stride[1], dilation[1]) };
  throw unsupported(layer, `padding ${JSON.stringify(cfg(layer, 'padding'))} is not supported (valid, same)`);
}
