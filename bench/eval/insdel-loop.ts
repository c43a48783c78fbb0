/**
 * Insertion/deletion the straightforward way, with the Reference's structure (RISE
 * `evaluation.py`, docs/method.md §10): one forward pass per state, n + 1 states per curve, the state
 * updated in place between passes. Used as the oracle of test/metrics.test.ts and as the
 * per-step baseline of bench/eval/insdel-speed.run.ts. Plain loops on purpose.
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

/** Pixel order of one channel: value descending; ties by index ascending ('stable') or descending ('reference'). */
export function loopOrder(values: ArrayLike<number>, order: 'stable' | 'reference'): number[] {
  const idx = Array.from({ length: values.length }, (_, i) => i);
  if (order === 'stable') return idx.sort((a, b) => values[b] - values[a] || a - b);
  // np.flip(argsort(values)) with a stable ascending argsort.
  return idx.sort((a, b) => values[a] - values[b] || a - b).reverse();
}

/**
 * The n + 1 states of one curve, in order, in one buffer updated in place between yields (the
 * Reference's `start[:, P] = finish[:, P]`).
 */
export function* curveStates(shape: readonly number[], x: Float32Array, attribution: ArrayLike<number>,
  options: Omit<LoopOptions, 'target'>): Generator<Float32Array> {
  const [C, H, W] = shape as [number, number, number];
  const HW = H * W, step = options.step ?? W, n = Math.ceil(HW / step);
  const start = options.mode === 'del' ? Float32Array.from(x) : blurSubstrate([C, H, W], x);
  const finish = options.mode === 'del' ? new Float32Array(x.length) : x;
  const orders = Array.from({ length: C }, (_, r) => loopOrder(Array.from({ length: HW }, (_, p) => attribution[r * HW + p]), options.order ?? 'stable'));
  for (let i = 0; i <= n; i++) {
    yield start;
    if (i < n)
      for (let r = 0; r < C; r++)
        for (const p of orders[r].slice(step * i, step * (i + 1)))
          for (let ch = 0; ch < C; ch++) start[ch * HW + p] = finish[ch * HW + p];
  }
}

export function softmaxAt(logits: ArrayLike<number>, c: number): number {
  let mx = -Infinity;
  for (let j = 0; j < logits.length; j++) mx = Math.max(mx, logits[j]);
  let s = 0;
  for (let j = 0; j < logits.length; j++) s += Math.exp(logits[j] - mx);
  return Math.exp(logits[c] - mx) / s;
}

export function argmax(logits: ArrayLike<number>): number {
  let c = 0;
  for (let j = 1; j < logits.length; j++) if (logits[j] > logits[c]) c = j;
  return c;
}

/** One curve, one forward pass per state. */
export function loopCurve(model: Model, x: Float32Array, attribution: ArrayLike<number>, options: LoopOptions): Float64Array {
  const c = options.target ?? argmax(model.forward(x));
  const scores: number[] = [];
  for (const state of curveStates(model.inputShape, x, attribution, options)) scores.push(softmaxAt(model.forward(state), c));
  return Float64Array.from(scores);
}
