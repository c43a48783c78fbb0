/**
 * TensorFlow.js (Keras) layers → NetworkSpec (lib/model/layers.ts).
 *
 * tfjs tensors are channels-last: an image is [H, W, C] and a Conv2D kernel [kh, kw, cin, cout].
 * pathwise is NCHW: the network input becomes [C, H, W], kernels [cout, cin, kh, kw], and since a
 * Flatten of [H, W, C] lists values in H, W, C order while ours lists them C, H, W, the weights
 * that read a flattened feature map (the next Dense's kernel rows, a BatchNormalization on the
 * flat vector) are permuted from HWC to CHW order. The converted network computes the same logits
 * as the tfjs model, given its input in NCHW order.
 */
import type { LayerSpec, NetworkSpec } from '../model/layers.js';
import { checkOptions } from '../validate.js';
import { bad, cfg, norm, pairOf, unsupported, weight, windowGeometry, type Emit, type Tensor } from './common.js';
import { activationLayer, namedActivation } from './activations.js';
import { convolution, padding } from './conv.js';

const CONVERT_OPTIONS = new Set(['stripSoftmax']);

/** One tfjs weight: its shape as tfjs stores it and its values (row-major). */
export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

/** One layer of a tfjs model, read from model.json or from an in-memory LayersModel. */
export interface TfjsLayer {
  className: string;
  name: string;
  /** The layer's config; snake_case keys (model.json) or camelCase keys (getConfig()) alike. */
  config: Record<string, unknown>;
  /** Names of the layers feeding this one; undefined = the layer before it (a Sequential model). */
  inbound?: string[];
  /**
   * Weights by short name: 'kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance',
   * 'alpha' (PReLU), 'depthwise_kernel', 'pointwise_kernel'.
   */
  weights: Map<string, TfjsWeight>;
}

export interface TfjsConvertOptions {
  /**
   * A softmax on the output layer (fused `activation: 'softmax'`, or a last Activation/Softmax
   * layer) is an error by default, since pathwise explains logits. With `stripSoftmax: true` it is
   * dropped: the converted network outputs the logits under it (the same argmax).
   */
  stripSoftmax?: boolean;
}

/** A tfjs model reduced to what conversion needs. */
export interface TfjsGraph {
  /** Input shape without the batch dimension, as tfjs has it (e.g. [H, W, C]). */
  inputShape: number[];
  layers: TfjsLayer[];
  /** The layer whose output is the model's output; default the last layer. */
  output?: string;
}

const SUPPORTED = 'Dense, Conv2D, DepthwiseConv2D, SeparableConv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, ' +
  'GlobalMaxPooling2D, ZeroPadding2D, Cropping2D, Flatten, Dropout, SpatialDropout2D, BatchNormalization, ReLU, LeakyReLU, PReLU, ' +
  'ThresholdedReLU, Activation (relu, relu6, linear), Add, Concatenate, InputLayer';

