/** explain / explainSync / explainBatch: option handling and result assembly. */
import { argmaxFirst } from './argmax.js';
import type { Model } from '../model/model.js';
import type { Depth, ExplainBatchOptions, ExplainOptions, Explanation, PathLayer, Region, Width } from './types.js';
import type { NativeExplainOptions, NativeExplainPacked } from '../addon/native.js';
import { boolean, checkOptions, checkTargets, describe, oneOf, positiveInteger, singleInput, toFloat32, wrongType } from '../validate.js';
import { abortError, fromNative } from '../errors.js';
import { nativeAddon } from '../addon/native.js';

const OPTION_NAMES = new Set(['width', 'depth', 'target', 'targets', 'semantics', 'threshold', 'maxMemoryBytes', 'decompose', 'region', 'regions', 'paths',
  'signal', 'onProgress',
  'score', 'keepOpposing', 'objective']);

// A decimal number followed by '%': '10%', '12.5%', '.5%'.
const PERCENT = /^(\d+(?:\.\d*)?|\.\d+)%$/;

function normaliseWidth(width: Width | undefined): Pick<NativeExplainOptions, 'widthMode' | 'widthValue'> {
  if (width === undefined || width === 'all') return { widthMode: 'all' };
  if (typeof width === 'number') {
    if (!Number.isSafeInteger(width) || width < 1)
      throw new RangeError(`width must be an integer >= 1, 'P%' or 'all'; got ${width}`);
    return { widthMode: 'count', widthValue: width };
  }
  if (typeof width === 'string') {
    const m = PERCENT.exec(width.trim());
    const p = m ? Number(m[1]) : NaN;
    if (!(p > 0 && p <= 100))
      throw new RangeError(`width must be an integer >= 1, a percentage in (0%, 100%] such as '10%', or 'all'; got ${JSON.stringify(width)}`);
    return { widthMode: 'percent', widthValue: p };
  }
  throw wrongType('width', 'a number or a string', width);
}

function normaliseDepth(depth: Depth | undefined, relus: number): number {
  if (depth === undefined || depth === 'all') return 0;
  if (typeof depth !== 'number') throw wrongType('depth', "an integer or 'all'", depth);
  if (!Number.isSafeInteger(depth) || depth < 1 || depth > relus)
    throw new RangeError(
      `depth must be an integer in [1, ${relus}] (the model has ${relus} ReLU layer${relus === 1 ? '' : 's'}) or 'all'; got ${depth}`,
    );
  return depth;
}

function normaliseDecompose(d: unknown, relus: number): NonNullable<NativeExplainOptions['decompose']> {
  if (d === null || typeof d !== 'object') throw wrongType('decompose', 'an object', d);
  const { by, layer } = d as { by?: unknown; layer?: unknown };
  const out: NonNullable<NativeExplainOptions['decompose']> = { by: 'unit' };
  if (by === 'unit' || by === 'channel') out.by = by;
  else if (by !== null && typeof by === 'object' && 'top' in by) {
    const m = (by as { top: unknown }).top;
    if (!Number.isSafeInteger(m) || (m as number) < 1) throw new RangeError(`decompose.by.top must be an integer >= 1, got ${describe(m)}`);
    out.by = 'top';
    out.top = m as number;
  } else throw new RangeError(`decompose.by must be 'unit', 'channel' or { top: m }, got ${describe(by)}`);
  if (layer !== undefined) {
    if (!Number.isSafeInteger(layer) || (layer as number) < 0 || (layer as number) >= relus)
      throw new RangeError(`decompose.layer must be a ReLU ordinal in [0, ${relus}), got ${describe(layer)}`);
    out.layer = layer as number;
  }
  return out;
}

