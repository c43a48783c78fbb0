/**
 * Reading tfjs LayersModel files (model.json + binary weight shards, the format of
 * `model.save('file://…')`, `tf.io.withSaveHandler` and tensorflowjs_converter's layers-model
 * output) and in-memory `tf.LayersModel` objects (duck-typed: @tensorflow/tfjs is never imported).
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { NetworkSpec } from '../model/layers.js';
import { PathwiseError } from '../errors.js';
import { describe, wrongType } from '../validate.js';
import { halfToFloat } from '../io/float16.js';
import { convertTfjsGraph, type TfjsConvertOptions, type TfjsGraph, type TfjsLayer, type TfjsWeight } from './convert.js';

/** One entry of a weights manifest (tf.io.WeightsManifestEntry). */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/** The parts of tf.io.ModelArtifacts that a LayersModel needs. */
export interface TfjsArtifacts {
  modelTopology: unknown;
  weightSpecs: TfjsWeightSpec[];
  /** All weights back to back, in weightSpecs order (several buffers are concatenated). */
  weightData: ArrayBuffer | ArrayBufferView | ReadonlyArray<ArrayBuffer | ArrayBufferView>;
}

function bad(message: string, cause?: unknown): PathwiseError {
  return new PathwiseError('PATHWISE_BAD_MODEL', message, cause === undefined ? undefined : { cause });
}

function toBytes(data: TfjsArtifacts['weightData']): Uint8Array {
  const parts = Array.isArray(data) ? data : [data];
  const views = parts.map((p) => {
    if (p instanceof ArrayBuffer) return new Uint8Array(p);
    if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
    throw wrongType('weightData', 'ArrayBuffer(s)', p);
  });
  if (views.length === 1) return views[0];
  const total = views.reduce((a, v) => a + v.byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const v of views) { out.set(v, at); at += v.byteLength; }
  return out;
}

/** Weight name without a trailing ':0' (Keras variable names). */
const cleanName = (name: string) => name.replace(/:\d+$/, '');

