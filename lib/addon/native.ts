/**
 * Loads the compiled addon (a prebuild from prebuilds/<platform>-<arch>/ or build/Release/) and
 * describes its shape: NativeAddon is everything native/addon exports (native/addon/*.cc),
 * the one TypeScript description of it that the rest of lib/ uses.
 */
import { PathwiseError } from '../errors.js';
import type { Decomposition, OneWayPaths } from '../explain/types.js';
import { loadBinding } from './binding.cjs';

/** One engine layer (native/core/ir/network.h LayerDesc); lib/model/lower.ts produces them. */
export interface NativeLayer {
  kind: 'dense' | 'conv' | 'relu' | 'maxpool' | 'avgpool' | 'affine' | 'add' | 'concat' | 'gather';
  /** Producers (engine layer indices, -1 = the network input); default the previous layer. */
  inputs?: number[];
  /** [C, H, W] the layer reads its (first) input as. */
  inShape: [number, number, number];
  /** Dense outputs or conv output channels. */
  out?: number;
  /** Dense out × in; conv out × in/groups × kh × kw; affine per-channel scale. */
  weights?: Float32Array;
  /** Dense/conv bias; affine per-channel shift. */
  bias?: Float32Array;
  groups?: number;
  /** Gate ('relu') parameters (native/core/ir/network.h GateParams); absent = ReLU's. */
  lower?: number;
  upper?: number;
  lowerValue?: number;
  /** Lower-piece slope: 1 value or one per channel. */
  slope?: Float32Array;
  kernel?: [number, number];
  stride?: [number, number];
  pads?: [number, number, number, number];
  dilation?: [number, number];
  ceilMode?: boolean;
  countIncludePad?: boolean;
  /** Gather: the output shape, out[o] = map[o] ≥ 0 ? in[map[o]] : fill (map: one entry per output value). */
  outShape?: [number, number, number];
  map?: Int32Array;
  fill?: number;
  name?: string;
}

export interface NativeExplainOptions {
  widthMode: 'all' | 'count' | 'percent';
  widthValue?: number;
  /** 0 = all ReLU layers. */
  depth: number;
  semantics?: 'official' | 'linear';
  decompose?: { by: 'unit' | 'channel' | 'top'; top?: number; layer?: number };
  paths?: { k: number; rank?: 'signed' | 'abs'; maxEdges?: number; beam?: number };
  /** n × inputSize 0/1 mask. */
  region?: Float32Array;
  threshold?: number;
  /** Research selection rules and objective (docs/research.md); absent = the reference. */
  score?: 'softmax' | 'target';
  adaptiveThreshold?: boolean;
  keepOpposing?: boolean;
  objective?: 'logit' | 'logSoftmax';
  targets?: Int32Array;
  maxMemoryBytes?: number;
}

/**
 * An explain call's results for the whole batch, packed (native/addon/convert.h
 * explain_results_to_js has the layout; lib/explain/explain.ts unpackResults reads it): a few
 * typed arrays instead of an object per result and per layer built through N-API.
 */
export type NativeExplainPacked = [
  numbers: Float64Array,
  floats: Float32Array,
  ints: Int32Array,
  extras?: Array<{ paths?: OneWayPaths; decomposition?: Decomposition }>,
];

export interface NativeNetwork {
  forward(input: Float32Array, n: number): Float32Array;
  explainSync(input: Float32Array, n: number, options: NativeExplainOptions): NativeExplainPacked;
  /** control: cancels the call (JobControl.cancel); onProgress: (layer steps done, total) on the JS thread. */
  explain(input: Float32Array, n: number, options: NativeExplainOptions, control?: NativeJobControl,
          onProgress?: (done: number, total: number) => void): Promise<NativeExplainPacked>;
  estimate(n: number, options: NativeExplainOptions): NativeEstimate;
  dispose(): void;
}

/** A handle to cancel one async explain; cancelling a finished call does nothing. */
export interface NativeJobControl {
  cancel(): void;
}

/** The core's memory plan for an explain call, and each engine layer's forward multiply-accumulates. */
export interface NativeEstimate {
  bytesPerExample: number;
  fixedBytes: number;
  /** The working memory of one chunk of examples (all n when they fit together). */
  workingBytes: number;
  classChunk: number;
  chunkExamples: number;
  /** False when one example does not fit maxMemoryBytes even one class at a time. */
  fits: boolean;
  progressSteps: number;
  layerMacs: number[];
  /** Engine layer index of each gate layer, bottom → top. */
  gatePositions: number[];
  /** The lowest path ordinal swept with all C classes at once (lower ones sweep class chunks from its state). */
  fullClassesFrom: number;
}

