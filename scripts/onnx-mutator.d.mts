// Types of scripts/onnx-mutator.mjs for the TypeScript tests.
export interface WireField {
  no: number;
  wt: number;
  v: bigint | Uint8Array | WireField[];
  msg?: boolean;
}
export function prng(seed: number): () => number;
export function parseMessage(buf: Uint8Array, depth?: number): WireField[] | null;
export function encodeMessage(fields: WireField[]): Uint8Array;
export function createMutator(seedBytes: Uint8Array[], weights?: number[]): { next(rand: () => number): Uint8Array };
export interface FuzzApi {
  parseOnnx(bytes: Uint8Array): unknown;
  loadModelSync(spec: never): { inputSize: number; reluLayers: readonly unknown[]; forward(x: Float32Array): Float32Array; dispose(): void };
  explainSync(model: never, x: Float32Array, options: never): unknown;
  PathwiseError: abstract new (...args: never[]) => Error;
}
export function runOne(bytes: Uint8Array, api: FuzzApi, rand: () => number, explainToo: boolean): { outcome: string; error?: unknown };
