/**
 * Lowers a NetworkSpec (lib/model/layers.ts) to the engine's layers: validates types and shapes, resolves
 * shape-only layers (they only change how the next layer reads the same floats), folds inference
 * BatchNorm into the conv or dense layer before it, and wires graph edges. The engine validates
 * everything again (native/core/ir/network.cc) and must agree on every output shape.
 */
import type { BatchNormLayerSpec, ChannelShuffleLayerSpec, LayerSpec, NetworkSpec, PadLayerSpec, SliceLayerSpec } from './layers.js';
import type { GateLayerInfo } from '../explain/types.js';
import type { NativeLayer } from '../addon/native.js';
import { badModel, PathwiseError } from '../errors.js';
import { describe, isPositiveInteger, wrongType } from '../validate.js';
import { lowerGate } from './gates.js';

/** The number of values of a shape. */
export function product(shape: readonly number[]): number {
  let p = 1;
  for (const d of shape) p *= d;
  return p;
}

export interface LoweredNetwork {
  inputShape: number[];
  inputShape3: [number, number, number];
  nativeLayers: NativeLayer[];
  reluLayers: GateLayerInfo[];
  numClasses: number;
}

type Shape3 = [number, number, number];

function to3(shape: number[], at: string): Shape3 {
  if (shape.length === 1) return [shape[0], 1, 1];
  if (shape.length === 2) return [1, shape[0], shape[1]];
  if (shape.length === 3) return [shape[0], shape[1], shape[2]];
  throw badModel(`${at}: tensors of rank ${shape.length + 1} (with the batch) are not supported`);
}

function pair(v: unknown, fallback: [number, number], what: string, allowZero = false): [number, number] {
  if (v === undefined) return fallback;
  if (!Array.isArray(v) || v.length !== 2) throw wrongType(what, 'an array of 2 integers', v);
  for (const x of v)
    if (!(Number.isSafeInteger(x) && (allowZero ? x >= 0 : x > 0)))
      throw new RangeError(`${what} must hold ${allowZero ? 'non-negative' : 'positive'} integers, got ${JSON.stringify(v)}`);
  return [v[0], v[1]];
}

function pads4(v: unknown, what: string): [number, number, number, number] {
  if (v === undefined) return [0, 0, 0, 0];
  if (!Array.isArray(v) || v.length !== 4) throw wrongType(what, '[top, left, bottom, right]', v);
  for (const x of v) if (!(Number.isSafeInteger(x) && x >= 0)) throw new RangeError(`${what} must hold non-negative integers, got ${JSON.stringify(v)}`);
  return [v[0], v[1], v[2], v[3]];
}

/** Output extent of a window sweep (PyTorch's ceil-mode rule); the engine uses the same formula. */
export function sweepExtent(size: number, k: number, s: number, padBegin: number, padEnd: number, d: number, ceilMode: boolean): number {
  const padded = size + padBegin + padEnd;
  const span = d * (k - 1) + 1;
  if (span > padded) return 0;
  let out = Math.floor((padded - span) / s) + 1;
  if (ceilMode && (padded - span) % s !== 0) {
    out++;
    if ((out - 1) * s >= size + padBegin) out--;
  }
  return out;
}

function f32(v: unknown, what: string, length?: number): Float32Array {
  if (!(v instanceof Float32Array)) throw wrongType(what, 'a Float32Array', v);
  if (length !== undefined && v.length !== length) throw new RangeError(`${what} has ${v.length} values, expected ${length}`);
  return v;
}

/** Per-channel s = scale / sqrt(var + eps) and t = bias − mean · s of an inference BatchNorm, in float64. */
function batchNormAffine(bn: BatchNormLayerSpec, channels: number, at: string): { s: Float64Array; t: Float64Array } {
  for (const key of ['scale', 'bias', 'mean', 'variance'] as const) f32(bn[key], `${at}.${key}`, channels);
  if (typeof bn.epsilon !== 'number' || !(bn.epsilon >= 0)) throw new RangeError(`${at}.epsilon must be a non-negative number`);
  const s = new Float64Array(channels), t = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    const denom = Math.sqrt(bn.variance[c] + bn.epsilon);
    if (!(denom > 0)) throw badModel(`${at}: variance + epsilon must be positive (channel ${c})`);
    s[c] = bn.scale[c] / denom;
    t[c] = bn.bias[c] - bn.mean[c] * s[c];
  }
  return { s, t };
}

