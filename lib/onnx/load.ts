/**
 * ONNX loader: decodes a ModelProto with the generated subset schema (proto/onnx_subset.proto)
 * and turns the graph into a NetworkSpec (lib/model/layers.ts). It reads dense and convolutional ReLU
 * networks as PyTorch exports them, residual connections included.
 *
 * Values. Every ONNX value is either an activation (the graph input, or the output of a layer)
 * or a constant (an initializer, a Constant node, or the result of a small constant sub-graph
 * folded at load). Shape of an activation is static apart from the batch dimension, which the
 * folder carries as a symbol; so the Shape → Gather → Unsqueeze → Concat → Reshape pattern that
 * exporters emit for `x.view(x.size(0), -1)` becomes a constant shape whose first entry is the
 * batch. Folded ops: Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast,
 * ConstantOfShape, Identity, Reshape, and Add / Sub / Mul / Div of constants.
 *
 * Layers. Gemm and MatMul → dense; Conv → conv (2-D only); Relu; Clip → clip; LeakyRelu →
 * leakyrelu; PRelu → prelu; MaxPool → maxpool; AveragePool → avgpool; GlobalAveragePool and
 * ReduceMean over H, W → globalavgpool; ReduceMax over H, W → globalmaxpool; BatchNormalization →
 * batchnorm (kept as is: folding into the conv or dense layer before it is the engine lowering's
 * job); Add of two activations of the same shape → add; Add / Sub / Mul / Div by a per-channel
 * constant → affine; Concat along channels → concat; Split and Slice of channels → slice; the
 * channel shuffle Reshape → Transpose → Reshape → channelshuffle; Pad → pad, or absorbed into the
 * Conv / pool after it (ops/pad.ts); Flatten → flatten; Reshape, and Squeeze / Unsqueeze of an
 * activation → reshape; Identity and Dropout → identity. An Add (or Sub) of a constant right
 * after a dense or conv layer (shape-only layers may sit between) folds into that layer's bias,
 * per output channel for conv.
 *
 * Refusals. Before lowering, the first node that is not piecewise linear in the input (Sigmoid,
 * LayerNormalization, a product of activations, a trailing Softmax...) is refused with a message
 * that says so (refusals.ts); `stripSoftmax` drops a trailing Softmax instead.
 *
 * Graph. Only the nodes the graph output depends on are read: dead nodes are dropped whatever
 * their op, and so are layers whose output only feeds Shape nodes. Nodes are visited in file
 * order when it is topological (ONNX requires it), otherwise in a stable topological order; a
 * cycle, a value produced twice, or an input nothing produces is PATHWISE_BAD_MODEL. A layer
 * lists its producers in `inputs` only when it does not consume the layer just before it in the
 * array; add layers always list both. A chain therefore carries no `inputs` at all.
 *
 * Shapes ([C, H, W] or [F], batch dropped) are tracked through the graph and checked: dims that
 * do not chain, weight sizes, groups, strides, pads, windows that lie entirely in the padding and
 * activations above 2^31 elements are PATHWISE_BAD_MODEL naming the node. Anything pathwise
 * cannot represent is PATHWISE_UNSUPPORTED_OP naming the op and the node.
 *
 * Weights are converted in float64 (transposition, alpha/beta scaling, folded Adds) and rounded
 * to float32 once at the end.
 *
 * Files: load.ts (this entry: bytes → model → order → lower → spec), decode.ts (bytes and
 * TensorProtos to numbers), order.ts (graph input, live nodes in topological order), values.ts
 * (activations and constants), context.ts (what a handler sees), refusals.ts (non-piecewise-linear
 * ops, the trailing Softmax), ops/table.ts (the op table),
 * ops/*.ts (layer handlers), fold.ts (constant folding), shapes.ts, attributes.ts, numbers.ts
 * (shared rules and helpers), deps.ts (everything used from the rest of lib/).
 */
import { badModel, unsupported, type NetworkSpec } from './deps.js';
import { LoweringState } from './context.js';
import { decodeModel } from './decode.js';
import { finishNetwork, visitNode } from './lower.js';
import { graphInput, inputShapeOf, liveNodeOrder } from './order.js';
import { refuseNonPiecewiseLinear, trailingSoftmax } from './refusals.js';
import type { Const } from './values.js';

export interface ParseOnnxOptions {
  /**
   * Drop a trailing Softmax or LogSoftmax (and the Identity / Flatten / Reshape / Squeeze nodes
   * after it) and read the logits before it. Without it such a model is refused.
   */
  stripSoftmax?: boolean;
}

export { halfToFloat } from './deps.js';

/**
 * Parses an ONNX model (the bytes of a .onnx file) of a ReLU network into a NetworkSpec.
 *
 * @throws TypeError if `bytes` is not a Uint8Array.
 * @throws PathwiseError `PATHWISE_BAD_MODEL` if the bytes are not a valid model of this kind
 *   (undecodable, no float input, cycles or dangling inputs, shapes that do not chain, wrong
 *   tensor sizes, external data, last layer not a dense layer with at least 2 outputs).
 * @throws PathwiseError `PATHWISE_UNSUPPORTED_OP` for ops, domains, attributes or graph structures
 *   that pathwise does not handle, and for functions that are not piecewise linear (Sigmoid,
 *   LayerNormalization, a product of activations, a trailing Softmax without `stripSoftmax`...);
 *   the message names the op and the node.
 */
export function parseOnnx(bytes: Uint8Array, options: ParseOnnxOptions = {}): NetworkSpec {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`parseOnnx expects the model bytes as a Uint8Array or Buffer, got ${describe(bytes)}`);
  }
  const model = decodeModel(bytes);
  const graph = model.graph;
  if (!graph) {
    throw badModel(`The ONNX model (${bytes.length} bytes) has no graph: is this a .onnx file?`);
  }

  const consts = new Map<string, Const>();
  for (const t of graph.initializer) consts.set(t.name, { proto: t });

  const input = graphInput(graph.input, (name) => consts.has(name));
  const { inputShape, batchIsOne } = inputShapeOf(input);

  if (graph.output.length === 0) throw badModel('The ONNX graph has no output');
  if (graph.output.length > 1) {
    throw unsupported(
      `The ONNX graph has ${graph.output.length} outputs (${graph.output.map((o) => `"${o.name}"`).join(', ')}); ` +
        'pathwise supports models with a single output (the logits)',
    );
  }
  let outputName = graph.output[0].name;
  if (options.stripSoftmax) {
    const softmax = trailingSoftmax(graph.node, outputName);
    if (softmax?.input[0]) outputName = softmax.input[0];
  }

  const { order, uses } = liveNodeOrder(graph.node, (name) => name === input.name || consts.has(name), outputName);
  refuseNonPiecewiseLinear(graph.node, order, input.name, outputName);
  const state = new LoweringState(consts, uses, batchIsOne);
  state.acts.set(input.name, { layer: -1, shape: inputShape });
  for (const index of order) visitNode(state, graph.node[index], index);

  const out = state.acts.get(outputName);
  if (!out) {
    throw badModel(`The ONNX graph output "${outputName}" is a constant: it does not depend on the input "${input.name}"`);
  }
  return finishNetwork(state, out, inputShape);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
