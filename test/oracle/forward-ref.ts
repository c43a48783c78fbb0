/**
 * Test oracle: a plain-loop float64 forward pass and vector-Jacobian product for the whole
 * layer-spec language of lib/model/layers.ts (dense, conv, relu, maxpool, avgpool, globalavgpool,
 * globalmaxpool, batchnorm, affine, add, concat, slice, channelshuffle, pad, flatten, identity,
 * reshape), `inputs` DAGs included.
 *
 * Independent of the loaders and of the engine: it re-derives every shape from the spec and
 * throws a plain Error when something does not chain. Clarity over speed: one scalar loop per
 * definition, no im2col, no folding (batchnorm is applied as written).
 *
 * Conventions it pins down (the engine must match them):
 * - Tensors are flat NCHW without the batch dimension; dense layers read the flat input.
 * - conv: output size floor((n + pad_begin + pad_end − dilation·(k − 1) − 1) / stride) + 1.
 * - Pool output size (maxpool and avgpool): the same with ceil instead of floor when ceilMode, and
 *   then, as in PyTorch and onnxruntime, a last window that would start beyond the input and its
 *   leading padding ((out − 1)·stride ≥ n + pad_begin) is dropped.
 * - maxpool: padded positions never win; ties go to the first maximum in row-major window order
 *   (kernel row outer, kernel column inner), as in PyTorch. A window with no input position is an
 *   error. Default stride = kernel.
 * - avgpool (onnxruntime's and PyTorch's rule, checked against onnxruntime 1.30 on 60 random
 *   configurations with asymmetric pads): a window starting at s (in padded coordinates, s < 0 in
 *   the leading padding) covers [s, min(s + k, n + pad_end)) on each axis; the divisor is the
 *   area of that clipped window when countIncludePad (padding counts, a ceil-mode overhang beyond
 *   the trailing padding does not), else the number of input positions in it. Default stride =
 *   kernel (PyTorch's default; lib/model/layers.ts leaves it open, the ONNX loader always writes it).
 * - The gates beyond ReLU (gate, clip, leakyrelu, prelu; docs/semantics.md "Gates beyond ReLU"):
 *   z ≤ lower → slope·(z − lower) + lowerValue, lower < z < upper → z, z ≥ upper → upper; the VJP
 *   multiplies by the piece's slope (the breakpoints belong to the outer pieces). A unit's channel
 *   is axis 0 of its shape ([F]: every unit; [H, W]: one channel).
 * - batchnorm: scale · (x − mean) / sqrt(variance + epsilon) + bias per channel (axis 0 of the
 *   input shape; a flat [F] input has F channels).
 * - VJP: frozen at the input. ReLU passes the cotangent where its input z > 0; maxpool and
 *   globalmaxpool route it to the window's winner at the input; everything else is linear.
 * - concat: along channels (axis 0 here) of producers with equal H and W, or of flat [F] producers.
 *   slice and channelshuffle act on axis 0 too (a flat [F] input has F channels). channelshuffle:
 *   output channel i = input channel (i mod g)·(C/g) + ⌊i / g⌋. pad: [top, left, bottom, right] on
 *   H and W of a [C, H, W] input, negative entries crop, padded positions hold `value`.
 * - globalmaxpool: the first maximum of each channel's plane in row-major order wins.
 */
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';

/** Forward values of every layer, plus what the VJP needs (ReLU gates, maxpool winners). */
export interface ReferenceTrace {
  input: Float64Array;
  inputShape: number[];
  /** Output of each layer. */
  values: Float64Array[];
  /** Output shape of each layer (no batch dimension). */
  shapes: number[][];
  /** Producers of each layer (-1 = the input), `inputs` resolved. */
  sources: number[][];
  /** relu: 1 where z > 0. maxpool: the flat input index of each output's winner. */
  routes: (Uint8Array | Int32Array | Float64Array | undefined)[];
}

/** Logits of the network at one input, in float64. */
export function referenceForward(spec: NetworkSpec, input: Float64Array | Float32Array): Float64Array {
  const t = referenceTrace(spec, input);
  return t.values[t.values.length - 1];
}

