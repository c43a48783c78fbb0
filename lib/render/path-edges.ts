/**
 * The real weights of a decision path's edges, for the path diagram: between a unit a of one path
 * (gate) layer and a unit b of the path layer above, the weight ∂z_b/∂h_a of the network at the
 * explained input (z_b: b's pre-activation; max-pool routing as at the input), and its contribution
 * h_a · ∂z_b/∂h_a. Computed in float64 from the layer spec, for every layer kind a spec can hold:
 * residual joins (add), concatenations, slices, channel shuffles, pads and every gate kind (ReLU,
 * ReLU6/clip, LeakyReLU, PReLU, the general gate). Between two neighbouring path layers no other
 * gate lies, so the weight is a sum over the linear routes from h_a to z_b (through a residual add,
 * the block's convolutions and its shortcut alike); routes that start below path layer a carry no
 * h_a and are dropped (a shortcut around a gate joins no two neighbouring path layers, so it is
 * not an edge). Checked against PyTorch autograd (tools/reference/make_edge_fixture.py). Gradients are propagated sparsely (one upper unit at a time touches only its
 * receptive field), so a diagram costs one forward pass plus the receptive fields of the drawn units.
 */
import type { LayerSpec, NetworkSpec } from '../model/layers.js';
import { lowerGate, type GateSpec } from '../model/gates.js';
import { sweepExtent } from '../model/lower.js';

/** An edge between a unit of path layer `ordinal` and a unit of the layer above (or the output). */
export interface PathEdge {
  /** Unit in gate (path) layer `ordinal` (flat NCHW index). */
  lower: number;
  /** Unit in gate layer `ordinal + 1`, or the explained class when the upper end is the output. */
  upper: number;
  /** ∂z_upper / ∂h_lower at the input. */
  weight: number;
  /** h_lower · weight: what the lower unit sends along the edge. */
  contribution: number;
}

export interface PathEdges {
  /** Edges from gate layer `ordinal` upwards, keyed by that ordinal; the strongest `perUnit` into each upper unit. */
  byLayer: Map<number, PathEdge[]>;
  /** Why no edges could be computed, when there are none. */
  unsupported?: string;
}

type Shape = number[];
interface Act { data: Float64Array; shape: Shape; argmax?: Int32Array }

const GATES = new Set(['relu', 'gate', 'clip', 'leakyrelu', 'prelu']);
const size = (s: Shape) => s.reduce((a, b) => a * b, 1);
const chw = (s: Shape): [number, number, number] => (s.length === 3 ? [s[0], s[1], s[2]] : s.length === 2 ? [1, s[0], s[1]] : [size(s), 1, 1]);

interface WindowSpec { kernel: [number, number]; stride?: [number, number]; pads?: [number, number, number, number]; dilation?: [number, number]; ceilMode?: boolean }

/** A window sweep's geometry, with the engine's output extent (PyTorch's ceil-mode rule included). */
function windowGeometry(l: WindowSpec, h: number, w: number) {
  const [kh, kw] = l.kernel, [sh, sw] = l.stride ?? l.kernel, [pt, pl, pb, pr] = l.pads ?? [0, 0, 0, 0], [dh, dw] = l.dilation ?? [1, 1];
  const ceil = l.ceilMode === true;
  return { kh, kw, sh, sw, pt, pl, pb, pr, dh, dw, oh: sweepExtent(h, kh, sh, pt, pb, dh, ceil), ow: sweepExtent(w, kw, sw, pl, pr, dw, ceil) };
}

type Geometry = ReturnType<typeof windowGeometry>;

const convGeometry = (l: LayerSpec & { type: 'conv' }, h: number, w: number) =>
  windowGeometry({ kernel: l.kernel, stride: l.stride ?? [1, 1], pads: l.pads, dilation: l.dilation }, h, w);

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

/** The average pool's divisor at (oy, ox), as the engine computes it (native/core/forward/forward.cc avg_pool_divisor). */
function avgPoolDivisor(g: Geometry, h: number, w: number, countIncludePad: boolean, oy: number, ox: number): number {
  let y0 = oy * g.sh - g.pt, x0 = ox * g.sw - g.pl;
  let y1 = Math.min(y0 + g.kh, h + g.pb), x1 = Math.min(x0 + g.kw, w + g.pr);
  if (countIncludePad) return (y1 - y0) * (x1 - x0);
  y0 = Math.max(y0, 0); x0 = Math.max(x0, 0); y1 = Math.min(y1, h); x1 = Math.min(x1, w);
  return Math.max(1, (y1 - y0) * (x1 - x0));
}

