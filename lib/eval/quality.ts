/**
 * Explanation quality metrics after Quantus (https://github.com/understandable-machine-intelligence-lab/Quantus),
 * for any attribution: evaluateQuality runs a chosen subset over a batch of inputs and their attributions.
 * Every perturbed input goes through the network in batched forward calls (many states per call), and
 * every random choice comes from one seeded generator per metric, so a metric's values do not depend
 * on which other metrics run (max- and avg-sensitivity share one pass: the same noise). This file holds
 * the options, the dispatch and the complexity, pixel-flipping, faithfulness-correlation, random-logit and
 * completeness metrics; quality-faithfulness.ts (region perturbation, monotonicity correlation),
 * quality-robustness.ts (sensitivities, local Lipschitz) and quality-model.ts (MPRT, input invariance)
 * the rest, quality-shared.ts what they share. docs/quality.md lists each metric's Quantus file and
 * where we differ.
 */
import { argmaxFirst } from '../explain/argmax.js';
import type { Model } from '../model/model.js';
import type { NetworkSpec } from '../model/layers.js';
import { badValue, checkOptions, checkTargets, isObject, positiveInteger, toFloat32, wrongType, boolean } from '../validate.js';
import {
  blackValue, generator, normaliseByMax, pearson, softmaxAt, ssim1d, StateRunner, summarise,
  type QualityExplainer, type QualityModel, type QualityValues,
} from './quality-shared.js';
import { monotonicityCorrelation, regionPerturbation } from './quality-faithfulness.js';
import { localLipschitz, sensitivity } from './quality-robustness.js';
import { inputInvariance, mprt, type MprtLayer } from './quality-model.js';

export { pearson, spearman, ssim1d } from './quality-shared.js';
export type { QualityExplainer, QualityModel, QualityValues } from './quality-shared.js';
export type { MprtLayer } from './quality-model.js';

export type QualityMetric =
  | 'sparseness' | 'complexity'
  | 'pixelFlipping' | 'faithfulnessCorrelation' | 'regionPerturbationMorf' | 'regionPerturbationLerf' | 'monotonicityCorrelation'
  | 'maxSensitivity' | 'avgSensitivity' | 'localLipschitzEstimate'
  | 'randomLogit' | 'mprt'
  | 'completeness' | 'inputInvariance';

export const QUALITY_METRICS: readonly QualityMetric[] = Object.freeze([
  'sparseness', 'complexity',
  'pixelFlipping', 'faithfulnessCorrelation', 'regionPerturbationMorf', 'regionPerturbationLerf', 'monotonicityCorrelation',
  'maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate',
  'randomLogit', 'mprt',
  'completeness', 'inputInvariance',
] as QualityMetric[]);

/** Metrics that re-explain inputs through the explainer option. */
export const EXPLAINER_METRICS: readonly QualityMetric[] = Object.freeze([
  'maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate', 'randomLogit', 'mprt', 'inputInvariance',
] as QualityMetric[]);

/** Whether a higher value is better, per metric (as Quantus's docs state them). */
export const HIGHER_IS_BETTER: Readonly<Record<QualityMetric, boolean>> = Object.freeze({
  sparseness: true, complexity: false, pixelFlipping: false, faithfulnessCorrelation: true,
  regionPerturbationMorf: true, regionPerturbationLerf: false, monotonicityCorrelation: true,
  maxSensitivity: false, avgSensitivity: false, localLipschitzEstimate: false,
  randomLogit: false, mprt: false, completeness: false, inputInvariance: true,
});

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
  /**
   * The method as a function (inputs, targets, model) → attributions, for the metrics that explain
   * again (EXPLAINER_METRICS): other classes (randomLogit), noisy inputs (sensitivity, Lipschitz),
   * randomised networks (mprt), shifted inputs on a shifted network (inputInvariance).
   */
  explainer?: QualityExplainer;
  /** The network's layer spec (required by 'mprt' and 'inputInvariance', which build changed copies). */
  spec?: NetworkSpec;
  /** Region perturbation: patch side (Quantus patch_size, default 8; p × p over H × W on [C, H, W] inputs). */
  patchSize?: number;
  /** Region perturbation: patches perturbed (Quantus regions_evaluation, default 100). */
  regions?: number;
  /** Monotonicity correlation: draws per step (Quantus nr_samples, default 100). */
  monotonicitySamples?: number;
  /** Monotonicity correlation: features per step (Quantus features_in_step; default featuresInStep). */
  monotonicityFeaturesInStep?: number;
  /** Max/avg sensitivity and local Lipschitz: noisy copies per input (Quantus nr_samples, default 200). */
  sensitivitySamples?: number;
  /** Max/avg sensitivity: uniform noise radius (Quantus lower_bound, default 0.2). */
  noiseRadius?: number;
  /** Local Lipschitz estimate: Gaussian noise standard deviation (Quantus perturb_std, default 0.1). */
  lipschitzStd?: number;
  /** Input invariance: the constant added to every feature (Quantus input_shift, default −1). */
  inputShift?: number;
  /** Inputs per explainer call (default 256). */
  explainBatchSize?: number;
  /** Completeness: pathwise's bias and pathLogit per input, to report Σ attribution + bias − pathLogit as well. */
  pathwise?: { bias: ArrayLike<number>; pathLogit: ArrayLike<number> };
  /** Perturbed inputs per forward call (default: 64 MiB of float32 inputs, at most 4096). */
  batchSize?: number;
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
  /** values: area under the curve of probability drops, patches most relevant first; higher is better. */
  regionPerturbationMorf?: QualityValues & { curves: Float64Array[] };
  /** Same, least relevant first; lower is better. */
  regionPerturbationLerf?: QualityValues & { curves: Float64Array[] };
  monotonicityCorrelation?: QualityValues;
  maxSensitivity?: QualityValues;
  avgSensitivity?: QualityValues;
  localLipschitzEstimate?: QualityValues;
  /** values: Spearman averaged over the randomisation steps; ssim likewise; layers: each step (top layer first). */
  mprt?: QualityValues & { ssim: QualityValues; layers: MprtLayer[] };
  /** values: 1 when the shifted explanation matches within NumPy's isclose(atol = 1e-4), else 0. */
  inputInvariance?: QualityValues & { maxDifference: QualityValues };
  /** Perturbed inputs run through the network and forward calls made. */
  forwards: number;
  batches: number;
  /** Inputs explained again through the explainer, and explainer calls made. */
  explained: number;
  explainerCalls: number;
  /** Wall time of each metric asked for, in ms (the shared f(x) forward not included). */
  ms: Partial<Record<QualityMetric, number>>;
}