/** Engine tensors stay below 2^31 values (native/core/ir/network.cc): no larger map is built. */
const MAX_VALUES = 2 ** 31 - 1;

/**
 * The engine Gather of a slice, channel shuffle or pad: the output shape, the map (out[o] = map[o] ≥ 0 ?
 * in[map[o]] : fill) and the fill. A flat [F] input has F channels of one value each.
 */
function lowerGather(layer: SliceLayerSpec | ChannelShuffleLayerSpec | PadLayerSpec, srcShape: number[], where: string):
  { shape: number[]; map: Int32Array; fill: number } {
  const [c, h, w] = to3(srcShape, where);
  const plane = h * w;
  if (layer.type === 'pad') {
    if (srcShape.length !== 3) throw badModel(`${where}: pad needs a [C, H, W] input, got [${srcShape.join(', ')}]`);
    const pads = layer.pads;
    if (!Array.isArray(pads) || pads.length !== 4) throw wrongType(`${where}.pads`, '[top, left, bottom, right]', pads);
    if (!pads.every((p) => Number.isSafeInteger(p))) throw new RangeError(`${where}.pads must hold integers, got ${JSON.stringify(pads)}`);
    const value = layer.value ?? 0;
    if (typeof value !== 'number') throw wrongType(`${where}.value`, 'a number', value);
    if (!Number.isFinite(value)) throw new RangeError(`${where}.value must be finite, got ${value}`);
    const [top, left, bottom, right] = pads;
    const crop = (a: number, b: number) => Math.max(0, -a) + Math.max(0, -b);
    if (crop(top, bottom) >= h || crop(left, right) >= w)
      throw new RangeError(`${where}: pads ${JSON.stringify(pads)} crop away all of the [${srcShape.join(', ')}] input`);
    const oh = h + top + bottom, ow = w + left + right;
    if (c * oh * ow > MAX_VALUES) throw new RangeError(`${where}: pads ${JSON.stringify(pads)} make an output of more than 2^31 values`);
    const map = new Int32Array(c * oh * ow);
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < oh; y++)
        for (let x = 0; x < ow; x++) {
          const iy = y - top, ix = x - left;
          map[(ch * oh + y) * ow + x] = iy >= 0 && iy < h && ix >= 0 && ix < w ? (ch * h + iy) * w + ix : -1;
        }
    return { shape: [c, oh, ow], map, fill: value };
  }
  const reshaped = (channels: number) => (srcShape.length === 1 ? [channels] : srcShape.length === 2 ? [...srcShape] : [channels, h, w]);
  if (layer.type === 'slice') {
    const ch = layer.channels;
    if (!Array.isArray(ch) || ch.length !== 2) throw wrongType(`${where}.channels`, '[start, end]', ch);
    const [start, end] = ch;
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && start < end && end <= c))
      throw new RangeError(`${where}.channels must be [start, end] with 0 ≤ start < end ≤ ${c} (the input's channels), got ${JSON.stringify(ch)}`);
    const map = new Int32Array((end - start) * plane);
    for (let o = 0; o < map.length; o++) map[o] = start * plane + o;
    return { shape: reshaped(end - start), map, fill: 0 };
  }
  const groups = layer.groups;
  if (!isPositiveInteger(groups) || c % groups !== 0)
    throw new RangeError(`${where}.groups must be a positive integer dividing the ${c} input channels, got ${describe(groups)}`);
  // Output channel i = input channel (i mod g)·(C/g) + ⌊i / g⌋ (reshape to g × C/g, transpose).
  const map = new Int32Array(c * plane), perGroup = c / groups;
  for (let i = 0; i < c; i++) {
    const from = (i % groups) * perGroup + Math.floor(i / groups);
    for (let p = 0; p < plane; p++) map[i * plane + p] = from * plane + p;
  }
  return { shape: reshaped(c), map, fill: 0 };
}