/** Output index o of a (c, oh, ow) grid as (channel, row, column). */
const unflat = (o: number, oh: number, ow: number) => [Math.floor(o / (oh * ow)), Math.floor(o / ow) % oh, o % ow] as const;

/** Where output channel i of a channel shuffle reads: input channel (i mod g)·(C/g) + ⌊i/g⌋. */
const shuffleSource = (i: number, channels: number, groups: number) => (i % groups) * (channels / groups) + Math.floor(i / groups);

/** The gate function of a gate spec (docs/semantics.md "Gates beyond ReLU"), per channel. */
function gateFunction(l: GateSpec, channels: number): (z: number, c: number) => number {
  const { params } = lowerGate(l, channels, 'gate');
  const lower = params.lower ?? 0, upper = params.upper ?? Infinity, lowerValue = params.lowerValue ?? lower;
  const slope = params.slope ?? Float32Array.of(0);
  return (z, c) => (z <= lower ? slope[slope.length === 1 ? 0 : c] * (z - lower) + lowerValue : z >= upper ? upper : z);
}

function forwardLayer(l: LayerSpec, xs: Act[]): Act {
  const x = xs[0];
  const [c, h, w] = chw(x.shape);
  switch (l.type) {
    case 'relu': case 'gate': case 'clip': case 'leakyrelu': case 'prelu': {
      const g = gateFunction(l, c);
      return { data: x.data.map((v, i) => g(v, Math.floor(i / (h * w)))), shape: x.shape };
    }
    case 'flatten': return { data: x.data, shape: [x.data.length] };
    case 'reshape': return { data: x.data, shape: [...l.shape] };
    case 'identity': return x;
    case 'add': return { data: x.data.map((v, i) => v + xs[1].data[i]), shape: x.shape };
    case 'concat': {
      const data = new Float64Array(xs.reduce((n, a) => n + a.data.length, 0));
      let at = 0;
      for (const a of xs) { data.set(a.data, at); at += a.data.length; } // NCHW axis 1 (or the features): the flat buffers in order
      return { data, shape: x.shape.length === 3 ? [xs.reduce((n, a) => n + chw(a.shape)[0], 0), h, w] : [data.length] };
    }
    case 'slice': return { data: x.data.slice(l.channels[0] * h * w, l.channels[1] * h * w), shape: [l.channels[1] - l.channels[0], h, w] };
    case 'channelshuffle': {
      const data = new Float64Array(x.data.length);
      for (let i = 0; i < c; i++) data.set(x.data.subarray(shuffleSource(i, c, l.groups) * h * w, (shuffleSource(i, c, l.groups) + 1) * h * w), i * h * w);
      return { data, shape: x.shape };
    }
    case 'pad': {
      const [pt, pl, pb, pr] = l.pads, oh = h + pt + pb, ow = w + pl + pr;
      const data = new Float64Array(c * oh * ow).fill(l.value ?? 0);
      for (let ch = 0; ch < c; ch++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
        const iy = y - pt, ix = xx - pl;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) data[(ch * oh + y) * ow + xx] = x.data[(ch * h + iy) * w + ix];
      }
      return { data, shape: [c, oh, ow] };
    }
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
      const g = windowGeometry(l, h, w);
      const out = new Float64Array(c * g.oh * g.ow), argmax = new Int32Array(out.length).fill(-1);
      for (let ch = 0; ch < c; ch++) for (let oy = 0; oy < g.oh; oy++) for (let ox = 0; ox < g.ow; ox++) {
        let best = -Infinity, at = -1, sum = 0;
        windowTaps(g, h, w, ch, oy, ox, (q) => {
          if (x.data[q] > best) { best = x.data[q]; at = q; }
          sum += x.data[q];
        });
        const o = (ch * g.oh + oy) * g.ow + ox;
        if (l.type === 'maxpool') { out[o] = best; argmax[o] = at; } else out[o] = sum / avgPoolDivisor(g, h, w, l.countIncludePad === true, oy, ox);
      }
      return { data: out, shape: [c, g.oh, g.ow], ...(l.type === 'maxpool' ? { argmax } : {}) };
    }
    case 'globalmaxpool': {
      const out = new Float64Array(c), argmax = new Int32Array(c);
      for (let ch = 0; ch < c; ch++) {
        let at = ch * h * w; // the first maximum wins
        for (let p = 1; p < h * w; p++) if (x.data[ch * h * w + p] > x.data[at]) at = ch * h * w + p;
        out[ch] = x.data[at];
        argmax[ch] = at;
      }
      return { data: out, shape: [c, 1, 1], argmax };
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
    default: throw new Error(`unsupported layer ${(l as LayerSpec).type}`);
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

/**
 * ∂/∂(each layer input) of a sparse gradient at the layer's output, routing as at the input: one
 * gradient per producer of the layer (two for an add, one per part of a concat). Never called on a
 * gate: no gate lies between two neighbouring path layers.
 */
function backwardLayer(l: LayerSpec, xs: Act[], y: Act, gy: Grad): Grad[] {
  const x = xs[0];
  const [c, h, w] = chw(x.shape);
  const gx: Grad = new Map();
  switch (l.type) {
    case 'flatten': case 'reshape': case 'identity': return [gy];
    case 'add': return [gy, gy];
    case 'concat': {
      const parts = xs.map((): Grad => new Map());
      const ends: number[] = [];
      xs.reduce((at, a) => { ends.push(at + a.data.length); return at + a.data.length; }, 0);
      for (const [o, v] of gy) {
        const part = ends.findIndex((end) => o < end);
        parts[part].set(o - (part === 0 ? 0 : ends[part - 1]), v);
      }
      return parts;
    }
    case 'slice': for (const [o, v] of gy) gx.set(o + l.channels[0] * h * w, v); return [gx];
    case 'channelshuffle': for (const [o, v] of gy) gx.set(shuffleSource(Math.floor(o / (h * w)), c, l.groups) * h * w + (o % (h * w)), v); return [gx];
    case 'pad': {
      const [pt, pl, pb, pr] = l.pads, oh = h + pt + pb, ow = w + pl + pr;
      for (const [o, v] of gy) {
        const [ch, oy, ox] = unflat(o, oh, ow), iy = oy - pt, ix = ox - pl;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) gx.set((ch * h + iy) * w + ix, v);
      }
      return [gx];
    }
    case 'dense': for (const [o, v] of gy) for (let i = 0; i < l.in; i++) add(gx, i, l.weights[o * l.in + i] * v); return [gx];
    case 'conv': {
      const g = convGeometry(l, h, w);
      for (const [o, v] of gy) {
        const [co, oy, ox] = unflat(o, g.oh, g.ow);
        convTaps(l, g, h, w, co, oy, ox, (q, weight) => add(gx, q, weight * v));
      }
      return [gx];
    }
    case 'maxpool': case 'globalmaxpool': for (const [o, v] of gy) if (y.argmax![o] >= 0) add(gx, y.argmax![o], v); return [gx];
    case 'avgpool': {
      const g = windowGeometry(l, h, w);
      for (const [o, v] of gy) {
        const [ch, oy, ox] = unflat(o, g.oh, g.ow);
        const n = avgPoolDivisor(g, h, w, l.countIncludePad === true, oy, ox);
        windowTaps(g, h, w, ch, oy, ox, (q) => add(gx, q, v / n));
      }
      return [gx];
    }
    case 'globalavgpool': for (const [o, v] of gy) for (let p = 0; p < h * w; p++) add(gx, o * h * w + p, v / (h * w)); return [gx];
    case 'batchnorm': case 'affine': {
      const { scale } = channelAffine(l);
      for (const [i, v] of gy) gx.set(i, v * scale[Math.floor(i / (h * w))]);
      return [gx];
    }
    default: throw new Error(`no edge weights through a ${l.type} layer`);
  }
}

