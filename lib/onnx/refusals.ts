/**
 * Refusals that explain themselves, decided before lowering: pathwise explains piecewise-linear
 * networks, so the first node (in visiting order) that applies a non-piecewise-linear function to
 * input-dependent values is PATHWISE_UNSUPPORTED_OP naming it, with the fix where there is one.
 * Input-dependent: the graph input and everything computed from it, except through Shape (whose
 * output is static). Also here: the trailing Softmax / LogSoftmax that `stripSoftmax` drops.
 */
import { unsupported, type NodeProto } from './deps.js';
import { nodeLabel } from './order.js';

/** Ops that are not piecewise linear, with what they usually are in a network. */
const NOT_PIECEWISE_LINEAR: Record<string, string> = {
  Sigmoid: ' (a sigmoid gate; with a Mul after it, Swish / SiLU)',
  Tanh: '',
  HardSigmoid: ' (piecewise linear alone, but it scales activations by activations in HardSwish and squeeze-and-excitation)',
  HardSwish: ' (x · ReLU6(x + 3) / 6, a product of activations)',
  Gelu: '',
  Erf: ' (GELU)',
  Elu: '',
  Selu: '',
  Celu: '',
  Softplus: '',
  Softsign: '',
  Mish: '',
  Softmax: ' (attention or a softmax inside the network)',
  LogSoftmax: '',
  LayerNormalization: ' (layer normalisation divides by a standard deviation computed from the activations)',
  GroupNormalization: ' (normalisation by statistics of the activations)',
  InstanceNormalization: ' (normalisation by statistics of the activations)',
  LpNormalization: '',
  Pow: ' (with ReduceMean, Sub, Sqrt and Div around it, a decomposed layer normalisation)',
  Sqrt: ' (part of a decomposed normalisation)',
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
  Mul: ' (a product of two activations, as in squeeze-and-excitation or a gated unit)',
  Div: ' (a quotient of two activations)',
  MatMul: ' (a product of two activations, as in attention)',
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
    const hint = op in NOT_PIECEWISE_LINEAR ? NOT_PIECEWISE_LINEAR[op] : reads >= 2 ? BILINEAR[op] : undefined;
    if (hint !== undefined) {
      const what = op in NOT_PIECEWISE_LINEAR ? op : `${op} of two activations`;
      throw unsupported(
        `Unsupported ONNX op "${op}" at node ${label}: pathwise explains piecewise-linear networks, and ${what} is ` +
          `not piecewise linear${hint}. ` +
          'Models built from Conv, Gemm/MatMul with constant weights, BatchNormalization, pooling, Add/Concat and ' +
          'the gates Relu, LeakyRelu, PRelu and Clip load',
      );
    }
  }
}
