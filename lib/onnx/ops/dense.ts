/**
 * Dense layers: Gemm (A·B + C with the activation as A) and MatMul (activation · W). Weights are
 * converted in float64 (transposition, alpha/beta scaling) and rounded to float32 once.
 */
import { badModel, unsupported, type DenseLayerSpec } from '../deps.js';
import type { NodeContext } from '../context.js';
import { product } from '../numbers.js';
import { broadcastTo } from '../shapes.js';

export function gemm(n: NodeContext): void {
  const { label } = n;
  const actPos = n.node.input.findIndex((_, i) => n.isAct(i));
  if (actPos !== 0) {
    if (actPos > 0) {
      throw unsupported(
        `Gemm at node ${label} takes the activation as input ${actPos === 1 ? 'B' : 'C'}; pathwise needs it ` +
          'as input A (a dense layer A·B + C with constant B and C)',
      );
    }
    n.act(0); // throws: a Gemm of constants
  }
  const x = n.act(0);
  const transA = n.intAttr('transA', 0);
  if (transA !== 0) {
    throw unsupported(
      `Gemm at node ${label} has transA=${transA}: it transposes the activation, which is not a dense ` +
        'layer; pathwise supports Gemm with the activation as input A and transA=0',
    );
  }
  const transB = n.intAttr('transB', 0);
  if (transB !== 0 && transB !== 1) throw badModel(`Gemm at node ${label} has transB=${transB} (must be 0 or 1)`);
  const alpha = n.floatAttr('alpha', 1);
  const beta = n.floatAttr('beta', 1);
  requireVector(x.shape, n);
  const b = n.floatAt(1, 'weight B');
  if (b.dims.length !== 2) {
    throw badModel(`Gemm at node ${label}: weight B has shape [${b.dims}], expected a 2-D matrix`);
  }
  const inSize = transB ? b.dims[1] : b.dims[0];
  const outSize = transB ? b.dims[0] : b.dims[1];
  checkInSize(inSize, x.shape, n);
  const w = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < inSize; k++) {
      const v = transB ? b.data[o * inSize + k] : b.data[k * outSize + o];
      w[o * inSize + k] = alpha * v;
    }
  }
  let bias: Float64Array | undefined;
  if (n.node.input[2]) {
    const c = n.floatAt(2, 'bias C');
    const cb = broadcastTo(c, [1, outSize]);
    if (cb === 'incompatible' || cb === 'expands') {
      throw badModel(
        `Gemm at node ${label}: bias C of shape [${c.dims}] does not broadcast to [batch, ${outSize}] ` +
          '(supported: [out], [1, out], [1] or a scalar)',
      );
    }
    bias = cb.map((v) => beta * v);
  }
  const spec: DenseLayerSpec = { type: 'dense', weights: w, in: inSize, out: outSize };
  n.emitBiased(spec, bias, x.layer, [outSize]);
}

export function matmul(n: NodeContext): void {
  const { label } = n;
  if (!n.isAct(0) && n.isAct(1)) {
    throw unsupported(
      `MatMul at node ${label} takes the activation as its right operand; pathwise supports ` +
        'activation · W with a constant matrix W',
    );
  }
  const x = n.act(0);
  if (x.shape.length !== 1) {
    throw unsupported(
      `MatMul at node ${label} multiplies an activation of shape [batch, ${x.shape}]: MatMul acts on the last ` +
        'axis only, which is not a dense layer; pathwise supports MatMul on [batch, features] (add a Flatten)',
    );
  }
  const b = n.floatAt(1, 'weight');
  if (b.dims.length !== 2) {
    throw unsupported(
      `MatMul at node ${label}: the constant right operand has shape [${b.dims}]; pathwise supports a 2-D ` +
        '[in, out] matrix',
    );
  }
  const [inSize, outSize] = b.dims;
  checkInSize(inSize, x.shape, n);
  const w = new Float32Array(outSize * inSize);
  for (let o = 0; o < outSize; o++) {
    for (let k = 0; k < inSize; k++) w[o * inSize + k] = b.data[k * outSize + o];
  }
  const spec: DenseLayerSpec = { type: 'dense', weights: w, in: inSize, out: outSize };
  n.emitBiased(spec, undefined, x.layer, [outSize]);
}

function requireVector(shape: number[], n: NodeContext): void {
  if (shape.length !== 1) {
    throw badModel(
      `${n.op} at node ${n.label} needs a 2-D input [batch, features], but the activation has shape [batch, ${shape}] ` +
        '(a Flatten is missing)',
    );
  }
}

function checkInSize(inSize: number, shape: number[], n: NodeContext): void {
  const have = product(shape);
  if (inSize !== have) {
    throw badModel(
      `${n.op} at node ${n.label} expects ${inSize} input features, but the activation has shape [batch, ${shape}] ` +
        `(${have} features): the layer shapes do not chain`,
    );
  }
}
