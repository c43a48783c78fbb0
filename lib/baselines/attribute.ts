/**
 * Gradient baselines in the same engine as pathwise (docs/method.md §9) and unwrapping: attribute /
 * attributeSync / attributeBatch / attributeBatchSync, unwrap / unwrapSync / unwrapBatch /
 * unwrapBatchSync, and modelLayers (the engine's layer list, to name a Grad-CAM layer).
 */
import type { Model } from '../model/model.js';
import { nativeAddon, type EngineLayer, type NativeAttribution, type NativeUnwrap } from '../addon/native.js';
import { checkOptions, checkTargets, describe, oneOf, positiveInteger, singleInput, toFloat32, wrongType } from '../validate.js';

export type { EngineLayer } from '../addon/native.js';

export type AttributionMethod = 'saliency' | 'inputXGradient' | 'integratedGradients' | 'guidedBackprop' | 'guidedGradCam';

export const ATTRIBUTION_METHODS: readonly AttributionMethod[] = Object.freeze([
  'saliency', 'inputXGradient', 'integratedGradients', 'guidedBackprop', 'guidedGradCam',
]);

/**
 * Integrated-gradients quadrature on [0, 1]: captum's approximation methods under captum's names,
 * computed as captum's approximation_methods.py defines them — 'gausslegendre' (captum's default;
 * 'gauss-legendre' is the same rule), 'riemann_left' (α_i = i/n), 'riemann_right' ((i + 1)/n),
 * 'riemann_middle' ((i + ½)/n), each with weights 1/n, and 'riemann_trapezoid' (α_i = i/(n − 1),
 * weights 1/n with both ends halved, so they sum to (n − 1)/n) — and 'trapezoid', the textbook
 * composite trapezoid rule captum does not have (α_i = i/(n − 1), weights 1/(n − 1) with both ends
 * halved, summing to 1; the reference code's fixtures use it). The Riemann and trapezoid rules need
 * at least 2 points.
 */
export type QuadratureRule =
  | 'gauss-legendre' | 'gausslegendre' | 'riemann_left' | 'riemann_right' | 'riemann_middle' | 'riemann_trapezoid' | 'trapezoid';

export interface AttributeOptions {
  /**
   * 'saliency': ∂f_t/∂x, signed (captum Saliency(abs=False)). 'inputXGradient': x ⊙ ∂f_t/∂x.
   * 'integratedGradients': (x − x₀) ⊙ Σ sᵢ ∇f_t(x₀ + αᵢ (x − x₀)). 'guidedBackprop': the VJP with
   * every ReLU backward replaced by max(0, δ ⊙ φ), not multiplied by x. 'guidedGradCam': Grad-CAM
   * at `layer` (ReLU(Σ_k mean(∂f_t/∂L_k) L_k), nearest-neighbour upsampled) times guided backprop.
   */
  method: AttributionMethod;
  /** Class to explain; default the predicted class (argmax of the logits, lowest index on ties). */
  target?: number;
  /** integratedGradients: number of path points (default 50). */
  steps?: number;
  /**
   * integratedGradients: the baseline x₀ in the model's input space — a number (every entry) or
   * inputSize values (batch forms: inputSize values shared, or n × inputSize, one per input).
   * Default 0.
   */
  baseline?: number | ArrayLike<number>;
  /**
   * integratedGradients quadrature (QuadratureRule): 'gauss-legendre' / 'gausslegendre' (default,
   * captum's default; nodes by Newton iteration in float64), captum's 'riemann_left',
   * 'riemann_right', 'riemann_middle', 'riemann_trapezoid' (steps of 1/n, ends halved), or the
   * textbook 'trapezoid' (steps of 1/(steps − 1), ends halved).
   */
  rule?: QuadratureRule;
  /** Examples (integratedGradients: path points) per engine batch; default: as many as fit in memory. */
  chunkSize?: number;
  /**
   * guidedGradCam: the layer L, as its index in modelLayers(model) or its name; default the last
   * MaxPool (docs/method.md §9). Models without a MaxPool must name one.
   */
  layer?: number | string;
  /** Working-memory budget that sets the default chunk size (default 1 GiB). */
  maxMemoryBytes?: number;
}

export interface AttributeBatchOptions extends Omit<AttributeOptions, 'target'> {
  /** One target per input; default each input's predicted class. */
  targets?: ArrayLike<number>;
}

export interface Attribution {
  /** Shaped like the input (flat, NCHW). */
  attribution: Float32Array;
  target: number;
  predicted: number;
  /** Logits of the original network at x. */
  logits: Float32Array;
  /** integratedGradients: convergence delta Σ attribution − (f_t(x) − f_t(x₀)). */
  delta?: number;
  /** guidedGradCam: the engine layer index used as L. */
  layer?: number;
}

/** The full local linear model of the original network at x: f(x') = W x' + b on x's linear region. */
export interface Unwrapped {
  /** C × inputSize, row-major: W = ∂f/∂x. */
  weights: Float32Array;
  /** C values: b. */
  bias: Float64Array;
  /** f(x), C values. */
  logits: Float32Array;
  /** W x + b − f(x) per class, computed in float64 (float32 rounding only). */
  residual: Float64Array;
  predicted: number;
}

