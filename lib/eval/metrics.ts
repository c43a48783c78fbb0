/**
 * Insertion and deletion (docs/method.md §10, the Reference's RISE `evaluation.py`): insertionDeletion /
 * insertionDeletionSync for one image, insertionDeletionBatch / insertionDeletionBatchSync for many.
 * The states of every curve run as forward batches of the original network.
 */
import type { Model } from '../model/model.js';
import { nativeAddon, type NativeInsertionDeletion } from '../addon/native.js';
import { boolean, checkOptions, checkTargets, oneOf, positiveInteger, singleInput, toFloat32 } from '../validate.js';

/**
 * Order among pixels of equal attribution. 'stable' (default; the fixtures' order): value
 * descending, pixel index ascending. 'reference': the flip of a stable ascending argsort, i.e.
 * value descending, index descending. The Reference flips `np.argsort` with NumPy's default
 * quicksort (an introsort), which guarantees no order among ties at all, so its curves cannot be
 * reproduced exactly where ties matter (sparse maps, dead border pixels); 'reference' is the
 * closest well-defined reading of its code.
 */
export type TieOrder = 'stable' | 'reference';

export interface InsertionDeletionOptions {
  /** Pixels per step and channel; default the image width (n = ceil(H·W / step) steps). */
  step?: number;
  order?: TieOrder;
  /** The class whose softmax probability is tracked; default argmax f(x), lowest index on ties. */
  target?: number;
  /** Compute the insertion curve (default true). */
  insertion?: boolean;
  /** Compute the deletion curve (default true). */
  deletion?: boolean;
  /** States per forward batch; default: as many as fit maxMemoryBytes (at most 256). */
  chunkSize?: number;
  /** Memory budget of one forward batch (default 256 MiB). */
  maxMemoryBytes?: number;
  /**
   * Take the scores of states known without a forward pass from the forwards already run: deletion
   * starts at x and ends at zeros (one forward shared by all images), insertion ends at x, and a
   * step that changes no value repeats the previous score (default true). The curves are the same
   * either way; false runs one forward per state, as the Reference does.
   */
  reuseKnownStates?: boolean;
}

export interface InsertionDeletionBatchOptions extends Omit<InsertionDeletionOptions, 'target'> {
  targets?: ArrayLike<number>;
}

export interface InsertionDeletionResult {
  /** The class whose probability the curves track. */
  target: number;
  /** n + 1 softmax probabilities, blurred image → image (when requested). */
  insertion?: Float64Array;
  /** n + 1 softmax probabilities, image → zeros (when requested). */
  deletion?: Float64Array;
  /** (Σ sᵢ − s₀/2 − sₙ/2) / n; higher is better. */
  insertionAuc?: number;
  /** Same formula on the deletion curve; lower is better. */
  deletionAuc?: number;
}

export interface InsertionDeletionBatchResult {
  results: InsertionDeletionResult[];
  /** Number of steps n (each curve has n + 1 points) and pixels per step. */
  steps: number;
  step: number;
  meanInsertionAuc?: number;
  meanDeletionAuc?: number;
  /** Forward passes run (states through the network) and forward batches. */
  forwards: number;
  batches: number;
}


const OPTIONS = new Set(['step', 'order', 'target', 'targets', 'insertion', 'deletion', 'chunkSize', 'maxMemoryBytes', 'reuseKnownStates']);

function normalise(model: Model, options: InsertionDeletionBatchOptions & { target?: number }, n: number): object {
  checkOptions(options, OPTIONS);
  const native: Record<string, unknown> = {};
  if (options.step !== undefined) native.step = positiveInteger(options.step, 'step');
  if (options.order !== undefined) native.order = oneOf(options.order, ['stable', 'reference'], 'order');
  if (options.insertion !== undefined) native.insertion = boolean(options.insertion, 'insertion');
  if (options.deletion !== undefined) native.deletion = boolean(options.deletion, 'deletion');
  if (options.reuseKnownStates !== undefined) native.reuse = boolean(options.reuseKnownStates, 'reuseKnownStates');
  if (options.chunkSize !== undefined) native.chunkSize = positiveInteger(options.chunkSize, 'chunkSize');
  if (options.maxMemoryBytes !== undefined) native.maxMemoryBytes = positiveInteger(options.maxMemoryBytes, 'maxMemoryBytes');
  const targets = checkTargets(options, model.numClasses, n);
  if (targets) native.targets = targets;
  return native;
}

function mean(a: Float64Array | undefined): number | undefined {
  if (!a || a.length === 0) return undefined;
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}