/**
 * Reverse mode at one input: cotangent (one value per logit) → cotangent of the input, in the
 * network frozen at that input.
 */
export function referenceVjp(spec: NetworkSpec, input: Float64Array | Float32Array, cotangent: ArrayLike<number>): Float64Array {
  return referenceVjpAll(spec, input, cotangent).input;
}

/** The VJP with the cotangent at every layer's output too (δ_k of docs/method.md §5.1). */
export function referenceVjpAll(
  spec: NetworkSpec,
  input: Float64Array | Float32Array,
  cotangent: ArrayLike<number>,
): { input: Float64Array; layers: Float64Array[]; trace: ReferenceTrace } {
  const t = referenceTrace(spec, input);
  const n = spec.layers.length;
  const grads = t.values.map((v) => new Float64Array(v.length));
  const gIn = new Float64Array(t.input.length);
  if (cotangent.length !== t.values[n - 1].length) {
    throw new Error(`cotangent has ${cotangent.length} values, the network has ${t.values[n - 1].length} outputs`);
  }
  grads[n - 1].set(Array.from(cotangent));
  const gradOf = (src: number): Float64Array => (src < 0 ? gIn : grads[src]);
  const shapeOf = (src: number): number[] => (src < 0 ? t.inputShape : t.shapes[src]);

  for (let i = n - 1; i >= 0; i--) {
    const layer = spec.layers[i];
    const g = grads[i];
    const srcs = t.sources[i];
    const gx = gradOf(srcs[0]);
    switch (layer.type) {
      case 'dense':
        for (let o = 0; o < layer.out; o++) {
          const go = g[o];
          if (go === 0) continue;
          for (let k = 0; k < layer.in; k++) gx[k] += layer.weights[o * layer.in + k] * go;
        }
        break;
      case 'conv': {
        const geo = convGeometry(layer, shapeOf(srcs[0]));
        forEachConvTap(layer, geo, (outIdx, inIdx, wIdx) => {
          gx[inIdx] += layer.weights[wIdx] * g[outIdx];
        });
        break;
      }
      case 'relu': {
        const gate = t.routes[i] as Uint8Array;
        for (let j = 0; j < g.length; j++) if (gate[j]) gx[j] += g[j];
        break;
      }
      case 'maxpool': {
        const win = t.routes[i] as Int32Array;
        for (let j = 0; j < g.length; j++) gx[win[j]] += g[j];
        break;
      }
      case 'gate':
      case 'clip':
      case 'leakyrelu':
      case 'prelu': {
        const slopes = t.routes[i] as Float64Array;
        for (let j = 0; j < g.length; j++) gx[j] += g[j] * slopes[j];
        break;
      }
      case 'avgpool': {
        const geo = poolGeometry(layer, shapeOf(srcs[0]), 'avgpool');
        forEachAvgWindow(layer, geo, (outIdx, taps, divisor) => {
          for (const inIdx of taps) gx[inIdx] += g[outIdx] / divisor;
        });
        break;
      }
      case 'globalavgpool': {
        const [c, h, w] = shapeOf(srcs[0]);
        for (let ch = 0; ch < c; ch++) for (let j = 0; j < h * w; j++) gx[ch * h * w + j] += g[ch] / (h * w);
        break;
      }
      case 'batchnorm':
      case 'affine': {
        const { scale } = channelAffine(layer);
        const per = g.length / scale.length;
        for (let j = 0; j < g.length; j++) gx[j] += g[j] * scale[Math.floor(j / per)];
        break;
      }
      case 'globalmaxpool': {
        const win = t.routes[i] as Int32Array;
        for (let j = 0; j < g.length; j++) gx[win[j]] += g[j];
        break;
      }
      case 'concat': {
        let offset = 0;
        for (const src of srcs) {
          const gs = gradOf(src);
          for (let j = 0; j < gs.length; j++) gs[j] += g[offset + j];
          offset += gs.length;
        }
        break;
      }
      case 'slice':
      case 'channelshuffle':
      case 'pad': {
        const from = copyIndices(layer, shapeOf(srcs[0]));
        for (let j = 0; j < g.length; j++) if (from[j] >= 0) gx[from[j]] += g[j];
        break;
      }
      case 'add': {
        const gy = gradOf(srcs[1]);
        for (let j = 0; j < g.length; j++) gx[j] += g[j];
        for (let j = 0; j < g.length; j++) gy[j] += g[j];
        break;
      }
      case 'flatten':
      case 'identity':
      case 'reshape':
        for (let j = 0; j < g.length; j++) gx[j] += g[j];
        break;
    }
  }
  return { input: gIn, layers: grads, trace: t };
}