/** Decodes the weights of a manifest into full name → values. */
export function decodeWeights(specs: readonly TfjsWeightSpec[], data: TfjsArtifacts['weightData']): Map<string, TfjsWeight> {
  if (!Array.isArray(specs)) throw bad('weight specs must be an array');
  const bytes = toBytes(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Map<string, TfjsWeight>();
  let offset = 0;
  for (const spec of specs) {
    if (!spec || typeof spec.name !== 'string' || !Array.isArray(spec.shape)) throw bad(`bad weight spec ${JSON.stringify(spec)}`);
    const count = spec.shape.reduce((a: number, b: number) => a * b, 1);
    const q = spec.quantization;
    const width = q ? (q.dtype === 'uint8' ? 1 : q.dtype === 'uint16' || q.dtype === 'float16' ? 2 : 0)
      : spec.dtype === 'float32' || spec.dtype === 'int32' ? 4 : spec.dtype === 'bool' ? 1 : 0;
    if (width === 0)
      throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs weight "${spec.name}": dtype ${q ? `${q.dtype} (quantized)` : spec.dtype} is not supported`);
    if (offset + count * width > bytes.byteLength)
      throw bad(`tfjs weights: "${spec.name}" needs bytes ${offset}…${offset + count * width} but the weight data has ${bytes.byteLength}`);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const at = offset + i * width;
      if (q) {
        if (q.dtype === 'float16') values[i] = halfToFloat(view.getUint16(at, true));
        else values[i] = (q.dtype === 'uint8' ? view.getUint8(at) : view.getUint16(at, true)) * (q.scale ?? 1) + (q.min ?? 0);
      } else if (spec.dtype === 'float32') values[i] = view.getFloat32(at, true);
      else if (spec.dtype === 'int32') values[i] = view.getInt32(at, true);
      else values[i] = view.getUint8(at);
    }
    offset += count * width;
    out.set(cleanName(spec.name), { shape: [...spec.shape], data: values });
  }
  if (offset !== bytes.byteLength) throw bad(`tfjs weights: the manifest describes ${offset} bytes, the weight data has ${bytes.byteLength}`);
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Names of the layers in a Keras 3 inbound node's args (keras_history entries), in order. */
function kerasHistoryNames(v: unknown, out: string[]): void {
  if (Array.isArray(v)) { for (const x of v) kerasHistoryNames(x, out); return; }
  if (!isRecord(v)) return;
  const cfg = v.config;
  if (isRecord(cfg) && Array.isArray(cfg.keras_history)) { out.push(String(cfg.keras_history[0])); return; }
  for (const x of Object.values(v)) kerasHistoryNames(x, out);
}

function shapeFrom(config: Record<string, unknown>): number[] | undefined {
  for (const key of ['batch_input_shape', 'batchInputShape', 'batch_shape', 'batchShape']) {
    const v = config[key];
    if (Array.isArray(v)) return v.slice(1) as number[];
  }
  for (const key of ['input_shape', 'inputShape']) {
    const v = config[key];
    if (Array.isArray(v)) return v as number[];
  }
  return undefined;
}

/** Reads the layer list and connectivity out of a Keras/tfjs model topology. */
export function topologyLayers(topology: unknown): { inputShape: number[] | undefined; layers: Omit<TfjsLayer, 'weights'>[]; output?: string } {
  let top = topology;
  if (isRecord(top) && isRecord(top.model_config)) top = top.model_config; // Keras HDF5 converter output
  if (!isRecord(top) || typeof top.class_name !== 'string')
    throw bad('tfjs model: modelTopology is not a Keras model config (no class_name)');
  const className = top.class_name;
  const config = top.config;
  const rawLayers = Array.isArray(config) ? config : isRecord(config) && Array.isArray(config.layers) ? config.layers : undefined;
  if (!rawLayers) throw bad(`tfjs model: ${className} config has no layers`);
  const sequential = className === 'Sequential';
  if (!sequential && className !== 'Model' && className !== 'Functional')
    throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs model: model class ${className} is not supported (Sequential, Model, Functional)`);
  let inputShape: number[] | undefined;
  const layers: Omit<TfjsLayer, 'weights'>[] = rawLayers.map((raw: unknown, i: number) => {
    if (!isRecord(raw) || typeof raw.class_name !== 'string' || !isRecord(raw.config))
      throw bad(`tfjs model: layer ${i} is malformed`);
    const cfg = raw.config;
    const name = String(raw.name ?? cfg.name ?? `layer_${i}`);
    inputShape ??= shapeFrom(cfg);
    if (raw.class_name === 'Sequential' || raw.class_name === 'Model' || raw.class_name === 'Functional')
      throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs layer "${name}" (${raw.class_name}): nested models are not supported`);
    let inbound: string[] | undefined;
    if (!sequential) {
      const nodes = raw.inbound_nodes;
      if (!Array.isArray(nodes) || nodes.length === 0) inbound = [];
      else if (nodes.length > 1)
        throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs layer "${name}" (${raw.class_name}): shared layers (called more than once) are not supported`);
      else if (Array.isArray(nodes[0])) inbound = (nodes[0] as unknown[]).map((e) => String((e as unknown[])[0]));
      else { inbound = []; kerasHistoryNames((nodes[0] as Record<string, unknown>).args, inbound); }
    }
    return { className: raw.class_name, name, config: cfg, inbound };
  });
  let output: string | undefined;
  if (!sequential && isRecord(config)) {
    const outs = config.output_layers;
    const list = Array.isArray(outs) && outs.length > 0 ? (Array.isArray(outs[0]) ? outs : [outs]) : [];
    if (list.length > 1) throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', 'tfjs model: models with several outputs are not supported');
    if (list.length === 1) output = String((list[0] as unknown[])[0]);
    const ins = config.input_layers;
    const inList = Array.isArray(ins) && ins.length > 0 ? (Array.isArray(ins[0]) ? ins : [ins]) : [];
    if (inList.length > 1) throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', 'tfjs model: models with several inputs are not supported');
  }
  // A functional model lists its InputLayer with no inbound node; other layers need one.
  for (const l of layers)
    if (l.inbound && l.inbound.length === 0 && l.className !== 'InputLayer')
      throw bad(`tfjs layer "${l.name}" (${l.className}): no inbound node`);
  return { inputShape, layers, output };
}