/** Converts a tfjs graph to a NetworkSpec. */
export function convertTfjsGraph(graph: TfjsGraph, options: TfjsConvertOptions = {}): NetworkSpec {
  checkOptions(options, CONVERT_OPTIONS);
  const { layers } = graph;
  if (layers.length === 0) throw bad(undefined, 'the model has no layers');
  const tfShape = graph.inputShape;
  if (!Array.isArray(tfShape) || tfShape.length === 0 || tfShape.length > 3 || !tfShape.every((d) => Number.isSafeInteger(d) && d > 0))
    throw bad(undefined, `input shape must be 1 to 3 known dimensions (no batch), got ${JSON.stringify(tfShape)}`);

  const channelsFirst = layers.some((l) => norm(cfg(l, 'dataFormat')) === 'channelsfirst');
  if (channelsFirst && layers.some((l) => norm(cfg(l, 'dataFormat')) === 'channelslast'))
    throw unsupported(layers.find((l) => norm(cfg(l, 'dataFormat')) === 'channelslast')!, 'mixes channels_last and channels_first layers');
  const inputShape = tfShape.length === 3 && !channelsFirst ? [tfShape[2], tfShape[0], tfShape[1]] : [...tfShape];
  const input: Tensor = { ref: -1, shape: inputShape, kind: tfShape.length === 3 ? 'image' : tfShape.length === 1 ? 'flat' : 'other', perm: null };

  const spec: LayerSpec[] = [];
  const tensors = new Map<string, Tensor>();
  const outputName = graph.output ?? layers[layers.length - 1].name;
  let previous: Tensor = input;

  const emit: Emit = (layer, from, shape, kind, perm = null) => {
    const refs = from.map((t) => t.ref);
    if (layer.type === 'add' || layer.type === 'concat' || refs.length !== 1 || refs[0] !== spec.length - 1) layer.inputs = refs as never;
    spec.push(layer);
    return { ref: spec.length - 1, shape, kind, perm };
  };

  /** A gate keeps its input's shape and layout. */
  const gate = (layer: TfjsLayer, g: LayerSpec | null, t: Tensor): Tensor =>
    (g ? emit({ ...g, name: layer.name }, [t], t.shape, t.kind, t.perm) : t);
  /** A fused or standalone named activation: a gate, or nothing for 'linear' (activations.ts). */
  const activation = (layer: TfjsLayer, act: unknown, t: Tensor, isOutput: boolean): Tensor =>
    gate(layer, namedActivation(layer, act, isOutput, options.stripSoftmax === true), t);

  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i];
    const isOutput = layer.name === outputName;
    let inputs: Tensor[];
    if (layer.inbound === undefined) inputs = [previous];
    else {
      inputs = layer.inbound.map((n) => {
        const t = tensors.get(n);
        if (!t) throw bad(layer, `its input "${n}" is not an earlier layer (multi-input models are not supported)`);
        return t;
      });
    }
    const cls = layer.className;
    if (cls !== 'Add' && cls !== 'Concatenate' && cls !== 'InputLayer' && inputs.length !== 1) throw unsupported(layer, `takes ${inputs.length} inputs`);
    const x = inputs[0];
    let out: Tensor;
    switch (cls) {
      case 'InputLayer':
        out = input;
        break;
      case 'Dropout':
      case 'SpatialDropout2D':
        out = x;
        break;
      case 'Activation':
        out = activation(layer, cfg(layer, 'activation'), x, isOutput);
        break;
      case 'Softmax':
        out = activation(layer, 'softmax', x, isOutput);
        break;
      case 'ReLU':
      case 'LeakyReLU':
      case 'PReLU':
      case 'ThresholdedReLU':
      case 'ELU':
        out = gate(layer, activationLayer(layer, x, channelsFirst), x);
        break;
      case 'Flatten': {
        const n = x.shape.reduce((a, b) => a * b, 1);
        let perm: Int32Array | null = x.perm;
        if (x.kind === 'image' && !channelsFirst) {
          const [c, h, w] = x.shape;
          perm = new Int32Array(n);
          for (let ch = 0; ch < c; ch++)
            for (let y = 0; y < h; y++)
              for (let xx = 0; xx < w; xx++) perm[(ch * h + y) * w + xx] = (y * w + xx) * c + ch;
        }
        out = emit({ type: 'flatten', name: layer.name }, [x], [n], 'flat', perm);
        break;
      }
      case 'Dense': {
        if (x.shape.length !== 1)
          throw unsupported(layer, `Dense on a rank-${x.shape.length} tensor (it acts on the last axis only); add a Flatten before it`);
        const units = cfg(layer, 'units');
        const n = x.shape[0];
        if (!Number.isSafeInteger(units) || (units as number) < 1) throw bad(layer, `units must be a positive integer, got ${JSON.stringify(units)}`);
        const out_ = units as number;
        const kernel = weight(layer, 'kernel', [n, out_]);
        const w = new Float32Array(n * out_);
        for (let o = 0; o < out_; o++)
          for (let j = 0; j < n; j++) w[o * n + j] = kernel[(x.perm ? x.perm[j] : j) * out_ + o];
        const useBias = cfg(layer, 'useBias') !== false;
        const bias = useBias ? Float32Array.from(weight(layer, 'bias', [out_])) : undefined;
        const d = emit({ type: 'dense', name: layer.name, in: n, out: out_, weights: w, bias }, [x], [out_], 'flat');
        out = activation(layer, cfg(layer, 'activation'), d, isOutput);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D':
      case 'SeparableConv2D':
        out = activation(layer, cfg(layer, 'activation'), convolution(layer, x, emit), isOutput);
        break;
      case 'ZeroPadding2D':
      case 'Cropping2D':
        out = padding(layer, x, emit);
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        if (x.kind !== 'image') throw unsupported(layer, `pooling needs an image input [H, W, C], got a tensor of rank ${x.shape.length}`);
        const [c, h, w] = x.shape;
        const kernel = pairOf(layer, 'poolSize', [2, 2]);
        const stride = pairOf(layer, 'strides', kernel);
        const { pads, oh, ow } = windowGeometry(layer, h, w, kernel, stride, [1, 1]);
        if (oh < 1 || ow < 1) throw bad(layer, `the window does not fit the input [${h}, ${w}]`);
        // TF's average pooling divides by the number of real (unpadded) elements in the window.
        const p: LayerSpec = cls === 'MaxPooling2D'
          ? { type: 'maxpool', name: layer.name, kernel, stride, pads }
          : { type: 'avgpool', name: layer.name, kernel, stride, pads, countIncludePad: false };
        out = emit(p, [x], [c, oh, ow], 'image');
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        if (x.kind !== 'image') throw unsupported(layer, `global pooling needs an image input [H, W, C]`);
        if (cfg(layer, 'keepdims') === true) throw unsupported(layer, 'keepdims: true is not supported');
        // Our output is [C, 1, 1]; as a flat vector it is tfjs's [C] in the same order.
        const type = cls === 'GlobalMaxPooling2D' ? 'globalmaxpool' : 'globalavgpool';
        const g = emit({ type, name: layer.name }, [x], [x.shape[0], 1, 1], 'other');
        out = emit({ type: 'flatten', name: `${layer.name}/flatten` }, [g], [x.shape[0]], 'flat');
        break;
      }
      case 'BatchNormalization': {
        const rawAxis = cfg(layer, 'axis') ?? -1;
        const axis = Array.isArray(rawAxis) && rawAxis.length === 1 ? rawAxis[0] : rawAxis;
        const tfRank = x.shape.length;
        const channelAxis = x.kind === 'image' && !channelsFirst ? tfRank : 1;
        const ok = typeof axis === 'number' && (axis === channelAxis || (axis === -1 && channelAxis === tfRank) || (axis < 0 && tfRank + 1 + axis === channelAxis));
        if (!ok || x.kind === 'other')
          throw unsupported(layer, `normalises axis ${JSON.stringify(rawAxis)}; only the channel (feature) axis is supported`);
        const channels = x.shape[0];
        const epsilon = (cfg(layer, 'epsilon') as number | undefined) ?? 1e-3;
        const pick = (name: string, present: boolean, fill: number) => {
          const v = present ? weight(layer, name, [channels]) : new Float32Array(channels).fill(fill);
          if (!x.perm) return Float32Array.from(v);
          return Float32Array.from(x.perm, (src) => v[src]);
        };
        const scale = pick('gamma', cfg(layer, 'scale') !== false, 1);
        const bias = pick('beta', cfg(layer, 'center') !== false, 0);
        const mean = pick('moving_mean', true, 0);
        const variance = pick('moving_variance', true, 1);
        out = emit({ type: 'batchnorm', name: layer.name, scale, bias, mean, variance, epsilon }, [x], x.shape, x.kind, x.perm);
        break;
      }
      case 'Add': {
        if (inputs.length < 2) throw bad(layer, `Add needs at least 2 inputs, got ${inputs.length}`);
        for (const t of inputs.slice(1)) {
          if (t.shape.join() !== x.shape.join()) throw bad(layer, `adds tensors of different shapes`);
          if ((t.perm === null) !== (x.perm === null) || (t.perm && x.perm && t.perm.some((v, j) => v !== x.perm![j])))
            throw unsupported(layer, 'adds flattened tensors in different orders');
        }
        let acc = x;
        for (const t of inputs.slice(1)) acc = emit({ type: 'add', name: layer.name, inputs: [acc.ref, t.ref] }, [acc, t], x.shape, x.kind, x.perm);
        out = activation(layer, cfg(layer, 'activation'), acc, isOutput);
        break;
      }
      case 'Concatenate':
        out = concatenate(layer, inputs, channelsFirst, emit);
        break;
      default:
        throw unsupported(layer, `unsupported layer type (supported: ${SUPPORTED})`);
    }
    tensors.set(layer.name, out);
    previous = out;
    if (isOutput) {
      if (i !== layers.length - 1 && layers.slice(i + 1).some((l) => l.className !== 'Dropout'))
        throw unsupported(layers[i + 1], 'follows the output layer (multi-output models are not supported)');
      break;
    }
  }
  const last = tensors.get(outputName);
  if (!last) throw bad(undefined, `output layer "${outputName}" not found`);
  if (last.ref !== spec.length - 1) throw bad(undefined, `the output layer "${outputName}" does not compute the logits last`);
  return { inputShape, layers: spec };
}