/** The forward pass with every intermediate value. */
export function referenceTrace(spec: NetworkSpec, input: Float64Array | Float32Array): ReferenceTrace {
  const inputShape = spec.inputShape.slice();
  if (input.length !== prod(inputShape)) {
    throw new Error(`input has ${input.length} values, the input shape [${inputShape}] needs ${prod(inputShape)}`);
  }
  if (spec.layers.length === 0) throw new Error('no layers');
  const x0 = Float64Array.from(input);
  const values: Float64Array[] = [];
  const shapes: number[][] = [];
  const sources: number[][] = [];
  const routes: (Uint8Array | Int32Array | Float64Array | undefined)[] = [];

  spec.layers.forEach((layer, i) => {
    const where = `layer ${i} (${layer.type}${layer.name ? ` "${layer.name}"` : ''})`;
    const srcs = layer.inputs ?? [i - 1];
    const arity = layer.type === 'add' ? 2 : 1;
    if (layer.type === 'concat' ? srcs.length < 2 : srcs.length !== arity)
      throw new Error(`${where}: ${srcs.length} inputs, expected ${layer.type === 'concat' ? 'at least 2' : arity}`);
    for (const s of srcs) {
      if (!Number.isInteger(s) || s < -1 || s >= i) throw new Error(`${where}: input ${s} is not an earlier layer or -1`);
    }
    const valueOf = (s: number): Float64Array => (s < 0 ? x0 : values[s]);
    const shapeOf = (s: number): number[] => (s < 0 ? inputShape : shapes[s]);
    const x = valueOf(srcs[0]);
    const xs = shapeOf(srcs[0]);
    let y: Float64Array;
    let ys: number[];
    let route: Uint8Array | Int32Array | Float64Array | undefined;

    switch (layer.type) {
      case 'dense': {
        if (x.length !== layer.in) throw new Error(`${where}: input has ${x.length} values, expected ${layer.in}`);
        if (layer.weights.length !== layer.in * layer.out) throw new Error(`${where}: weights size`);
        y = new Float64Array(layer.out);
        for (let o = 0; o < layer.out; o++) {
          let s = layer.bias ? layer.bias[o] : 0;
          for (let k = 0; k < layer.in; k++) s += layer.weights[o * layer.in + k] * x[k];
          y[o] = s;
        }
        ys = [layer.out];
        break;
      }
      case 'conv': {
        const geo = convGeometry(layer, xs, where);
        y = new Float64Array(layer.outChannels * geo.outH * geo.outW);
        if (layer.bias) {
          const per = geo.outH * geo.outW;
          for (let j = 0; j < y.length; j++) y[j] = layer.bias[Math.floor(j / per)];
        }
        forEachConvTap(layer, geo, (outIdx, inIdx, wIdx) => {
          y[outIdx] += layer.weights[wIdx] * x[inIdx];
        });
        ys = [layer.outChannels, geo.outH, geo.outW];
        break;
      }
      case 'relu': {
        const gate = new Uint8Array(x.length);
        y = new Float64Array(x.length);
        for (let j = 0; j < x.length; j++) {
          if (x[j] > 0) {
            gate[j] = 1;
            y[j] = x[j];
          }
        }
        route = gate;
        ys = xs.slice();
        break;
      }
      case 'gate':
      case 'clip':
      case 'leakyrelu':
      case 'prelu': {
        const channels = xs.length === 1 ? xs[0] : xs.length === 2 ? 1 : xs[0];
        const per = x.length / channels;
        const slopes = new Float64Array(x.length);
        y = new Float64Array(x.length);
        for (let j = 0; j < x.length; j++) {
          const p = gateParameters(layer, Math.floor(j / per));
          const z = x[j];
          if (z <= p.lower) {
            y[j] = p.slope * (z - p.lower) + p.lowerValue;
            slopes[j] = p.slope;
          } else if (z >= p.upper) {
            y[j] = p.upper;
          } else {
            y[j] = z;
            slopes[j] = 1;
          }
        }
        route = slopes;
        ys = xs.slice();
        break;
      }
      case 'maxpool': {
        const geo = poolGeometry(layer, xs, 'maxpool', where);
        const [kh, kw] = layer.kernel;
        const [dh, dw] = layer.dilation ?? [1, 1];
        y = new Float64Array(geo.c * geo.outH * geo.outW);
        const win = new Int32Array(y.length);
        for (let ch = 0; ch < geo.c; ch++) {
          for (let oh = 0; oh < geo.outH; oh++) {
            for (let ow = 0; ow < geo.outW; ow++) {
              let best = -Infinity;
              let arg = -1;
              for (let a = 0; a < kh; a++) {
                const ih = oh * geo.sh - geo.pt + a * dh;
                if (ih < 0 || ih >= geo.h) continue;
                for (let b = 0; b < kw; b++) {
                  const iw = ow * geo.sw - geo.pl + b * dw;
                  if (iw < 0 || iw >= geo.w) continue;
                  const idx = (ch * geo.h + ih) * geo.w + iw;
                  // Strict: the first maximum in scan order keeps the window.
                  if (arg < 0 || x[idx] > best) {
                    best = x[idx];
                    arg = idx;
                  }
                }
              }
              if (arg < 0) throw new Error(`${where}: window (${oh}, ${ow}) lies entirely in the padding`);
              const o = (ch * geo.outH + oh) * geo.outW + ow;
              y[o] = best;
              win[o] = arg;
            }
          }
        }
        route = win;
        ys = [geo.c, geo.outH, geo.outW];
        break;
      }
      case 'avgpool': {
        const geo = poolGeometry(layer, xs, 'avgpool', where);
        y = new Float64Array(geo.c * geo.outH * geo.outW);
        forEachAvgWindow(layer, geo, (outIdx, taps, divisor) => {
          if (divisor === 0) throw new Error(`${where}: window of output ${outIdx} has no input position`);
          let s = 0;
          for (const idx of taps) s += x[idx];
          y[outIdx] = s / divisor;
        });
        ys = [geo.c, geo.outH, geo.outW];
        break;
      }
      case 'globalavgpool': {
        if (xs.length !== 3) throw new Error(`${where}: input shape [${xs}] is not [C, H, W]`);
        const [c, h, w] = xs;
        y = new Float64Array(c);
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let j = 0; j < h * w; j++) s += x[ch * h * w + j];
          y[ch] = s / (h * w);
        }
        ys = [c, 1, 1];
        break;
      }
      case 'globalmaxpool': {
        if (xs.length !== 3) throw new Error(`${where}: input shape [${xs}] is not [C, H, W]`);
        const [c, h, w] = xs;
        y = new Float64Array(c);
        const win = new Int32Array(c);
        for (let ch = 0; ch < c; ch++) {
          let arg = ch * h * w;
          for (let j = 1; j < h * w; j++) if (x[ch * h * w + j] > x[arg]) arg = ch * h * w + j;
          y[ch] = x[arg];
          win[ch] = arg;
        }
        route = win;
        ys = [c, 1, 1];
        break;
      }
      case 'concat': {
        const parts = srcs.map(valueOf);
        const partShapes = srcs.map(shapeOf);
        y = new Float64Array(parts.reduce((n, v) => n + v.length, 0));
        let offset = 0;
        for (const v of parts) {
          y.set(v, offset);
          offset += v.length;
        }
        if (partShapes.every((sh) => sh.length === 1)) {
          ys = [y.length];
        } else {
          const [h, w] = partShapes[0].length === 3 ? partShapes[0].slice(1) : [1, 1];
          for (const sh of partShapes) {
            const [, sh2, sw] = sh.length === 3 ? sh : [sh[0], 1, 1];
            if (sh.length === 2 || sh2 !== h || sw !== w) throw new Error(`${where}: cannot concatenate [${partShapes.join('], [')}]`);
          }
          ys = [partShapes.reduce((n, sh) => n + sh[0], 0), h, w];
        }
        break;
      }
      case 'slice':
      case 'channelshuffle':
      case 'pad': {
        const from = copyIndices(layer, xs, where);
        const fill = layer.type === 'pad' ? (layer.value ?? 0) : 0;
        y = Float64Array.from(from, (j) => (j >= 0 ? x[j] : fill));
        ys = copyShape(layer, xs);
        break;
      }
      case 'batchnorm':
      case 'affine': {
        const { scale, shift } = channelAffine(layer);
        if (xs[0] !== scale.length) throw new Error(`${where}: ${scale.length} channels, input shape [${xs}]`);
        const per = x.length / scale.length;
        y = new Float64Array(x.length);
        for (let j = 0; j < x.length; j++) {
          const ch = Math.floor(j / per);
          if (layer.type === 'batchnorm') {
            y[j] = (layer.scale[ch] * (x[j] - layer.mean[ch])) / Math.sqrt(layer.variance[ch] + layer.epsilon) + layer.bias[ch];
          } else {
            y[j] = scale[ch] * x[j] + shift[ch];
          }
        }
        ys = xs.slice();
        break;
      }
      case 'add': {
        const b = valueOf(srcs[1]);
        const bs = shapeOf(srcs[1]);
        if (xs.length !== bs.length || xs.some((d, j) => d !== bs[j])) throw new Error(`${where}: shapes [${xs}] and [${bs}] differ`);
        y = new Float64Array(x.length);
        for (let j = 0; j < x.length; j++) y[j] = x[j] + b[j];
        ys = xs.slice();
        break;
      }
      case 'flatten':
        y = x.slice();
        ys = [x.length];
        break;
      case 'identity':
        y = x.slice();
        ys = xs.slice();
        break;
      case 'reshape':
        if (prod(layer.shape) !== x.length) throw new Error(`${where}: cannot reshape [${xs}] to [${layer.shape}]`);
        y = x.slice();
        ys = layer.shape.slice();
        break;
      default:
        throw new Error(`${where}: unknown layer type`);
    }
    values.push(y);
    shapes.push(ys);
    sources.push(srcs.slice());
    routes.push(route);
  });
  return { input: x0, inputShape, values, shapes, sources, routes };
}

