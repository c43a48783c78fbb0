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
import { PathwiseError } from '../errors.js';
import { checkOptions } from '../validate.js';

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
  /** Weights by short name: 'kernel', 'bias', 'gamma', 'beta', 'moving_mean', 'moving_variance'. */
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

const SUPPORTED = 'Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Flatten, Dropout, ' +
  'SpatialDropout2D, BatchNormalization, ReLU, Activation (relu, linear), Add, InputLayer';

function unsupported(layer: TfjsLayer, what: string): PathwiseError {
  return new PathwiseError('PATHWISE_UNSUPPORTED_OP', `tfjs layer "${layer.name}" (${layer.className}): ${what}`);
}

function bad(layer: TfjsLayer | undefined, what: string): PathwiseError {
  return new PathwiseError('PATHWISE_BAD_MODEL', layer ? `tfjs layer "${layer.name}" (${layer.className}): ${what}` : `tfjs model: ${what}`);
}

/** snake_case or camelCase config access. */
function cfg(layer: TfjsLayer, camel: string): unknown {
  const c = layer.config;
  if (camel in c) return c[camel];
  const snake = camel.replace(/[A-Z]/g, (m) => `_${m.toLowerCase()}`);
  return c[snake];
}

/** 'channels_last' / 'channelsLast' → 'channelslast'. */
const norm = (v: unknown) => (typeof v === 'string' ? v.replace(/_/g, '').toLowerCase() : v);

function pairOf(layer: TfjsLayer, key: string, fallback?: [number, number]): [number, number] {
  const v = cfg(layer, key);
  if (v === undefined || v === null) {
    if (fallback) return fallback;
    throw bad(layer, `missing ${key}`);
  }
  const arr = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(arr) || arr.length !== 2 || !arr.every((x) => Number.isSafeInteger(x) && x > 0))
    throw bad(layer, `${key} must be a positive integer or a pair of them, got ${JSON.stringify(v)}`);
  return [arr[0], arr[1]];
}

function weight(layer: TfjsLayer, short: string, shape: number[] | undefined): Float32Array {
  const w = layer.weights.get(short);
  if (!w) throw bad(layer, `weight "${short}" is missing`);
  const count = w.shape.reduce((a, b) => a * b, 1);
  if (w.data.length !== count) throw bad(layer, `weight "${short}" has ${w.data.length} values for shape [${w.shape.join(', ')}]`);
  if (shape && (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])))
    throw bad(layer, `weight "${short}" has shape [${w.shape.join(', ')}], expected [${shape.join(', ')}]`);
  return w.data;
}

/** Where a tensor lives: which spec layer made it and how our layout relates to tfjs's. */
interface Tensor {
  /** Spec layer index producing it; -1 = the network input. */
  ref: number;
  /** Our shape (NCHW for images). */
  shape: number[];
  /** 'image': our [C, H, W] is tfjs's [H, W, C] (or [C, H, W] itself under channels_first). */
  kind: 'image' | 'flat' | 'other';
  /** For 'flat': ours[j] = tfjs[perm[j]]; null = the same order. */
  perm: Int32Array | null;
}

/** TF's 'same' padding for one axis: [begin, end] with the extra pixel at the end. */
function samePads(size: number, k: number, s: number, d: number): [number, number, number] {
  const out = Math.ceil(size / s);
  const span = (k - 1) * d + 1;
  const total = Math.max((out - 1) * s + span - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2), out];
}

