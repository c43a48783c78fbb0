/**
 * A float64 evaluator of plain layer specs (one example, NCHW) that knows the kinds of issue 14
 * (gates, concat, slice, channelshuffle, pad, globalmaxpool) besides the ones the shared oracle
 * test/oracle/forward-ref.ts knows; it runs those older kinds through that oracle one layer at a
 * time. The loader tests (tfjs and ONNX) check converted specs against their runtimes with it.
 */
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';
import { referenceTrace } from '../oracle/forward-ref.js';

const prod = (s: number[]) => s.reduce((a, b) => a * b, 1);

/** The gate of docs/semantics.md: slope·(z − lower) + lowerValue | z | upper. */
export const gateFn = (z: number, lower: number, upper: number, slope: number, lowerValue: number): number =>
  (z <= lower ? slope * (z - lower) + lowerValue : z >= upper ? upper : z);

/** The general-gate parameters of a gate layer of any kind. */
export function gateParams(l: LayerSpec): { lower: number; upper: number; slope: ArrayLike<number>; lowerValue: number } {
  switch (l.type) {
    case 'relu': return { lower: 0, upper: Infinity, slope: [0], lowerValue: 0 };
    case 'leakyrelu': return { lower: 0, upper: Infinity, slope: [l.alpha], lowerValue: 0 };
    case 'prelu': return { lower: 0, upper: Infinity, slope: l.slope, lowerValue: 0 };
    case 'clip': {
      const lower = l.min ?? -Infinity;
      return { lower, upper: l.max ?? Infinity, slope: [0], lowerValue: lower === -Infinity ? 0 : lower };
    }
    case 'gate': {
      const lower = l.lower ?? 0;
      const slope = l.slope ?? 0;
      return { lower, upper: l.upper ?? Infinity, slope: typeof slope === 'number' ? [slope] : slope, lowerValue: l.lowerValue ?? (lower === -Infinity ? 0 : lower) };
    }
    default: throw new Error(`not a gate: ${l.type}`);
  }
}

/** One layer of the new kinds (or add) on its inputs; undefined for kinds the oracle evaluates. */
function evalNewKind(l: LayerSpec, ins: { v: Float64Array; s: number[] }[]): { v: Float64Array; s: number[] } | undefined {
  const { v, s } = ins[0];
  const [C, H, W] = s.length === 3 ? s : [prod(s), 1, 1];
  switch (l.type) {
    case 'relu': case 'gate': case 'clip': case 'leakyrelu': case 'prelu': {
      const p = gateParams(l);
      const per = s.length === 3 ? H * W : 1; // a flat tensor: every unit is a channel
      return { v: v.map((z, j) => gateFn(z, p.lower, p.upper, p.slope.length === 1 ? p.slope[0] : p.slope[Math.floor(j / per)], p.lowerValue)), s };
    }
    case 'concat': {
      const out = new Float64Array(ins.reduce((a, t) => a + t.v.length, 0));
      let at = 0;
      for (const t of ins) { out.set(t.v, at); at += t.v.length; }
      return { v: out, s: s.length === 3 ? [ins.reduce((a, t) => a + t.s[0], 0), H, W] : [out.length] };
    }
    case 'slice': {
      const [c0, c1] = l.channels;
      return { v: v.slice(c0 * H * W, c1 * H * W), s: s.length === 3 ? [c1 - c0, H, W] : [c1 - c0] };
    }
    case 'channelshuffle': {
      const g = l.groups, per = C / g, out = new Float64Array(v.length);
      for (let i = 0; i < C; i++) out.set(v.subarray(((i % g) * per + Math.floor(i / g)) * H * W, ((i % g) * per + Math.floor(i / g) + 1) * H * W), i * H * W);
      return { v: out, s };
    }
    case 'pad': {
      const [pt, pl, pb, pr] = l.pads, oh = H + pt + pb, ow = W + pl + pr;
      const out = new Float64Array(C * oh * ow).fill(l.value ?? 0);
      for (let c = 0; c < C; c++)
        for (let y = 0; y < oh; y++)
          for (let x = 0; x < ow; x++) {
            const iy = y - pt, ix = x - pl;
            if (iy >= 0 && iy < H && ix >= 0 && ix < W) out[(c * oh + y) * ow + x] = v[(c * H + iy) * W + ix];
          }
      return { v: out, s: [C, oh, ow] };
    }
    case 'globalmaxpool': {
      const out = new Float64Array(C);
      for (let c = 0; c < C; c++) out[c] = Math.max(...v.subarray(c * H * W, (c + 1) * H * W));
      return { v: out, s: [C, 1, 1] };
    }
    case 'add':
      return { v: v.map((a, j) => a + ins[1].v[j]), s };
    default:
      return undefined;
  }
}

/** The logits of one example (NCHW, flat) in float64. */
export function evalSpec(spec: NetworkSpec, input: ArrayLike<number>): Float64Array {
  const vals: Float64Array[] = [];
  const shapes: number[][] = [];
  const src = (i: number) => (i < 0 ? { v: Float64Array.from(input), s: spec.inputShape } : { v: vals[i], s: shapes[i] });
  spec.layers.forEach((l, i) => {
    const ins = (l.inputs ?? [i - 1]).map(src);
    let r = evalNewKind(l, ins);
    if (!r) {
      // One layer through the oracle, which re-derives its output shape.
      const one: NetworkSpec = { inputShape: ins[0].s, layers: [{ ...l, inputs: undefined } as LayerSpec] };
      const t = referenceTrace(one, ins[0].v);
      r = { v: t.values[0], s: t.shapes[0] };
    }
    vals.push(r.v);
    shapes.push(r.s);
  });
  return vals[vals.length - 1];
}

/** Logits of a batch stored row after row (NCHW input). */
export function evalBatch(spec: NetworkSpec, x: Float32Array, n: number): Float32Array {
  const size = x.length / n;
  const rows = Array.from({ length: n }, (_, b) => evalSpec(spec, x.subarray(b * size, (b + 1) * size)));
  return Float32Array.from(rows.flatMap((r) => Array.from(r)));
}