/** A gate spec's parameters for channel c, straight from docs/semantics.md's table. */
function gateParameters(
  layer: Extract<LayerSpec, { type: 'gate' | 'clip' | 'leakyrelu' | 'prelu' }>,
  c: number,
): { lower: number; upper: number; slope: number; lowerValue: number } {
  const pick = (s: number | Float32Array | undefined) => (s === undefined ? 0 : typeof s === 'number' ? s : s.length === 1 ? s[0] : s[c]);
  switch (layer.type) {
    case 'gate': {
      const lower = layer.lower ?? 0;
      return { lower, upper: layer.upper ?? Infinity, slope: pick(layer.slope), lowerValue: layer.lowerValue ?? (lower === -Infinity ? 0 : lower) };
    }
    case 'clip': {
      const lower = layer.min ?? -Infinity;
      return { lower, upper: layer.max ?? Infinity, slope: 0, lowerValue: lower === -Infinity ? 0 : lower };
    }
    case 'leakyrelu':
      return { lower: 0, upper: Infinity, slope: layer.alpha, lowerValue: 0 };
    case 'prelu':
      return { lower: 0, upper: Infinity, slope: pick(layer.slope), lowerValue: 0 };
  }
}

// ---------------------------------------------------------------------------------------------
// Geometry

interface Geometry {
  c: number;
  h: number;
  w: number;
  outH: number;
  outW: number;
  sh: number;
  sw: number;
  /** Pads: top, left, bottom, right. */
  pt: number;
  pl: number;
  pb: number;
  pr: number;
}

