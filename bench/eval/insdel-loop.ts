/**
 * Insertion/deletion the straightforward way, with the Reference's structure (RISE
 * `evaluation.py`, SPEC §10): one forward pass per state, n + 1 states per curve, the state
 * updated in place between passes. Used as the oracle of test/metrics.test.ts and as the
 * per-step baseline of bench/eval/insdel-speed.ts. Plain loops on purpose.
 */
import type { Model } from '../../lib/index.js';
import { blurSubstrate } from '../../lib/index.js';

export interface LoopOptions {
  mode: 'ins' | 'del';
  step?: number;
  order?: 'stable' | 'reference';
  /** The class tracked; default argmax f(x). */
  target?: number;
}

function softmaxAt(logits: Float32Array, c: number): number {
  let mx = -Infinity;
  for (const v of logits) mx = Math.max(mx, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - mx);
  return Math.exp(logits[c] - mx) / s;
}

/** Pixel order of one channel: value descending; ties by index ascending ('stable') or descending ('reference'). */
export function loopOrder(values: ArrayLike<number>, order: 'stable' | 'reference'): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  if (order === 'stable') return idx.sort((a, b) => values[b] - values[a] || a - b);
  // np.flip(argsort(values)) with a stable ascending argsort.
  return idx.sort((a, b) => values[a] - values[b] || a - b).reverse();
}

export function loopCurve(model: Model, x: Float32Array, attribution: ArrayLike<number>, options: LoopOptions): Float64Array {
  const [C, H, W] = model.inputShape as [number, number, number];
  const HW = H * W, step = options.step ?? W, n = Math.ceil(HW / step);
  const logits0 = model.forward(x);
  let c = options.target ?? 0;
  if (options.target === undefined) for (let j = 1; j < logits0.length; j++) if (logits0[j] > logits0[c]) c = j;
  const start = options.mode === 'del' ? Float32Array.from(x) : blurSubstrate([C, H, W], x);
  const finish = options.mode === 'del' ? new Float32Array(x.length) : x;
  const orders = Array.from({ length: C }, (_, r) => loopOrder(Array.from({ length: HW }, (_, p) => attribution[r * HW + p]), options.order ?? 'stable'));
  const scores = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) {
    scores[i] = softmaxAt(model.forward(start), c);
    if (i < n)
      for (let r = 0; r < C; r++)
        for (const p of orders[r].slice(step * i, step * (i + 1)))
          for (let ch = 0; ch < C; ch++) start[ch * HW + p] = finish[ch * HW + p];
  }
  return scores;
}
