/**
 * Faithfulness metrics beyond pixel flipping and faithfulness correlation (lib/eval/quality.ts):
 * region perturbation (MoRF and LeRF) and monotonicity correlation, after Quantus. Every perturbed
 * input runs through StateRunner's batched forward calls.
 */
import { blackValue, generator, prepare, softmaxAt, spearman, type StateRunner } from './quality-shared.js';

export interface RegionPerturbationSettings {
  order: 'morf' | 'lerf';
  patchSize: number;
  /** Quantus's regions_evaluation (default 100): at most this many patches are perturbed. */
  regions: number;
  normalise: boolean;
}

/**
 * The patches of an input of shape [C, H, W] as quantus/helpers/utils.py get_block_indices cuts the
 * padded image: H and W padded to multiples of p (floor half before, ceil half after, get_padding_size),
 * p × p blocks in row-major block order, each block covering every channel; a patch lists the
 * block's positions inside the unpadded image (flat NCHW indices). Inputs of another rank are one
 * row of features cut into runs of p.
 */
export function patches(shape: readonly number[] | undefined, size: number, p: number): Int32Array[] {
  const [c, h, w] = shape && shape.length === 3 ? shape : [1, 1, size];
  // get_padding_size: the missing rows (columns) to a multiple of p, floor half before.
  const before = (dim: number) => (dim % p === 0 ? 0 : Math.floor((p - (dim % p)) / 2));
  const ph = before(h), pw = before(w);
  const out: Int32Array[] = [];
  for (let bh = 0; bh < Math.ceil(h / p); bh++)
    for (let bw = 0; bw < Math.ceil(w / p); bw++) {
      const list: number[] = [];
      for (let ch = 0; ch < c; ch++)
        for (let y = bh * p - ph; y < (bh + 1) * p - ph; y++)
          for (let x = bw * p - pw; x < (bw + 1) * p - pw; x++)
            if (y >= 0 && y < h && x >= 0 && x < w) list.push((ch * h + y) * w + x);
      out.push(Int32Array.from(list));
    }
  return out;
}

/**
 * quantus/metrics/faithfulness/region_perturbation.py: patches ordered by their attribution sums
 * (MoRF: descending, LeRF: ascending; ties: lower patch index first, NumPy's argsort is unstable),
 * the first `regions` of them set cumulatively to the input's minimum ("black"); the curve is the
 * drop of the target's softmax probability (Quantus's default softmax=True) after each patch, the value
 * its area (trapezoid, dx = 1: Quantus's get_auc_score per input). MoRF: higher is better; LeRF: lower.
 */
export function regionPerturbation(runner: StateRunner, shape: readonly number[] | undefined, x: Float32Array, a: Float32Array,
  probabilities: Float64Array, targets: Int32Array, s: RegionPerturbationSettings): { values: Float64Array; curves: Float64Array[] } {
  const n = targets.length, d = x.length / n;
  const blocks = patches(shape, d, s.patchSize);
  const steps = Math.min(s.regions, blocks.length);
  const orders = Array.from({ length: n }, (_, i) => {
    const v = prepare(a.subarray(i * d, (i + 1) * d), s.normalise, false);
    const sums = blocks.map((b) => { let t = 0; for (const j of b) t += v[j]; return t; });
    const sign = s.order === 'morf' ? -1 : 1;
    return Int32Array.from(blocks.keys()).sort((p, q) => sign * (sums[p] - sums[q]) || p - q);
  });
  const curves = Array.from({ length: n }, () => new Float64Array(steps));
  runner.run(n * steps, (k, dst) => {
    const i = Math.floor(k / steps), step = k % steps;
    const xi = x.subarray(i * d, (i + 1) * d);
    dst.set(xi);
    const black = blackValue(xi);
    for (let r = 0; r <= step; r++) for (const j of blocks[orders[i][r]]) dst[j] = black;
  }, (k, logits) => {
    const i = Math.floor(k / steps);
    curves[i][k % steps] = probabilities[i] - softmaxAt(logits, targets[i]);
  });
  const values = Float64Array.from(curves, (cv) => {
    let t = 0;
    for (let j = 1; j < cv.length; j++) t += (cv[j - 1] + cv[j]) / 2;
    return t;
  });
  return { values, curves };
}

export interface MonotonicitySettings {
  samples: number;
  featuresInStep: number;
  eps: number;
  seed: number;
}

/**
 * quantus/metrics/faithfulness/monotonicity_correlation.py: features in ascending |normalised|
 * attribution (ties: lower index first), `featuresInStep` per step; each step's features alone (not
 * cumulatively) set to one value drawn uniformly from [0, 1) (Quantus's default perturb_baseline
 * "uniform"), `samples` times; the step's variance is the mean of (p − p(x))² over the draws, times
 * 1/p(x)² when p(x) ≥ eps (p: the target's softmax probability, Quantus's default softmax=True);
 * the value is Spearman's correlation between the steps' attribution sums and variances. Higher is better.
 */
export function monotonicityCorrelation(runner: StateRunner, x: Float32Array, a: Float32Array, probabilities: Float64Array,
  targets: Int32Array, s: MonotonicitySettings): Float64Array {
  const n = targets.length, d = x.length / n, f = s.featuresInStep, steps = Math.ceil(d / f), m = s.samples;
  const prepared = Array.from({ length: n }, (_, i) => prepare(a.subarray(i * d, (i + 1) * d), true, true));
  const orders = prepared.map((v) => Int32Array.from({ length: d }, (_, j) => j).sort((p, q) => v[p] - v[q] || p - q));
  const random = generator(s.seed);
  const variances = new Float64Array(n * steps);
  runner.run(n * steps * m, (k, dst) => {
    const i = Math.floor(k / (steps * m)), step = Math.floor(k / m) % steps;
    dst.set(x.subarray(i * d, (i + 1) * d));
    const u = random();
    for (let j = step * f; j < Math.min(d, (step + 1) * f); j++) dst[orders[i][j]] = u;
  }, (k, logits) => {
    const i = Math.floor(k / (steps * m));
    variances[Math.floor(k / m)] += (softmaxAt(logits, targets[i]) - probabilities[i]) ** 2;
  });
  return Float64Array.from({ length: n }, (_, i) => {
    const p = probabilities[i];
    const inv = Math.abs(p) >= s.eps ? 1 / (p * p) : 1;
    const vars = Float64Array.from({ length: steps }, (_, step) => (variances[i * steps + step] / m) * inv);
    const atts = Float64Array.from({ length: steps }, (_, step) => {
      let t = 0;
      for (let j = step * f; j < Math.min(d, (step + 1) * f); j++) t += prepared[i][orders[i][j]];
      return t;
    });
    return spearman(atts, vars);
  });
}
