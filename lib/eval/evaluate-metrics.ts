/**
 * The metric runner: explanation methods × any subset of the Quantus metrics (lib/eval/quality.ts)
 * and insertion/deletion (lib/eval/metrics.ts) on a dataset — pathwise over a width × depth grid per
 * semantics, the gradient baselines through `attribute`, and a random attribution. One row per
 * method configuration with mean ± standard error per metric and the wall time of each metric.
 */
import type { Model } from '../model/model.js';
import type { NetworkSpec } from '../model/layers.js';
import type { Depth, Semantics, Width } from '../explain/types.js';
import { explainBatch } from '../explain/explain.js';
import { argmaxFirst } from '../explain/argmax.js';
import { ATTRIBUTION_METHODS, attributeBatch, modelLayers } from '../baselines/attribute.js';
import type { Dataset } from '../io/datasets.js';
import { checkOptions, oneOf } from '../validate.js';
import { insertionDeletionBatch } from './metrics.js';
import { evaluateQuality, QUALITY_METRICS, HIGHER_IS_BETTER, type QualityMetric, type QualityOptions } from './quality.js';
import type { QualityExplainer } from './quality-shared.js';
import { datasetRange, type EvalMethod, type EvaluateOptions, type MeanSe } from './evaluate.js';

export type EvalMetric = QualityMetric | 'insertion' | 'deletion';
export const EVAL_METRICS: readonly EvalMetric[] = Object.freeze(['insertion', 'deletion', ...QUALITY_METRICS] as EvalMetric[]);

/** Tuning of the Quantus metrics, passed to evaluateQuality (its defaults are Quantus's). */
export type MetricSettings = Omit<QualityOptions, 'metrics' | 'targets' | 'explainer' | 'spec' | 'pathwise' | 'seed'>;

/** evaluate's options (methods, grid, semantics, threshold, offset/count, step/order, batchSize, igSteps,
 * labels) plus the metrics to run. */
export interface EvaluateMetricsOptions extends Omit<EvaluateOptions, 'onRow'> {
  metrics: EvalMetric[];
  /** The network's layer spec, for 'mprt' and 'inputInvariance'. */
  spec?: NetworkSpec;
  /** Quantus metric settings (patchSize, sensitivitySamples, …). */
  settings?: MetricSettings;
  /** Seed of every metric's draws and of the random attribution (default 42, Quantus's). */
  seed?: number;
  onRow?: (row: MetricsRow, done: number, total: number) => void;
}

export interface MetricCell extends MeanSe {
  /** Inputs with a value (NaN, e.g. a correlation with a constant side, left out). */
  count: number;
  /** Wall time of the metric divided by the number of inputs (re-explanations included). */
  msPerInput: number;
}

export interface MetricsRow {
  method: EvalMethod;
  semantics?: Semantics;
  width?: Width;
  depth?: Depth;
  count: number;
  /** Wall time of explaining the inputs once, per input. */
  msPerExplanation: number;
  metrics: Partial<Record<EvalMetric, MetricCell>>;
}

export interface MetricsReport {
  dataset: string;
  model: string;
  count: number;
  offset: number;
  accuracy?: number;
  metrics: EvalMetric[];
  seed: number;
  settings: MetricSettings;
  rows: MetricsRow[];
  totalMs: number;
}

const OPTION_NAMES = new Set(['metrics', 'methods', 'grid', 'semantics', 'threshold', 'offset', 'count', 'spec', 'settings', 'step', 'order',
  'batchSize', 'igSteps', 'seed', 'datasetName', 'modelName', 'onRow']);
const ALL_METHODS: readonly EvalMethod[] = ['pathwise', ...ATTRIBUTION_METHODS, 'random'];

/** One row of the runner: a method, and for pathwise its semantics, width and depth. */
export interface MethodConfig { method: EvalMethod; semantics?: Semantics; width?: Width; depth?: Depth }

function configs(model: Model, options: EvaluateMetricsOptions): MethodConfig[] {
  const hasMaxPool = modelLayers(model).some((l) => l.kind === 'maxpool');
  const methods = options.methods ?? ALL_METHODS.filter((m) => m !== 'guidedGradCam' || hasMaxPool);
  if (!Array.isArray(methods) || methods.length === 0) throw new TypeError('methods must be a non-empty array');
  for (const m of methods) if (!ALL_METHODS.includes(m)) throw new RangeError(`unknown method ${JSON.stringify(m)} (known: ${ALL_METHODS.join(', ')})`);
  const semantics = options.semantics === undefined ? ['official' as Semantics] : Array.isArray(options.semantics) ? options.semantics : [options.semantics];
  for (const s of semantics) oneOf(s, ['official', 'linear'], 'semantics');
  const widths = options.grid?.width ?? [1, 4, 16, 64, 'all'];
  const depths = (options.grid?.depth ?? [1, 2, 'all']).filter((d) => d === 'all' || d <= model.gateLayers.length);
  const out: MethodConfig[] = [];
  for (const method of methods) {
    if (method !== 'pathwise') { out.push({ method }); continue; }
    for (const sem of semantics) for (const depth of depths) for (const width of widths) out.push({ method, semantics: sem, width, depth });
  }
  return out;
}

