/**
 * The evaluation runner (docs/method.md §12): explanation methods × insertion/deletion AUC on a dataset, in
 * the paper's table form — pathwise over a width × depth grid (per semantics), the gradient
 * baselines, and a random attribution.
 */
import type { Model } from '../model/model.js';
import type { Depth, Semantics, Width } from '../explain/types.js';
import { explainBatch } from '../explain/explain.js';
import { ATTRIBUTION_METHODS, attributeBatch, modelLayers, type AttributionMethod } from '../baselines/attribute.js';
import { insertionDeletionBatch, type TieOrder } from './metrics.js';
import type { Dataset } from '../io/datasets.js';
import { checkOptions, oneOf, positiveInteger } from '../validate.js';

export type EvalMethod = 'pathwise' | AttributionMethod | 'random';

export interface EvaluateOptions {
  /** Default: pathwise, every baseline that applies (guidedGradCam needs a MaxPool), random. */
  methods?: EvalMethod[];
  /** pathwise grid; default width [1, 4, 16, 64, 'all'] × depth [1, 2, 'all'] (depths above the model's ReLU count are skipped). */
  grid?: { width?: Width[]; depth?: Depth[] };
  /** pathwise semantics, one or several (default 'official'). */
  semantics?: Semantics | Semantics[];
  /** pathwise score threshold (default the reference's 1/C). */
  threshold?: number;
  /** Examples of the dataset to use: [offset, offset + count) (default all). */
  offset?: number;
  count?: number;
  /** Insertion/deletion step (default the image width) and tie order (default 'stable'). */
  step?: number;
  order?: TieOrder;
  /** Inputs per engine call (default 100). */
  batchSize?: number;
  /** integratedGradients points (default 50, Gauss–Legendre). */
  igSteps?: number;
  /** Seed of the random attribution (default 0). */
  seed?: number;
  /** Labels for the report. */
  datasetName?: string;
  modelName?: string;
  /** Called after each table row. */
  onRow?: (row: EvaluationRow, done: number, total: number) => void;
}

export interface MeanSe {
  mean: number;
  /** Standard error of the mean: sample standard deviation / √count. */
  se: number;
}

export interface EvaluationRow {
  method: EvalMethod;
  /** pathwise only. */
  semantics?: Semantics;
  width?: Width;
  depth?: Depth;
  count: number;
  insertion: MeanSe;
  deletion: MeanSe;
  /**
   * pathwise: mean number of selected units per ReLU layer, bottom → top (null: not a path layer
   * at this depth).
   */
  meanUnits?: (number | null)[];
  /** Wall time of the explanations (batched engine calls) divided by the number of inputs. */
  msPerExplanation: number;
  /** Wall time of insertion + deletion (both curves) per input. */
  msPerInsDel: number;
}

export interface EvaluationReport {
  dataset: string;
  model: string;
  count: number;
  offset: number;
  step: number;
  steps: number;
  order: TieOrder;
  /** Fraction of the inputs the model classifies correctly (when the dataset has labels). */
  accuracy?: number;
  rows: EvaluationRow[];
  totalMs: number;
}

interface Config {
  method: EvalMethod;
  semantics?: Semantics;
  width?: Width;
  depth?: Depth;
}

const ALL_METHODS: readonly EvalMethod[] = ['pathwise', ...ATTRIBUTION_METHODS, 'random'];
const OPTION_NAMES = new Set(['methods', 'grid', 'semantics', 'threshold', 'offset', 'count', 'step', 'order', 'batchSize', 'igSteps', 'seed', 'datasetName', 'modelName', 'onRow']);

function meanSe(values: Float64Array): MeanSe {
  const n = values.length;
  let s = 0;
  for (const v of values) s += v;
  const mean = s / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) ** 2;
  return { mean, se: n > 1 ? Math.sqrt(ss / (n - 1) / n) : 0 };
}

/** Uniform random attributions in [0, 1), reproducible from the seed (xorshift32 per input). */
function randomAttributions(count: number, d: number, seed: number, first: number): Float32Array {
  const out = new Float32Array(count * d);
  for (let e = 0; e < count; e++) {
    let s = (Math.imul(seed + 1, 0x9e3779b1) ^ Math.imul(first + e + 1, 0x85ebca6b)) >>> 0 || 1;
    for (let i = 0; i < d; i++) {
      s ^= s << 13; s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5; s >>>= 0;
      out[e * d + i] = s / 2 ** 32;
    }
  }
  return out;
}

