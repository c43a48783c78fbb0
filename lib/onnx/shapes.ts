/**
 * Shape rules shared by layers and folding: ONNX Reshape targets, Squeeze / Unsqueeze axes and
 * NumPy broadcasting of a constant to an activation.
 */
import { badModel, unsupported } from './deps.js';
import type { NodeContext } from './context.js';
import type { FloatTensor } from './decode.js';
import { product } from './numbers.js';
import { BATCH } from './values.js';

/** Axes of Squeeze / Unsqueeze: input 1 (opset 13) or the attribute (earlier). */
export function axesOf(n: NodeContext): number[] | undefined {
  if (n.node.input[1]) {
    return n.intsAt(1, 'axes').data.map((v) => {
      if (v === BATCH) throw unsupported(`${n.op} at node ${n.label}: axes computed from the batch size`);
      return v;
    });
  }
  return n.intsAttr('axes');
}

/** Normalises Squeeze / Unsqueeze axes against `rank`: in range, no repeats. */
export function normAxes(axes: number[], rank: number, op: string, label: string): number[] {
  const norm = axes.map((a) => (a < 0 ? a + rank : a));
  if (norm.some((a) => a < 0 || a >= rank) || new Set(norm).size !== norm.length) {
    throw badModel(`${op} at node ${label}: axes [${axes}] are out of range or repeated for rank ${rank}`);
  }
  return norm;
}

/** `dims` with a 1 inserted at each of the normalised output axes `norm` (Unsqueeze). */
export function unsqueezeDims(dims: number[], norm: number[]): number[] {
  const out: number[] = [];
  let k = 0;
  for (let a = 0; a < dims.length + norm.length; a++) out.push(norm.includes(a) ? 1 : dims[k++]);
  return out;
}

/** ONNX Reshape rules: 0 copies the input dimension (unless allowzero), one -1 is inferred. */
export function resolveReshape(inDims: number[], target: number[], allowZero: number, label: string): number[] {
  const total = product(inDims);
  let inferAt = -1;
  const out = target.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inDims.length) {
        throw badModel(`Reshape at node ${label}: shape [${target}] copies dimension ${i} (0), but the input has rank ${inDims.length}`);
      }
      return inDims[i];
    }
    if (d === -1) {
      if (inferAt >= 0) throw badModel(`Reshape at node ${label}: shape [${target}] has more than one -1`);
      inferAt = i;
      return -1;
    }
    if (d < 0) throw badModel(`Reshape at node ${label}: shape [${target}] has an invalid entry ${d}`);
    if (d === 0) throw badModel(`Reshape at node ${label}: shape [${target}] with allowzero=1 makes an empty tensor`);
    return d;
  });
  const known = product(out.filter((_, i) => i !== inferAt));
  const fits = inferAt >= 0 ? known !== 0 && total % known === 0 : known === total;
  if (!fits) {
    throw badModel(`Reshape at node ${label}: cannot reshape ${total} elements ([${inDims.slice(1)}] plus batch) to [${target}]`);
  }
  if (inferAt >= 0) out[inferAt] = total / known;
  return out;
}

/**
 * Broadcasts a constant to `target` (the activation shape with a batch of 1), NumPy style, and
 * returns it flattened. 'expands' if the result would be larger than `target` (a constant that
 * changes the activation shape), 'incompatible' if the shapes do not broadcast at all.
 */
export function broadcastTo(c: FloatTensor, target: number[]): Float64Array | 'incompatible' | 'expands' {
  const src = c.dims;
  // A constant of higher rank would raise the activation's rank, even with only 1s to spare.
  let expands = src.length > target.length;
  for (let i = 1; i <= Math.min(src.length, target.length); i++) {
    const s = src[src.length - i];
    const d = target[target.length - i];
    if (s === d || s === 1) continue;
    if (d === 1) expands = true;
    else return 'incompatible';
  }
  if (expands) return 'expands';
  // Source strides aligned to target axes; 0 where the source broadcasts.
  const rank = target.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = 1; i <= src.length; i++) {
    const s = src[src.length - i];
    strides[rank - i] = s === 1 ? 0 : stride;
    stride *= s;
  }
  const n = product(target);
  const out = new Float64Array(n);
  const idx = new Array<number>(rank).fill(0);
  for (let j = 0; j < n; j++) {
    let off = 0;
    for (let a = 0; a < rank; a++) off += idx[a] * strides[a];
    out[j] = c.data[off];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < target[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

/**
 * A constant's value per channel of an activation of `shape` ([C, H, W], or [F] where every
 * feature is a channel): undefined when it broadcasts but varies within a channel, would expand
 * the activation, or the activation has another rank. PATHWISE_BAD_MODEL when the shapes do not
 * broadcast at all.
 */
export function perChannel(n: NodeContext, c: FloatTensor, shape: number[], what: string): Float64Array | undefined {
  if (shape.length !== 1 && shape.length !== 3) return undefined;
  const cb = broadcastTo(c, [1, ...shape]);
  if (cb === 'incompatible') {
    throw badModel(`${n.where}: ${what} of shape [${c.dims}] does not broadcast with the activation [batch, ${shape}]`);
  }
  if (cb === 'expands') return undefined;
  const channels = shape[0];
  const spatial = cb.length / channels;
  const out = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    out[ch] = cb[ch * spatial];
    for (let s = 1; s < spatial; s++) if (cb[ch * spatial + s] !== out[ch]) return undefined;
  }
  return out;
}
