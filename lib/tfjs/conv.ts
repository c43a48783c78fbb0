/**
 * tfjs convolutions and spatial padding → conv and pad specs. tfjs stores kernels channels-last,
 * [kh, kw, cin, cout] whatever the data format; pathwise's conv weights are [cout, cin/groups, kh, kw].
 * A depthwise kernel [kh, kw, cin, depth_multiplier] becomes a conv with groups = cin whose output
 * channel c·depth_multiplier + m is input channel c's m-th filter: tf.depthwiseConv2d orders its
 * output channels the same way, and a grouped conv with groups = cin puts output channels
 * c·m … c·m + m − 1 in group c.
 */
import type { LayerSpec } from '../model/layers.js';
import type { TfjsLayer } from './convert.js';
import { bad, cfg, pairOf, unsupported, weight, windowGeometry, type Emit, type Tensor } from './common.js';

function needImage(layer: TfjsLayer, x: Tensor): [number, number, number] {
  if (x.kind !== 'image') throw unsupported(layer, `${layer.className} needs an image input [H, W, C], got a tensor of rank ${x.shape.length}`);
  return x.shape as [number, number, number];
}

function positive(layer: TfjsLayer, key: string, fallback?: number): number {
  const v = cfg(layer, key) ?? fallback;
  if (!Number.isSafeInteger(v) || (v as number) < 1) throw bad(layer, `${key} must be a positive integer, got ${JSON.stringify(v)}`);
  return v as number;
}

/** [kh, kw, cin, dm] (tfjs) → [cin·dm, 1, kh, kw] (a conv with groups = cin). */
export function depthwiseWeights(kernel: Float32Array, kh: number, kw: number, cin: number, dm: number): Float32Array {
  const out = new Float32Array(cin * dm * kh * kw);
  for (let c = 0; c < cin; c++)
    for (let m = 0; m < dm; m++)
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++) out[((c * dm + m) * kh + y) * kw + xx] = kernel[((y * kw + xx) * cin + c) * dm + m];
  return out;
}

/** [kh, kw, cg, cout] (tfjs) → [cout, cg, kh, kw]. */
function denseKernelWeights(kernel: Float32Array, kh: number, kw: number, cg: number, cout: number): Float32Array {
  const wt = new Float32Array(cout * cg * kh * kw);
  for (let co = 0; co < cout; co++)
    for (let ci = 0; ci < cg; ci++)
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++) wt[((co * cg + ci) * kh + y) * kw + xx] = kernel[((y * kw + xx) * cg + ci) * cout + co];
  return wt;
}

const biasOf = (layer: TfjsLayer, n: number) => (cfg(layer, 'useBias') !== false ? Float32Array.from(weight(layer, 'bias', [n])) : undefined);

/**
 * Conv2D, DepthwiseConv2D or SeparableConv2D (the depthwise conv, then the pointwise 1 × 1 conv
 * that carries the bias), without the fused activation, which the caller adds.
 */
