/**
 * tfjs (Keras) activations → gate layer specs. pathwise explains piecewise-linear networks, so an
 * activation is either one of the gates of docs/semantics.md ("Gates beyond ReLU") or refused with
 * PATHWISE_UNSUPPORTED_OP; the one exception is a softmax on the output, which stripSoftmax drops
 * (the logits under it have the same argmax).
 */
import type { LayerSpec } from '../model/layers.js';
import type { TfjsLayer } from './convert.js';
import { cfg, norm, unsupported, bad, weight, type Tensor } from './common.js';

/** What a fused activation (`activation: …` on Dense, Conv2D, …) or an Activation layer may be. */
const CONVERTED = 'relu, relu6, linear; activation layers ReLU, LeakyReLU, PReLU, ThresholdedReLU';

/** Activations known not to be piecewise linear (names after norm(): no underscores, lower case). */
const SMOOTH = new Set([
  'sigmoid', 'tanh', 'swish', 'silu', 'gelu', 'gelunew', 'elu', 'selu', 'softplus', 'softsign', 'mish',
  'exponential', 'softmax', 'logsoftmax', 'hardsilu', 'hardswish',
]);

function refuse(layer: TfjsLayer, act: unknown, hint = ''): never {
  const a = norm(act);
  const name = JSON.stringify(act);
  if (a === 'hardsigmoid')
    throw unsupported(layer, `activation ${name} is not supported: pathwise explains piecewise-linear networks, and hard_sigmoid, ` +
      `though piecewise linear, has a slope of 0.2 in tfjs and Keras 2 but 1/6 in Keras 3, so its meaning is ambiguous (${CONVERTED})`);
  const what = typeof a === 'string' && SMOOTH.has(a) ? 'is not piecewise linear' : 'is not one of the piecewise-linear activations pathwise converts';
  throw unsupported(layer, `activation ${name} ${what}; pathwise explains piecewise-linear networks (${CONVERTED})${hint}`);
}

/**
 * The gate for a fused activation or an Activation layer's `activation`: a spec layer without
 * name and inputs, or null for none (linear, or an output softmax that stripSoftmax drops).
 */
export function namedActivation(layer: TfjsLayer, act: unknown, isOutput: boolean, stripSoftmax: boolean): LayerSpec | null {
  const a = act === undefined || act === null ? 'linear' : norm(act);
  if (a === 'linear') return null;
  if (a === 'relu') return { type: 'relu' };
  if (a === 'relu6') return { type: 'clip', min: 0, max: 6 };
  if (a === 'softmax' && isOutput && stripSoftmax) return null;
  if (a === 'softmax')
    refuse(layer, act, isOutput ? '; pass { stripSoftmax: true } to explain the logits under it'
      : '; only a softmax on the output layer can be dropped (stripSoftmax)');
  refuse(layer, act);
}

function finite(layer: TfjsLayer, key: string, fallback: number): number {
  const v = cfg(layer, key);
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v)) throw bad(layer, `${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Keras's ReLU(max_value, threshold θ, negative_slope α): g(z) = max_value for z ≥ max_value,
 * z for θ ≤ z < max_value, α·(z − θ) otherwise. The defaults are ReLU, max_value alone a clip at
 * [0, max_value], anything else the general gate (lower θ, upper max_value, slope α, lowerValue 0),
 * which gives 0 rather than θ at exactly z = θ (docs/semantics.md, "Gates beyond ReLU").
 */
function kerasRelu(layer: TfjsLayer): LayerSpec {
  const maxValue = finite(layer, 'maxValue', Infinity);
  const threshold = finite(layer, 'threshold', 0);
  const slope = finite(layer, 'negativeSlope', 0);
  if (!(maxValue > threshold) || !Number.isFinite(threshold) || !Number.isFinite(slope))
    throw bad(layer, `ReLU needs a finite threshold (${threshold}) below max_value (${maxValue}) and a finite negative_slope (${slope})`);
  if (threshold === 0 && slope === 0) return maxValue === Infinity ? { type: 'relu' } : { type: 'clip', min: 0, max: maxValue };
  return { type: 'gate', lower: threshold, upper: maxValue, slope, lowerValue: 0 };
}

/**
 * PReLU's alpha has the shape of one example with the shared axes set to 1. pathwise's slope is
 * one number or one per channel (the channel axis of an image, every unit of a flat tensor), so
 * an alpha that varies over image positions is refused.
 */
function preluSlope(layer: TfjsLayer, x: Tensor, channelsFirst: boolean): Float32Array {
  const w = layer.weights.get('alpha');
  if (!w) throw bad(layer, 'weight "alpha" is missing');
  const alpha = weight(layer, 'alpha', undefined);
  if (alpha.length === 1) return Float32Array.from(alpha);
  if (x.kind === 'flat') {
    if (w.shape.length !== 1 || w.shape[0] !== x.shape[0]) throw bad(layer, `alpha has shape [${w.shape.join(', ')}] for ${x.shape[0]} features`);
    return x.perm ? Float32Array.from(x.perm, (src) => alpha[src]) : Float32Array.from(alpha);
  }
  if (x.kind === 'image' && w.shape.length === 3) {
    const [c, h, wd] = x.shape;
    const tf = channelsFirst ? [c, h, wd] : [h, wd, c];
    if (w.shape.some((d, i) => d !== 1 && d !== tf[i])) throw bad(layer, `alpha has shape [${w.shape.join(', ')}] for an input [${tf.join(', ')}]`);
    const channelAxis = channelsFirst ? 0 : 2;
    if (w.shape.every((d, i) => i === channelAxis || d === 1)) {
      if (w.shape[channelAxis] === 1) return Float32Array.of(alpha[0]);
      return Float32Array.from(alpha);
    }
  }
  throw unsupported(layer, `PReLU alpha of shape [${w.shape.join(', ')}] varies over positions; pathwise supports one slope per channel ` +
    `(shared_axes [1, 2] on images) or one for all`);
}

/**
 * The gate of an activation layer (ReLU, LeakyReLU, PReLU, ThresholdedReLU; ELU and other smooth
 * ones are refused), without name and inputs.
 */
export function activationLayer(layer: TfjsLayer, x: Tensor, channelsFirst: boolean): LayerSpec {
  switch (layer.className) {
    case 'ReLU':
      return kerasRelu(layer);
    case 'LeakyReLU': {
      // tfjs and Keras 2 call the slope alpha, Keras 3 negative_slope; the default is 0.3 in all three.
      const alpha = cfg(layer, 'alpha') ?? cfg(layer, 'negativeSlope') ?? 0.3;
      if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw bad(layer, `alpha must be a finite number, got ${JSON.stringify(alpha)}`);
      return { type: 'leakyrelu', alpha };
    }
    case 'PReLU':
      return { type: 'prelu', slope: preluSlope(layer, x, channelsFirst) };
    case 'ThresholdedReLU': {
      // z for z > θ, else 0: the gate with lower θ, slope 0, lowerValue 0, exactly (also at z = θ).
      const theta = finite(layer, 'theta', 1);
      if (!Number.isFinite(theta)) throw bad(layer, `theta must be finite, got ${theta}`);
      return { type: 'gate', lower: theta, upper: Infinity, slope: 0, lowerValue: 0 };
    }
    case 'ELU':
      return refuse(layer, 'elu');
    default:
      throw unsupported(layer, 'not an activation layer');
  }
}
