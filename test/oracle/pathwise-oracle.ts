/**
 * Test oracle: a deliberately plain TypeScript reference of the 'official' pathwise algorithm
 * (docs/method.md §3.1, §3.4–3.6, §5.1) for sequential dense ReLU networks.
 *
 * It follows the Reference procedure literally, not the library's hybrid (§4.2): for every path
 * layer, top-down, it re-runs the lower forward and builds the full C × N_l Jacobian of the
 * currently masked upper network by C separate reverse passes. Speed and validation are
 * non-goals; clarity is the goal.
 *
 * Numerics: the forward and the Jacobians accumulate in float64; the output of every dense
 * layer is rounded to float32 (the network is a float32 network); the selection score follows
 * the float32 rules of docs/method.md §3.4 with Math.fround.
 */
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';
import type { Depth, Width } from '../../lib/explain/types.js';

export interface OracleOptions {
  width?: Width;
  depth?: Depth;
  target?: number;
}

export interface OracleLayer {
  /** ReLU ordinal (0 = nearest the input). */
  ordinal: number;
  /** Selected units, ascending. */
  units: number[];
  /** Score of each selected unit, same order as `units`. */
  scores: number[];
  fallback: boolean;
  /** Candidates kept by the width rule: min(k, N_l). */
  k: number;
  /** Extra (oracle only): the float32 score of every unit of the layer, indexed by unit. */
  allScores: Float32Array;
  /** Extra (oracle only): unit indices sorted by (score desc, index asc). */
  order: number[];
  /** Extra (oracle only): 1 where the unit's C contributions are all identical (rejected). */
  identical: Uint8Array;
}

export interface OracleExplanation {
  predicted: number;
  target: number;
  /** Original network logits at x (float32). */
  logits: Float32Array;
  /** Fully masked network logits at x (float32). */
  pathLogits: Float32Array;
  /** W_P[t] ⊙ x. */
  attribution: Float32Array;
  /** W_P[t]. */
  weights: Float32Array;
  /** b_P[t] (float64 accumulation, not rounded). */
  bias: number;
  /** Path layers, bottom → top. */
  layers: OracleLayer[];
}

/** Gate of a masked ReLU layer: m[u] = 1 if unit u is selected. Keyed by ReLU ordinal. */
type Masks = Map<number, Uint8Array>;

/** Round half to even (banker's rounding) of a float64. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Number of candidates kept by the width rule for a layer of n units (docs/method.md §3.6), clamped to n.
 * 'P%': k = max(1, round_half_even((n / 100) · P)), float64, left to right as the Reference.
 */
export function widthToK(width: Width | undefined, n: number): number {
  if (width === undefined || width === 'all') return n;
  let k: number;
  if (typeof width === 'number') {
    k = width;
  } else {
    const p = Number(width.slice(0, -1));
    k = Math.max(1, roundHalfEven((n / 100) * p));
  }
  return Math.min(k, n);
}

/** ReLU ordinal of each layer index (-1 for non-ReLU layers). */
function reluOrdinals(layers: LayerSpec[]): number[] {
  const out: number[] = [];
  let next = 0;
  for (const layer of layers) {
    if (layer.type === 'relu') {
      out.push(next);
      next += 1;
    } else {
      out.push(-1);
    }
  }
  return out;
}

/**
 * Forward through layers[from..to] (inclusive) starting from `input`.
 * Returns the trace: trace[0] = input, trace[i - from + 1] = output of layer i.
 * An ReLU whose ordinal has a mask is a MaskLayer: z ↦ m ⊙ z (no rectification).
 */
