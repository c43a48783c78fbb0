/**
 * Explanation quality metrics after Quantus (https://github.com/understandable-machine-intelligence-lab/Quantus),
 * for any attribution: evaluateQuality runs a chosen subset over a batch of inputs and their attributions.
 * Every perturbed input goes through the network in batched forward calls (many states per call), and
 * every random choice comes from one seeded generator per metric, so a metric's values do not depend
 * on which other metrics run. docs/quality.md lists each metric's Quantus file and where we differ.
 */
import { argmaxFirst } from '../explain/argmax.js';
import type { Model } from '../model/model.js';
import { badValue, checkOptions, checkTargets, isObject, positiveInteger, toFloat32, wrongType, boolean } from '../validate.js';

export type QualityMetric = 'sparseness' | 'complexity' | 'pixelFlipping' | 'faithfulnessCorrelation' | 'randomLogit' | 'completeness';

export const QUALITY_METRICS: readonly QualityMetric[] = Object.freeze([
  'sparseness', 'complexity', 'pixelFlipping', 'faithfulnessCorrelation', 'randomLogit', 'completeness',
]);

/** Attributions of a batch for given classes: n × inputSize values back to back (batched, one call per metric). */
export type QualityExplainer = (inputs: Float32Array, targets: Int32Array) => ArrayLike<number> | Promise<ArrayLike<number>>;

/** What evaluateQuality needs of a model (a Model has it). */
export type QualityModel = Pick<Model, 'inputSize' | 'numClasses' | 'forward'>;

export interface QualityOptions {
  metrics: readonly QualityMetric[];
  /** Explained class per input; default argmax f(x), lowest index on ties. */
  targets?: ArrayLike<number>;
  /** Seed of the random choices (faithfulness correlation subsets, random logit classes); default 42 (Quantus's). */
  seed?: number;
  /** Divide each attribution by its max |value| first (Quantus's normalise_by_max; default true). Never for completeness. */
  normalise?: boolean;
  /** Pixel flipping: features replaced per step (Quantus features_in_step, default 1). */
  featuresInStep?: number;
  /** Faithfulness correlation: features per random subset (Quantus subset_size, default 224). */
  subsetSize?: number;
  /** Faithfulness correlation: random subsets per input (Quantus nr_runs, default 100). */
  runs?: number;
  /** Random logit: the method's attributions for other classes (required by 'randomLogit'). */
  explainer?: QualityExplainer;
  /** Completeness: pathwise's bias and pathLogit per input, to report Σ attribution + bias − pathLogit as well. */
  pathwise?: { bias: ArrayLike<number>; pathLogit: ArrayLike<number> };
  /** Perturbed inputs per forward call (default: 64 MiB of float32 inputs, at most 4096). */
  batchSize?: number;
}

export interface QualityValues {
  /** One value per input. */
  values: Float64Array;
  /** Mean over the inputs (NaN values, e.g. a correlation with a constant side, are skipped). */
  mean: number;
}

export interface QualityReport {
  targets: Int32Array;
  sparseness?: QualityValues;
  complexity?: QualityValues;
  /** values: area under each curve (trapezoid, dx = 1, as Quantus's calculate_auc); lower is better. */
  pixelFlipping?: QualityValues & { curves: Float64Array[] };
  faithfulnessCorrelation?: QualityValues;
  /** values: SSIM between the explanation of the target and of offTargets; lower is better. */
  randomLogit?: QualityValues & { offTargets: Int32Array };
  /** values: |Σ attribution − (f(x) − f(baseline))| on logits; pathIdentity: |Σ attribution + bias − pathLogit|. */
  completeness?: QualityValues & { pathIdentity?: QualityValues };
  /** Perturbed inputs run through the network and forward calls made. */
  forwards: number;
  batches: number;
}

const OPTIONS = new Set(['metrics', 'targets', 'seed', 'normalise', 'featuresInStep', 'subsetSize', 'runs', 'explainer', 'pathwise', 'batchSize']);

