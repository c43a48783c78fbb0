/**
 * Pieces every quality metric family shares (lib/eval/quality*.ts): the seeded generator, the
 * per-input summary, Quantus's normalise_by_max and "black" baseline, correlations and SSIM, and the
 * batched runners of perturbed inputs (forward) and of re-explanations (explainer).
 */
import type { Model } from '../model/model.js';
import { toFloat32 } from '../validate.js';

/**
 * Attributions of a batch for given classes: n × inputSize values back to back. `model` is the
 * network to explain: the evaluated one, or for 'mprt' and 'inputInvariance' a changed copy of it
 * (randomised layers, shifted first layer); an explainer that ignores it explains the wrong network.
 */
export type QualityExplainer = (inputs: Float32Array, targets: Int32Array, model: Model) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** What evaluateQuality needs of a model (a Model has it). */
export type QualityModel = Pick<Model, 'inputSize' | 'numClasses' | 'forward'> & Partial<Pick<Model, 'inputShape'>>;

export interface QualityValues {
  /** One value per input. */
  values: Float64Array;
  /** Mean over the inputs (NaN values, e.g. a correlation with a constant side, are skipped). */
  mean: number;
}

/** mulberry32: a small seeded generator; uniform in [0, 1). tools/reference/quality_ref.py has the same. */
export function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws by Box–Muller from a uniform generator (two uniforms per draw, no caching). */
export function normal(random: () => number): () => number {
  return () => {
    const u = 1 - random(); // (0, 1]: log(u) stays finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

export function summarise(values: Float64Array): QualityValues {
  let s = 0;
  let k = 0;
  for (const v of values) if (!Number.isNaN(v)) { s += v; k++; }
  return { values, mean: k ? s / k : NaN };
}

/** Quantus's normalise_by_max: a / max|a| (all-zero stays zero). */
export function normaliseByMax(a: ArrayLike<number>): Float64Array {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  const out = Float64Array.from(a);
  if (m > 0) for (let i = 0; i < out.length; i++) out[i] /= m;
  return out;
}

/** Quantus's preprocessing of an attribution: normalise_by_max, then |·| (either optional). */
export function prepare(a: ArrayLike<number>, normalise: boolean, abs: boolean): Float64Array {
  const out = normalise ? normaliseByMax(a) : Float64Array.from(a);
  if (abs) for (let i = 0; i < out.length; i++) out[i] = Math.abs(out[i]);
  return out;
}

/** Pearson correlation (scipy.stats.pearsonr's value); NaN when either side is constant. */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
  ma /= n; mb /= n;
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i] - ma, db = b[i] - mb;
    sab += da * db; saa += da * da; sbb += db * db;
  }
  return saa === 0 || sbb === 0 ? NaN : Math.max(-1, Math.min(1, sab / Math.sqrt(saa * sbb)));
}

/** Ranks 1 … n with ties at their average rank (scipy.stats.rankdata's 'average'). */
export function ranks(a: ArrayLike<number>): Float64Array {
  const n = a.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((p, q) => a[p] - a[q] || p - q);
  const out = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && a[order[j + 1]] === a[order[i]]) j++;
    const r = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = r;
    i = j + 1;
  }
  return out;
}

/** Spearman rank correlation (scipy.stats.spearmanr's value: Pearson of average ranks); NaN for a constant side. */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(ranks(a), ranks(b));
}

/**
 * SSIM of two flat vectors as Quantus's ssim (quantus/functions/similarity_func.py) calls
 * skimage.metrics.structural_similarity on 1-D arrays: window 7 (uniform, scipy 'reflect' edges),
 * sample covariances, K1 0.01, K2 0.03, data_range max − min of both, mean over the uncropped interior.
 */
export function ssim1d(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  const win = 7, pad = 3;
  if (n < win) throw new RangeError(`ssim needs at least ${win} values, got ${n}`);
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < n; i++) { lo = Math.min(lo, a[i], b[i]); hi = Math.max(hi, a[i], b[i]); }
  const range = Math.abs(hi - lo);
  const c1 = (0.01 * range) ** 2, c2 = (0.03 * range) ** 2;
  const covNorm = win / (win - 1);
  const at = (v: ArrayLike<number>, i: number) => v[i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i];
  let total = 0;
  for (let i = pad; i < n - pad; i++) {
    let ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
    for (let j = i - pad; j <= i + pad; j++) {
      const x = at(a, j), y = at(b, j);
      ux += x; uy += y; uxx += x * x; uyy += y * y; uxy += x * y;
    }
    ux /= win; uy /= win; uxx /= win; uyy /= win; uxy /= win;
    const vx = covNorm * (uxx - ux * ux), vy = covNorm * (uyy - uy * uy), vxy = covNorm * (uxy - ux * uy);
    total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
  }
  return total / (n - 2 * pad);
}

export function softmaxAt(logits: Float32Array, t: number): number {
  let m = -Infinity;
  for (const v of logits) m = Math.max(m, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  return Math.exp(logits[t] - m) / s;
}

/** Quantus's "black" perturb_baseline: the input's minimum (quantus/helpers/utils.py get_baseline_dict). */
export function blackValue(x: ArrayLike<number>): number {
  let m = Infinity;
  for (let i = 0; i < x.length; i++) m = Math.min(m, x[i]);
  return m;
}

/** Runs `total` perturbed inputs through the network, `batchSize` per forward call. */
export class StateRunner {
  forwards = 0;
  batches = 0;
  explained = 0;
  explainerCalls = 0;
  constructor(private readonly model: QualityModel, private readonly batchSize: number) {}

  run(total: number, fill: (k: number, dst: Float32Array) => void, take: (k: number, logits: Float32Array) => void): void {
    const d = this.model.inputSize, c = this.model.numClasses;
    for (let start = 0; start < total; start += this.batchSize) {
      const m = Math.min(this.batchSize, total - start);
      const states = new Float32Array(m * d);
      for (let j = 0; j < m; j++) fill(start + j, states.subarray(j * d, (j + 1) * d));
      const logits = this.model.forward(states);
      this.forwards += m;
      this.batches++;
      for (let j = 0; j < m; j++) take(start + j, logits.subarray(j * c, (j + 1) * c));
    }
  }

  /**
   * Explains `total` inputs made by `fill` (for the classes targetOf(k)) with `explainer` on `model`,
   * `batchSize` per call, and hands each attribution to `take` in order.
   */
  async explain(total: number, explainer: QualityExplainer, model: Model, targetOf: (k: number) => number,
    fill: (k: number, dst: Float32Array) => void, take: (k: number, attribution: Float32Array, input: Float32Array) => void): Promise<void> {
    const d = this.model.inputSize;
    for (let start = 0; start < total; start += this.batchSize) {
      const m = Math.min(this.batchSize, total - start);
      const xs = new Float32Array(m * d);
      const ts = new Int32Array(m);
      for (let j = 0; j < m; j++) {
        fill(start + j, xs.subarray(j * d, (j + 1) * d));
        ts[j] = targetOf(start + j);
      }
      const a = toFloat32(await explainer(xs, ts, model), 'explainer result');
      if (a.length !== xs.length) throw new RangeError(`explainer returned ${a.length} values for ${m} inputs of ${d} (expected ${xs.length})`);
      this.explained += m;
      this.explainerCalls++;
      for (let j = 0; j < m; j++) take(start + j, a.subarray(j * d, (j + 1) * d), xs.subarray(j * d, (j + 1) * d));
    }
  }
}