/**
 * Concatenate along the channel axis: tfjs's axis −1 (or 3) of NHWC, 1 of NCHW under
 * channels_first, is our NCHW axis 1, so the spec's concat (the flat concatenation of the inputs
 * per example) is exact. Flat inputs concatenate their features; a flattened NHWC map carries its
 * HWC → CHW permutation into the result, shifted by the features before it.
 */
function concatenate(layer: TfjsLayer, inputs: Tensor[], channelsFirst: boolean, emit: Emit): Tensor {
  if (inputs.length < 2) throw bad(layer, `Concatenate needs at least 2 inputs, got ${inputs.length}`);
  const rawAxis = cfg(layer, 'axis') ?? -1;
  const first = inputs[0];
  if (inputs.some((t) => t.kind !== first.kind) || first.kind === 'other')
    throw unsupported(layer, 'concatenates tensors that are not all images [H, W, C] or all flat');
  const rank = first.shape.length + 1; // tfjs counts the batch axis
  const axis = typeof rawAxis === 'number' && rawAxis < 0 ? rank + rawAxis : rawAxis;
  const channelAxis = first.kind === 'image' && !channelsFirst ? 3 : 1;
  if (axis !== channelAxis)
    throw unsupported(layer, `concatenates along axis ${JSON.stringify(rawAxis)}; only the channel (feature) axis is supported`);
  if (first.kind === 'image') {
    const [, h, w] = first.shape;
    if (inputs.some((t) => t.shape[1] !== h || t.shape[2] !== w))
      throw bad(layer, `concatenates images of different sizes ${inputs.map((t) => `[${t.shape[1]}, ${t.shape[2]}]`).join(', ')}`);
    const c = inputs.reduce((a, t) => a + t.shape[0], 0);
    return emit({ type: 'concat', name: layer.name, inputs: [] }, inputs, [c, h, w], 'image');
  }
  const n = inputs.reduce((a, t) => a + t.shape[0], 0);
  let perm: Int32Array | null = null;
  if (inputs.some((t) => t.perm)) {
    perm = new Int32Array(n);
    let at = 0;
    for (const t of inputs) {
      for (let j = 0; j < t.shape[0]; j++) perm[at + j] = at + (t.perm ? t.perm[j] : j);
      at += t.shape[0];
    }
  }
  return emit({ type: 'concat', name: layer.name, inputs: [] }, inputs, [n], 'flat', perm);
}