/** Attaches each layer's weights (full names "<layer>/<short>", possibly under a scope). */
function withWeights(layers: Omit<TfjsLayer, 'weights'>[], all: Map<string, TfjsWeight>): TfjsLayer[] {
  return layers.map((l) => {
    const weights = new Map<string, TfjsWeight>();
    const prefix = `${l.name}/`;
    for (const [full, w] of all) {
      const at = full === prefix ? -1 : full.startsWith(prefix) ? 0 : full.indexOf(`/${prefix}`);
      if (at < 0) continue;
      const short = full.slice(at === 0 ? prefix.length : at + 1 + prefix.length);
      if (!short.includes('/') && !weights.has(short)) weights.set(short, w);
    }
    return { ...l, weights };
  });
}

/** Converts tfjs ModelArtifacts (as a save handler receives them) to a NetworkSpec. */
export function tfjsArtifactsToSpec(artifacts: TfjsArtifacts, options: TfjsConvertOptions = {}): NetworkSpec {
  if (!isRecord(artifacts)) throw wrongType('artifacts', 'an object', artifacts);
  const { inputShape, layers, output } = topologyLayers(artifacts.modelTopology);
  if (!inputShape) throw bad('tfjs model: no input shape (batch_input_shape) in the topology');
  const weights = decodeWeights(artifacts.weightSpecs ?? [], artifacts.weightData ?? new ArrayBuffer(0));
  const graph: TfjsGraph = { inputShape, layers: withWeights(layers, weights), output };
  return convertTfjsGraph(graph, options);
}

interface ModelJson {
  modelTopology?: unknown;
  weightsManifest?: Array<{ paths: string[]; weights: TfjsWeightSpec[] }>;
  format?: string;
}

function parseModelJson(text: string, path: string): ModelJson {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw bad(`${path}: not JSON (${(cause as Error).message})`, cause);
  }
  if (!isRecord(json) || !('modelTopology' in json))
    throw bad(`${path}: not a tfjs model.json (no modelTopology)`);
  if (json.format === 'graph-model')
    throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `${path}: a tfjs graph model (format graph-model); only layers models are supported`);
  if (json.weightsManifest !== undefined && !Array.isArray(json.weightsManifest)) throw bad(`${path}: weightsManifest must be an array`);
  return json as ModelJson;
}

function artifactsOf(json: ModelJson, shards: Uint8Array[]): TfjsArtifacts {
  return {
    modelTopology: json.modelTopology,
    weightSpecs: (json.weightsManifest ?? []).flatMap((g) => g.weights),
    weightData: shards,
  };
}

function shardPaths(json: ModelJson, path: string): string[] {
  const dir = dirname(path);
  return (json.weightsManifest ?? []).flatMap((g) => {
    if (!Array.isArray(g.paths)) throw bad(`${path}: a weightsManifest group has no paths`);
    return g.paths.map((p) => resolve(dir, decodeURIComponent(p)));
  });
}

function withOrigin<T>(path: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof PathwiseError && !e.message.startsWith(path)) e.message = `${path}: ${e.message}`;
    throw e;
  }
}

/**
 * Reads a tfjs LayersModel (model.json and the weight shards it lists, relative to it) and
 * converts it to a NetworkSpec for loadModel. The network input is NCHW: an image model with
 * tfjs input [H, W, C] takes [C, H, W].
 */
export async function loadTfjsModel(path: string, options: TfjsConvertOptions = {}): Promise<NetworkSpec> {
  if (typeof path !== 'string') throw wrongType('path', 'a string', path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw bad(`cannot read tfjs model ${path}: ${(cause as Error).message}`, cause);
  }
  const json = parseModelJson(text, path);
  const shards = await Promise.all(shardPaths(json, path).map(async (p) => {
    try {
      return await readFile(p);
    } catch (cause) {
      throw bad(`${path}: cannot read weight shard ${p}: ${(cause as Error).message}`, cause);
    }
  }));
  return withOrigin(path, () => tfjsArtifactsToSpec(artifactsOf(json, shards), options));
}

/** Synchronous twin of loadTfjsModel. */
export function loadTfjsModelSync(path: string, options: TfjsConvertOptions = {}): NetworkSpec {
  if (typeof path !== 'string') throw wrongType('path', 'a string', path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw bad(`cannot read tfjs model ${path}: ${(cause as Error).message}`, cause);
  }
  const json = parseModelJson(text, path);
  const shards = shardPaths(json, path).map((p) => {
    try {
      return readFileSync(p);
    } catch (cause) {
      throw bad(`${path}: cannot read weight shard ${p}: ${(cause as Error).message}`, cause);
    }
  });
  return withOrigin(path, () => tfjsArtifactsToSpec(artifactsOf(json, shards), options));
}