export interface KernelInfo {
  /** The kernel set in use: 'avx512', 'avx2', 'neon' or 'scalar'. */
  active: string;
  description: string;
  /** Every kernel set compiled in that this CPU can run, best first. */
  available: string[];
  /** Why PATHWISE_FORCE_KERNEL was ignored, when it was. */
  forceError?: string;
  /** Threads of the core pool that parallel products and batches use (the caller's included). */
  threads: number;
  /** Why PATHWISE_THREADS was ignored, when it was. */
  threadsError?: string;
}

/** One engine layer (after flatten/identity are resolved and BatchNorm folded). */
export interface EngineLayer {
  index: number;
  kind: 'dense' | 'conv' | 'relu' | 'maxpool' | 'avgpool' | 'affine' | 'add' | 'concat' | 'gather';
  name?: string;
  /** Output shape [C, H, W]. */
  shape: [number, number, number];
}

/** What `attribute` returns for n inputs (native/addon/baselines.cc). */
export interface NativeAttribution {
  attribution: Float32Array;
  logits: Float32Array;
  targets: Int32Array;
  predicted: Int32Array;
  delta?: Float64Array;
  layer?: number;
}

/** What `unwrap` returns for n inputs. */
export interface NativeUnwrap {
  weights: Float32Array;
  bias: Float64Array;
  logits: Float32Array;
  residual: Float64Array;
}

/** What `insertionDeletion` returns for n inputs. */
export interface NativeInsertionDeletion {
  classes: Int32Array;
  steps: number;
  step: number;
  insertion?: Float64Array;
  deletion?: Float64Array;
  insertionAuc?: Float64Array;
  deletionAuc?: Float64Array;
  forwards: number;
  batches: number;
}

/** gemmBench's timings: one entry per iteration, the threads used, and the product. */
export interface GemmBenchResult {
  seconds: Float64Array;
  threads: number;
  c: Float32Array;
}

/**
 * The baseline functions take a flag: `async` true returns a Promise of the result (the work runs
 * on a libuv thread), false the result itself.
 */
export interface NativeAddon {
  NativeNetwork: new (inputShape: [number, number, number], layers: NativeLayer[]) => NativeNetwork;
  JobControl: new () => NativeJobControl;
  kernelInfo(): KernelInfo;
  setThreads(n: number): void;
  gemmWithKernel(kernel: string, transB: boolean, m: number, n: number, k: number,
                 a: Float32Array, b: Float32Array): Float32Array;
  gemmBench(kernel: string, transB: boolean, m: number, n: number, k: number, a: Float32Array, b: Float32Array,
            iterations: number, threads: number): GemmBenchResult;
  attribute(handle: NativeNetwork, x: Float32Array, n: number, options: object, async: false): NativeAttribution;
  attribute(handle: NativeNetwork, x: Float32Array, n: number, options: object, async: true): Promise<NativeAttribution>;
  unwrap(handle: NativeNetwork, x: Float32Array, n: number, options: object, async: false): NativeUnwrap;
  unwrap(handle: NativeNetwork, x: Float32Array, n: number, options: object, async: true): Promise<NativeUnwrap>;
  insertionDeletion(handle: NativeNetwork, x: Float32Array, attribution: Float32Array, n: number, options: object,
                    async: false): NativeInsertionDeletion;
  insertionDeletion(handle: NativeNetwork, x: Float32Array, attribution: Float32Array, n: number, options: object,
                    async: true): Promise<NativeInsertionDeletion>;
  networkLayers(handle: NativeNetwork): EngineLayer[];
  quadrature(rule: string, n: number): { alpha: Float64Array; weight: Float64Array };
  blurTaps(): Float64Array;
  blurImage(shape: [number, number, number], x: Float32Array): Float32Array;
}

let cached: NativeAddon | undefined;

/**
 * The addon, loaded once. If no binary can be loaded, throws a PathwiseError with code
 * PATHWISE_NO_BINARY whose message says what was tried, for which platform and ABI, and how to
 * build from source (lib/addon/binding.cts).
 */
export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const result = loadBinding();
  if ('failure' in result)
    throw new PathwiseError('PATHWISE_NO_BINARY', result.failure.message, { cause: result.failure.cause });
  cached = result.addon as NativeAddon;
  return cached;
}
