/** Models: loading from any source into the native engine, and the Model handle users hold. */
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import type { LayerSpec, NetworkSpec } from './layers.js';
import type { GateLayerInfo, ReluLayerInfo } from '../explain/types.js';
import { fromNative, PathwiseError } from '../errors.js';
import { checkOptions, describe, toFloat32 } from '../validate.js';
import { nativeAddon, type NativeNetwork } from '../addon/native.js';
import { lowerNetwork, product } from './lower.js';
import { isTfjsSource, tfjsSourceToSpec, tfjsSourceToSpecSync } from './sources.js';
import { parseOnnx } from '../onnx/load.js';

/**
 * Where a model comes from: a path to an .onnx file, ONNX bytes, a plain layer-spec array, or a
 * `{ inputShape, layers }` object.
 */
export type ModelSource = string | Uint8Array | ArrayBuffer | LayerSpec[] | NetworkSpec | TfjsLayersModelLike;

/** An in-memory tf.LayersModel (duck-typed: `layers` and `getWeights()`; tfjs is never imported). */
export interface TfjsLayersModelLike {
  layers: unknown[];
  getWeights(): unknown[];
}

export interface LoadOptions {
  /** Input shape without the batch dimension, for a plain layer array (default: [first dense in]). */
  inputShape?: number[];
  /**
   * ONNX and tfjs models: drop a final softmax (ONNX: a trailing Softmax or LogSoftmax node) and
   * explain the logits (default false: a softmax output is refused, since pathwise explains the
   * logits of a piecewise-linear network).
   */
  stripSoftmax?: boolean;
}

const LOAD_OPTIONS: ReadonlySet<string> = new Set(['inputShape', 'stripSoftmax']);

export class Model {
  /** Input shape without the batch dimension, e.g. [1, 28, 28]. */
  readonly inputShape: readonly number[];
  /** Floats per example. */
  readonly inputSize: number;
  readonly numClasses: number;
  /**
   * The gate layers (ReLU and the other piecewise-linear gates: the path layers), bottom → top;
   * `ordinal` is the index in this list.
   */
  readonly gateLayers: readonly GateLayerInfo[];
  /** @deprecated Use gateLayers (the same array). */
  get reluLayers(): readonly ReluLayerInfo[] {
    return this.gateLayers;
  }
  #native: NativeNetwork | undefined;

  /** @internal use loadModel / loadModelSync. */
  constructor(spec: NetworkSpec) {
    const { nativeLayers, reluLayers, numClasses, inputShape3 } = lowerNetwork(spec);
    this.inputShape = Object.freeze([...spec.inputShape]);
    this.inputSize = product(spec.inputShape);
    this.numClasses = numClasses;
    this.gateLayers = Object.freeze(reluLayers.map((l) => Object.freeze(l)));
    try {
      this.#native = new (nativeAddon().NativeNetwork)(inputShape3, nativeLayers);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.#native === undefined;
  }

  /**
   * Logits of the original network for one input or a batch (n × inputSize values back to back).
   * Returns n × numClasses values.
   */
  forward(input: Float32Array | ArrayLike<number>): Float32Array {
    const x = toFloat32(input, 'input');
    const n = this.batchCount(x, 'input');
    try {
      return this.handle().forward(x, n);
    } catch (e) {
      throw fromNative(e);
    }
  }

  /**
   * Releases the native weights. Explanations already running keep their own reference and finish
   * normally; later calls throw a PathwiseError with code PATHWISE_DISPOSED.
   */
  dispose(): void {
    this.#native?.dispose();
    this.#native = undefined;
  }

  /** @internal */
  handle(): NativeNetwork {
    if (!this.#native) throw new PathwiseError('PATHWISE_DISPOSED', 'the model has been disposed');
    return this.#native;
  }

  /** @internal Number of examples in a flat batch, or a RangeError naming the expected size. */
  batchCount(x: Float32Array, what: string): number {
    if (x.length === 0 || x.length % this.inputSize !== 0)
      throw new RangeError(
        `${what} has ${x.length} values; expected a multiple of the input size ${this.inputSize} ` +
          `(shape [${this.inputShape.join(', ')}])`,
      );
    return x.length / this.inputSize;
  }
}

/** Loads a model; ONNX files are read asynchronously. */
export async function loadModel(source: ModelSource, options: LoadOptions = {}): Promise<Model> {
  checkOptions(options, LOAD_OPTIONS);
  // tfjs first: a tf.LayersModel also has a `layers` array.
  if (isTfjsSource(source)) return new Model(await tfjsSourceToSpec(source, { stripSoftmax: options.stripSoftmax }));
  if (typeof source === 'string') return new Model(specFromBytes(await readModelFile(source), source, options));
  return loadModelSync(source, options);
}

/** Synchronous twin of loadModel. */
export function loadModelSync(source: ModelSource, options: LoadOptions = {}): Model {
  checkOptions(options, LOAD_OPTIONS);
  if (isTfjsSource(source)) return new Model(tfjsSourceToSpecSync(source, { stripSoftmax: options.stripSoftmax }));
  if (typeof source === 'string') return new Model(specFromBytes(readModelFileSync(source), source, options));
  if (source instanceof Uint8Array) return new Model(specFromBytes(source, 'bytes', options));
  if (source instanceof ArrayBuffer) return new Model(specFromBytes(new Uint8Array(source), 'bytes', options));
  if (Array.isArray(source)) return new Model(specFromLayers(source, options.inputShape));
  if (source !== null && typeof source === 'object' && Array.isArray((source as NetworkSpec).layers))
    return new Model(specFromLayers((source as NetworkSpec).layers, (source as NetworkSpec).inputShape ?? options.inputShape));
  throw new TypeError(
    `model source must be an .onnx or tfjs model.json path, ONNX bytes, a tf.LayersModel, a layer array or { inputShape, layers }; got ${describe(source)}`,
  );
}

async function readModelFile(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (cause) {
    throw new PathwiseError('PATHWISE_BAD_MODEL', `cannot read model file ${path}: ${(cause as Error).message}`, { cause });
  }
}

function readModelFileSync(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new PathwiseError('PATHWISE_BAD_MODEL', `cannot read model file ${path}: ${(cause as Error).message}`, { cause });
  }
}

function specFromBytes(bytes: Uint8Array, origin: string, options: LoadOptions): NetworkSpec {
  try {
    return parseOnnx(bytes, { stripSoftmax: options.stripSoftmax === true });
  } catch (e) {
    if (e instanceof PathwiseError && origin !== 'bytes') e.message = `${origin}: ${e.message}`;
    throw e;
  }
}

function specFromLayers(layers: LayerSpec[], inputShape: number[] | undefined): NetworkSpec {
  if (inputShape === undefined) {
    const first = layers[0] as Partial<LayerSpec> | undefined;
    if (!first || first.type !== 'dense')
      throw new RangeError('inputShape is required when the first layer is not dense');
    inputShape = [(first as { in: number }).in];
  }
  return { inputShape, layers };
}