function configs(model: Model, options: EvaluateOptions): Config[] {
  const hasMaxPool = modelLayers(model).some((l) => l.kind === 'maxpool');
  const methods = options.methods ?? ALL_METHODS.filter((m) => m !== 'guidedGradCam' || hasMaxPool);
  if (!Array.isArray(methods) || methods.length === 0) throw new TypeError('methods must be a non-empty array');
  for (const m of methods)
    if (!ALL_METHODS.includes(m)) throw new RangeError(`unknown method ${JSON.stringify(m)} (known: ${ALL_METHODS.join(', ')})`);
  const semantics = options.semantics === undefined ? ['official' as Semantics] : Array.isArray(options.semantics) ? options.semantics : [options.semantics];
  for (const s of semantics) oneOf(s, ['official', 'linear'], 'semantics');
  const relus = model.gateLayers.length;
  const widths = options.grid?.width ?? [1, 4, 16, 64, 'all'];
  const depths = (options.grid?.depth ?? [1, 2, 'all']).filter((d) => d === 'all' || d <= relus);
  const out: Config[] = [];
  for (const method of methods) {
    if (method !== 'pathwise') {
      out.push({ method });
      continue;
    }
    for (const sem of semantics)
      for (const depth of depths)
        for (const width of widths) out.push({ method, semantics: sem, width, depth });
  }
  return out;
}

/**
 * The checked slice of the dataset both runners read (evaluate, evaluateMetrics): values per input,
 * [offset, offset + count), and the inputs per engine call (default 100).
 */
export function datasetRange(model: Model, dataset: Dataset, options: Pick<EvaluateOptions, 'offset' | 'count' | 'batchSize'>):
  { d: number; offset: number; count: number; batchSize: number } {
  const d = model.inputSize;
  if (!dataset || !(dataset.inputs instanceof Float32Array)) throw new TypeError('dataset.inputs must be a Float32Array');
  if (dataset.inputs.length !== dataset.count * d)
    throw new RangeError(`dataset holds ${dataset.inputs.length} values for ${dataset.count} inputs; the model takes ${d} per input`);
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0 || offset >= dataset.count) throw new RangeError(`offset must be in [0, ${dataset.count})`);
  const count = options.count === undefined ? dataset.count - offset : positiveInteger(options.count, 'count');
  if (offset + count > dataset.count) throw new RangeError(`count ${count} from offset ${offset} exceeds the dataset's ${dataset.count} inputs`);
  const batchSize = options.batchSize === undefined ? 100 : positiveInteger(options.batchSize, 'batchSize');
  return { d, offset, count, batchSize };
}

/**
 * Runs every method on the dataset's inputs [offset, offset + count), scores each attribution by
 * insertion and deletion (docs/method.md §10; target = the predicted class, as the Reference's protocol) and
 * returns one row per method configuration. Explanations and metrics run as batched engine calls
 * of `batchSize` inputs, one call at a time (timings are single-threaded wall times).
 */
