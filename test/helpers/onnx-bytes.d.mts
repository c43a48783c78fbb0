// Types of onnx-bytes.mjs (plain JavaScript, shared by the tests and the bench).
import type { AttributeProto, NodeProto, TensorProto, ValueInfoProto } from '../../lib/gen/onnx_subset_pb.js';
import type { NetworkSpec } from '../../lib/model/layers.js';

/** 'raw': little-endian bytes in raw_data; 'typed': float_data / double_data / int32_data / int64_data. */
export type Storage = 'raw' | 'typed';

export type AttrValue =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: TensorProto };

export interface GemmAttrs {
  alpha?: number;
  beta?: number;
  transA?: number;
  transB?: number;
}

/** Attributes of Conv and the pools; only the given ones are written. */
export interface WindowAttrs {
  kernel?: number[];
  strides?: number[];
  pads?: number[];
  dilations?: number[];
  autoPad?: 'NOTSET' | 'VALID' | 'SAME_UPPER' | 'SAME_LOWER';
  group?: number;
  ceilMode?: number;
  countIncludePad?: number;
}

/** A graph input; a string dimension is symbolic. */
export interface GraphInput {
  name: string;
  shape: (number | string)[];
  elemType?: number;
}

export interface ModelOptions {
  /** One graph input, or several. */
  input: GraphInput | GraphInput[];
  output: { name: string; shape?: (number | string)[] };
  nodes: NodeProto[];
  initializers?: TensorProto[];
  /** Default 13. */
  opset?: number;
  /** Default 7. */
  irVersion?: number;
  graphName?: string;
  producerName?: string;
}

export interface OnnxBuilders {
  /** float32 tensor from values (rounded to float32). */
  floatTensor(name: string, dims: number[], values: ArrayLike<number>, storage?: Storage): TensorProto;
  doubleTensor(name: string, dims: number[], values: ArrayLike<number>, storage?: Storage): TensorProto;
  /** float16 tensor from raw binary16 bit patterns (typed storage puts them in int32_data). */
  float16Tensor(name: string, dims: number[], bits: ArrayLike<number>, storage?: Storage): TensorProto;
  /** int64 tensor (Reshape shapes). */
  int64Tensor(name: string, values: number[], storage?: Storage, dims?: number[]): TensorProto;
  /** bool scalar (Dropout's training_mode). */
  boolTensor(name: string, value: boolean): TensorProto;

  attribute(name: string, v: AttrValue): AttributeProto;
  node(opType: string, name: string, inputs: string[], outputs: string[], attrs?: Record<string, AttrValue>, domain?: string): NodeProto;
  /** Gemm(a, b[, c]); attributes are written only when given. */
  gemm(name: string, a: string, b: string, c: string | undefined, out: string, at?: GemmAttrs): NodeProto;
  matmul(name: string, a: string, b: string, out: string): NodeProto;
  add(name: string, a: string, b: string, out: string): NodeProto;
  relu(name: string, x: string, out: string): NodeProto;
  identity(name: string, x: string, out: string): NodeProto;
  flatten(name: string, x: string, out: string, axis?: number): NodeProto;
  reshape(name: string, x: string, shape: string, out: string): NodeProto;
  constant(name: string, out: string, value: TensorProto): NodeProto;
  /** Conv(x, w[, b]). */
  conv(name: string, x: string, w: string, b: string | undefined, out: string, a?: WindowAttrs): NodeProto;
  maxPool(name: string, x: string, out: string, a: WindowAttrs): NodeProto;
  averagePool(name: string, x: string, out: string, a: WindowAttrs): NodeProto;
  globalAveragePool(name: string, x: string, out: string): NodeProto;
  /** BatchNormalization(x, scale, bias, mean, var) in inference mode. */
  batchNorm(name: string, x: string, params: [string, string, string, string], out: string, epsilon?: number): NodeProto;
  shapeOf(name: string, x: string, out: string): NodeProto;
  gather(name: string, data: string, indices: string, out: string, axis?: number): NodeProto;
  /** Unsqueeze / Squeeze with axes as an input (opset 13). */
  unsqueeze(name: string, x: string, axes: string, out: string): NodeProto;
  squeeze(name: string, x: string, axes: string, out: string): NodeProto;
  concat(name: string, inputs: string[], out: string, axis: number): NodeProto;
  slice(name: string, data: string, starts: string, ends: string, out: string, axes?: string, steps?: string): NodeProto;
  cast(name: string, x: string, to: number, out: string): NodeProto;
  /** Dropout with optional ratio / training_mode inputs and an optional mask output. */
  dropout(name: string, x: string, out: string, extraInputs?: string[], mask?: string): NodeProto;

  valueInfo(name: string, shape: (number | string)[] | undefined, elemType?: number): ValueInfoProto;
  buildModel(o: ModelOptions): Uint8Array;
  /** ONNX bytes of a sequential spec (conv, relu, maxpool, flatten, dense, identity), batch 'N'. */
  specToOnnx(spec: NetworkSpec, numClasses?: number): Uint8Array;
  /** ONNX bytes of Y = A · B; with bValues B is an initializer, else a second input. */
  matmulModel(m: number, n: number, k: number, bValues?: Float32Array): Uint8Array;
}

/** The builders, bound to one copy of the generated schema module (lib/gen or dist/gen). */
export declare function onnxBuilders(pb: typeof import('../../lib/gen/onnx_subset_pb.js')): OnnxBuilders;