function validExtent(size: number, k: number, s: number, d: number): number {
  const span = (k - 1) * d + 1;
  return size < span ? 0 : Math.floor((size - span) / s) + 1;
}

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

  const emit = (layer: LayerSpec, from: Tensor[], shape: number[], kind: Tensor['kind'], perm: Int32Array | null = null): Tensor => {
    const refs = from.map((t) => t.ref);
    if (layer.type === 'add' || refs.length !== 1 || refs[0] !== spec.length - 1) layer.inputs = refs as never;
    spec.push(layer);
    return { ref: spec.length - 1, shape, kind, perm };
  };

  /** A fused or standalone activation: 'relu' adds a ReLU, 'linear' nothing. */
  const activation = (layer: TfjsLayer, act: unknown, t: Tensor, isOutput: boolean): Tensor => {
    const a = act === undefined || act === null ? 'linear' : norm(act);
    if (a === 'linear') return t;
    if (a === 'relu') return emit({ type: 'relu', name: layer.name }, [t], t.shape, t.kind, t.perm);
    if (a === 'softmax' && isOutput && options.stripSoftmax) return t;
    const hint = a === 'softmax' && isOutput ? '; pass { stripSoftmax: true } to explain the logits under it' : '';
    throw unsupported(layer, `activation ${JSON.stringify(act)} is not supported (relu and linear only)${hint}`);
  };

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
    if (cls !== 'Add' && cls !== 'InputLayer' && inputs.length !== 1) throw unsupported(layer, `takes ${inputs.length} inputs`);
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
        if (!(isOutput && options.stripSoftmax))
          throw unsupported(layer, `softmax is not supported${isOutput ? '; pass { stripSoftmax: true } to explain the logits under it' : ''}`);
        out = x;
        break;
      case 'ReLU': {
        const maxValue = cfg(layer, 'maxValue');
        const slope = cfg(layer, 'negativeSlope');
        const threshold = cfg(layer, 'threshold');
        if (maxValue !== undefined && maxValue !== null && maxValue !== Infinity)
          throw unsupported(layer, `ReLU with max_value ${JSON.stringify(maxValue)} (a clipped ReLU) is not supported`);
        if ((slope ?? 0) !== 0) throw unsupported(layer, `ReLU with negative_slope ${JSON.stringify(slope)} is not supported`);
        if ((threshold ?? 0) !== 0) throw unsupported(layer, `ReLU with threshold ${JSON.stringify(threshold)} is not supported`);
        out = activation(layer, 'relu', x, isOutput);
        break;
      }
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
      case 'Conv2D': {
        if (x.kind !== 'image') throw unsupported(layer, `Conv2D needs an image input [H, W, C], got a tensor of rank ${x.shape.length}`);
        const [cin, h, w] = x.shape;
        const filters = cfg(layer, 'filters') as number;
        if (!Number.isSafeInteger(filters) || filters < 1) throw bad(layer, `filters must be a positive integer, got ${JSON.stringify(filters)}`);
        const [kh, kw] = pairOf(layer, 'kernelSize');
        const stride = pairOf(layer, 'strides', [1, 1]);
        const dilation = pairOf(layer, 'dilationRate', [1, 1]);
        const groups = (cfg(layer, 'groups') as number | undefined) ?? 1;
        if (!Number.isSafeInteger(groups) || groups < 1 || cin % groups !== 0 || filters % groups !== 0)
          throw bad(layer, `groups ${groups} must divide the input channels ${cin} and the filters ${filters}`);
        const cg = cin / groups;
        const kernel = weight(layer, 'kernel', [kh, kw, cg, filters]);
        const wt = new Float32Array(filters * cg * kh * kw);
        for (let co = 0; co < filters; co++)
          for (let ci = 0; ci < cg; ci++)
            for (let y = 0; y < kh; y++)
              for (let xx = 0; xx < kw; xx++) wt[((co * cg + ci) * kh + y) * kw + xx] = kernel[((y * kw + xx) * cg + ci) * filters + co];
        const padding = norm(cfg(layer, 'padding') ?? 'valid');
        let pads: [number, number, number, number] = [0, 0, 0, 0];
        let oh: number, ow: number;
        if (padding === 'same') {
          const [t, b, oh_] = samePads(h, kh, stride[0], dilation[0]);
          const [l, r, ow_] = samePads(w, kw, stride[1], dilation[1]);
          pads = [t, l, b, r];
          [oh, ow] = [oh_, ow_];
        } else if (padding === 'valid') {
          oh = validExtent(h, kh, stride[0], dilation[0]);
          ow = validExtent(w, kw, stride[1], dilation[1]);
        } else throw unsupported(layer, `padding ${JSON.stringify(cfg(layer, 'padding'))} is not supported (valid, same)`);
        if (oh < 1 || ow < 1) throw bad(layer, `the kernel does not fit the input [${h}, ${w}]`);
        const useBias = cfg(layer, 'useBias') !== false;
        const bias = useBias ? Float32Array.from(weight(layer, 'bias', [filters])) : undefined;
        const c = emit({
          type: 'conv', name: layer.name, inChannels: cin, outChannels: filters, kernel: [kh, kw], stride, pads, dilation,
          groups, weights: wt, bias,
        }, [x], [filters, oh, ow], 'image');
        out = activation(layer, cfg(layer, 'activation'), c, isOutput);
        break;
      }
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        if (x.kind !== 'image') throw unsupported(layer, `pooling needs an image input [H, W, C], got a tensor of rank ${x.shape.length}`);
        const [c, h, w] = x.shape;
        const kernel = pairOf(layer, 'poolSize', [2, 2]);
        const stride = pairOf(layer, 'strides', kernel);
        const padding = norm(cfg(layer, 'padding') ?? 'valid');
        let pads: [number, number, number, number] = [0, 0, 0, 0];
        let oh: number, ow: number;
        if (padding === 'same') {
          const [t, b, oh_] = samePads(h, kernel[0], stride[0], 1);
          const [l, r, ow_] = samePads(w, kernel[1], stride[1], 1);
          pads = [t, l, b, r];
          [oh, ow] = [oh_, ow_];
        } else if (padding === 'valid') {
          oh = validExtent(h, kernel[0], stride[0], 1);
          ow = validExtent(w, kernel[1], stride[1], 1);
        } else throw unsupported(layer, `padding ${JSON.stringify(cfg(layer, 'padding'))} is not supported (valid, same)`);
        if (oh < 1 || ow < 1) throw bad(layer, `the window does not fit the input [${h}, ${w}]`);
        // TF's average pooling divides by the number of real (unpadded) elements in the window.
        const p: LayerSpec = cls === 'MaxPooling2D'
          ? { type: 'maxpool', name: layer.name, kernel, stride, pads }
          : { type: 'avgpool', name: layer.name, kernel, stride, pads, countIncludePad: false };
        out = emit(p, [x], [c, oh, ow], 'image');
        break;
      }
      case 'GlobalAveragePooling2D': {
        if (x.kind !== 'image') throw unsupported(layer, `global pooling needs an image input [H, W, C]`);
        if (cfg(layer, 'keepdims') === true) throw unsupported(layer, 'keepdims: true is not supported');
        // Our output is [C, 1, 1]; as a flat vector it is tfjs's [C] in the same order.
        const g = emit({ type: 'globalavgpool', name: layer.name }, [x], [x.shape[0], 1, 1], 'other');
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
