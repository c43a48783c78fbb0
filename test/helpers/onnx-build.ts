/**
 * Builds small ONNX models in tests with the generated subset schema, and runs a parsed
 * NetworkSpec forward in float64 (the oracle side of the loader tests, via forward-ref.ts).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttrType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  TensorShapeProto_DimensionSchema,
  TensorShapeProtoSchema,
  TypeProto_TensorSchema,
  TypeProtoSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../../lib/gen/onnx_subset_pb.js';
import type { NetworkSpec } from '../../lib/model/layers.js';
import { referenceForward } from '../oracle/forward-ref.js';

// ---------------------------------------------------------------------------------------------
// Tensors

/** 'raw': little-endian bytes in raw_data; 'typed': float_data / double_data / int32_data / int64_data. */
export type Storage = 'raw' | 'typed';

/** float32 tensor from values (rounded to float32). */
export function floatTensor(name: string, dims: number[], values: ArrayLike<number>, storage: Storage = 'raw'): TensorProto {
  checkLength(name, dims, values.length);
  const f32 = Float32Array.from(values as ArrayLike<number>);
  return storage === 'raw'
    ? create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.FLOAT, rawData: bytesOf(f32) })
    : create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.FLOAT, floatData: Array.from(f32) });
}

/** float64 tensor. */
export function doubleTensor(name: string, dims: number[], values: ArrayLike<number>, storage: Storage = 'raw'): TensorProto {
  checkLength(name, dims, values.length);
  const f64 = Float64Array.from(values as ArrayLike<number>);
  return storage === 'raw'
    ? create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.DOUBLE, rawData: bytesOf(f64) })
    : create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.DOUBLE, doubleData: Array.from(f64) });
}

/** float16 tensor from raw binary16 bit patterns (typed storage puts them in int32_data). */
export function float16Tensor(name: string, dims: number[], bits: ArrayLike<number>, storage: Storage = 'raw'): TensorProto {
  checkLength(name, dims, bits.length);
  const u16 = Uint16Array.from(bits as ArrayLike<number>);
  return storage === 'raw'
    ? create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.FLOAT16, rawData: bytesOf(u16) })
    : create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.FLOAT16, int32Data: Array.from(u16) });
}

/** int64 tensor (Reshape shapes). */
export function int64Tensor(name: string, values: number[], storage: Storage = 'raw', dims = [values.length]): TensorProto {
  const i64 = BigInt64Array.from(values.map(BigInt));
  return storage === 'raw'
    ? create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.INT64, rawData: bytesOf(i64) })
    : create(TensorProtoSchema, { name, dims: big(dims), dataType: DataType.INT64, int64Data: Array.from(i64) });
}

/** bool scalar (Dropout's training_mode). */
export function boolTensor(name: string, value: boolean): TensorProto {
  return create(TensorProtoSchema, { name, dims: [], dataType: DataType.BOOL, rawData: new Uint8Array([value ? 1 : 0]) });
}

function big(dims: number[]): bigint[] {
  return dims.map(BigInt);
}

function checkLength(name: string, dims: number[], n: number): void {
  const want = dims.reduce((a, b) => a * b, 1);
  if (want !== n) throw new Error(`tensor ${name}: ${n} values for dims [${dims}]`);
}

/** Little-endian bytes of a typed array (the test hosts are little-endian). */
function bytesOf(a: Float32Array | Float64Array | Uint16Array | BigInt64Array): Uint8Array {
  return new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
}

// ---------------------------------------------------------------------------------------------
// Nodes and attributes

export type AttrValue =
  | { int: number }
  | { float: number }
  | { ints: number[] }
  | { floats: number[] }
  | { string: string }
  | { tensor: TensorProto };

export function attribute(name: string, v: AttrValue): AttributeProto {
  if ('int' in v) return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(v.int) });
  if ('float' in v) return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: v.float });
  if ('ints' in v) return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: v.ints.map(BigInt) });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: v.floats });
  if ('string' in v) return create(AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(v.string) });
  return create(AttributeProtoSchema, { name, type: AttrType.TENSOR, t: v.tensor });
}

export function node(
  opType: string,
  name: string,
  inputs: string[],
  outputs: string[],
  attrs: Record<string, AttrValue> = {},
  domain = '',
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    name,
    input: inputs,
    output: outputs,
    domain,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });
}

export interface GemmAttrs {
  alpha?: number;
  beta?: number;
  transA?: number;
  transB?: number;
}

/** Gemm(a, b[, c]); attributes are written only when given. */
export function gemm(name: string, a: string, b: string, c: string | undefined, out: string, at: GemmAttrs = {}): NodeProto {
  const attrs: Record<string, AttrValue> = {};
  if (at.alpha !== undefined) attrs.alpha = { float: at.alpha };
  if (at.beta !== undefined) attrs.beta = { float: at.beta };
  if (at.transA !== undefined) attrs.transA = { int: at.transA };
  if (at.transB !== undefined) attrs.transB = { int: at.transB };
  return node('Gemm', name, c === undefined ? [a, b] : [a, b, c], [out], attrs);
}