type ConvSpec = Extract<LayerSpec, { type: 'conv' }>;
type PoolSpec = Extract<LayerSpec, { type: 'maxpool' | 'avgpool' }>;

function convGeometry(layer: ConvSpec, xs: number[], where = 'conv'): Geometry {
  if (xs.length !== 3) throw new Error(`${where}: input shape [${xs}] is not [C, H, W]`);
  const [c, h, w] = xs;
  const g = layer.groups ?? 1;
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.stride ?? [1, 1];
  const [dh, dw] = layer.dilation ?? [1, 1];
  const [pt, pl, pb, pr] = layer.pads ?? [0, 0, 0, 0];
  if (c !== layer.inChannels) throw new Error(`${where}: input has ${c} channels, expected ${layer.inChannels}`);
  if (c % g !== 0 || layer.outChannels % g !== 0) throw new Error(`${where}: groups ${g} do not divide the channels`);
  if (layer.weights.length !== layer.outChannels * (c / g) * kh * kw) throw new Error(`${where}: weights size`);
  const outH = Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1;
  const outW = Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1;
  if (outH < 1 || outW < 1) throw new Error(`${where}: empty output`);
  return { c, h, w, outH, outW, sh, sw, pt, pl, pb, pr };
}

/** Calls fn(output index, input index, weight index) for every in-bounds tap of the convolution. */
function forEachConvTap(layer: ConvSpec, geo: Geometry, fn: (outIdx: number, inIdx: number, wIdx: number) => void): void {
  const g = layer.groups ?? 1;
  const cg = geo.c / g;
  const og = layer.outChannels / g;
  const [kh, kw] = layer.kernel;
  const [dh, dw] = layer.dilation ?? [1, 1];
  for (let m = 0; m < layer.outChannels; m++) {
    const group = Math.floor(m / og);
    for (let oh = 0; oh < geo.outH; oh++) {
      for (let ow = 0; ow < geo.outW; ow++) {
        const outIdx = (m * geo.outH + oh) * geo.outW + ow;
        for (let ci = 0; ci < cg; ci++) {
          const ic = group * cg + ci;
          for (let a = 0; a < kh; a++) {
            const ih = oh * geo.sh - geo.pt + a * dh;
            if (ih < 0 || ih >= geo.h) continue;
            for (let b = 0; b < kw; b++) {
              const iw = ow * geo.sw - geo.pl + b * dw;
              if (iw < 0 || iw >= geo.w) continue;
              fn(outIdx, (ic * geo.h + ih) * geo.w + iw, ((m * cg + ci) * kh + a) * kw + b);
            }
          }
        }
      }
    }
  }
}