function assemble(r: NativeInsertionDeletion): InsertionDeletionBatchResult {
  const points = r.steps + 1;
  const results = Array.from(r.classes, (target, e): InsertionDeletionResult => {
    const out: InsertionDeletionResult = { target };
    if (r.insertion) {
      out.insertion = r.insertion.slice(e * points, (e + 1) * points);
      out.insertionAuc = r.insertionAuc![e];
    }
    if (r.deletion) {
      out.deletion = r.deletion.slice(e * points, (e + 1) * points);
      out.deletionAuc = r.deletionAuc![e];
    }
    return out;
  });
  return {
    results, steps: r.steps, step: r.step, meanInsertionAuc: mean(r.insertionAuc), meanDeletionAuc: mean(r.deletionAuc),
    forwards: r.forwards, batches: r.batches,
  };
}

function prepare(model: Model, inputs: unknown, attributions: unknown, options: InsertionDeletionBatchOptions, single: boolean) {
  const x = single ? singleInput(model, inputs, 'insertionDeletionBatch') : toFloat32(inputs, 'inputs');
  const a = toFloat32(attributions, single ? 'attribution' : 'attributions');
  const n = model.batchCount(x, single ? 'input' : 'inputs');
  if (a.length !== x.length) throw new RangeError(`attribution has ${a.length} values, expected ${x.length} (one per input value)`);
  if (options !== null && typeof options === 'object') {
    if (single && 'targets' in options) throw new RangeError("insertionDeletion takes 'target'; 'targets' belongs to the batch form");
    if (!single && 'target' in options) throw new RangeError("insertionDeletionBatch takes 'targets' (one class per input), not 'target'");
  }
  return { x, a, n, native: normalise(model, options, n) };
}

/** Insertion and deletion curves and AUCs of one image and its attribution (same layout as the input). */
export async function insertionDeletion(model: Model, input: Float32Array | ArrayLike<number>, attribution: Float32Array | ArrayLike<number>,
  options: InsertionDeletionOptions = {}): Promise<InsertionDeletionResult> {
  const { x, a, n, native } = prepare(model, input, attribution, options, true);
  return assemble(await nativeAddon().insertionDeletion(model.handle(), x, a, n, native, true)).results[0];
}

/** Synchronous twin of insertionDeletion. */
export function insertionDeletionSync(model: Model, input: Float32Array | ArrayLike<number>, attribution: Float32Array | ArrayLike<number>,
  options: InsertionDeletionOptions = {}): InsertionDeletionResult {
  const { x, a, n, native } = prepare(model, input, attribution, options, true);
  return assemble(nativeAddon().insertionDeletion(model.handle(), x, a, n, native, false)).results[0];
}

/** Curves and AUCs of n images (and n attributions) back to back, with their means. */
export async function insertionDeletionBatch(model: Model, inputs: Float32Array | ArrayLike<number>, attributions: Float32Array | ArrayLike<number>,
  options: InsertionDeletionBatchOptions = {}): Promise<InsertionDeletionBatchResult> {
  const { x, a, n, native } = prepare(model, inputs, attributions, options, false);
  return assemble(await nativeAddon().insertionDeletion(model.handle(), x, a, n, native, true));
}

/** Synchronous twin of insertionDeletionBatch. */
export function insertionDeletionBatchSync(model: Model, inputs: Float32Array | ArrayLike<number>, attributions: Float32Array | ArrayLike<number>,
  options: InsertionDeletionBatchOptions = {}): InsertionDeletionBatchResult {
  const { x, a, n, native } = prepare(model, inputs, attributions, options, false);
  return assemble(nativeAddon().insertionDeletion(model.handle(), x, a, n, native, false));
}

/** The Reference's AUC of one curve: (Σ sᵢ − s₀/2 − sₙ/2) / n. */
export function curveAuc(curve: ArrayLike<number>): number {
  const n = curve.length - 1;
  if (n < 1) throw new RangeError('a curve needs at least 2 points');
  let s = 0;
  for (let i = 0; i <= n; i++) s += curve[i];
  return (s - curve[0] / 2 - curve[n] / 2) / n;
}

/** The blur substrate of insertion (11 × 11 Gaussian, σ = 5, zero padding 5, per channel). */
export function blurSubstrate(shape: readonly number[], input: Float32Array | ArrayLike<number>): Float32Array {
  if (!Array.isArray(shape) || shape.length !== 3) throw new TypeError('shape must be [C, H, W]');
  const x = toFloat32(input, 'input');
  return nativeAddon().blurImage([shape[0], shape[1], shape[2]], x);
}
