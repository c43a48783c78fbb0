/**
 * Refusals that explain themselves, decided before lowering: pathwise explains piecewise-linear
 * networks, so the first node (in visiting order) that applies a non-piecewise-linear function to
 * input-dependent values is PATHWISE_UNSUPPORTED_OP naming it, with the fix where there is one.
 * Input-dependent: the graph input and everything computed from it, except through Shape (whose
 * output is static). Also here: the trailing Softmax / LogSoftmax that `stripSoftmax` drops.
 */
import { unsupported, type NodeProto } from './deps.js';
import { nodeLabel } from './order.js';

/** Why an op applied to activations is refused, beyond "<op> is not piecewise linear". */
const NOT_PIECEWISE_LINEAR: Record<string, string> = {
  Sigmoid: 'Sigmoid is not piecewise linear (a sigmoid gate; with a Mul after it, Swish / SiLU)',
  Tanh: '',
  HardSigmoid: 'HardSigmoid is piecewise linear, but networks use it to scale activations by activations (HardSwish, squeeze-and-excitation), which is not',
  HardSwish: 'HardSwish (x · ReLU6(x + 3) / 6) multiplies activations by activations, which is not piecewise linear',
  Gelu: '',
  Erf: 'Erf is not piecewise linear (GELU)',
  Elu: '',
  Selu: '',
  Celu: '',
  Softplus: '',
  Softsign: '',
  Mish: '',
  Softmax: 'Softmax inside the network (attention, gating) is not piecewise linear',
  LogSoftmax: '',
  LayerNormalization: 'LayerNormalization divides by a standard deviation computed from the activations, which is not piecewise linear',
  GroupNormalization: 'GroupNormalization divides by statistics of the activations, which is not piecewise linear',
  InstanceNormalization: 'InstanceNormalization divides by statistics of the activations, which is not piecewise linear',
  LpNormalization: '',
  Pow: 'Pow is not piecewise linear (with ReduceMean, Sub, Sqrt and Div around it, a decomposed layer normalisation)',
  Sqrt: 'Sqrt is not piecewise linear (part of a decomposed normalisation)',
  Reciprocal: '',
  Exp: '',
  Log: '',
  Sin: '',
  Cos: '',
  ReduceL2: '',
  ReduceLogSumExp: '',
  ReduceSumSquare: '',
  ReduceProd: '',
};

/** Ops that are linear in each operand but not in two input-dependent operands together. */
const BILINEAR: Record<string, string> = {
  Mul: ' (as in squeeze-and-excitation or a gated unit)',
  Div: '',
  MatMul: ' (as in attention)',
  Einsum: '',
};

const PASS_THROUGH = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze']);

/**
 * The trailing Softmax or LogSoftmax: the node producing the graph output, possibly through
 * Identity / Flatten / Reshape / Squeeze nodes after it. Undefined when the model has none.
 */
export function trailingSoftmax(nodes: NodeProto[], outputName: string): NodeProto | undefined {
  const producer = new Map<string, NodeProto>();
  for (const node of nodes) for (const o of node.output) if (o) producer.set(o, node);
  let node = producer.get(outputName);
  while (node && PASS_THROUGH.has(node.opType)) node = producer.get(node.input[0]);
  return node && (node.opType === 'Softmax' || node.opType === 'LogSoftmax') ? node : undefined;
}

/** Throws for the first live node that is not piecewise linear in the input (see the file comment). */
export function refuseNonPiecewiseLinear(nodes: NodeProto[], order: number[], inputName: string, outputName: string): void {
  const dependent = new Set([inputName]);
  const last = trailingSoftmax(nodes, outputName);
  for (const index of order) {
    const node = nodes[index];
    if (node.opType === 'Shape' || node.opType === 'Size') continue;
    const reads = node.input.filter((name) => name && dependent.has(name)).length;
    if (reads === 0) continue;
    for (const o of node.output) if (o) dependent.add(o);
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    const op = node.opType;
    const label = nodeLabel(node, index);
    if (node === last) {
      throw unsupported(
        `Unsupported ONNX op "${op}" at node ${label}: pathwise explains piecewise-linear networks, and this ` +
          `${op} at the end turns the logits into probabilities; load it with loadModel(path, { stripSoftmax: true }) ` +
          `to drop the ${op} and explain the logits`,
      );
    }
    const reason = op in NOT_PIECEWISE_LINEAR
      ? NOT_PIECEWISE_LINEAR[op] || `${op} is not piecewise linear`
      : reads >= 2 && op in BILINEAR ? `${op} of two activations is not piecewise linear${BILINEAR[op]}` : undefined;
    if (reason !== undefined) {
      throw unsupported(
        `Unsupported ONNX op "${op}" at node ${label}: pathwise explains piecewise-linear networks, and ${reason}. ` +
          'Models built from Conv, Gemm/MatMul with constant weights, BatchNormalization, pooling, Add/Concat and ' +
          'the gates Relu, LeakyRelu, PRelu and Clip load',
      );
    }
  }
}