export const matmul = (name: string, a: string, b: string, out: string): NodeProto => node('MatMul', name, [a, b], [out]);
export const add = (name: string, a: string, b: string, out: string): NodeProto => node('Add', name, [a, b], [out]);
export const relu = (name: string, x: string, out: string): NodeProto => node('Relu', name, [x], [out]);
export const identity = (name: string, x: string, out: string): NodeProto => node('Identity', name, [x], [out]);
export const flatten = (name: string, x: string, out: string, axis?: number): NodeProto =>
  node('Flatten', name, [x], [out], axis === undefined ? {} : { axis: { int: axis } });
export const reshape = (name: string, x: string, shape: string, out: string): NodeProto =>
  node('Reshape', name, [x, shape], [out]);
export const constant = (name: string, out: string, value: TensorProto): NodeProto =>
  node('Constant', name, [], [out], { value: { tensor: value } });

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

function windowAttrs(a: WindowAttrs): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  if (a.kernel) out.kernel_shape = { ints: a.kernel };
  if (a.strides) out.strides = { ints: a.strides };
  if (a.pads) out.pads = { ints: a.pads };
  if (a.dilations) out.dilations = { ints: a.dilations };
  if (a.autoPad) out.auto_pad = { string: a.autoPad };
  if (a.group !== undefined) out.group = { int: a.group };
  if (a.ceilMode !== undefined) out.ceil_mode = { int: a.ceilMode };
  if (a.countIncludePad !== undefined) out.count_include_pad = { int: a.countIncludePad };
  return out;
}

/** Conv(x, w[, b]). */
export const conv = (name: string, x: string, w: string, b: string | undefined, out: string, a: WindowAttrs = {}): NodeProto =>
  node('Conv', name, b === undefined ? [x, w] : [x, w, b], [out], windowAttrs(a));
export const maxPool = (name: string, x: string, out: string, a: WindowAttrs): NodeProto =>
  node('MaxPool', name, [x], [out], windowAttrs(a));
export const averagePool = (name: string, x: string, out: string, a: WindowAttrs): NodeProto =>
  node('AveragePool', name, [x], [out], windowAttrs(a));
export const globalAveragePool = (name: string, x: string, out: string): NodeProto => node('GlobalAveragePool', name, [x], [out]);
/** BatchNormalization(x, scale, bias, mean, var) in inference mode. */
export const batchNorm = (name: string, x: string, params: [string, string, string, string], out: string, epsilon?: number): NodeProto =>
  node('BatchNormalization', name, [x, ...params], [out], epsilon === undefined ? {} : { epsilon: { float: epsilon } });
export const shapeOf = (name: string, x: string, out: string): NodeProto => node('Shape', name, [x], [out]);
export const gather = (name: string, data: string, indices: string, out: string, axis?: number): NodeProto =>
  node('Gather', name, [data, indices], [out], axis === undefined ? {} : { axis: { int: axis } });
/** Unsqueeze / Squeeze with axes as an input (opset 13). */
export const unsqueeze = (name: string, x: string, axes: string, out: string): NodeProto => node('Unsqueeze', name, [x, axes], [out]);
export const squeeze = (name: string, x: string, axes: string, out: string): NodeProto => node('Squeeze', name, [x, axes], [out]);
export const concat = (name: string, inputs: string[], out: string, axis: number): NodeProto =>
  node('Concat', name, inputs, [out], { axis: { int: axis } });
export const slice = (name: string, data: string, starts: string, ends: string, out: string, axes?: string, steps?: string): NodeProto =>
  node('Slice', name, [data, starts, ends, ...(axes ? [axes] : steps ? [''] : []), ...(steps ? [steps] : [])], [out]);
export const cast = (name: string, x: string, to: number, out: string): NodeProto => node('Cast', name, [x], [out], { to: { int: to } });

/** Dropout with optional ratio / training_mode inputs and an optional mask output. */
export const dropout = (name: string, x: string, out: string, extraInputs: string[] = [], mask?: string): NodeProto =>
  node('Dropout', name, [x, ...extraInputs], mask ? [out, mask] : [out]);

// ---------------------------------------------------------------------------------------------
// Models

export interface ModelOptions {
  /** Graph input; a string dimension is symbolic. */
  input: { name: string; shape: (number | string)[]; elemType?: number };
  output: { name: string; shape?: (number | string)[] };
  nodes: NodeProto[];
  initializers?: TensorProto[];
  opset?: number;
  irVersion?: number;
}

export function valueInfo(name: string, shape: (number | string)[] | undefined, elemType: number = DataType.FLOAT): ValueInfoProto {
  const dims = shape?.map((d) =>
    create(TensorShapeProto_DimensionSchema, {
      value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
    }),
  );
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType,
          shape: dims ? create(TensorShapeProtoSchema, { dim: dims }) : undefined,
        }),
      },
    }),
  });
}

export function buildModel(o: ModelOptions): Uint8Array {
  const graph = create(GraphProtoSchema, {
    name: 'test',
    node: o.nodes,
    initializer: o.initializers ?? [],
    input: [valueInfo(o.input.name, o.input.shape, o.input.elemType)],
    output: [valueInfo(o.output.name, o.output.shape)],
  });
  const model = create(ModelProtoSchema, {
    irVersion: BigInt(o.irVersion ?? 7),
    producerName: 'pathwise-tests',
    graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(o.opset ?? 13) })],
  });
  return toBinary(ModelProtoSchema, model);
}

// ---------------------------------------------------------------------------------------------
// Random numbers and the float64 forward pass

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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