const OPTIONS = new Set(['metrics', 'targets', 'seed', 'normalise', 'featuresInStep', 'subsetSize', 'runs', 'explainer', 'pathwise', 'batchSize',
  'spec', 'patchSize', 'regions', 'monotonicitySamples', 'monotonicityFeaturesInStep', 'sensitivitySamples', 'noiseRadius', 'lipschitzStd',
  'inputShift', 'explainBatchSize']);

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
  spec?: NetworkSpec;
  patchSize: number;
  regions: number;
  monotonicitySamples: number;
  monotonicityFeaturesInStep: number;
  sensitivitySamples: number;
  noiseRadius: number;
  lipschitzStd: number;
  inputShift: number;
  explainBatchSize: number;
}

function positiveNumber(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw wrongType(what, 'a number', v);
  if (!Number.isFinite(v) || v <= 0) throw badValue(what, 'a finite number > 0', v);
  return v;
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
  if (o.explainer !== undefined && typeof o.explainer !== 'function') throw wrongType('explainer', 'a function (inputs, targets, model) => attributions', o.explainer);
  for (const m of EXPLAINER_METRICS)
    if (metrics.has(m) && o.explainer === undefined) throw new TypeError(`metric '${m}' needs the explainer option: (inputs, targets, model) => attributions`);
  for (const m of ['mprt', 'inputInvariance'] as const)
    if (metrics.has(m) && (!isObject(o.spec) || !Array.isArray((o.spec as NetworkSpec).layers) || !Array.isArray((o.spec as NetworkSpec).inputShape)))
      throw new TypeError(`metric '${m}' needs the spec option: the network's { inputShape, layers } (parseOnnx returns it for an .onnx file)`);
  if (o.inputShift !== undefined && (typeof o.inputShift !== 'number' || !Number.isFinite(o.inputShift)))
    throw wrongType('inputShift', 'a finite number', o.inputShift);
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
    spec: o.spec,
    patchSize: o.patchSize === undefined ? 8 : positiveInteger(o.patchSize, 'patchSize'),
    regions: o.regions === undefined ? 100 : positiveInteger(o.regions, 'regions'),
    monotonicitySamples: o.monotonicitySamples === undefined ? 100 : positiveInteger(o.monotonicitySamples, 'monotonicitySamples'),
    monotonicityFeaturesInStep: o.monotonicityFeaturesInStep === undefined
      ? (o.featuresInStep === undefined ? 1 : positiveInteger(o.featuresInStep, 'featuresInStep', model.inputSize))
      : positiveInteger(o.monotonicityFeaturesInStep, 'monotonicityFeaturesInStep', model.inputSize),
    sensitivitySamples: o.sensitivitySamples === undefined ? 200 : positiveInteger(o.sensitivitySamples, 'sensitivitySamples'),
    noiseRadius: positiveNumber(o.noiseRadius, 'noiseRadius', 0.2),
    lipschitzStd: positiveNumber(o.lipschitzStd, 'lipschitzStd', 0.1),
    inputShift: o.inputShift ?? -1,
    explainBatchSize: o.explainBatchSize === undefined ? 256 : positiveInteger(o.explainBatchSize, 'explainBatchSize'),
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
  const explainRunner = new StateRunner(model, o.explainBatchSize);
  // f(x) for every input: the targets' default and the reference of faithfulness correlation and completeness.
  const logits = new Float32Array(n * c);
  runner.run(n, (k, dst) => dst.set(input(k)), (k, l) => logits.set(l, k * c));
  const targets = o.targets ?? Int32Array.from({ length: n }, (_, i) => argmaxFirst(logits, i * c, c));
  const report: QualityReport = { targets, forwards: 0, batches: 0, explained: 0, explainerCalls: 0, ms: {} };
  const probabilities = Float64Array.from({ length: n }, (_, i) => softmaxAt(logits.subarray(i * c, (i + 1) * c), targets[i]));
  const timed = async (metric: QualityMetric, run: () => void | Promise<void>) => {
    if (!o.metrics.has(metric)) return;
    const t0 = performance.now();
    await run();
    report.ms[metric] = (report.ms[metric] ?? 0) + performance.now() - t0;
  };

  await timed('sparseness', () => { report.sparseness = summarise(Float64Array.from({ length: n }, (_, i) => sparseness(prepared(raw(i))))); });
  await timed('complexity', () => { report.complexity = summarise(Float64Array.from({ length: n }, (_, i) => complexity(prepared(raw(i))))); });

  await timed('pixelFlipping', async () => {
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
  });

  await timed('faithfulnessCorrelation', async () => {
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
  });

  await timed('randomLogit', async () => {
    // quantus/metrics/randomisation/random_logit.py: a class drawn uniformly among the others,
    // explained by the same method; SSIM (Quantus's default similarity) of the two explanations.
    const random = generator(o.seed);
    const offTargets = Int32Array.from(targets, (t) => {
      const r = Math.floor(random() * (c - 1));
      return r >= t ? r + 1 : r;
    });
    const values = new Float64Array(n);
    await explainRunner.explain(n, o.explainer!, model as Model, (k) => offTargets[k], (k, dst) => dst.set(input(k)), (k, other) => {
      values[k] = ssim1d(prepared(raw(k)), prepared(other));
    });
    report.randomLogit = { ...summarise(values), offTargets };
  });

  await timed('completeness', async () => {
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
  });

  for (const order of ['morf', 'lerf'] as const) {
    const metric = order === 'morf' ? 'regionPerturbationMorf' : 'regionPerturbationLerf';
    await timed(metric, () => {
      const r = regionPerturbation(runner, model.inputShape, x, a, probabilities, targets, { order, patchSize: o.patchSize, regions: o.regions, normalise: o.normalise });
      report[metric] = { ...summarise(r.values), curves: r.curves };
    });
  }
  await timed('monotonicityCorrelation', () => {
    report.monotonicityCorrelation = summarise(monotonicityCorrelation(runner, x, a, probabilities, targets, {
      samples: o.monotonicitySamples, featuresInStep: o.monotonicityFeaturesInStep, eps: 1e-5, seed: o.seed,
    }));
  });
  if (o.metrics.has('maxSensitivity') || o.metrics.has('avgSensitivity')) {
    // One pass serves both (the same noise); its time is charged to each of them.
    const t0 = performance.now();
    const r = await sensitivity(explainRunner, o.explainer!, model as Model, x, a, targets, { samples: o.sensitivitySamples, radius: o.noiseRadius, seed: o.seed });
    const ms = performance.now() - t0;
    if (o.metrics.has('maxSensitivity')) { report.maxSensitivity = summarise(r.max); report.ms.maxSensitivity = ms; }
    if (o.metrics.has('avgSensitivity')) { report.avgSensitivity = summarise(r.avg); report.ms.avgSensitivity = ms; }
  }
  await timed('localLipschitzEstimate', async () => {
    report.localLipschitzEstimate = summarise(await localLipschitz(explainRunner, o.explainer!, model as Model, x, a, targets, {
      samples: o.sensitivitySamples, std: o.lipschitzStd, normalise: o.normalise, seed: o.seed,
    }));
  });
  await timed('mprt', async () => {
    const r = await mprt(explainRunner, o.explainer!, o.spec!, x, a, targets, { seed: o.seed, normalise: o.normalise, abs: true });
    report.mprt = { ...summarise(r.spearman), ssim: summarise(r.ssim), layers: r.layers };
  });
  await timed('inputInvariance', async () => {
    const r = await inputInvariance(explainRunner, o.explainer!, o.spec!, x, a, targets, o.inputShift);
    report.inputInvariance = { ...summarise(r.values), maxDifference: summarise(r.maxDifference) };
  });

  report.forwards = runner.forwards;
  report.batches = runner.batches;
  report.explained = explainRunner.explained;
  report.explainerCalls = explainRunner.explainerCalls;
  return report;
}
