/**
 * Lowering: visits the ordered nodes, reads each through the op table (ops/table.ts) into layers
 * or folded constants, then prunes the layers that do not reach the output, sets their `inputs`,
 * writes the folded biases and checks that the network ends in logits.
 */
import { badModel, unsupported, type DenseLayerSpec, type LayerSpec, type NetworkSpec, type NodeProto } from './deps.js';
import { LoweringState, NodeContext, OP_OF_TYPE } from './context.js';
import { checkFoldedSize } from './fold.js';
import { OP_RULES, SUPPORTED_OPS } from './ops/table.js';
import { nodeLabel } from './order.js';
import type { Act } from './values.js';

/** Reads one node into the state: a layer, a folded constant or a re-biased layer output. */
export function visitNode(state: LoweringState, node: NodeProto, index: number): void {
  const label = nodeLabel(node, index);
  const op = node.opType;
  if (node.domain !== '' && node.domain !== 'ai.onnx') {
    throw unsupported(
      `Unsupported ONNX op "${op}" from domain "${node.domain}" at node ${label} ` +
        `(pathwise supports only the default ONNX domain: ${SUPPORTED_OPS.join(', ')})`,
    );
  }
  const rule = OP_RULES.get(op);
  if (!rule) {
    throw unsupported(`Unsupported ONNX op "${op}" at node ${label} (supported: ${SUPPORTED_OPS.join(', ')})`);
  }
  const out = node.output[0];
  if (!out) throw badModel(`ONNX node ${label} (${op}) has no output`);
  for (const o of node.output) if (o) state.producedBy.set(o, label);
  const n = new NodeContext(state, node, label);

  if (rule.constant) {
    state.consts.set(out, { proto: rule.constant(n) });
    return;
  }
  // Constant inputs only (Shape of an activation is static too): fold.
  const actInputs = node.input.filter((name) => name && state.acts.has(name));
  if (rule.fold && (!rule.lower || actInputs.length === 0)) {
    for (const name of node.input) if (name) n.operand(name);
    if (actInputs.length > 0 && !rule.foldsActivationShape) {
      throw unsupported(
        `${op} at node ${label} operates on the activation "${actInputs[0]}"; pathwise reads ${op} only in ` +
          'constant (shape) computations, which it folds at load',
      );
    }
    state.consts.set(out, { folded: checkFoldedSize(n, rule.fold(n)) });
    return;
  }
  if (!rule.lower) throw new Error(`internal: op ${op} is listed as supported but has no handler`);
  rule.lower(n);
}

/** Prunes layers that do not reach the output, sets `inputs`, writes biases, checks the end. */
export function finishNetwork(state: LoweringState, out: Act, inputShape: number[]): NetworkSpec {
  if (out.layer < 0) throw badModel('The ONNX graph output is the graph input itself: the model has no layers');
  for (const p of state.pendings) if (p.bias) p.spec.bias = Float32Array.from(p.bias);

  // Layers whose output only fed Shape nodes do not reach the output: drop them.
  const { emitted } = state;
  const live = new Uint8Array(emitted.length);
  live[out.layer] = 1;
  for (let i = out.layer; i >= 0; i--) {
    if (live[i]) for (const s of emitted[i].srcs) if (s >= 0) live[s] = 1;
  }
  const remap = new Int32Array(emitted.length).fill(-1);
  const layers: LayerSpec[] = [];
  emitted.forEach((e, i) => {
    if (!live[i]) return;
    const srcs = e.srcs.map((s) => (s < 0 ? -1 : remap[s]));
    const at = layers.length;
    if (e.spec.type === 'add') e.spec.inputs = [srcs[0], srcs[1]];
    else if (e.spec.type === 'concat') e.spec.inputs = srcs;
    else if (srcs[0] !== at - 1) e.spec.inputs = srcs;
    remap[i] = at;
    layers.push(e.spec);
  });

  // The logits: a dense layer, possibly followed by shape-only layers.
  let last: LayerSpec | undefined;
  let lastAt = -1;
  for (let i = layers.length - 1; i >= 0 && !last; i--) {
    const t = layers[i].type;
    if (t !== 'identity' && t !== 'flatten' && t !== 'reshape') [last, lastAt] = [layers[i], i];
  }
  if (last?.type === 'globalavgpool') {
    const src = emitted[remap.indexOf(lastAt)].srcs[0];
    last = layers[lastAt] = averagingDense(last, src < 0 ? inputShape : emitted[src].shape);
  }
  if (!last || last.type !== 'dense') {
    throw badModel(
      last
        ? `The last layer of the ONNX model is a ${OP_OF_TYPE[last.type]}${last.name ? ` (node "${last.name}")` : ''}; ` +
            'pathwise needs the logits of a final dense layer (Gemm or MatMul)'
        : 'The ONNX model has no dense layer (Gemm or MatMul)',
    );
  }
  if (last.out < 2) {
    throw badModel(
      `The last dense layer${last.name ? ` "${last.name}"` : ''} has ${last.out} output; pathwise explains ` +
        'classifiers with at least 2 outputs (logits)',
    );
  }
  if (out.shape.length !== 1 || out.shape[0] !== last.out) {
    throw badModel(`The ONNX model's output has shape [batch, ${out.shape}]; pathwise needs [batch, ${last.out}] (the logits)`);
  }
  return { inputShape, layers };
}

/**
 * A GlobalAveragePool that gives the logits (SqueezeNet's classifier: conv, gate, global average)
 * as the dense layer it is: each output channel averages its H × W inputs. The engine reads the
 * logits from a dense layer.
 */
function averagingDense(gap: LayerSpec, [c, h, w]: number[]): DenseLayerSpec {
  const plane = h * w;
  const weights = new Float32Array(c * c * plane);
  for (let ch = 0; ch < c; ch++) weights.fill(1 / plane, (ch * c + ch) * plane, (ch * c + ch + 1) * plane);
  const dense: DenseLayerSpec = { type: 'dense', weights, in: c * plane, out: c };
  if (gap.name !== undefined) dense.name = gap.name;
  if (gap.inputs) dense.inputs = gap.inputs;
  return dense;
}