export async function evaluate(model: Model, dataset: Dataset, options: EvaluateOptions = {}): Promise<EvaluationReport> {
  checkOptions(options, OPTION_NAMES);
  const { d, offset, count, batchSize } = datasetRange(model, dataset, options);
  const order = options.order ?? 'stable';
  const seed = options.seed ?? 0;
  const list = configs(model, options);
  const inputs = dataset.inputs.subarray(offset * d, (offset + count) * d);
  const started = performance.now();

  // Accuracy, and the shape of the curves (from a one-image probe).
  let accuracy: number | undefined;
  if (dataset.labels) {
    let correct = 0;
    for (let b = 0; b < count; b += batchSize) {
      const m = Math.min(batchSize, count - b);
      const logits = model.forward(inputs.subarray(b * d, (b + m) * d));
      for (let e = 0; e < m; e++) {
        let best = 0;
        for (let c = 1; c < model.numClasses; c++) if (logits[e * model.numClasses + c] > logits[e * model.numClasses + best]) best = c;
        if (best === dataset.labels[offset + b + e]) correct++;
      }
    }
    accuracy = correct / count;
  }

  const rows: EvaluationRow[] = [];
  let steps = 0, step = 0;
  for (const cfg of list) {
    const ins = new Float64Array(count), del = new Float64Array(count);
    const units = cfg.method === 'pathwise' ? new Float64Array(model.gateLayers.length) : undefined;
    const inPath = cfg.method === 'pathwise' ? new Array<boolean>(model.gateLayers.length).fill(false) : undefined;
    let explainMs = 0, metricMs = 0;
    for (let b = 0; b < count; b += batchSize) {
      const m = Math.min(batchSize, count - b);
      const x = inputs.subarray(b * d, (b + m) * d);
      let attr: Float32Array;
      const t0 = performance.now();
      if (cfg.method === 'pathwise') {
        const ex = await explainBatch(model, x, {
          width: cfg.width, depth: cfg.depth, semantics: cfg.semantics,
          ...(options.threshold !== undefined ? { threshold: options.threshold } : {}),
        });
        explainMs += performance.now() - t0;
        attr = new Float32Array(m * d);
        ex.forEach((e, j) => {
          attr.set(e.attribution, j * d);
          for (const l of e.layers) {
            units![l.ordinal] += l.units.length;
            inPath![l.ordinal] = true;
          }
        });
      } else if (cfg.method === 'random') {
        attr = randomAttributions(m, d, seed, offset + b);
        explainMs += performance.now() - t0;
      } else {
        const out = await attributeBatch(model, x, { method: cfg.method, ...(cfg.method === 'integratedGradients' && options.igSteps ? { steps: options.igSteps } : {}) });
        explainMs += performance.now() - t0;
        attr = new Float32Array(m * d);
        out.forEach((a, j) => attr.set(a.attribution, j * d));
      }
      const t1 = performance.now();
      const r = await insertionDeletionBatch(model, x, attr, { order, ...(options.step !== undefined ? { step: options.step } : {}) });
      metricMs += performance.now() - t1;
      steps = r.steps;
      step = r.step;
      r.results.forEach((res, j) => {
        ins[b + j] = res.insertionAuc!;
        del[b + j] = res.deletionAuc!;
      });
    }
    const row: EvaluationRow = {
      method: cfg.method, count, insertion: meanSe(ins), deletion: meanSe(del),
      msPerExplanation: explainMs / count, msPerInsDel: metricMs / count,
    };
    if (cfg.method === 'pathwise') {
      row.semantics = cfg.semantics;
      row.width = cfg.width;
      row.depth = cfg.depth;
      row.meanUnits = Array.from(units!, (u, l) => (inPath![l] ? u / count : null));
    }
    rows.push(row);
    options.onRow?.(row, rows.length, list.length);
  }
  return {
    dataset: options.datasetName ?? dataset.name, model: options.modelName ?? 'model', count, offset, step, steps, order,
    ...(accuracy !== undefined ? { accuracy } : {}),
    rows, totalMs: performance.now() - started,
  };
}

function fmt(v: number, digits = 3): string {
  return v.toFixed(digits);
}

function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

const METHOD_LABEL: Record<EvalMethod, string> = {
  pathwise: 'pathwise', saliency: 'saliency', inputXGradient: 'input × gradient', integratedGradients: 'integrated gradients',
  guidedBackprop: 'guided backprop', guidedGradCam: 'guided Grad-CAM', random: 'random',
};

/**
 * The docs/method.md §12.2 table (Markdown) of one or several reports: dataset, model, method, semantics,
 * depth, width, insertion AUC ↑ and deletion AUC ↓ as mean ± standard error, mean |S_l| per layer
 * (bottom → top, '–' for layers outside the path), ms per explanation.
 */
export function formatTable(reports: EvaluationReport | EvaluationReport[]): string {
  const list = Array.isArray(reports) ? reports : [reports];
  const lines = [
    '| dataset | model | method | semantics | depth | width | Ins AUC ↑ | Del AUC ↓ | mean \\|S_l\\| per layer | ms / explanation |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const rep of list)
    for (const r of rep.rows) {
      const units = r.meanUnits ? r.meanUnits.map((u) => (u === null ? '–' : u >= 100 ? u.toFixed(0) : u.toFixed(1))).join(' / ') : '';
      lines.push(`| ${rep.dataset} | ${rep.model} | ${METHOD_LABEL[r.method]} | ${r.semantics ?? ''} | ${r.depth ?? ''} | ${r.width ?? ''} | ` +
        `${fmt(r.insertion.mean)} ± ${fmt(r.insertion.se)} | ${fmt(r.deletion.mean)} ± ${fmt(r.deletion.se)} | ${units} | ${fmtMs(r.msPerExplanation)} |`);
    }
  return lines.join('\n');
}