/** A region as a 0/1 mask over the whole input (inputSize values). */
function regionMask(model: Model, region: Region, what: string): Float32Array {
  const shape = model.inputShape;
  const plane = shape.length >= 2 ? shape[shape.length - 2] * shape[shape.length - 1] : shape[0];
  const channels = model.inputSize / plane;
  const out = new Float32Array(model.inputSize);
  if (region !== null && typeof region === 'object' && 'width' in region && !('length' in region)) {
    const { x, y, width, height } = region;
    if (shape.length < 2) throw new RangeError(`${what}: a box needs an image input (shape [C, H, W] or [H, W])`);
    const H = shape[shape.length - 2], W = shape[shape.length - 1];
    for (const [k, v] of Object.entries({ x, y, width, height }))
      if (!Number.isSafeInteger(v) || (v as number) < 0) throw new RangeError(`${what}.${k} must be a non-negative integer, got ${describe(v)}`);
    if (width < 1 || height < 1 || x + width > W || y + height > H)
      throw new RangeError(`${what}: box ${JSON.stringify(region)} is empty or outside the ${H}×${W} image`);
    for (let c = 0; c < channels; c++)
      for (let r = y; r < y + height; r++) out.fill(1, c * plane + r * W + x, c * plane + r * W + x + width);
    return out;
  }
  if (region === null || typeof region !== 'object' || typeof (region as ArrayLike<number>).length !== 'number')
    throw wrongType(what, 'a 0/1 mask (array) or a box { x, y, width, height }', region);
  const mask = region as ArrayLike<number>;
  if (mask.length !== plane && mask.length !== model.inputSize)
    throw new RangeError(`${what} has ${mask.length} values; expected ${plane} (the image plane) or ${model.inputSize} (the whole input)`);
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i];
    if (v !== 0 && v !== 1) throw new RangeError(`${what}[${i}] must be 0 or 1, got ${describe(v)}`);
  }
  if (mask.length === model.inputSize) out.set(mask);
  else for (let c = 0; c < channels; c++) out.set(mask, c * plane);
  return out;
}

/** @internal The options as the addon takes them (also for estimate). */
export function normaliseOptions(model: Model, options: ExplainBatchOptions & { target?: number }, n: number): NativeExplainOptions {
  checkOptions(options, OPTION_NAMES);
  const semantics = options.semantics === undefined ? 'official' : oneOf(options.semantics, ['official', 'linear'], 'semantics');
  const native: NativeExplainOptions = {
    ...normaliseWidth(options.width),
    depth: normaliseDepth(options.depth, model.gateLayers.length),
    semantics,
  };
  const regions = (options as ExplainBatchOptions).regions;
  if (options.region !== undefined && regions !== undefined) throw new RangeError("give either 'region' or 'regions', not both");
  if (options.region !== undefined) {
    const one = regionMask(model, options.region, 'region');
    native.region = new Float32Array(n * model.inputSize);
    for (let e = 0; e < n; e++) native.region.set(one, e * model.inputSize);
  } else if (regions !== undefined) {
    if (!Array.isArray(regions)) throw wrongType('regions', 'an array', regions);
    if (regions.length !== n) throw new RangeError(`regions has ${regions.length} entries for ${n} inputs`);
    native.region = new Float32Array(n * model.inputSize);
    regions.forEach((r, e) => native.region!.set(regionMask(model, r, `regions[${e}]`), e * model.inputSize));
  }
  if (options.paths !== undefined) {
    const p = options.paths as unknown;
    if (p === null || typeof p !== 'object') throw wrongType('paths', 'an object', p);
    const { k, rank, maxEdges, beam } = p as { k?: unknown; rank?: unknown; maxEdges?: unknown; beam?: unknown };
    if (!Number.isSafeInteger(k) || (k as number) < 1 || (k as number) > 100000)
      throw new RangeError(`paths.k must be an integer in [1, 100000], got ${describe(k)}`);
    if (rank !== undefined) oneOf(rank, ['signed', 'abs'], 'paths.rank');
    for (const [name, v] of [['maxEdges', maxEdges], ['beam', beam]] as const)
      if (v !== undefined && (!Number.isSafeInteger(v) || (v as number) < 1)) throw new RangeError(`paths.${name} must be a positive integer, got ${describe(v)}`);
    native.paths = { k: k as number, ...(rank ? { rank: rank as 'signed' | 'abs' } : {}),
      ...(maxEdges !== undefined ? { maxEdges: maxEdges as number } : {}), ...(beam !== undefined ? { beam: beam as number } : {}) };
  }
  if (options.decompose !== undefined) native.decompose = normaliseDecompose(options.decompose, model.gateLayers.length);
  if (options.threshold === 'adaptive') native.adaptiveThreshold = true;
  else if (options.threshold !== undefined) {
    const t = options.threshold;
    if (typeof t !== 'number') throw wrongType('threshold', "a number or 'adaptive'", t);
    if (!(t >= 0 && t < 1)) throw new RangeError(`threshold must be in [0, 1) (a softmax score), got ${t}`);
    native.threshold = t;
  }
  if (options.score !== undefined) native.score = oneOf(options.score, ['softmax', 'target'] as const, 'score');
  if (native.score === 'target' && native.threshold !== undefined && native.threshold !== 0)
    throw new RangeError(`score 'target' keeps units with a positive contribution (threshold 0) or uses threshold 'adaptive'; got threshold ${native.threshold}`);
  if (options.keepOpposing !== undefined) native.keepOpposing = boolean(options.keepOpposing, 'keepOpposing');
  if (options.objective !== undefined) native.objective = oneOf(options.objective, ['logit', 'logSoftmax'] as const, 'objective');
  if (native.objective === 'logSoftmax' && (options.decompose !== undefined || options.paths !== undefined))
    throw new RangeError("objective 'logSoftmax' cannot be combined with decompose or paths (they split the target logit)");
  if (options.maxMemoryBytes !== undefined) native.maxMemoryBytes = positiveInteger(options.maxMemoryBytes, 'maxMemoryBytes');
  const targets = checkTargets(options, model.numClasses, n);
  if (targets) native.targets = targets;
  return native;
}