export function convolution(layer: TfjsLayer, x: Tensor, emit: Emit): Tensor {
  const [cin, h, w] = needImage(layer, x);
  const [kh, kw] = pairOf(layer, 'kernelSize');
  const stride = pairOf(layer, 'strides', [1, 1]);
  const dilation = pairOf(layer, 'dilationRate', [1, 1]);
  const { pads, oh, ow } = windowGeometry(layer, h, w, [kh, kw], stride, dilation);
  if (oh < 1 || ow < 1) throw bad(layer, `the kernel does not fit the input [${h}, ${w}]`);
  const geometry = { kernel: [kh, kw] as [number, number], stride, pads, dilation };
  const cls = layer.className;
  if (cls === 'Conv2D') {
    const filters = positive(layer, 'filters');
    const groups = (cfg(layer, 'groups') as number | undefined) ?? 1;
    if (!Number.isSafeInteger(groups) || groups < 1 || cin % groups !== 0 || filters % groups !== 0)
      throw bad(layer, `groups ${groups} must divide the input channels ${cin} and the filters ${filters}`);
    const cg = cin / groups;
    const weights = denseKernelWeights(weight(layer, 'kernel', [kh, kw, cg, filters]), kh, kw, cg, filters);
    return emit({ type: 'conv', name: layer.name, inChannels: cin, outChannels: filters, ...geometry, groups, weights, bias: biasOf(layer, filters) },
      [x], [filters, oh, ow], 'image');
  }
  // Keras 3 names a DepthwiseConv2D's kernel 'kernel' (Keras 2 and tfjs 'depthwise_kernel').
  const kernelName = cls === 'DepthwiseConv2D' && !layer.weights.has('depthwise_kernel') ? 'kernel' : 'depthwise_kernel';
  // tfjs's SeparableConv2D leaves depth_multiplier out of its saved config: the kernel's shape has it.
  const dm = positive(layer, 'depthMultiplier', layer.weights.get(kernelName)?.shape[3] ?? 1);
  // tfjs's DepthwiseConv2D ignores dilation_rate (Keras applies it): refuse rather than pick one meaning.
  if (cls === 'DepthwiseConv2D' && (dilation[0] !== 1 || dilation[1] !== 1))
    throw unsupported(layer, `DepthwiseConv2D with dilation_rate [${dilation.join(', ')}]: tfjs ignores it and Keras applies it, so the model is ambiguous`);
  const depthwise = depthwiseWeights(weight(layer, kernelName, [kh, kw, cin, dm]), kh, kw, cin, dm);
  if (cls === 'DepthwiseConv2D') {
    return emit({ type: 'conv', name: layer.name, inChannels: cin, outChannels: cin * dm, ...geometry, groups: cin, weights: depthwise, bias: biasOf(layer, cin * dm) },
      [x], [cin * dm, oh, ow], 'image');
  }
  const filters = positive(layer, 'filters');
  const pointwise = denseKernelWeights(weight(layer, 'pointwise_kernel', [1, 1, cin * dm, filters]), 1, 1, cin * dm, filters);
  const d = emit({ type: 'conv', name: `${layer.name}/depthwise`, inChannels: cin, outChannels: cin * dm, ...geometry, groups: cin, weights: depthwise },
    [x], [cin * dm, oh, ow], 'image');
  return emit({ type: 'conv', name: layer.name, inChannels: cin * dm, outChannels: filters, kernel: [1, 1], weights: pointwise, bias: biasOf(layer, filters) },
    [d], [filters, oh, ow], 'image');
}

/**
 * ZeroPadding2D's `padding` or Cropping2D's `cropping`: n, [rows, cols] or [[top, bottom], [left, right]]
 * → [top, left, bottom, right].
 */
function sides(layer: TfjsLayer, key: string, fallback: number): [number, number, number, number] {
  const v = cfg(layer, key) ?? fallback;
  const ok = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  const pair = (p: unknown): [number, number] | undefined =>
    ok(p) ? [p, p] : Array.isArray(p) && p.length === 2 && ok(p[0]) && ok(p[1]) ? [p[0], p[1]] : undefined;
  let rows: [number, number] | undefined, cols: [number, number] | undefined;
  if (ok(v)) rows = cols = [v, v];
  else if (Array.isArray(v) && v.length === 2) {
    if (ok(v[0]) && ok(v[1])) { rows = [v[0], v[0]]; cols = [v[1], v[1]]; } else { rows = pair(v[0]); cols = pair(v[1]); }
  }
  if (!rows || !cols) throw bad(layer, `${key} must be n, [rows, cols] or [[top, bottom], [left, right]] of non-negative integers, got ${JSON.stringify(v)}`);
  return [rows[0], cols[0], rows[1], cols[1]];
}

/** ZeroPadding2D → pad; Cropping2D → pad with negative entries. */
export function padding(layer: TfjsLayer, x: Tensor, emit: Emit): Tensor {
  const [c, h, w] = needImage(layer, x);
  const crop = layer.className === 'Cropping2D';
  const s = sides(layer, crop ? 'cropping' : 'padding', crop ? 0 : 1);
  const pads = (crop ? s.map((v) => (v === 0 ? 0 : -v)) : s) as [number, number, number, number];
  const oh = h + pads[0] + pads[2], ow = w + pads[1] + pads[3];
  if (oh < 1 || ow < 1) throw bad(layer, `crops ${JSON.stringify(s)} leave nothing of the input [${h}, ${w}]`);
  const spec: LayerSpec = { type: 'pad', name: layer.name, pads };
  return emit(spec, [x], [c, oh, ow], 'image');
}