function poolOutSize(n: number, k: number, s: number, d: number, pBegin: number, pEnd: number, ceil: boolean): number {
  const span = n + pBegin + pEnd - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + pBegin) out--;
  return out;
}

function poolGeometry(layer: PoolSpec, xs: number[], kind: string, where = kind): Geometry {
  if (xs.length !== 3) throw new Error(`${where}: input shape [${xs}] is not [C, H, W]`);
  const [c, h, w] = xs;
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.stride ?? layer.kernel;
  const [dh, dw] = layer.type === 'maxpool' ? (layer.dilation ?? [1, 1]) : [1, 1];
  const [pt, pl, pb, pr] = layer.pads ?? [0, 0, 0, 0];
  const ceil = layer.ceilMode ?? false;
  const outH = poolOutSize(h, kh, sh, dh, pt, pb, ceil);
  const outW = poolOutSize(w, kw, sw, dw, pl, pr, ceil);
  if (outH < 1 || outW < 1) throw new Error(`${where}: empty output`);
  return { c, h, w, outH, outW, sh, sw, pt, pl, pb, pr };
}

/** Calls fn(output index, input indices in the window, divisor) for every avgpool output. */
function forEachAvgWindow(
  layer: Extract<LayerSpec, { type: 'avgpool' }>,
  geo: Geometry,
  fn: (outIdx: number, taps: number[], divisor: number) => void,
): void {
  const [kh, kw] = layer.kernel;
  const include = layer.countIncludePad ?? false;
  for (let ch = 0; ch < geo.c; ch++) {
    for (let oh = 0; oh < geo.outH; oh++) {
      const hs = oh * geo.sh - geo.pt;
      const he = Math.min(hs + kh, geo.h + geo.pb);
      for (let ow = 0; ow < geo.outW; ow++) {
        const ws = ow * geo.sw - geo.pl;
        const we = Math.min(ws + kw, geo.w + geo.pr);
        const taps: number[] = [];
        for (let ih = Math.max(hs, 0); ih < Math.min(he, geo.h); ih++) {
          for (let iw = Math.max(ws, 0); iw < Math.min(we, geo.w); iw++) taps.push((ch * geo.h + ih) * geo.w + iw);
        }
        fn((ch * geo.outH + oh) * geo.outW + ow, taps, include ? (he - hs) * (we - ws) : taps.length);
      }
    }
  }
}

