/**
 * The real weights of a decision path's edges, for the path diagram: between a unit a of one path
 * layer and a unit b of the path layer above, the weight ∂z_b/∂h_a of the network at the explained
 * input (z_b: b's pre-activation; max-pool routing as at the input), and its contribution
 * h_a · ∂z_b/∂h_a. Computed in float64 from the layer spec for sequential networks of dense, conv,
 * pooling, batch-norm, affine and shape-only layers; anything else (residual joins, other gates)
 * gives no edges, and the diagram says so. Gradients are propagated sparsely (one upper unit at a
 * time touches only its receptive field), so a diagram costs one forward pass.
 */
import type { LayerSpec, NetworkSpec } from '../model/layers.js';

/** An edge between a unit of path layer `ordinal` and a unit of the layer above (or the output). */
export interface PathEdge {
  /** Unit in ReLU layer `ordinal` (flat NCHW index). */
  lower: number;
  /** Unit in ReLU layer `ordinal + 1`, or the explained class when the upper end is the output. */
  upper: number;
  /** ∂z_upper / ∂h_lower at the input. */
  weight: number;
  /** h_lower · weight: what the lower unit sends along the edge. */
  contribution: number;
}

export interface PathEdges {
  /** Edges from ReLU layer `ordinal` upwards, keyed by that ordinal; the strongest `perUnit` into each upper unit. */
  byLayer: Map<number, PathEdge[]>;
  /** Why no edges could be computed, when there are none. */
  unsupported?: string;
}

type Shape = number[];
interface Act { data: Float64Array; shape: Shape; argmax?: Int32Array }

const SUPPORTED = new Set(['dense', 'conv', 'relu', 'maxpool', 'avgpool', 'globalavgpool', 'flatten', 'reshape', 'identity', 'batchnorm', 'affine']);
const size = (s: Shape) => s.reduce((a, b) => a * b, 1);
const chw = (s: Shape): [number, number, number] => (s.length === 3 ? [s[0], s[1], s[2]] : s.length === 2 ? [1, s[0], s[1]] : [size(s), 1, 1]);

function poolGeometry(l: { kernel: [number, number]; stride?: [number, number]; pads?: [number, number, number, number]; dilation?: [number, number] }, h: number, w: number) {
  const [kh, kw] = l.kernel, [sh, sw] = l.stride ?? l.kernel, [pt, pl, pb, pr] = l.pads ?? [0, 0, 0, 0], [dh, dw] = l.dilation ?? [1, 1];
  return { kh, kw, sh, sw, pt, pl, dh, dw, oh: Math.floor((h + pt + pb - dh * (kh - 1) - 1) / sh) + 1, ow: Math.floor((w + pl + pr - dw * (kw - 1) - 1) / sw) + 1 };
}

type Geometry = ReturnType<typeof poolGeometry>;

const convGeometry = (l: LayerSpec & { type: 'conv' }, h: number, w: number) =>
  poolGeometry({ kernel: l.kernel, stride: l.stride ?? [1, 1], pads: l.pads, dilation: l.dilation }, h, w);

/** Visits the input index and weight of every tap of conv output (co, oy, ox) that lands inside the input. */
function convTaps(l: LayerSpec & { type: 'conv' }, g: Geometry, h: number, w: number, co: number, oy: number, ox: number, visit: (q: number, weight: number) => void): void {
  const groups = l.groups ?? 1, cinG = l.inChannels / groups, grp = Math.floor(co / (l.outChannels / groups));
  for (let ci = 0; ci < cinG; ci++) {
    windowTaps(g, h, w, grp * cinG + ci, oy, ox, (q, ky, kx) => visit(q, l.weights[((co * cinG + ci) * g.kh + ky) * g.kw + kx]));
  }
}

/** Visits the input index (channel ch) of every tap of window (oy, ox) that lands inside the input. */
function windowTaps(g: Geometry, h: number, w: number, ch: number, oy: number, ox: number, visit: (q: number, ky: number, kx: number) => void): void {
  for (let ky = 0; ky < g.kh; ky++) {
    const iy = oy * g.sh - g.pt + ky * g.dh;
    if (iy < 0 || iy >= h) continue;
    for (let kx = 0; kx < g.kw; kx++) {
      const ix = ox * g.sw - g.pl + kx * g.dw;
      if (ix >= 0 && ix < w) visit((ch * h + iy) * w + ix, ky, kx);
    }
  }
}