export interface UnwrapOptions {
  /** Inputs per engine batch (each needs C cotangent rows); default: as many as fit in memory. */
  chunkSize?: number;
  maxMemoryBytes?: number;
}

const ATTRIBUTE_OPTIONS = new Set(['method', 'target', 'targets', 'steps', 'baseline', 'rule', 'chunkSize', 'layer', 'maxMemoryBytes']);
const UNWRAP_OPTIONS = new Set(['chunkSize', 'maxMemoryBytes']);
const QUADRATURE_RULES: readonly QuadratureRule[] = Object.freeze([
  'gauss-legendre', 'gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid', 'trapezoid',
]);

/** Engine layers of a model, in the order the engine runs them (the `layer` option indexes this list). */
export function modelLayers(model: Model): EngineLayer[] {
  return nativeAddon().networkLayers(model.handle());
}

function resolveLayer(model: Model, layer: unknown): number | undefined {
  if (layer === undefined) return undefined;
  const layers = modelLayers(model);
  if (typeof layer === 'string') {
    const hit = layers.find((l) => l.name === layer);
    if (!hit) throw new RangeError(`no layer named ${JSON.stringify(layer)} (named layers: ${layers.filter((l) => l.name).map((l) => l.name).join(', ') || 'none'})`);
    return hit.index;
  }
  if (typeof layer !== 'number') throw wrongType('layer', 'a layer index or name', layer);
  if (!Number.isSafeInteger(layer) || layer < 0 || layer >= layers.length - 1)
    throw new RangeError(`layer must be the index of a hidden layer in modelLayers(model), 0 … ${layers.length - 2}; got ${layer}`);
  return layer;
}

function normaliseAttribute(model: Model, options: AttributeBatchOptions & { target?: number }, n: number): object {
  checkOptions(options, ATTRIBUTE_OPTIONS);
  const { method } = options;
  if (typeof method !== 'string') throw new TypeError(`method must be one of ${ATTRIBUTION_METHODS.join(', ')}; got ${describe(method)}`);
  if (!ATTRIBUTION_METHODS.includes(method)) throw new RangeError(`method must be one of ${ATTRIBUTION_METHODS.join(', ')}; got ${JSON.stringify(method)}`);
  const native: Record<string, unknown> = { method };
  const targets = checkTargets(options, model.numClasses, n);
  if (targets) native.targets = targets;
  const igOnly = ['steps', 'baseline', 'rule'] as const;
  for (const key of igOnly)
    if (options[key] !== undefined && method !== 'integratedGradients')
      throw new RangeError(`option ${key} applies to integratedGradients only`);
  if (options.layer !== undefined && method !== 'guidedGradCam') throw new RangeError('option layer applies to guidedGradCam only');
  if (options.steps !== undefined) native.steps = positiveInteger(options.steps, 'steps', 100000);
  if (options.rule !== undefined) native.rule = oneOf(options.rule, QUADRATURE_RULES, 'rule');
  if (options.baseline !== undefined) {
    const b = options.baseline;
    if (typeof b === 'number') {
      if (!Number.isFinite(b)) throw new RangeError(`baseline must be finite, got ${b}`);
      native.baseline = new Float32Array(model.inputSize).fill(b);
    } else {
      const arr = toFloat32(b, 'baseline');
      if (arr.length !== model.inputSize && arr.length !== n * model.inputSize)
        throw new RangeError(`baseline has ${arr.length} values; expected ${model.inputSize}${n > 1 ? ` or ${n} × ${model.inputSize}` : ''}`);
      native.baseline = arr;
    }
  }
  if (options.chunkSize !== undefined) native.chunkSize = positiveInteger(options.chunkSize, 'chunkSize');
  if (options.maxMemoryBytes !== undefined) native.maxMemoryBytes = positiveInteger(options.maxMemoryBytes, 'maxMemoryBytes');
  const layer = resolveLayer(model, options.layer);
  if (layer !== undefined) native.layer = layer;
  return native;
}

function splitAttribution(model: Model, r: NativeAttribution): Attribution[] {
  const d = model.inputSize, c = model.numClasses;
  return Array.from(r.targets, (target, e) => {
    const a: Attribution = {
      attribution: r.attribution.slice(e * d, (e + 1) * d),
      target,
      predicted: r.predicted[e],
      logits: r.logits.slice(e * c, (e + 1) * c),
    };
    if (r.delta) a.delta = r.delta[e];
    if (r.layer !== undefined) a.layer = r.layer;
    return a;
  });
}

function prepareSingle(model: Model, input: unknown, options: AttributeOptions) {
  const x = singleInput(model, input, 'attributeBatch');
  if (options !== null && typeof options === 'object' && 'targets' in options)
    throw new RangeError("attribute takes 'target' (one class); 'targets' belongs to attributeBatch");
  return { x, native: normaliseAttribute(model, options, 1) };
}

