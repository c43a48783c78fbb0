/**
 * The values the loader tracks. Every ONNX value is either an activation (the graph input, or
 * the output of a layer) or a constant (an initializer, a Constant node, or a result folded at
 * load); this file holds their types and the conversions between the constant forms.
 */
import { badModel, unsupported, type ConvLayerSpec, type DenseLayerSpec, type LayerSpec, type TensorProto } from './deps.js';
import { floatTensor, intTensor, isFloatType, tensorDims, type FloatTensor } from './decode.js';

/** Activations and tensors above this many elements are rejected as absurd. */
export const MAX_ELEMENTS = 2 ** 31;
/** Folded constants are small shape computations; larger results are not folded. */
export const MAX_FOLDED_ELEMENTS = 2 ** 24;

/** The batch dimension inside folded integer constants (e.g. entry 0 of Shape of an activation). */
export const BATCH: unique symbol = Symbol('batch');
export type IntElem = number | typeof BATCH;

/** A constant computed at load. */
export type Folded = { kind: 'float'; dims: number[]; data: Float64Array } | { kind: 'int'; dims: number[]; data: IntElem[] };

/** A constant value: a TensorProto (decoded when used) or a folded result. */
export type Const = { proto: TensorProto } | { folded: Folded };

/** An integer constant, possibly holding the batch symbol. */
export interface IntTensor {
  dims: number[];
  data: IntElem[];
}

/** An activation: the output of layer `layer` (-1 = the graph input). */
export interface Act {
  layer: number;
  /** Shape without the batch dimension. */
  shape: number[];
  /**
   * The dense or conv layer a constant Add may fold into: set when this value is that layer's
   * output, possibly through shape-only layers, and every value on the way has a single consumer
   * (folding changes the layer's output for all of them).
   */
  fold?: PendingBias;
  /**
   * A constant Pad not emitted yet: a directly following Conv or pool may absorb it into its own
   * pads; any other reader emits it as a pad layer (NodeContext.act). `layer` is then the
   * unpadded producer and `shape` the padded shape.
   */
  pad?: PendingPad;
  /**
   * A 5-D step of ShuffleNet's channel shuffle (Reshape to [g, C/g, H, W], then Transpose
   * [0, 2, 1, 3, 4]): no layer yet; the Reshape back to [C, H, W] emits 'channelshuffle'.
   */
  shuffle?: { groups: number; transposed: boolean; src: Act };
}

/** A Pad node waiting for its reader (see Act.pad). */
export interface PendingPad {
  pads: [number, number, number, number];
  value: number;
  src: Act;
  /** The Pad node's name and label, for the layer and messages. */
  name: string | undefined;
  label: string;
}

/** A dense or conv layer whose bias stays float64 until every folded Add is in. */
export interface PendingBias {
  spec: DenseLayerSpec | ConvLayerSpec;
  bias: Float64Array | undefined;
  channels: number;
  /** Values per channel in the layer's output: 1 for dense, H × W for conv. */
  spatial: number;
}

/** A layer as emitted, with explicit producers (-1 = the network input). */
export interface Emitted {
  spec: LayerSpec;
  srcs: number[];
  /** Output shape without the batch dimension. */
  shape: number[];
}

/** A constant as float64 values (weights, biases, Add operands). */
export function floatOf(c: Const, where: string): FloatTensor {
  if ('proto' in c) return floatTensor(c.proto, where);
  const f = c.folded;
  if (f.kind === 'float') return { dims: f.dims, data: f.data };
  return { dims: f.dims, data: Float64Array.from(noBatch(f.data, where)) };
}

/** A constant as integers (shapes, axes, indices); int64 beyond ±2^53 saturates (Slice's INT64_MAX). */
export function intsOf(c: Const, where: string): IntTensor {
  if ('proto' in c) return { dims: tensorDims(c.proto, where), data: intTensor(c.proto, where) };
  return intsOfFolded(c.folded, where);
}

function intsOfFolded(f: Folded, where: string): IntTensor {
  if (f.kind === 'int') return f;
  throw badModel(`The ${where} is a float tensor; expected integers`);
}

/** A constant in the folder's form. */
export function foldedOf(c: Const, where: string): Folded {
  if ('folded' in c) return c.folded;
  const t = c.proto;
  if (isFloatType(t.dataType)) {
    const f = floatTensor(t, where);
    return { kind: 'float', dims: f.dims, data: f.data };
  }
  return { kind: 'int', dims: tensorDims(t, where), data: intTensor(t, where) };
}

/** Integers that must not involve the batch size. */
export function noBatch(data: IntElem[], where: string): number[] {
  return data.map((v) => {
    if (v === BATCH) {
      throw unsupported(`The ${where} depends on the batch size; pathwise folds only batch-independent values there`);
    }
    return v;
  });
}

/** A new constant of shape `dims` whose element j is element src[j] of `from`. */
export function take(from: Folded, dims: number[], src: number[]): Folded {
  if (from.kind === 'float') return { kind: 'float', dims, data: Float64Array.from(src, (s) => from.data[s]) };
  return { kind: 'int', dims, data: src.map((s) => from.data[s]) };
}