// ---- In-memory tf.LayersModel (duck-typed) ----

interface TensorLike { shape: number[]; dataSync(): ArrayLike<number> }
interface VariableLike { name?: string; originalName?: string }
interface NodeLike { inboundLayers?: LayerLike[] }
interface LayerLike {
  name: string;
  getClassName?(): string;
  getConfig(): Record<string, unknown>;
  getWeights(): TensorLike[];
  weights?: VariableLike[];
  inboundNodes?: NodeLike[];
}
interface LayersModelLike {
  layers: LayerLike[];
  inputs?: Array<{ shape: Array<number | null> }>;
  outputs?: Array<{ sourceLayer?: { name: string } }>;
  getClassName?(): string;
}

/** True for an object shaped like a tf.LayersModel (layers with getConfig and getWeights). */
export function isTfjsLayersModel(value: unknown): boolean {
  if (!isRecord(value) || !Array.isArray(value.layers) || value.layers.length === 0) return false;
  return (value.layers as unknown[]).every((l) => isRecord(l) && typeof l.getConfig === 'function' && typeof l.getWeights === 'function');
}

const classOf = (l: LayerLike) =>
  typeof l.getClassName === 'function' ? l.getClassName() : String((l.constructor as { className?: string }).className ?? l.constructor.name);

const WEIGHT_NAMES = /^(kernel|bias|gamma|beta|moving_mean|moving_variance|alpha|depthwise_kernel|pointwise_kernel)(_\d+)?$/;

/** 'dense_Dense1/kernel' → 'kernel' (tfjs may suffix duplicate variable names with _1, _2, …). */
function shortWeightName(full: string): string {
  const last = cleanName(full).slice(cleanName(full).lastIndexOf('/') + 1);
  const m = WEIGHT_NAMES.exec(last);
  return m ? m[1] : last;
}

/**
 * Converts an in-memory tf.LayersModel (Sequential or functional) to a NetworkSpec, reading its
 * layers' configs and getWeights(). @tensorflow/tfjs is not imported; the weights are copied.
 */
export function tfjsLayersModelToSpec(model: unknown, options: TfjsConvertOptions = {}): NetworkSpec {
  if (!isTfjsLayersModel(model))
    throw new TypeError(`expected a tf.LayersModel (an object whose layers have getConfig() and getWeights()), got ${describe(model)}`);
  const m = model as LayersModelLike;
  const sequential = typeof m.getClassName === 'function' ? m.getClassName() === 'Sequential' : false;
  // Functional models tell each layer's producers through inboundNodes; Sequential ones chain.
  const graph = !sequential && m.layers.some((l) => Array.isArray(l.inboundNodes) && l.inboundNodes.length > 0);
  const layers: TfjsLayer[] = m.layers.map((l) => {
    const className = classOf(l);
    const tensors = l.getWeights();
    const vars = l.weights ?? [];
    const weights = new Map<string, TfjsWeight>();
    tensors.forEach((t, i) => weights.set(shortWeightName(vars[i]?.originalName ?? vars[i]?.name ?? `w${i}`), {
      shape: [...t.shape], data: Float32Array.from(t.dataSync()),
    }));
    let inbound: string[] | undefined;
    if (graph) {
      const nodes = l.inboundNodes ?? [];
      if (nodes.length > 1)
        throw new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs layer "${l.name}" (${className}): shared layers (called more than once) are not supported`);
      inbound = nodes.length ? (nodes[0].inboundLayers ?? []).map((p) => p.name) : [];
    }
    return { className, name: l.name, config: l.getConfig(), inbound, weights };
  });
  const rawShape = m.inputs?.[0]?.shape?.slice(1) ?? shapeFrom(layers[0].config);
  if (!rawShape || rawShape.some((d) => d === null || d === undefined))
    throw bad(`tfjs model: the input shape ${JSON.stringify(rawShape)} is not fully known`);
  const output = m.outputs?.[0]?.sourceLayer?.name;
  return convertTfjsGraph({ inputShape: rawShape as number[], layers, output }, options);
}