function prepareBatch(model: Model, inputs: unknown, options: AttributeBatchOptions) {
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  if (options !== null && typeof options === 'object' && 'target' in options)
    throw new RangeError("attributeBatch takes 'targets' (one class per input), not 'target'");
  return { x, n, native: normaliseAttribute(model, options, n) };
}

/** Attribution of one input by a baseline method; the work runs off the JavaScript thread. */
export async function attribute(model: Model, input: Float32Array | ArrayLike<number>, options: AttributeOptions): Promise<Attribution> {
  const { x, native } = prepareSingle(model, input, options);
  const r = await nativeAddon().attribute(model.handle(), x, 1, native, true);
  return splitAttribution(model, r)[0];
}

/** Synchronous twin of attribute. */
export function attributeSync(model: Model, input: Float32Array | ArrayLike<number>, options: AttributeOptions): Attribution {
  const { x, native } = prepareSingle(model, input, options);
  return splitAttribution(model, nativeAddon().attribute(model.handle(), x, 1, native, false))[0];
}

/** Attributions of n inputs given back to back, run as batches of matrix products. */
export async function attributeBatch(model: Model, inputs: Float32Array | ArrayLike<number>, options: AttributeBatchOptions): Promise<Attribution[]> {
  const { x, n, native } = prepareBatch(model, inputs, options);
  return splitAttribution(model, await nativeAddon().attribute(model.handle(), x, n, native, true));
}

/** Synchronous twin of attributeBatch. */
export function attributeBatchSync(model: Model, inputs: Float32Array | ArrayLike<number>, options: AttributeBatchOptions): Attribution[] {
  const { x, n, native } = prepareBatch(model, inputs, options);
  return splitAttribution(model, nativeAddon().attribute(model.handle(), x, n, native, false));
}

function normaliseUnwrap(options: UnwrapOptions): object {
  checkOptions(options, UNWRAP_OPTIONS);
  const native: Record<string, number> = {};
  if (options.chunkSize !== undefined) native.chunkSize = positiveInteger(options.chunkSize, 'chunkSize');
  if (options.maxMemoryBytes !== undefined) native.maxMemoryBytes = positiveInteger(options.maxMemoryBytes, 'maxMemoryBytes');
  return native;
}

function splitUnwrap(model: Model, r: NativeUnwrap): Unwrapped[] {
  const d = model.inputSize, c = model.numClasses, n = r.logits.length / c;
  return Array.from({ length: n }, (_, e) => {
    const logits = r.logits.slice(e * c, (e + 1) * c);
    let predicted = 0;
    for (let j = 1; j < c; j++) if (logits[j] > logits[predicted]) predicted = j;
    return {
      weights: r.weights.slice(e * c * d, (e + 1) * c * d),
      bias: r.bias.slice(e * c, (e + 1) * c),
      logits,
      residual: r.residual.slice(e * c, (e + 1) * c),
      predicted,
    };
  });
}

/**
 * The full local linear model W (C × d), b (C) of the original network at x, from one sweep of C
 * cotangent rows; W x + b = f(x) up to rounding, and W[t] ⊙ x is input × gradient.
 */
export async function unwrap(model: Model, input: Float32Array | ArrayLike<number>, options: UnwrapOptions = {}): Promise<Unwrapped> {
  const x = singleInput(model, input, 'unwrapBatch');
  return splitUnwrap(model, await nativeAddon().unwrap(model.handle(), x, 1, normaliseUnwrap(options), true))[0];
}

/** Synchronous twin of unwrap. */
export function unwrapSync(model: Model, input: Float32Array | ArrayLike<number>, options: UnwrapOptions = {}): Unwrapped {
  const x = singleInput(model, input, 'unwrapBatch');
  return splitUnwrap(model, nativeAddon().unwrap(model.handle(), x, 1, normaliseUnwrap(options), false))[0];
}

/** unwrap for n inputs back to back. */
export async function unwrapBatch(model: Model, inputs: Float32Array | ArrayLike<number>, options: UnwrapOptions = {}): Promise<Unwrapped[]> {
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  return splitUnwrap(model, await nativeAddon().unwrap(model.handle(), x, n, normaliseUnwrap(options), true));
}

/** Synchronous twin of unwrapBatch. */
export function unwrapBatchSync(model: Model, inputs: Float32Array | ArrayLike<number>, options: UnwrapOptions = {}): Unwrapped[] {
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  return splitUnwrap(model, nativeAddon().unwrap(model.handle(), x, n, normaliseUnwrap(options), false));
}

/**
 * The integrated-gradients quadrature on [0, 1] as the engine uses it: ascending α and their
 * weights, in float64 (QuadratureRule). Gauss–Legendre nodes by Newton iteration; the Riemann rules
 * as captum defines them (exact i/n, … here, where captum's torch.linspace rounds α to float32);
 * the textbook trapezoid. Weights sum to 1 except for 'riemann_trapezoid' ((n − 1)/n, as captum's).
 */
export function quadrature(rule: QuadratureRule, n: number): { alpha: Float64Array; weight: Float64Array } {
  return nativeAddon().quadrature(oneOf(rule, QUADRATURE_RULES, 'rule'), positiveInteger(n, 'n', 100000));
}