/**
 * Uniform attributions in [0, 1) seeded by the seed, the input's values and the class: the same
 * input and class always get the same map (so the values do not depend on batching), another class
 * or input another one; the map never depends on the network.
 */
export function randomAttribution(input: Float32Array, target: number, seed: number): Float32Array {
  const bits = new Uint32Array(input.buffer, input.byteOffset, input.length);
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (const b of bits) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  let s = Math.imul(h ^ Math.imul(target + 1, 0x9e3779b1), 0x85ebca6b) >>> 0 || 1;
  return Float32Array.from(input, () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 2 ** 32;
  });
}

/** The method of a configuration as a quality explainer (inputs, targets, model) → attributions. */
export function methodExplainer(cfg: MethodConfig, options: { threshold?: number; igSteps?: number; seed?: number } = {}): QualityExplainer {
  return async (inputs, targets, model) => {
    const d = model.inputSize;
    const out = new Float32Array(inputs.length);
    if (cfg.method === 'pathwise') {
      const ex = await explainBatch(model, inputs, {
        width: cfg.width, depth: cfg.depth, semantics: cfg.semantics, targets,
        ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
      });
      ex.forEach((e, j) => out.set(e.attribution, j * d));
    } else if (cfg.method === 'random') {
      for (let j = 0; j < targets.length; j++) out.set(randomAttribution(inputs.subarray(j * d, (j + 1) * d), targets[j], options.seed ?? 42), j * d);
    } else {
      const rows = await attributeBatch(model, inputs, {
        method: cfg.method, targets, ...(cfg.method === 'integratedGradients' && options.igSteps ? { steps: options.igSteps } : {}),
      });
      rows.forEach((r, j) => out.set(r.attribution, j * d));
    }
    return out;
  };
}

function cell(values: Float64Array, ms: number, n: number): MetricCell {
  const kept = values.filter((v) => !Number.isNaN(v));
  const k = kept.length;
  let s = 0;
  for (const v of kept) s += v;
  const mean = k ? s / k : NaN;
  let ss = 0;
  for (const v of kept) ss += (v - mean) ** 2;
  return { mean, se: k > 1 ? Math.sqrt(ss / (k - 1) / k) : 0, count: k, msPerInput: ms / n };
}

/**
 * Runs every method configuration on the dataset's inputs [offset, offset + count) and scores it by
 * each metric asked for; the explained class is the predicted one. Every method sees the same
 * random draws (one seed), so differences between rows are paired. The Quantus metrics run in one
 * evaluateQuality call per configuration (all inputs), so the values do not depend on batchSize.
 */
export async function evaluateMetrics(model: Model, dataset: Dataset, options: EvaluateMetricsOptions): Promise<MetricsReport> {
  checkOptions(options, OPTION_NAMES);
  if (!Array.isArray(options.metrics) || options.metrics.length === 0) throw new TypeError(`metrics must be a non-empty array of ${EVAL_METRICS.join(', ')}`);
  for (const m of options.metrics) if (!EVAL_METRICS.includes(m)) throw new RangeError(`unknown metric ${JSON.stringify(m)} (known: ${EVAL_METRICS.join(', ')})`);
  const { d, offset, count, batchSize } = datasetRange(model, dataset, options);
  const seed = options.seed ?? 42;
  const settings = options.settings ?? {};
  const list = configs(model, options);
  const x = dataset.inputs.slice(offset * d, (offset + count) * d);
  const started = performance.now();

  const logits = new Float32Array(count * model.numClasses);
  for (let b = 0; b < count; b += batchSize) {
    const m = Math.min(batchSize, count - b);
    logits.set(model.forward(x.subarray(b * d, (b + m) * d)), b * model.numClasses);
  }
  const targets = Int32Array.from({ length: count }, (_, i) => argmaxFirst(logits, i * model.numClasses, model.numClasses));
  let accuracy: number | undefined;
  if (dataset.labels) accuracy = targets.reduce((t, c, i) => t + (c === dataset.labels![offset + i] ? 1 : 0), 0) / count;

  const quality = options.metrics.filter((m): m is QualityMetric => m !== 'insertion' && m !== 'deletion');
  const insDel = options.metrics.filter((m) => m === 'insertion' || m === 'deletion');
  const rows: MetricsRow[] = [];
  for (const cfg of list) {
    const explainer = methodExplainer(cfg, { threshold: options.threshold, igSteps: options.igSteps, seed });
    const a = new Float32Array(count * d);
    const t0 = performance.now();
    for (let b = 0; b < count; b += batchSize) {
      const m = Math.min(batchSize, count - b);
      a.set(await explainer(x.subarray(b * d, (b + m) * d), targets.subarray(b, b + m), model), b * d);
    }
    const row: MetricsRow = { method: cfg.method, ...(cfg.method === 'pathwise' ? { semantics: cfg.semantics, width: cfg.width, depth: cfg.depth } : {}),
      count, msPerExplanation: (performance.now() - t0) / count, metrics: {} };
    if (insDel.length) {
      const t1 = performance.now();
      const r = await insertionDeletionBatch(model, x, a, {
        targets, insertion: insDel.includes('insertion'), deletion: insDel.includes('deletion'),
        ...(options.step !== undefined ? { step: options.step } : {}), ...(options.order ? { order: options.order } : {}),
      });
      const ms = performance.now() - t1;
      if (insDel.includes('insertion')) row.metrics.insertion = cell(Float64Array.from(r.results, (q) => q.insertionAuc!), ms, count);
      if (insDel.includes('deletion')) row.metrics.deletion = cell(Float64Array.from(r.results, (q) => q.deletionAuc!), ms, count);
    }
    if (quality.length) {
      const r = await evaluateQuality(model, x, a, { ...settings, metrics: quality, targets, seed, explainer, ...(options.spec ? { spec: options.spec } : {}) });
      for (const m of quality) row.metrics[m] = cell((r[m] as { values: Float64Array }).values, r.ms[m] ?? 0, count);
    }
    rows.push(row);
    options.onRow?.(row, rows.length, list.length);
  }
  return {
    dataset: options.datasetName ?? dataset.name, model: options.modelName ?? 'model', count, offset,
    ...(accuracy !== undefined ? { accuracy } : {}), metrics: [...options.metrics], seed, settings, rows, totalMs: performance.now() - started,
  };
}