export function lowerNetwork(spec: NetworkSpec): LoweredNetwork {
  if (spec === null || typeof spec !== 'object') throw wrongType('model', 'an object', spec);
  const { inputShape, layers } = spec;
  if (!Array.isArray(inputShape) || inputShape.length === 0 || inputShape.length > 3 || !inputShape.every(isPositiveInteger))
    throw new RangeError(`inputShape must be 1 to 3 positive integers (no batch dimension), got ${JSON.stringify(inputShape)}`);
  if (!Array.isArray(layers)) throw wrongType('layers', 'an array', layers);
  if (layers.length === 0) throw badModel('the network has no layers');

  // Consumers per spec layer, to know when a BatchNorm may be folded into its producer.
  const producersOf = (layer: LayerSpec, i: number): number[] => {
    if (layer.inputs === undefined) return [i - 1];
    if (!Array.isArray(layer.inputs)) throw new TypeError(`layers[${i}].inputs must be an array of layer indices`);
    for (const p of layer.inputs)
      if (!Number.isSafeInteger(p) || p < -1 || p >= i)
        throw badModel(`layers[${i}].inputs: ${JSON.stringify(p)} is not an earlier layer (-1 = the network input; layers must be in topological order)`);
    return layer.inputs;
  };
  const consumerCount = new Array<number>(layers.length).fill(0);

  const nativeLayers: NativeLayer[] = [];
  const reluLayers: GateLayerInfo[] = [];
  const ref: number[] = []; // spec layer → native layer index whose output it is (-1: the input)
  const shapes: number[][] = [];
  const at = (i: number) => `layers[${i}]${layers[i] && typeof layers[i] === 'object' && layers[i].name ? ` ("${layers[i].name}")` : ''}`;

  layers.forEach((layer, i) => {
    if (layer === null || typeof layer !== 'object') throw new TypeError(`${at(i)} must be an object, got ${describe(layer)}`);
    const producers = producersOf(layer, i);
    for (const p of producers) if (p >= 0) consumerCount[p]++;
    const src = producers[0];
    const srcRef = src < 0 ? -1 : ref[src];
    const srcShape = src < 0 ? inputShape : shapes[src];
    const inputs = [srcRef];
    const where = at(i);
    const push = (l: NativeLayer, shape: number[]) => {
      nativeLayers.push({ ...l, name: layer.name, inputs: l.inputs ?? inputs });
      ref[i] = nativeLayers.length - 1;
      shapes[i] = shape;
    };
    switch (layer.type) {
      case 'dense': {
        if (!isPositiveInteger(layer.in) || !isPositiveInteger(layer.out))
          throw new RangeError(`${where}: in and out must be positive integers, got in=${describe(layer.in)}, out=${describe(layer.out)}`);
        f32(layer.weights, `${where}.weights`, layer.in * layer.out);
        if (layer.bias !== undefined) f32(layer.bias, `${where}.bias`, layer.out);
        if (product(srcShape) !== layer.in)
          throw badModel(`${where}: dense layer expects ${layer.in} inputs but receives shape [${srcShape.join(', ')}] (${product(srcShape)} values)`);
        push({ kind: 'dense', inShape: [layer.in, 1, 1], out: layer.out, weights: layer.weights, bias: layer.bias }, [layer.out]);
        return;
      }
      case 'conv': {
        const [c, h, w] = to3(srcShape, where);
        if (!isPositiveInteger(layer.inChannels) || !isPositiveInteger(layer.outChannels))
          throw new RangeError(`${where}: inChannels and outChannels must be positive integers`);
        if (layer.inChannels !== c || srcShape.length !== 3)
          throw badModel(`${where}: conv expects ${layer.inChannels} input channels but receives shape [${srcShape.join(', ')}]`);
        const kernel = pair(layer.kernel, [1, 1], `${where}.kernel`);
        const stride = pair(layer.stride, [1, 1], `${where}.stride`);
        const dilation = pair(layer.dilation, [1, 1], `${where}.dilation`);
        const pads = pads4(layer.pads, `${where}.pads`);
        const groups = layer.groups ?? 1;
        if (!isPositiveInteger(groups) || c % groups !== 0 || layer.outChannels % groups !== 0)
          throw badModel(`${where}: groups ${groups} must divide inChannels ${c} and outChannels ${layer.outChannels}`);
        f32(layer.weights, `${where}.weights`, layer.outChannels * (c / groups) * kernel[0] * kernel[1]);
        if (layer.bias !== undefined) f32(layer.bias, `${where}.bias`, layer.outChannels);
        const oh = sweepExtent(h, kernel[0], stride[0], pads[0], pads[2], dilation[0], false);
        const ow = sweepExtent(w, kernel[1], stride[1], pads[1], pads[3], dilation[1], false);
        if (oh === 0 || ow === 0) throw badModel(`${where}: the kernel does not fit the padded input [${srcShape.join(', ')}]`);
        push({ kind: 'conv', inShape: [c, h, w], out: layer.outChannels, weights: layer.weights, bias: layer.bias, kernel, stride, pads, dilation, groups },
          [layer.outChannels, oh, ow]);
        return;
      }
      case 'maxpool':
      case 'avgpool': {
        const [c, h, w] = to3(srcShape, where);
        if (srcShape.length !== 3) throw badModel(`${where}: pooling needs a [C, H, W] input, got [${srcShape.join(', ')}]`);
        const kernel = pair(layer.kernel, [1, 1], `${where}.kernel`);
        const stride = pair(layer.stride, kernel, `${where}.stride`);
        const dilation = layer.type === 'maxpool' ? pair(layer.dilation, [1, 1], `${where}.dilation`) : ([1, 1] as [number, number]);
        const pads = pads4(layer.pads, `${where}.pads`);
        const ceilMode = layer.ceilMode === true;
        const oh = sweepExtent(h, kernel[0], stride[0], pads[0], pads[2], dilation[0], ceilMode);
        const ow = sweepExtent(w, kernel[1], stride[1], pads[1], pads[3], dilation[1], ceilMode);
        if (oh === 0 || ow === 0) throw badModel(`${where}: the window does not fit the padded input [${srcShape.join(', ')}]`);
        push({
          kind: layer.type, inShape: [c, h, w], kernel, stride, pads, dilation, ceilMode,
          countIncludePad: layer.type === 'avgpool' ? layer.countIncludePad === true : false,
        }, [c, oh, ow]);
        return;
      }
      case 'globalavgpool': {
        const [c, h, w] = to3(srcShape, where);
        if (srcShape.length !== 3) throw badModel(`${where}: global pooling needs a [C, H, W] input, got [${srcShape.join(', ')}]`);
        push({ kind: 'avgpool', inShape: [c, h, w], kernel: [h, w], stride: [h, w] }, [c, 1, 1]);
        return;
      }
      case 'globalmaxpool': {
        const [c, h, w] = to3(srcShape, where);
        if (srcShape.length !== 3) throw badModel(`${where}: global pooling needs a [C, H, W] input, got [${srcShape.join(', ')}]`);
        push({ kind: 'maxpool', inShape: [c, h, w], kernel: [h, w], stride: [h, w], pads: [0, 0, 0, 0], dilation: [1, 1], ceilMode: false }, [c, 1, 1]);
        return;
      }
      case 'concat': {
        if (producers.length < 2) throw badModel(`${where}: concat needs inputs: [a, b, …] (at least 2 producers)`);
        const shapesIn = producers.map((p) => (p < 0 ? inputShape : shapes[p]));
        const flat = shapesIn.every((sh) => sh.length === 1);
        const all3 = shapesIn.map((sh) => to3(sh, where));
        const [, h, w] = all3[0];
        if (!flat && !all3.every(([, hh, ww]) => hh === h && ww === w))
          throw badModel(`${where}: concat needs equal H and W, got ${shapesIn.map((sh) => `[${sh.join(', ')}]`).join(', ')}`);
        const channels = all3.reduce((sum, [cc]) => sum + cc, 0);
        push({ kind: 'concat', inShape: all3[0], inputs: producers.map((p) => (p < 0 ? -1 : ref[p])) }, flat ? [channels] : [channels, h, w]);
        return;
      }
      case 'slice':
      case 'channelshuffle':
      case 'pad': {
        const g = lowerGather(layer, srcShape, where);
        push({ kind: 'gather', inShape: to3(srcShape, where), outShape: to3(g.shape, where), map: g.map, fill: g.fill }, g.shape);
        return;
      }
      case 'batchnorm': {
        const channels = srcShape[0];
        const { s, t } = batchNormAffine(layer, channels, where);
        const prev = src >= 0 ? layers[src] : undefined;
        const foldable = src >= 0 && ref[src] === nativeLayers.length - 1 && (prev?.type === 'conv' || prev?.type === 'dense') &&
          layers.every((l, j) => j === i || j <= src || !producersOf(l, j).includes(src));
        if (foldable) {
          // y = s · (W x + b) + t: scale each output channel's weights and bias, exactly in float64
          // before the one rounding to float32 (the engine never sees the BatchNorm).
          const target = nativeLayers[nativeLayers.length - 1];
          const w = target.weights!, perChannel = w.length / channels;
          const weights = new Float32Array(w.length), bias = new Float32Array(channels);
          for (let c = 0; c < channels; c++) {
            for (let k = 0; k < perChannel; k++) weights[c * perChannel + k] = w[c * perChannel + k] * s[c];
            bias[c] = (target.bias ? target.bias[c] : 0) * s[c] + t[c];
          }
          target.weights = weights;
          target.bias = bias;
          ref[i] = ref[src];
          shapes[i] = srcShape;
          return;
        }
        const [c, h, w] = to3(srcShape, where);
        push({ kind: 'affine', inShape: [c, h, w], weights: Float32Array.from(s), bias: Float32Array.from(t) }, srcShape);
        return;
      }
      case 'affine': {
        const [c, h, w] = to3(srcShape, where);
        push({ kind: 'affine', inShape: [c, h, w], weights: f32(layer.scale, `${where}.scale`, c), bias: f32(layer.shift, `${where}.shift`, c) }, srcShape);
        return;
      }
      case 'relu':
      case 'gate':
      case 'clip':
      case 'leakyrelu':
      case 'prelu': {
        const shape3 = to3(srcShape, where);
        const { kind, params } = lowerGate(layer, shape3[0], where);
        reluLayers.push({ ordinal: reluLayers.length, units: product(srcShape), shape: [...srcShape], kind });
        push({ kind: 'relu', inShape: shape3, ...params }, srcShape);
        return;
      }
      case 'add': {
        if (producers.length !== 2) throw badModel(`${where}: add needs inputs: [a, b]`);
        const other = producers[1];
        const otherShape = other < 0 ? inputShape : shapes[other];
        if (product(otherShape) !== product(srcShape))
          throw badModel(`${where}: adds [${srcShape.join(', ')}] and [${otherShape.join(', ')}]`);
        push({ kind: 'add', inShape: to3(srcShape, where), inputs: [srcRef, other < 0 ? -1 : ref[other]] }, srcShape);
        return;
      }
      case 'flatten':
        ref[i] = srcRef;
        shapes[i] = [product(srcShape)];
        return;
      case 'identity':
        ref[i] = srcRef;
        shapes[i] = srcShape;
        return;
      case 'reshape': {
        const target = layer.shape;
        if (!Array.isArray(target) || !target.every(isPositiveInteger) || product(target) !== product(srcShape))
          throw badModel(`${where}: cannot reshape [${srcShape.join(', ')}] to ${JSON.stringify(target)}`);
        ref[i] = srcRef;
        shapes[i] = [...target];
        return;
      }
      default:
        throw new PathwiseError(
          'PATHWISE_UNSUPPORTED_OP',
          `${where}: unsupported layer type ${describe((layer as { type?: unknown }).type)} ` +
            '(supported: dense, conv, relu, gate, clip, leakyrelu, prelu, maxpool, avgpool, globalavgpool, globalmaxpool, batchnorm, affine, add, ' +
            'concat, slice, channelshuffle, pad, flatten, reshape, identity)',
        );
    }
  });
  if (nativeLayers.length === 0 || ref[layers.length - 1] !== nativeLayers.length - 1)
    throw badModel('the last layer must produce the logits (an unused branch or a trailing no-op on the input?)');
  const last = nativeLayers[nativeLayers.length - 1];
  const numClasses = product(shapes[layers.length - 1]);
  if ((last.kind !== 'dense' && last.kind !== 'conv' && last.kind !== 'affine') || numClasses < 2)
    throw badModel('the last layer must be dense (affine) with at least 2 outputs (the classes)');
  if (reluLayers.length === 0) throw badModel('the network has no ReLU or other gate layer: there is no path to explain');
  for (let i = 0; i < layers.length - 1; i++)
    if (consumerCount[i] === 0 && ref[i] !== undefined)
      throw badModel(`${at(i)}: its output is never used (only the last layer may be a graph output)`);
  return { inputShape: [...inputShape], inputShape3: to3(inputShape, 'input'), nativeLayers, reluLayers, numClasses };
}