function forwardLayer(l: LayerSpec, x: Act): Act {
  const [c, h, w] = chw(x.shape);
  switch (l.type) {
    case 'relu': return { data: x.data.map((v) => (v > 0 ? v : 0)), shape: x.shape };
    case 'flatten': return { data: x.data, shape: [x.data.length] };
    case 'reshape': return { data: x.data, shape: [...(l as { shape: number[] }).shape] };
    case 'identity': return x;
    case 'dense': {
      const out = new Float64Array(l.out);
      for (let o = 0; o < l.out; o++) {
        let acc = l.bias ? l.bias[o] : 0;
        for (let i = 0; i < l.in; i++) acc += l.weights[o * l.in + i] * x.data[i];
        out[o] = acc;
      }
      return { data: out, shape: [l.out] };
    }
    case 'conv': {
      const g = convGeometry(l, h, w);
      const out = new Float64Array(l.outChannels * g.oh * g.ow);
      for (let co = 0; co < l.outChannels; co++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) {
        let acc = l.bias ? l.bias[co] : 0;
        convTaps(l, g, h, w, co, oy, ox, (q, weight) => { acc += weight * x.data[q]; });
        out[(co * g.oh + oy) * g.ow + ox] = acc;
      }
      return { data: out, shape: [l.outChannels, g.oh, g.ow] };
    }
    case 'maxpool': case 'avgpool': {
      const g = poolGeometry(l, h, w);
      const out = new Float64Array(c * g.oh * g.ow), argmax = new Int32Array(out.length).fill(-1);
      for (let ch = 0; ch < c; ch++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) {
        let best = -Infinity, at = -1, sum = 0, n = 0;
        windowTaps(g, h, w, ch, oy, ox, (q) => {
          if (x.data[q] > best) { best = x.data[q]; at = q; }
          sum += x.data[q]; n++;
        });
        const o = (ch * g.oh + oy) * g.ow + ox;
        if (l.type === 'maxpool') { out[o] = best; argmax[o] = at; } else out[o] = sum / ((l as { countIncludePad?: boolean }).countIncludePad ? g.kh * g.kw : n);
      }
      return { data: out, shape: [c, g.oh, g.ow], ...(l.type === 'maxpool' ? { argmax } : {}) };
    }
    case 'globalavgpool': {
      const out = new Float64Array(c);
      for (let ch = 0; ch < c; ch++) { let s = 0; for (let p = 0; p < h * w; p++) s += x.data[ch * h * w + p]; out[ch] = s / (h * w); }
      return { data: out, shape: [c, 1, 1] };
    }
    case 'batchnorm': case 'affine': {
      const { scale, shift } = channelAffine(l);
      return { data: x.data.map((v, i) => v * scale[Math.floor(i / (h * w))] + shift[Math.floor(i / (h * w))]), shape: x.shape };
    }
    default: throw new Error(`unsupported layer ${l.type}`);
  }
}

function channelAffine(l: LayerSpec): { scale: Float64Array; shift: Float64Array } {
  if (l.type === 'affine') return { scale: Float64Array.from(l.scale), shift: Float64Array.from(l.shift) };
  if (l.type !== 'batchnorm') throw new Error('not a per-channel affine layer');
  const scale = Float64Array.from(l.scale, (s, i) => s / Math.sqrt(l.variance[i] + l.epsilon));
  return { scale, shift: Float64Array.from(l.bias, (b, i) => b - l.mean[i] * scale[i]) };
}

/** Sparse gradient: index → value. */
type Grad = Map<number, number>;

function add(g: Grad, i: number, v: number) { g.set(i, (g.get(i) ?? 0) + v); }

/** ∂/∂(layer input) of a sparse gradient at the layer's output, routing as at the input. */
function backwardLayer(l: LayerSpec, x: Act, y: Act, gy: Grad): Grad {
  const [c, h, w] = chw(x.shape);
  const gx: Grad = new Map();
  switch (l.type) {
    case 'flatten': case 'reshape': case 'identity': return gy;
    case 'relu': for (const [i, v] of gy) if (x.data[i] > 0) gx.set(i, v); return gx;
    case 'dense': for (const [o, v] of gy) for (let i = 0; i < l.in; i++) add(gx, i, l.weights[o * l.in + i] * v); return gx;
    case 'conv': {
      const g = convGeometry(l, h, w);
      for (const [o, v] of gy) {
        const co = Math.floor(o / (g.oh * g.ow)), oy = Math.floor(o / g.ow) % g.oh, ox = o % g.ow;
        convTaps(l, g, h, w, co, oy, ox, (q, weight) => add(gx, q, weight * v));
      }
      return gx;
    }
    case 'maxpool': for (const [o, v] of gy) if (y.argmax![o] >= 0) add(gx, y.argmax![o], v); return gx;
    case 'avgpool': {
      const g = poolGeometry(l, h, w);
      for (const [o, v] of gy) {
        const ch = Math.floor(o / (g.oh * g.ow)), oy = Math.floor(o / g.ow) % g.oh, ox = o % g.ow;
        const taps: number[] = [];
        windowTaps(g, h, w, ch, oy, ox, (q) => taps.push(q));
        const n = l.countIncludePad ? g.kh * g.kw : taps.length;
        for (const q of taps) add(gx, q, v / n);
      }
      return gx;
    }
    case 'globalavgpool': for (const [o, v] of gy) for (let p = 0; p < h * w; p++) add(gx, o * h * w + p, v / (h * w)); return gx;
    case 'batchnorm': case 'affine': {
      const { scale } = channelAffine(l);
      for (const [i, v] of gy) gx.set(i, v * scale[Math.floor(i / (h * w))]);
      return gx;
    }
    default: throw new Error(`unsupported layer ${l.type}`);
  }
}