/** Producers of spec layer i (-1: the network input), as lib/model/lower.ts reads `inputs`. */
const producersOf = (l: LayerSpec, i: number): number[] => l.inputs ?? [i - 1];

/** Multiply-adds of a forward pass, to refuse networks too large to run in plain JavaScript here. */
function forwardCost(spec: NetworkSpec): number {
  const shapes: Shape[] = [];
  let cost = 0;
  spec.layers.forEach((l, i) => {
    const src = producersOf(l, i).map((p) => (p < 0 ? [...spec.inputShape] : shapes[p]));
    const [c, h, w] = chw(src[0]);
    let shape = src[0];
    if (l.type === 'dense') { cost += l.in * l.out; shape = [l.out]; }
    else if (l.type === 'conv') {
      const g = convGeometry(l, h, w);
      cost += l.outChannels * g.oh * g.ow * (l.inChannels / (l.groups ?? 1)) * g.kh * g.kw;
      shape = [l.outChannels, g.oh, g.ow];
    } else if (l.type === 'maxpool' || l.type === 'avgpool') { const g = windowGeometry(l, h, w); shape = [c, g.oh, g.ow]; }
    else if (l.type === 'globalavgpool' || l.type === 'globalmaxpool') shape = [c, 1, 1];
    else if (l.type === 'flatten') shape = [size(shape)];
    else if (l.type === 'reshape') shape = [...l.shape];
    else if (l.type === 'concat') shape = src[0].length === 3 ? [src.reduce((n, s) => n + chw(s)[0], 0), h, w] : [src.reduce((n, s) => n + size(s), 0)];
    else if (l.type === 'slice') shape = [l.channels[1] - l.channels[0], h, w];
    else if (l.type === 'pad') shape = [c, h + l.pads[0] + l.pads[2], w + l.pads[1] + l.pads[3]];
    shapes.push(shape);
  });
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
  if (forwardCost(spec) > (options.maxMultiplyAdds ?? 3e8)) return none('the network is too large to trace its edge weights here');
  // Forward at the input, remembering each layer's output (acts[i + 1]; acts[0] is the input).
  const acts: Act[] = [{ data: Float64Array.from(input), shape: [...spec.inputShape] }];
  const inputsOf = (i: number) => producersOf(spec.layers[i], i).map((p) => acts[p + 1]);
  spec.layers.forEach((l, i) => acts.push(forwardLayer(l, inputsOf(i))));
  const gateAt = spec.layers.flatMap((l, i) => (GATES.has(l.type) ? [i] : []));
  const selected = new Map(ex.layers.map((l) => [l.ordinal, new Set(Array.from(l.units))]));
  const byLayer = new Map<number, PathEdge[]>();
  for (const layer of ex.layers) {
    const k = layer.ordinal;
    const lowerAt = gateAt[k];
    if (lowerAt === undefined) continue;
    const lowerSet = selected.get(k)!;
    const top = k + 1 >= gateAt.length;
    const upper = selected.get(k + 1);
    if (!top && !upper) continue; // the layer above is not on the path: nothing to draw into
    // z of the upper end: the upper gate's input, or the network's output.
    const start = top ? spec.layers.length - 1 : producersOf(spec.layers[gateAt[k + 1]], gateAt[k + 1])[0];
    const uppers = upper ? [...upper] : [ex.target];
    const h = acts[lowerAt + 1].data;
    const edges: PathEdge[] = [];
    for (const b of uppers) {
      // Reverse topological sweep over the layers strictly between the two gates; gradient that
      // reaches a producer below the lower gate carries no h_a and is dropped.
      const grads = new Map<number, Grad>([[start, new Map([[b, 1]])]]);
      for (let i = start; i > lowerAt; i--) {
        const gy = grads.get(i);
        if (!gy) continue;
        grads.delete(i);
        const parts = backwardLayer(spec.layers[i], inputsOf(i), acts[i + 1], gy);
        producersOf(spec.layers[i], i).forEach((p, j) => {
          if (p < lowerAt) return;
          const into = grads.get(p);
          if (!into) grads.set(p, new Map(parts[j]));
          else for (const [q, v] of parts[j]) add(into, q, v);
        });
      }
      const g = grads.get(lowerAt) ?? new Map<number, number>();
      const candidates: PathEdge[] = [];
      for (const [a, weight] of g) if (lowerSet.has(a) && weight !== 0) candidates.push({ lower: a, upper: b, weight, contribution: h[a] * weight });
      candidates.sort((p, q) => Math.abs(q.contribution) - Math.abs(p.contribution) || p.lower - q.lower);
      edges.push(...candidates.slice(0, perUnit));
    }
    byLayer.set(k, edges);
  }
  return { byLayer };
}