type CopySpec = Extract<LayerSpec, { type: 'slice' | 'channelshuffle' | 'pad' }>;

/** Output shape of a slice, channel shuffle or pad (axis 0 = channels; a flat [F] input has F). */
function copyShape(layer: CopySpec, xs: number[]): number[] {
  if (layer.type === 'slice') return [layer.channels[1] - layer.channels[0], ...xs.slice(1)];
  if (layer.type === 'channelshuffle') return xs.slice();
  const [top, left, bottom, right] = layer.pads;
  return [xs[0], xs[1] + top + bottom, xs[2] + left + right];
}

/** For each output value of a slice, channel shuffle or pad: the input index it copies, or -1 (padding). */
function copyIndices(layer: CopySpec, xs: number[], where: string = layer.type): Int32Array {
  const c = xs[0];
  const plane = xs.slice(1).reduce((a, b) => a * b, 1);
  if (layer.type === 'slice') {
    const [start, end] = layer.channels;
    if (!(start >= 0 && start < end && end <= c)) throw new Error(`${where}: channels [${start}, ${end}) outside [0, ${c})`);
    const out = new Int32Array((end - start) * plane);
    for (let ch = start; ch < end; ch++) for (let p = 0; p < plane; p++) out[(ch - start) * plane + p] = ch * plane + p;
    return out;
  }
  if (layer.type === 'channelshuffle') {
    const g = layer.groups;
    if (!(g >= 1 && c % g === 0)) throw new Error(`${where}: groups ${g} do not divide ${c} channels`);
    // Reshape to [g, C/g], transpose to [C/g, g], flatten: output channel a·g + b reads input b·(C/g) + a.
    const out = new Int32Array(c * plane);
    for (let a = 0; a < c / g; a++)
      for (let b = 0; b < g; b++) for (let p = 0; p < plane; p++) out[(a * g + b) * plane + p] = (b * (c / g) + a) * plane + p;
    return out;
  }
  if (xs.length !== 3) throw new Error(`${where}: input shape [${xs}] is not [C, H, W]`);
  const [, h, w] = xs;
  const [top, left] = layer.pads;
  const [, oh, ow] = copyShape(layer, xs);
  if (!(oh >= 1 && ow >= 1)) throw new Error(`${where}: empty output`);
  const out = new Int32Array(c * oh * ow).fill(-1);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const iy = y - top, ix = x - left;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) out[(ch * oh + y) * ow + x] = (ch * h + iy) * w + ix;
      }
  return out;
}

/** batchnorm and affine as y = scale[c]·x + shift[c] (used by the VJP; the forward applies batchnorm as written). */
function channelAffine(layer: Extract<LayerSpec, { type: 'batchnorm' | 'affine' }>): { scale: Float64Array; shift: Float64Array } {
  if (layer.type === 'affine') return { scale: Float64Array.from(layer.scale), shift: Float64Array.from(layer.shift) };
  const scale = Float64Array.from(layer.scale, (s, c) => s / Math.sqrt(layer.variance[c] + layer.epsilon));
  const shift = Float64Array.from(layer.bias, (b, c) => b - scale[c] * layer.mean[c]);
  return { scale, shift };
}

function prod(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