/** Multiply-adds of a forward pass, to refuse networks too large to run in plain JavaScript here. */
function forwardCost(spec: NetworkSpec): number {
  let shape: Shape = [...spec.inputShape], cost = 0;
  for (const l of spec.layers) {
    const [, h, w] = chw(shape);
    if (l.type === 'dense') { cost += l.in * l.out; shape = [l.out]; }
    else if (l.type === 'conv') {
      const g = convGeometry(l, h, w);
      cost += l.outChannels * g.oh * g.ow * (l.inChannels / (l.groups ?? 1)) * g.kh * g.kw;
      shape = [l.outChannels, g.oh, g.ow];
    } else if (l.type === 'maxpool' || l.type === 'avgpool') { const g = poolGeometry(l, h, w); shape = [chw(shape)[0], g.oh, g.ow]; }
    else if (l.type === 'globalavgpool') shape = [chw(shape)[0], 1, 1];
    else if (l.type === 'flatten') shape = [size(shape)];
    else if (l.type === 'reshape') shape = [...(l as { shape: number[] }).shape];
  }
  return cost;
}

/**
 * The edges of an explanation's path: for each pair of neighbouring path layers (and from the top
 * path layer to the explained class), the `perUnit` (default 3) strongest edges by |contribution|
 * into each selected upper unit, from the selected lower units only.
 */
export function pathEdges(
  spec: NetworkSpec,
  input: ArrayLike<number>,
  ex: { target: number; layers: ReadonlyArray<{ ordinal: number; units: ArrayLike<number> }> },
  options: { perUnit?: number; maxMultiplyAdds?: number } = {},
): PathEdges {
  const perUnit = options.perUnit ?? 3;
  const none = (why: string): PathEdges => ({ byLayer: new Map(), unsupported: why });
  const odd = spec.layers.find((l) => !SUPPORTED.has(l.type) || (l.inputs && l.inputs.length > 0) || ((l.type === 'maxpool' || l.type === 'avgpool') && l.ceilMode));
  if (odd) return none(`edge weights are drawn for sequential networks of dense, conv, pooling and normalisation layers; this one has ${odd.type}${odd.inputs ? ' with several inputs' : ''}`);
  if (forwardCost(spec) > (options.maxMultiplyAdds ?? 3e8)) return none('the network is too large to trace its edge weights here');
  // Forward at the input, remembering each layer's input and output.
  const acts: Act[] = [{ data: Float64Array.from(input), shape: [...spec.inputShape] }];
  for (const l of spec.layers) acts.push(forwardLayer(l, acts[acts.length - 1]));
  const reluAt = spec.layers.flatMap((l, i) => (l.type === 'relu' ? [i] : []));
  const selected = new Map(ex.layers.map((l) => [l.ordinal, new Set(Array.from(l.units))]));
  const byLayer = new Map<number, PathEdge[]>();
  for (const layer of ex.layers) {
    const k = layer.ordinal;
    const lowerSet = selected.get(k)!;
    const upper = selected.get(k + 1);
    const from = reluAt[k] + 1, to = upper ? reluAt[k + 1] : spec.layers.length; // layers [from, to) map h_k to z_{k+1} (or to the logits)
    if (from === undefined || (upper && to === undefined)) continue;
    const uppers = upper ? [...upper] : [ex.target];
    const h = acts[reluAt[k] + 1].data;
    const edges: PathEdge[] = [];
    for (const b of uppers) {
      let g: Grad = new Map([[b, 1]]);
      for (let i = to - 1; i >= from; i--) g = backwardLayer(spec.layers[i], acts[i], acts[i + 1], g);
      const candidates: PathEdge[] = [];
      for (const [a, weight] of g) if (lowerSet.has(a) && weight !== 0) candidates.push({ lower: a, upper: b, weight, contribution: h[a] * weight });
      candidates.sort((p, q) => Math.abs(q.contribution) - Math.abs(p.contribution) || p.lower - q.lower);
      edges.push(...candidates.slice(0, perUnit));
    }
    byLayer.set(k, edges);
  }
  return { byLayer };
}