/**
 * The explanations of a batch from the addon's packed form (native/addon/convert.h
 * explain_results_to_js has the layout). Every array is a copy with its own buffer, as if the addon
 * had built each one. @internal
 */
export function unpackResults([numbers, floats, ints, extras]: NativeExplainPacked): Explanation[] {
  const out: Explanation[] = [];
  let nq = 0, fq = 0, iq = 0;
  const take = (count: number) => floats.slice(fq, (fq += count));
  while (nq < numbers.length) {
    const target = numbers[nq], predicted = numbers[nq + 1], classes = numbers[nq + 2], size = numbers[nq + 3];
    const bias = numbers[nq + 4], residual = numbers[nq + 5], recomputes = numbers[nq + 6], classChunk = numbers[nq + 7];
    const hasRegion = numbers[nq + 8] !== 0, regionShare = numbers[nq + 9], layerCount = numbers[nq + 10];
    nq += 11;
    const logits = take(classes), pathLogits = take(classes), weights = take(size), attribution = take(size);
    const regionAttribution = hasRegion ? take(size) : undefined;
    const layers: PathLayer[] = [];
    for (let l = 0; l < layerCount; l++, nq += 5) {
      const count = numbers[nq + 4];
      layers.push({
        ordinal: numbers[nq],
        units: ints.slice(iq, (iq += count)),
        scores: take(count),
        fallback: numbers[nq + 1] !== 0,
        k: numbers[nq + 2],
        borderline: numbers[nq + 3],
      });
    }
    const extra = extras?.[out.length];
    out.push({
      attribution,
      weights,
      bias,
      target,
      predicted,
      logits,
      pathLogits,
      pathLogit: pathLogits[target],
      pathPredicted: argmaxFirst(pathLogits),
      residual,
      layers,
      ...(regionAttribution ? { regionAttribution, regionShare } : {}),
      ...(extra?.decomposition ? { decomposition: extra.decomposition } : {}),
      ...(extra?.paths ? { paths: extra.paths } : {}),
      stats: { recomputes, classChunk },
    });
  }
  return out;
}

