/**
 * Per-element and per-channel layers: Relu, BatchNormalization (kept as is: folding it into the
 * conv or dense layer before it is the engine lowering's job) and the arithmetic ops Add, Sub,
 * Mul, Div: a residual Add of two activations, a constant Add / Sub right after a dense or conv
 * layer (folded into its bias), or a per-channel constant (an 'affine' layer).
 */
import { badModel, unsupported, type BatchNormLayerSpec } from '../deps.js';
import type { NodeContext } from '../context.js';
import { sameShape } from '../numbers.js';
import type { FloatTensor } from '../decode.js';
import { broadcastTo, perChannel } from '../shapes.js';
import { floatOf, type Act, type Const } from '../values.js';

export function relu(n: NodeContext): void {
  const x = n.act(0);
  n.emit({ type: 'relu' }, [x.layer], x.shape);
}

export function batchNormalization(n: NodeContext): void {
  const { label } = n;
  const x = n.act(0);
  if (n.intAttr('training_mode', 0) !== 0 || n.node.output.slice(1).some((o) => o)) {
    throw unsupported(
      `BatchNormalization at node ${label} runs in training mode (training_mode=1 or running statistics as ` +
        'outputs); pathwise needs inference mode (export the model in eval mode)',
    );
  }
  if (n.intAttr('spatial', 1) !== 1) {
    throw unsupported(`BatchNormalization at node ${label} has spatial=0 (per-position statistics); pathwise supports per-channel statistics`);
  }
  const channels = x.shape[0];
  const param = (pos: number, what: string): Float32Array => {
    const t = n.floatAt(pos, what);
    if (t.dims.length !== 1 || t.dims[0] !== channels) {
      throw badModel(
        `BatchNormalization at node ${label}: ${what} has shape [${t.dims}], but the input [batch, ${x.shape}] has ` +
          `${channels} channels`,
      );
    }
    return Float32Array.from(t.data);
  };
  // The default too is the float32 value (what an explicit attribute would hold).
  const epsilon = n.floatAttr('epsilon', Math.fround(1e-5));
  if (!(epsilon >= 0)) throw badModel(`BatchNormalization at node ${label} has epsilon ${epsilon} (must be ≥ 0)`);
  const spec: BatchNormLayerSpec = {
    type: 'batchnorm',
    scale: param(1, 'scale'),
    bias: param(2, 'bias B'),
    mean: param(3, 'mean'),
    variance: param(4, 'variance'),
    epsilon,
  };
  for (let ch = 0; ch < channels; ch++) {
    if (!(spec.variance[ch] + epsilon > 0)) {
      throw badModel(
        `BatchNormalization at node ${label}: variance + epsilon of channel ${ch} is ${spec.variance[ch] + epsilon} ` +
          '(must be > 0)',
      );
    }
  }
  n.emit(spec, [x.layer], x.shape);
}

/**
 * Add, Sub, Mul and Div with an activation operand. Two activations: Add of equal shapes is a
 * residual 'add' (Mul and Div of two activations are refused before lowering, see refusals.ts).
 * An activation and a constant: an Add or Sub right after a dense or conv layer folds into its
 * bias; otherwise a constant per channel (or a scalar) gives an 'affine' layer.
 */
export function arith(n: NodeContext): void {
  const { label, op } = n;
  const [aName, bName] = n.node.input;
  if (!aName || !bName) throw badModel(`${op} at node ${label} needs two inputs`);
  const a = n.operand(aName);
  const b = n.operand(bName);
  if ('act' in a && 'act' in b) {
    if (op !== 'Add') {
      throw unsupported(`${op} at node ${label} of two activations; pathwise supports Add of two activations (a residual connection)`);
    }
    if (!sameShape(a.act.shape, b.act.shape)) {
      throw unsupported(
        `Add at node ${label} adds activations of shapes [batch, ${a.act.shape}] and [batch, ${b.act.shape}]; ` +
          'pathwise supports the sum of two activations of the same shape (a residual connection), not broadcasting',
      );
    }
    n.emit({ type: 'add', inputs: [a.act.layer, b.act.layer] }, [a.act.layer, b.act.layer], a.act.shape);
    return;
  }
  const actFirst = 'act' in a;
  const [x, cName, c] = actFirst ? [a.act, bName, (b as { c: Const }).c] : [(b as { act: Act }).act, aName, a.c];
  const t = floatOf(c, `constant operand of ${op} at node ${label}`);
  if ((op === 'Add' || (op === 'Sub' && actFirst)) && x.fold) {
    foldIntoBias(n, x, t, op === 'Sub' ? -1 : 1);
    return;
  }
  if (op === 'Div' && !actFirst) {
    throw unsupported(
      `pathwise explains piecewise-linear networks; Div at node ${label} divides the constant "${cName}" by an ` +
        'activation, which is not piecewise linear',
    );
  }
  const k = perChannel(n, t, x.shape, `the constant "${cName}"`);
  if (!k) {
    throw unsupported(
      `${op} at node ${label}: the constant "${cName}" of shape [${t.dims}] is not one value per channel of the ` +
        `activation [batch, ${x.shape}]; pathwise supports a constant ${op} per channel ([C, 1, 1], [1, C, 1, 1], ` +
        '[C] on features) or by a scalar',
    );
  }
  const channels = k.length;
  const scale = new Float64Array(channels).fill(1);
  const shift = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) {
    if (op === 'Add') shift[ch] = k[ch];
    else if (op === 'Sub') [scale[ch], shift[ch]] = actFirst ? [1, -k[ch]] : [-1, k[ch]];
    else if (op === 'Mul') scale[ch] = k[ch];
    else scale[ch] = 1 / k[ch];
  }
  if (![...scale, ...shift].every(Number.isFinite)) {
    throw badModel(`${op} at node ${label}: the constant "${cName}" gives a non-finite scale or shift`);
  }
  n.emit({ type: 'affine', scale: Float32Array.from(scale), shift: Float32Array.from(shift) }, [x.layer], x.shape);
}

/** Adds sign · constant to the bias of the dense or conv layer the activation comes from. */
function foldIntoBias(n: NodeContext, x: Act, t: FloatTensor, sign: number): void {
  const { label, op } = n;
  const cb = broadcastTo(t, [1, ...x.shape]);
  if (cb === 'incompatible') {
    throw badModel(`${op} at node ${label}: constant of shape [${t.dims}] does not broadcast with the activation [batch, ${x.shape}]`);
  }
  if (cb === 'expands') {
    throw unsupported(
      `${op} at node ${label}: constant of shape [${t.dims}] would expand the activation [batch, ${x.shape}]; ` +
        'pathwise supports a constant that broadcasts to the activation shape (a bias)',
    );
  }
  const target = x.fold!;
  const { channels, spatial } = target;
  for (let ch = 0; ch < channels; ch++) {
    const v = cb[ch * spatial];
    for (let s = 1; s < spatial; s++) {
      if (cb[ch * spatial + s] !== v) {
        throw unsupported(
          `${op} at node ${label}: the constant of shape [${t.dims}] varies within an output channel of the conv ` +
            `layer it follows ([batch, ${x.shape}]); pathwise folds only a per-channel bias ([C, 1, 1], ` +
            '[1, C, 1, 1] or a scalar)',
        );
      }
    }
  }
  if (!target.bias) target.bias = new Float64Array(channels);
  for (let ch = 0; ch < channels; ch++) target.bias[ch] += sign * cb[ch * spatial];
  // No layer: the sum is the (re-biased) layer's output.
  n.setOutput({ layer: x.layer, shape: x.shape, fold: n.passFold(x) });
}