function forwardRange(
  layers: LayerSpec[],
  ordinals: number[],
  from: number,
  to: number,
  input: Float64Array,
  masks: Masks,
): Float64Array[] {
  const trace: Float64Array[] = [input];
  let cur = input;
  for (let i = from; i <= to; i++) {
    const layer = layers[i];
    let next: Float64Array;
    if (layer.type === 'dense') {
      next = new Float64Array(layer.out);
      for (let r = 0; r < layer.out; r++) {
        let acc = layer.bias ? layer.bias[r] : 0;
        for (let c = 0; c < layer.in; c++) {
          acc += layer.weights[r * layer.in + c] * cur[c];
        }
        next[r] = Math.fround(acc);
      }
    } else if (layer.type === 'relu') {
      const mask = masks.get(ordinals[i]);
      next = new Float64Array(cur.length);
      for (let u = 0; u < cur.length; u++) {
        if (mask) next[u] = mask[u] ? cur[u] : 0;
        else next[u] = cur[u] > 0 ? cur[u] : 0;
      }
    } else {
      // flatten / reshape / identity: no-ops on flat vectors
      next = Float64Array.from(cur);
    }
    trace.push(next);
    cur = next;
  }
  return trace;
}

/**
 * Reverse pass through layers[to..from] given the trace of forwardRange(from, to) and the
 * cotangent at the output of layer `to`. Returns the cotangent at the input of layer `from`.
 * `onDense(i, delta)` sees the cotangent at the output of every dense layer i (for the bias).
 */
function backwardRange(
  layers: LayerSpec[],
  ordinals: number[],
  from: number,
  to: number,
  trace: Float64Array[],
  cotangent: Float64Array,
  masks: Masks,
  onDense?: (layerIndex: number, delta: Float64Array) => void,
): Float64Array {
  let g = cotangent;
  for (let i = to; i >= from; i--) {
    const layer = layers[i];
    const input = trace[i - from];
    let prev: Float64Array;
    if (layer.type === 'dense') {
      if (onDense) onDense(i, g);
      prev = new Float64Array(layer.in);
      for (let c = 0; c < layer.in; c++) {
        let acc = 0;
        for (let r = 0; r < layer.out; r++) {
          acc += layer.weights[r * layer.in + c] * g[r];
        }
        prev[c] = acc;
      }
    } else if (layer.type === 'relu') {
      const mask = masks.get(ordinals[i]);
      prev = new Float64Array(g.length);
      for (let u = 0; u < g.length; u++) {
        if (mask) prev[u] = mask[u] ? g[u] : 0;
        else prev[u] = input[u] > 0 ? g[u] : 0; // derivative of ReLU at 0 is 0
      }
    } else {
      prev = Float64Array.from(g);
    }
    g = prev;
  }
  return g;
}

/** Argmax, lowest index on ties. */
function argmax(v: ArrayLike<number>): number {
  let best = 0;
  for (let j = 1; j < v.length; j++) if (v[j] > v[best]) best = j;
  return best;
}

/**
 * Float32 selection score of one unit (docs/method.md §3.4) from its C contributions a[j] (already
 * float32 values). Returns the score and whether the contributions are all identical.
 */
export function unitScore(a: number[], target: number): { score: number; identical: boolean } {
  let identical = true;
  for (let j = 1; j < a.length; j++) if (a[j] !== a[0]) identical = false;
  let max = a[0];
  for (let j = 1; j < a.length; j++) if (a[j] > max) max = a[j];
  const e: number[] = [];
  for (let j = 0; j < a.length; j++) e.push(Math.fround(Math.exp(Math.fround(a[j] - max))));
  let sum = 0;
  for (let j = 0; j < a.length; j++) sum = Math.fround(sum + e[j]);
  return { score: Math.fround(e[target] / sum), identical };
}

