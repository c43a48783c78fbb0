/**
 * Loads the compiled addon (a prebuild from prebuilds/<platform>-<arch>/ or build/Release/) and
 * describes its shape. This file and model.ts are the only places in lib/ that touch it.
 */
import { PathwiseError } from './errors.js';
import { loadBinding } from './binding.cjs';

export interface NativeLayer {
  kind: 'dense' | 'relu';
  in?: number;
  out?: number;
  weights?: Float32Array;
  bias?: Float32Array;
  name?: string;
}

export interface NativeExplainOptions {
  widthMode: 'all' | 'count' | 'percent';
  widthValue?: number;
  /** 0 = all ReLU layers. */
  depth: number;
  targets?: Int32Array;
  maxJacobianFloats?: number;
}

export interface NativeLayerResult {
  ordinal: number;
  units: Int32Array;
  scores: Float32Array;
  fallback: boolean;
  k: number;
  borderline: number;
}

export interface NativeExplainResult {
  target: number;
  predicted: number;
  logits: Float32Array;
  pathLogits: Float32Array;
  weights: Float32Array;
  attribution: Float32Array;
  bias: number;
  residual: number;
  recomputes: number;
  layers: NativeLayerResult[];
}

export interface NativeNetwork {
  forward(input: Float32Array, n: number): Float32Array;
  explainSync(input: Float32Array, n: number, options: NativeExplainOptions): NativeExplainResult[];
  explain(input: Float32Array, n: number, options: NativeExplainOptions): Promise<NativeExplainResult[]>;
  dispose(): void;
}

export interface KernelInfo {
  /** The kernel set in use: 'avx512', 'avx2', 'neon' or 'scalar'. */
  active: string;
  description: string;
  /** Every kernel set compiled in that this CPU can run, best first. */
  available: string[];
  /** Why PATHWISE_FORCE_KERNEL was ignored, when it was. */
  forceError?: string;
}

export interface NativeAddon {
  NativeNetwork: new (inputSize: number, layers: NativeLayer[]) => NativeNetwork;
  kernelInfo(): KernelInfo;
  gemmWithKernel(kernel: string, transB: boolean, m: number, n: number, k: number,
                 a: Float32Array, b: Float32Array): Float32Array;
}

let cached: NativeAddon | undefined;

/**
 * The addon, loaded once. If no binary can be loaded, throws a PathwiseError with code
 * PATHWISE_NO_BINARY whose message says what was tried, for which platform and ABI, and how to
 * build from source (lib/binding.cts).
 */
export function nativeAddon(): NativeAddon {
  if (cached) return cached;
  const result = loadBinding();
  if ('failure' in result)
    throw new PathwiseError('PATHWISE_NO_BINARY', result.failure.message, { cause: result.failure.cause });
  cached = result.addon as NativeAddon;
  return cached;
}