/** mulberry32: a small seeded generator; uniform in [0, 1). */
function generator(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function summarise(values: Float64Array): QualityValues {
  let s = 0;
  let k = 0;
  for (const v of values) if (!Number.isNaN(v)) { s += v; k++; }
  return { values, mean: k ? s / k : NaN };
}

/** Quantus's normalise_by_max: a / max|a| (all-zero stays zero). */
function normaliseByMax(a: Float32Array): Float64Array {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  const out = Float64Array.from(a);
  if (m > 0) for (let i = 0; i < out.length; i++) out[i] /= m;
  return out;
}

/** Gini index of |a| as quantus/metrics/complexity/sparseness.py (with its +1e-7). */
export function sparseness(a: ArrayLike<number>): number {
  const n = a.length;
  const s = Float64Array.from(a, (v) => Math.abs(v) + 1e-7).sort();
  let num = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) { num += (2 * (i + 1) - n - 1) * s[i]; sum += s[i]; }
  return num / (n * sum);
}

/** Entropy of |a| / Σ|a| as quantus/metrics/complexity/complexity.py (with its +1e-12 inside the log). */
export function complexity(a: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]);
  let h = 0;
  for (let i = 0; i < a.length; i++) {
    const p = Math.abs(a[i]) / sum;
    h -= p * Math.log(p + 1e-12);
  }
  return h;
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

/** Runs `total` perturbed inputs through the network, `batchSize` per forward call. */
class StateRunner {
  forwards = 0;
  batches = 0;
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
}

function softmaxAt(logits: Float32Array, t: number): number {
  let m = -Infinity;
  for (const v of logits) m = Math.max(m, v);
  let s = 0;
  for (const v of logits) s += Math.exp(v - m);
  return Math.exp(logits[t] - m) / s;
}

/** Quantus's "black" perturb_baseline: the input's minimum (quantus/helpers/utils.py get_baseline_dict). */
function blackValue(x: Float32Array): number {
  let m = Infinity;
  for (const v of x) m = Math.min(m, v);
  return m;
}

interface Checked {
  metrics: Set<QualityMetric>;
  targets?: Int32Array;
  seed: number;
  normalise: boolean;
  featuresInStep: number;
  subsetSize: number;
  runs: number;
  explainer?: QualityExplainer;
  pathwise?: { bias: Float64Array; pathLogit: Float64Array };
  batchSize: number;
}

function checkQualityOptions(model: QualityModel, options: unknown, n: number): Checked {
  checkOptions(options, OPTIONS);
  const o = options as QualityOptions;
  if (!Array.isArray(o.metrics)) throw wrongType('metrics', 'an array of metric names', o.metrics);
  if (o.metrics.length === 0) throw new RangeError('metrics is empty; name at least one of ' + QUALITY_METRICS.join(', '));
  for (const m of o.metrics)
    if (!QUALITY_METRICS.includes(m)) throw badValue('metrics', `names among ${QUALITY_METRICS.join(', ')}`, m);
  const metrics = new Set(o.metrics);
  let seed = 42;
  if (o.seed !== undefined) {
    if (typeof o.seed !== 'number') throw wrongType('seed', 'an integer', o.seed);
    if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw badValue('seed', 'an integer in [0, 2^32)', o.seed);
    seed = o.seed;
  }
  const subsetSize = o.subsetSize === undefined ? 224 : positiveInteger(o.subsetSize, 'subsetSize');
  if (metrics.has('faithfulnessCorrelation') && subsetSize > model.inputSize)
    throw badValue('subsetSize', `at most the input size ${model.inputSize}`, subsetSize);
  if (o.explainer !== undefined && typeof o.explainer !== 'function') throw wrongType('explainer', 'a function (inputs, targets) => attributions', o.explainer);
  if (metrics.has('randomLogit') && o.explainer === undefined)
    throw new TypeError("metric 'randomLogit' needs the explainer option: (inputs, targets) => attributions");
  if (metrics.has('randomLogit') && model.numClasses < 2) throw new RangeError("metric 'randomLogit' needs at least 2 classes");
  let pathwise: Checked['pathwise'];
  if (o.pathwise !== undefined) {
    if (!isObject(o.pathwise)) throw wrongType('pathwise', 'an object { bias, pathLogit }', o.pathwise);
    const read = (v: unknown, what: string) => {
      if (!isObject(v) || typeof (v as ArrayLike<number>).length !== 'number') throw wrongType(what, 'an array of numbers', v);
      const a = Float64Array.from(v as ArrayLike<number>);
      if (a.length !== n) throw new RangeError(`${what} has ${a.length} entries for ${n} inputs`);
      return a;
    };
    pathwise = { bias: read(o.pathwise.bias, 'pathwise.bias'), pathLogit: read(o.pathwise.pathLogit, 'pathwise.pathLogit') };
  }
  return {
    metrics, seed, subsetSize, pathwise,
    targets: checkTargets(o, model.numClasses, n),
    normalise: o.normalise === undefined ? true : boolean(o.normalise, 'normalise'),
    featuresInStep: o.featuresInStep === undefined ? 1 : positiveInteger(o.featuresInStep, 'featuresInStep', model.inputSize),
    runs: o.runs === undefined ? 100 : positiveInteger(o.runs, 'runs'),
    explainer: o.explainer,
    batchSize: o.batchSize === undefined ? Math.max(1, Math.min(4096, Math.floor(2 ** 24 / model.inputSize))) : positiveInteger(o.batchSize, 'batchSize'),
  };
}