interface Watch {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** signal and onProgress, checked; sync forms refuse them (they cannot be watched while they block). */
function watchOptions(options: ExplainBatchOptions, sync: boolean): Watch {
  if (options === null || typeof options !== 'object') return {};
  const { signal, onProgress } = options;
  if (sync && (signal !== undefined || onProgress !== undefined))
    throw new TypeError("'signal' and 'onProgress' are for the async explain and explainBatch; the sync forms block until they finish");
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw wrongType('signal', 'an AbortSignal', signal);
  if (onProgress !== undefined && typeof onProgress !== 'function') throw wrongType('onProgress', 'a function', onProgress);
  return { signal, onProgress };
}

/**
 * The async native call, stoppable by the signal: an abort listener cancels the native job (its
 * core work stops at the next layer step), and progress reaches onProgress on this thread.
 */
async function runExplain(model: Model, x: Float32Array, n: number, native: NativeExplainOptions, watch: Watch): Promise<NativeExplainPacked> {
  const { signal, onProgress } = watch;
  if (!signal && !onProgress) return model.handle().explain(x, n, native);
  if (signal?.aborted) throw abortError(signal);
  const control = new (nativeAddon().JobControl)();
  let thrown: { error: unknown } | undefined;
  // Progress arrives through its own queue and can trail the result: a finished call waits for its
  // last step (done = total) so that every onProgress call happens before the promise settles.
  let finished = false, lastSeen: (() => void) | undefined;
  const progress = onProgress && ((done: number, total: number) => {
    if (done === total) {
      finished = true;
      lastSeen?.();
    }
    if (thrown) return;
    try {
      onProgress(done, total);
    } catch (error) {
      thrown = { error };
      control.cancel();
    }
  });
  const cancel = () => control.cancel();
  signal?.addEventListener('abort', cancel, { once: true });
  try {
    const results = await model.handle().explain(x, n, native, control, progress);
    if (progress && !finished) await new Promise<void>((resolve) => (lastSeen = resolve));
    if (thrown) throw thrown.error;
    return results;
  } catch (e) {
    if (thrown) throw thrown.error;
    if (e instanceof Error && e.name === 'AbortError') throw abortError(signal);
    throw e;
  } finally {
    signal?.removeEventListener('abort', cancel);
  }
}

function prepareSingle(model: Model, input: unknown, options: ExplainOptions) {
  const x = singleInput(model, input, 'explainBatch');
  if (options !== null && typeof options === 'object' && ('targets' in options || 'regions' in options))
    throw new RangeError("explain takes 'target' and 'region' (one each); 'targets' and 'regions' belong to explainBatch");
  return { x, native: normaliseOptions(model, options, 1) };
}

function prepareBatch(model: Model, inputs: unknown, options: ExplainBatchOptions) {
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  return { x, n, native: normaliseOptions(model, options, n) };
}

/**
 * Explains one input by its decision path. The heavy work runs off the JavaScript thread; the
 * input is copied when the call starts, so it may be reused at once.
 */
export async function explain(model: Model, input: Float32Array | ArrayLike<number>, options: ExplainOptions = {}): Promise<Explanation> {
  const { x, native } = prepareSingle(model, input, options);
  const watch = watchOptions(options, false);
  try {
    return unpackResults(await runExplain(model, x, 1, native, watch))[0];
  } catch (e) {
    throw fromNative(e);
  }
}

/** Synchronous twin of explain: reads the input in place and blocks the calling thread. */
export function explainSync(model: Model, input: Float32Array | ArrayLike<number>, options: ExplainOptions = {}): Explanation {
  const { x, native } = prepareSingle(model, input, options);
  watchOptions(options, true);
  try {
    return unpackResults(model.handle().explainSync(x, 1, native))[0];
  } catch (e) {
    throw fromNative(e);
  }
}

/**
 * Explains n inputs given back to back (n × inputSize values). Each example is independent (its
 * own target and path); the engine runs them as one batch of matrix products.
 */
export async function explainBatch(model: Model, inputs: Float32Array | ArrayLike<number>, options: ExplainBatchOptions = {}): Promise<Explanation[]> {
  const { x, n, native } = prepareBatch(model, inputs, options);
  const watch = watchOptions(options, false);
  try {
    return unpackResults(await runExplain(model, x, n, native, watch));
  } catch (e) {
    throw fromNative(e);
  }
}

/** Synchronous twin of explainBatch. */
export function explainBatchSync(model: Model, inputs: Float32Array | ArrayLike<number>, options: ExplainBatchOptions = {}): Explanation[] {
  const { x, n, native } = prepareBatch(model, inputs, options);
  watchOptions(options, true);
  try {
    return unpackResults(model.handle().explainSync(x, n, native));
  } catch (e) {
    throw fromNative(e);
  }
}
