/**
 * The op table: every ONNX op the loader reads, keyed by op_type, with its handlers. Adding an op
 * is one entry here and one handler (a function of a NodeContext) in ops/ or fold.ts. The order
 * of the entries is the order of the supported-op list in error messages.
 */
import type { TensorProto } from '../deps.js';
import type { NodeContext } from '../context.js';
import {
  constantValue,
  foldCast,
  foldConcat,
  foldArith,
  foldConstantOfShape,
  foldGather,
  foldIdentity,
  foldReshape,
  foldShape,
  foldSlice,
  foldSqueeze,
  foldUnsqueeze,
  type FoldHandler,
} from '../fold.js';
import { gemm, matmul } from './dense.js';
import { concat, reduce, slice, split, transpose } from './channels.js';
import { arith, batchNormalization, relu } from './elementwise.js';
import { clip, leakyRelu, prelu } from './gates.js';
import { pad } from './pad.js';
import { dropout, flatten, identity, reshape, squeezeOrUnsqueeze } from './layout.js';
import { conv, globalAveragePool, pool } from './window.js';

/** Lowers a node with an activation input: emits layers (or folds into one) through the context. */
export type LowerHandler = (n: NodeContext) => void;

/**
 * How the loader reads one op. With `lower` and `fold`, a node folds when all its inputs are
 * constants and lowers otherwise; with `fold` alone it must compute a constant; with `lower`
 * alone it is a layer (a node of it on constants only is rejected).
 */
export interface OpRule {
  lower?: LowerHandler;
  fold?: FoldHandler;
  /** `fold` also runs on an activation input, of which it reads only the static shape (Shape). */
  foldsActivationShape?: true;
  /** The output is a constant given by the node's attributes, whatever its inputs (Constant). */
  constant?: (n: NodeContext) => TensorProto;
}

const OPS: Record<string, OpRule> = {
  Gemm: { lower: gemm },
  MatMul: { lower: matmul },
  Conv: { lower: conv },
  Relu: { lower: relu },
  Clip: { lower: clip },
  LeakyRelu: { lower: leakyRelu },
  PRelu: { lower: prelu },
  MaxPool: { lower: pool },
  AveragePool: { lower: pool },
  GlobalAveragePool: { lower: globalAveragePool },
  ReduceMean: { lower: reduce },
  ReduceMax: { lower: reduce },
  BatchNormalization: { lower: batchNormalization },
  Add: { lower: arith, fold: foldArith },
  Sub: { lower: arith, fold: foldArith },
  Mul: { lower: arith, fold: foldArith },
  Div: { lower: arith, fold: foldArith },
  Pad: { lower: pad },
  Split: { lower: split },
  Transpose: { lower: transpose },
  Flatten: { lower: flatten },
  Reshape: { lower: reshape, fold: foldReshape },
  Squeeze: { lower: squeezeOrUnsqueeze, fold: foldSqueeze },
  Unsqueeze: { lower: squeezeOrUnsqueeze, fold: foldUnsqueeze },
  Identity: { lower: identity, fold: foldIdentity },
  Dropout: { lower: dropout },
  Constant: { constant: constantValue },
  Shape: { fold: foldShape, foldsActivationShape: true },
  Gather: { fold: foldGather },
  Concat: { lower: concat, fold: foldConcat },
  Slice: { lower: slice, fold: foldSlice },
  Cast: { fold: foldCast },
  ConstantOfShape: { fold: foldConstantOfShape },
};

/** The rule for `opType`, or undefined for an op the loader does not read. */
export const OP_RULES: ReadonlyMap<string, OpRule> = new Map(Object.entries(OPS));

/** The supported ops, in table order (for messages). */
export const SUPPORTED_OPS: readonly string[] = Object.keys(OPS);