/**
 * Quality metrics of n attributions of n inputs (n × inputSize values each, back to back).
 * Async because 'randomLogit' may call an async explainer; everything else runs synchronously.
 */
export async function evaluateQuality(
  model: QualityModel, inputs: Float32Array | ArrayLike<number>, attributions: Float32Array | ArrayLike<number>, options: QualityOptions,
): Promise<QualityReport> {
  if (!isObject(model) || typeof (model as QualityModel).forward !== 'function') throw wrongType('model', 'a Model', model);
  const x = toFloat32(inputs, 'inputs');
  const a = toFloat32(attributions, 'attributions');
  const d = model.inputSize, c = model.numClasses;
  if (x.length === 0 || x.length % d !== 0) throw new RangeError(`inputs has ${x.length} values; expected a multiple of the input size ${d}`);
  const n = x.length / d;
  if (a.length !== x.length) throw new RangeError(`attributions has ${a.length} values for ${n} inputs of ${d} (expected ${x.length})`);
  const o = checkQualityOptions(model, options, n);
  const input = (i: number) => x.subarray(i * d, (i + 1) * d);
  const raw = (i: number) => a.subarray(i * d, (i + 1) * d);
  const prepared = (v: Float32Array) => (o.normalise ? normaliseByMax(v) : Float64Array.from(v));

  const runner = new StateRunner(model, o.batchSize);
  // f(x) for every input: the targets' default and the reference of faithfulness correlation and completeness.
  const logits = new Float32Array(n * c);
  runner.run(n, (k, dst) => dst.set(input(k)), (k, l) => logits.set(l, k * c));
  const targets = o.targets ?? Int32Array.from({ length: n }, (_, i) => argmaxFirst(logits, i * c, c));
  const report: QualityReport = { targets, forwards: 0, batches: 0 };

  if (o.metrics.has('sparseness')) report.sparseness = summarise(Float64Array.from({ length: n }, (_, i) => sparseness(prepared(raw(i)))));
  if (o.metrics.has('complexity')) report.complexity = summarise(Float64Array.from({ length: n }, (_, i) => complexity(prepared(raw(i)))));

  if (o.metrics.has('pixelFlipping')) {
    // quantus/metrics/faithfulness/pixel_flipping.py: features in descending attribution (ties: lower
    // index first; numpy's argsort is unstable), replaced cumulatively by the input's minimum,
    // `featuresInStep` per step; the curve is the target's softmax probability after each step.
    const f = o.featuresInStep;
    const steps = Math.ceil(d / f);
    const orders = Array.from({ length: n }, (_, i) => {
      const v = prepared(raw(i));
      return Int32Array.from({ length: d }, (_, j) => j).sort((p, q) => v[q] - v[p] || p - q);
    });
    const black = Float64Array.from({ length: n }, (_, i) => blackValue(input(i)));
    const curves = Array.from({ length: n }, () => new Float64Array(steps));
    runner.run(n * steps, (k, dst) => {
      const i = Math.floor(k / steps), s = k % steps;
      dst.set(input(i));
      const order = orders[i], end = Math.min(d, (s + 1) * f);
      for (let j = 0; j < end; j++) dst[order[j]] = black[i];
    }, (k, l) => {
      const i = Math.floor(k / steps);
      curves[i][k % steps] = softmaxAt(l, targets[i]);
    });
    const auc = Float64Array.from(curves, (cv) => {
      let s = 0;
      for (let j = 1; j < cv.length; j++) s += (cv[j - 1] + cv[j]) / 2;
      return s;
    });
    report.pixelFlipping = { ...summarise(auc), curves };
  }

  if (o.metrics.has('faithfulnessCorrelation')) {
    // quantus/metrics/faithfulness/faithfulness_correlation.py: `runs` random subsets of `subsetSize`
    // features (without replacement) set to the input's minimum; Pearson between the subsets'
    // attribution sums and the drops of the target logit.
    const random = generator(o.seed);
    const runs = o.runs, size = o.subsetSize;
    const subsets = new Int32Array(n * runs * size);
    const pool = new Int32Array(d);
    for (let k = 0; k < n * runs; k++) {
      for (let j = 0; j < d; j++) pool[j] = j;
      for (let j = 0; j < size; j++) {
        const r = j + Math.floor(random() * (d - j));
        const t = pool[j]; pool[j] = pool[r]; pool[r] = t;
      }
      subsets.set(pool.subarray(0, size), k * size);
    }
    const black = Float64Array.from({ length: n }, (_, i) => blackValue(input(i)));
    const drops = new Float64Array(n * runs);
    runner.run(n * runs, (k, dst) => {
      const i = Math.floor(k / runs);
      dst.set(input(i));
      for (const j of subsets.subarray(k * size, (k + 1) * size)) dst[j] = black[i];
    }, (k, l) => {
      const i = Math.floor(k / runs);
      drops[k] = logits[i * c + targets[i]] - l[targets[i]];
    });
    const values = Float64Array.from({ length: n }, (_, i) => {
      const v = prepared(raw(i));
      const sums = Float64Array.from({ length: runs }, (_, r) => {
        let s = 0;
        for (const j of subsets.subarray((i * runs + r) * size, (i * runs + r + 1) * size)) s += v[j];
        return s;
      });
      return pearson(sums, drops.subarray(i * runs, (i + 1) * runs));
    });
    report.faithfulnessCorrelation = summarise(values);
  }

  if (o.metrics.has('randomLogit')) {
    // quantus/metrics/randomisation/random_logit.py: a class drawn uniformly among the others,
    // explained by the same method; SSIM (Quantus's default similarity) of the two explanations.
    const random = generator(o.seed);
    const offTargets = Int32Array.from(targets, (t) => {
      const r = Math.floor(random() * (c - 1));
      return r >= t ? r + 1 : r;
    });
    const other = toFloat32(await o.explainer!(x, offTargets), 'explainer result');
    if (other.length !== x.length) throw new RangeError(`explainer returned ${other.length} values for ${n} inputs of ${d} (expected ${x.length})`);
    const values = Float64Array.from({ length: n }, (_, i) => ssim1d(prepared(raw(i)), prepared(other.subarray(i * d, (i + 1) * d))));
    report.randomLogit = { ...summarise(values), offTargets };
  }

  if (o.metrics.has('completeness')) {
    // quantus/metrics/axiomatic/completeness.py tests Σ a == f(x) − f(baseline) (baseline: every
    // feature at the input's minimum, logits); we report the gap, on the raw attribution.
    const base = new Float64Array(n);
    runner.run(n, (k, dst) => dst.fill(blackValue(input(k))), (k, l) => { base[k] = l[targets[k]]; });
    const sums = Float64Array.from({ length: n }, (_, i) => raw(i).reduce((s, v) => s + v, 0));
    const values = Float64Array.from({ length: n }, (_, i) => Math.abs(sums[i] - (logits[i * c + targets[i]] - base[i])));
    report.completeness = summarise(values);
    if (o.pathwise) {
      const pw = o.pathwise;
      report.completeness.pathIdentity = summarise(Float64Array.from({ length: n }, (_, i) => Math.abs(sums[i] + pw.bias[i] - pw.pathLogit[i])));
    }
  }
  report.forwards = runner.forwards;
  report.batches = runner.batches;
  return report;
}
