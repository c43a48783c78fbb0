/**
 * Builds small ONNX models in tests with the generated subset schema, and runs a parsed
 * NetworkSpec forward in float64 (the oracle side of the loader tests, via forward-ref.ts).
 * The builders themselves live in onnx-bytes.mjs, which the bench shares; here they are bound
 * to the TypeScript schema in lib/gen.
 */
import * as onnxSchema from '../../lib/gen/onnx_subset_pb.js';
import type { NetworkSpec } from '../../lib/model/layers.js';
import { referenceForward } from '../oracle/forward-ref.js';
import { onnxBuilders } from './onnx-bytes.mjs';

export type { AttrValue, GemmAttrs, ModelOptions, Storage, WindowAttrs } from './onnx-bytes.mjs';

export const {
  floatTensor, doubleTensor, float16Tensor, int64Tensor, boolTensor,
  attribute, node, gemm, matmul, add, relu, identity, flatten, reshape, constant,
  conv, maxPool, averagePool, globalAveragePool, batchNorm, shapeOf, gather, unsqueeze, squeeze, concat, slice, cast, dropout,
  valueInfo, buildModel,
} = onnxBuilders(onnxSchema);

// ---------------------------------------------------------------------------------------------
// Random numbers and the float64 forward pass

/** mulberry32: a small seeded PRNG, uniform in [0, 1) (the fuzzer's, scripts/onnx-mutator.mjs). */
export { prng as rng } from '../../scripts/onnx-mutator.mjs';

/** n values uniform in [-scale, scale). */
export function uniform(rand: () => number, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (2 * rand() - 1) * scale);
}

/** Forward pass of one sample in float64: the layer-spec reference oracle (test/oracle/forward-ref.ts). */
export function forward(spec: NetworkSpec, x: ArrayLike<number>): Float64Array {
  return referenceForward(spec, Float64Array.from(x as ArrayLike<number>));
}

/** Forward pass of a batch stored row after row. */
export function forwardBatch(spec: NetworkSpec, x: ArrayLike<number>, batch: number): Float64Array[] {
  const size = x.length / batch;
  const out: Float64Array[] = [];
  for (let b = 0; b < batch; b++) {
    out.push(forward(spec, Array.prototype.slice.call(x, b * size, (b + 1) * size) as number[]));
  }
  return out;
}