export const METRIC_LABEL: Readonly<Record<EvalMetric, string>> = Object.freeze({
  insertion: 'insertion AUC', deletion: 'deletion AUC', sparseness: 'sparseness', complexity: 'complexity',
  pixelFlipping: 'pixel flipping', faithfulnessCorrelation: 'faithfulness corr.', regionPerturbationMorf: 'region pert. MoRF',
  regionPerturbationLerf: 'region pert. LeRF', monotonicityCorrelation: 'monotonicity corr.', maxSensitivity: 'max-sensitivity',
  avgSensitivity: 'avg-sensitivity', localLipschitzEstimate: 'local Lipschitz', randomLogit: 'random logit', mprt: 'MPRT (Spearman)',
  completeness: 'completeness gap', inputInvariance: 'input invariance',
});

/** Whether a higher value of the metric is better. */
export function higherIsBetter(m: EvalMetric): boolean {
  return m === 'insertion' ? true : m === 'deletion' ? false : HIGHER_IS_BETTER[m];
}

const METHOD_LABEL: Record<EvalMethod, string> = {
  pathwise: 'pathwise', saliency: 'saliency', inputXGradient: 'input × gradient', integratedGradients: 'integrated gradients',
  guidedBackprop: 'guided backprop', guidedGradCam: 'guided Grad-CAM', random: 'random',
};

export function rowLabel(r: MetricsRow): string {
  return r.method === 'pathwise' ? `pathwise ${r.semantics} d=${r.depth} w=${r.width}` : METHOD_LABEL[r.method];
}

function digits(v: number, se: number): string {
  if (!Number.isFinite(v)) return String(v);
  const scale = Math.max(Math.abs(v), se);
  const places = scale >= 100 ? 1 : scale >= 10 ? 2 : 3;
  return `${v.toFixed(places)} ± ${se.toFixed(places)}`;
}

function ms(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
}

/**
 * Markdown of a report: one table of mean ± standard error per method configuration × metric (↑/↓
 * marks the better direction; the best row of each column in bold), then one of ms per input.
 */
export function formatMetricsTable(report: MetricsReport): string {
  const ms0 = report.metrics;
  const best = new Map<EvalMetric, number>();
  for (const m of ms0) {
    const sign = higherIsBetter(m) ? 1 : -1;
    let top = -Infinity;
    for (const r of report.rows) { const v = r.metrics[m]?.mean; if (v !== undefined && Number.isFinite(v)) top = Math.max(top, sign * v); }
    best.set(m, sign * top);
  }
  const head = `| method | ${ms0.map((m) => `${METRIC_LABEL[m]} ${higherIsBetter(m) ? '↑' : '↓'}`).join(' | ')} |`;
  const rule = `| --- | ${ms0.map(() => '---').join(' | ')} |`;
  const values = report.rows.map((r) => `| ${rowLabel(r)} | ${ms0.map((m) => {
    const c = r.metrics[m];
    if (!c) return '';
    const text = digits(c.mean, c.se) + (c.count < r.count ? ` (n=${c.count})` : '');
    return c.mean === best.get(m) ? `**${text}**` : text;
  }).join(' | ')} |`);
  const costHead = `| method | explanation | ${ms0.map((m) => METRIC_LABEL[m]).join(' | ')} |`;
  const costRule = `| --- | --- | ${ms0.map(() => '---').join(' | ')} |`;
  const cost = report.rows.map((r) => `| ${rowLabel(r)} | ${ms(r.msPerExplanation)} | ${ms0.map((m) => (r.metrics[m] ? ms(r.metrics[m]!.msPerInput) : '')).join(' | ')} |`);
  return [head, rule, ...values, '', 'Wall time, ms per input:', '', costHead, costRule, ...cost].join('\n');
}
