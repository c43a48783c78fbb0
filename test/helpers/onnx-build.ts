/**
 * Builds small ONNX models in tests with the generated subset schema, and runs a parsed
 * NetworkSpec forward in float64 (the oracle side of the loader tests).
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
import type { NetworkSpec } from '../../lib/layers.js';

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
  | { tensor: TensorProto };

export function attribute(name: string, v: AttrValue): AttributeProto {
  if ('int' in v) return create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(v.int) });
  if ('float' in v) return create(AttributeProtoSchema, { name, type: AttrType.FLOAT, f: v.float });
  if ('ints' in v) return create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: v.ints.map(BigInt) });
  if ('floats' in v) return create(AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: v.floats });
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

/** Forward pass of one sample in float64: dense and relu change values, the other layers only shapes. */
export function forward(spec: NetworkSpec, x: ArrayLike<number>): Float64Array {
  let h = Float64Array.from(x as ArrayLike<number>);
  for (const layer of spec.layers) {
    if (layer.type === 'dense') {
      if (h.length !== layer.in) throw new Error(`dense ${layer.name}: input ${h.length}, expected ${layer.in}`);
      const y = new Float64Array(layer.out);
      for (let o = 0; o < layer.out; o++) {
        let s = layer.bias ? layer.bias[o] : 0;
        const row = o * layer.in;
        for (let k = 0; k < layer.in; k++) s += layer.weights[row + k] * h[k];
        y[o] = s;
      }
      h = y;
    } else if (layer.type === 'relu') {
      h = h.map((v) => (v > 0 ? v : 0));
    }
  }
  return h;
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