export function oracleExplain(
  spec: NetworkSpec,
  input: Float32Array,
  options: OracleOptions = {},
): OracleExplanation {
  const layers = spec.layers;
  const T = layers.length;
  const ordinals = reluOrdinals(layers);
  const x = Float64Array.from(input);

  // Layer index of each ReLU, by ordinal.
  const reluIndex: number[] = [];
  for (let i = 0; i < T; i++) if (ordinals[i] >= 0) reluIndex.push(i);
  const reluCount = reluIndex.length;

  // 1. Original logits and predicted class.
  const noMasks: Masks = new Map();
  const original = forwardRange(layers, ordinals, 0, T - 1, x, noMasks);
  const logits = Float32Array.from(original[T]);
  const C = logits.length;
  const predicted = argmax(logits);
  const target = options.target ?? predicted;
  const threshold = Math.fround(1 / C);

  // Path layers: the last d ReLU layers.
  const depth = options.depth === undefined || options.depth === 'all' ? reluCount : options.depth;
  const pathOrdinals: number[] = [];
  for (let o = reluCount - depth; o < reluCount; o++) pathOrdinals.push(o);

  // 2. Path layers from the top down.
  const masks: Masks = new Map();
  const resultsTopDown: OracleLayer[] = [];
  for (let p = pathOrdinals.length - 1; p >= 0; p--) {
    const ordinal = pathOrdinals[p];
    const l = reluIndex[ordinal];

    // 3. h = output of M[0..l] at x (layers below l are original; no masks apply there yet).
    const lower = forwardRange(layers, ordinals, 0, l, x, masks);
    const h = lower[l + 1];
    const N = h.length;

    // 4. Jacobian of the masked upper network M[l+1..T-1] at h: C reverse passes.
    const upper = forwardRange(layers, ordinals, l + 1, T - 1, h, masks);
    const J: Float64Array[] = [];
    for (let j = 0; j < C; j++) {
      const e = new Float64Array(C);
      e[j] = 1;
      J.push(backwardRange(layers, ordinals, l + 1, T - 1, upper, e, masks));
    }

    // 5–6. Contributions and softmax scores.
    const allScores = new Float32Array(N);
    const rejected = new Uint8Array(N);
    for (let i = 0; i < N; i++) {
      const a: number[] = [];
      for (let j = 0; j < C; j++) a.push(Math.fround(h[i] * J[j][i]));
      const { score, identical } = unitScore(a, target);
      allScores[i] = score;
      rejected[i] = identical ? 1 : 0;
    }

    // 7. Order by (score desc, index asc).
    const order: number[] = [];
    for (let i = 0; i < N; i++) order.push(i);
    order.sort((u, v) => (allScores[v] - allScores[u]) || (u - v));

    // 8–10. Width cut, strict 1/C test, fallback.
    const k = widthToK(options.width, N);
    const kept: number[] = [];
    for (let r = 0; r < k; r++) {
      const u = order[r];
      if (!rejected[u] && allScores[u] > threshold) kept.push(u);
    }
    const fallback = kept.length === 0;
    if (fallback) kept.push(order[0]);

    // 11–12. Mask this ReLU.
    kept.sort((u, v) => u - v);
    const mask = new Uint8Array(N);
    for (const u of kept) mask[u] = 1;
    masks.set(ordinal, mask);

    resultsTopDown.push({
      ordinal,
      units: kept,
      scores: kept.map((u) => allScores[u]),
      fallback,
      k,
      allScores,
      order,
      identical: rejected,
    });
  }

  // 13. Fully masked network: forward, then one reverse pass of row t.
  const masked = forwardRange(layers, ordinals, 0, T - 1, x, masks);
  const pathLogits = Float32Array.from(masked[T]);
  const seed = new Float64Array(C);
  seed[target] = 1;
  let bias = 0;
  const g = backwardRange(layers, ordinals, 0, T - 1, masked, seed, masks, (i, delta) => {
    const layer = layers[i];
    if (layer.type !== 'dense' || !layer.bias) return;
    for (let r = 0; r < layer.out; r++) bias += delta[r] * layer.bias[r];
  });

  // 14. Attribution.
  const weights = Float32Array.from(g);
  const attribution = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) attribution[i] = Math.fround(g[i] * x[i]);

  return {
    predicted,
    target,
    logits,
    pathLogits,
    attribution,
    weights,
    bias,
    layers: resultsTopDown.reverse(),
  };
}
