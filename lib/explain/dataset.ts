/**
 * Explanations over a dataset, and what the paths look like in aggregate:
 *
 * - explainDataset streams explanations for an array or (async) iterable of inputs, a batch at a
 *   time (bounded memory: at most `batchSize` inputs and results are held), with progress events;
 * - pathStatistics / PathStatisticsBuilder summarise them per class and per path layer: how often
 *   each unit is selected, the mean path size, the mean attribution mass;
 * - comparePaths compares two summaries (two checkpoints of a model, two data slices): per class
 *   and layer, the Jaccard overlap of the units on the path and the units that entered or left;
 *   summaries of different architectures are refused;
 * - pathStatisticsToJSON / pathStatisticsFromJSON store a summary and read it back;
 * - pathwiseCallback records path statistics of a probe set during a tfjs `fit`, every few epochs.
 */
import { argmaxFirst } from './argmax.js';
import { loadModelSync, type Model, type TfjsLayersModelLike } from '../model/model.js';
import type { Explanation, ExplainBatchOptions } from './types.js';
import { tfjsLayersModelToSpec } from '../tfjs/index.js';
import { explainBatch } from './explain.js';
import { describe, isObject, oneOf, positiveInteger, toFloat32, wrongType } from '../validate.js';

/** One dataset item: an input (flat, NCHW), optionally with its label and the class to explain. */
export type DatasetItem =
  | Float32Array
  | ArrayLike<number>
  | { input: Float32Array | ArrayLike<number>; label?: number; target?: number };

/**
 * A whole dataset in one object, as loadFashionMnist, loadNpyDataset and loadSamples return it:
 * `inputs` holds the inputs back to back (count × input size values), `labels` one per input.
 */
export interface DatasetLike {
  inputs: Float32Array | ArrayLike<number>;
  count?: number;
  labels?: ArrayLike<number>;
}

export interface DatasetResult {
  /** Position of the item in the input sequence. */
  index: number;
  label?: number;
  explanation: Explanation;
}

export interface DatasetProgress {
  done: number;
  /** Known for arrays, or when `total` is given. */
  total?: number;
  elapsedMs: number;
  itemsPerSecond: number;
  /** Estimated milliseconds left (when the total is known). */
  etaMs?: number;
}

export interface ExplainDatasetOptions extends Omit<ExplainBatchOptions, 'targets' | 'onProgress' | 'signal'> {
  /**
   * The class to explain for every item (an item's own `target` wins), or 'label' for each item's
   * label; default the predicted class.
   */
  target?: number | 'label';
  /** Inputs per engine call (default 32). Memory holds at most this many inputs and results. */
  batchSize?: number;
  /** Number of items, for progress when the inputs are an iterable of unknown length. */
  total?: number;
  /** Called after every batch. */
  onProgress?: (progress: DatasetProgress) => void;
  /** Stops the stream: the batch in flight is cancelled at its next layer step and the generator throws the signal's reason. */
  signal?: AbortSignal;
}

function itemParts(item: DatasetItem, index: number): { input: Float32Array; label?: number; target?: number } {
  if (item !== null && typeof item === 'object' && !ArrayBuffer.isView(item) && !Array.isArray(item) && 'input' in item) {
    const { input, label, target } = item as { input: unknown; label?: number; target?: number };
    return { input: toFloat32(input, `inputs[${index}].input`), label, target };
  }
  return { input: toFloat32(item, `inputs[${index}]`) };
}

/**
 * Explains every item of a dataset, yielding `{ index, label, explanation }` in input order. Items
 * are read lazily, `batchSize` at a time, so an async iterable (a file reader, a data pipeline) is
 * consumed no faster than the results are.
 */
export async function* explainDataset(
  model: Model,
  inputs: Iterable<DatasetItem> | AsyncIterable<DatasetItem> | DatasetLike,
  options: ExplainDatasetOptions = {},
): AsyncGenerator<DatasetResult, void, undefined> {
  if (!isObject(options)) throw wrongType('options', 'an object', options);
  const { batchSize = 32, total: givenTotal, onProgress, signal, target, ...explainOptions } = options;
  positiveInteger(batchSize, 'batchSize');
  let totalOption = givenTotal;
  if (isDatasetLike(inputs)) {
    const items = datasetItems(inputs, model.inputSize);
    totalOption ??= items.length;
    inputs = items;
  }
  if (inputs === null || typeof inputs !== 'object' || (!(Symbol.iterator in inputs) && !(Symbol.asyncIterator in inputs)))
    throw wrongType('inputs', 'an array, an (async) iterable of inputs or a dataset { inputs, labels? }', inputs);
  const total = totalOption ?? (Array.isArray(inputs) ? inputs.length : undefined);
  const size = model.inputSize;
  const start = performance.now();
  let done = 0;
  const buffer = new Float32Array(batchSize * size);
  let pending: { index: number; label?: number; target?: number }[] = [];

  const flush = async (): Promise<DatasetResult[]> => {
    if (pending.length === 0) return [];
    signal?.throwIfAborted();
    const n = pending.length;
    const targets = pending.map((p) => p.target ?? (target === 'label' ? undefined : target));
    const batchOptions: ExplainBatchOptions = { ...explainOptions, signal };
    if (targets.some((t) => t !== undefined)) {
      // Items without a target explain their predicted class: one pass finds it.
      const logits = targets.every((t) => t !== undefined) ? undefined : model.forward(buffer.subarray(0, n * size));
      batchOptions.targets = targets.map((t, i) => t ?? argmaxFirst(logits!, i * model.numClasses, model.numClasses));
    }
    const explanations = await explainBatch(model, buffer.subarray(0, n * size), batchOptions);
    const out = explanations.map((explanation, i) => ({ index: pending[i].index, label: pending[i].label, explanation }));
    done += n;
    pending = [];
    if (onProgress) {
      const elapsedMs = performance.now() - start;
      const itemsPerSecond = done / Math.max(elapsedMs / 1000, 1e-9);
      onProgress({ done, total, elapsedMs, itemsPerSecond, etaMs: total !== undefined ? (Math.max(0, total - done) / itemsPerSecond) * 1000 : undefined });
    }
    return out;
  };

  let index = 0;
  for await (const item of inputs as AsyncIterable<DatasetItem>) {
    const { input, label, target: given } = itemParts(item, index);
    let own = given;
    if (own === undefined && target === 'label') {
      if (label === undefined) throw new RangeError(`target 'label' needs a label on every item; inputs[${index}] has none`);
      own = label;
    }
    if (input.length !== size)
      throw new RangeError(`inputs[${index}] has ${input.length} values, expected ${size} (shape [${model.inputShape.join(', ')}])`);
    buffer.set(input, pending.length * size);
    pending.push({ index, label, target: own });
    index++;
    if (pending.length === batchSize) yield* await flush();
  }
  yield* await flush();
}

function isDatasetLike(value: unknown): value is DatasetLike {
  return value !== null && typeof value === 'object' && !(Symbol.iterator in value) && !(Symbol.asyncIterator in value) && 'inputs' in value;
}

/** A dataset object as items: views of its inputs, with their labels. */
function datasetItems(d: DatasetLike, size: number): { input: Float32Array | ArrayLike<number>; label?: number }[] {
  const values = d.inputs;
  if (values === null || typeof values !== 'object' || typeof values.length !== 'number')
    throw wrongType('inputs.inputs', 'a Float32Array or an array of numbers (count × input size values)', values);
  if (values.length % size !== 0)
    throw new RangeError(`the dataset holds ${values.length} values, not a multiple of the model's input size ${size}`);
  const count = values.length / size;
  if (d.count !== undefined && d.count !== count)
    throw new RangeError(`the dataset says count ${d.count} but holds ${count} inputs of ${size} values`);
  if (d.labels !== undefined && d.labels.length !== count)
    throw new RangeError(`the dataset has ${d.labels.length} labels for ${count} inputs`);
  const f32 = values instanceof Float32Array ? values : Float32Array.from(values);
  return Array.from({ length: count }, (_, i) => ({
    input: f32.subarray(i * size, (i + 1) * size), ...(d.labels !== undefined ? { label: Number(d.labels[i]) } : {}),
  }));
}

/** Per class and path layer: how often each unit was selected. */
export interface LayerPathStatistics {
  /** Which gate (path) layer (Model.gateLayers ordinal). */
  ordinal: number;
  /** Explanations of this class in which this layer was a path layer. */
  count: number;
  /** Mean number of selected units. */
  meanPathSize: number;
  /** Units selected at least once, ascending. */
  units: Int32Array;
  /** How many times each unit was selected (same order as units). */
  counts: Uint32Array;
  /** counts / count: the fraction of explanations that selected each unit. */
  frequency: Float64Array;
  /** Mean selection score of each unit over the explanations that selected it. */
  meanScore: Float64Array;
}

export interface ClassPathStatistics {
  /** The class (the explained target, or the label; see PathStatistics.by). */
  class: number;
  count: number;
  /** Mean Σ|attribution|. */
  meanAttributionMass: number;
  /** Mean Σ attribution (= mean path logit − mean path bias). */
  meanAttributionSum: number;
  meanPathLogit: number;
  /** Fraction of the explanations whose target was the predicted class. */
  predictedFraction: number;
  /** Path layers, bottom → top. */
  layers: LayerPathStatistics[];
}

/** What the summarised explanations came from, so that summaries of different networks are not compared. */
export interface PathArchitecture {
  /** Values per input (the attributions' length). */
  inputSize: number;
  numClasses: number;
  /** Units per gate layer (Model.gateLayers), when the model was given to the builder. */
  reluUnits?: number[];
}

export interface PathStatistics {
  /** 'target': grouped by the explained class; 'label': by the items' labels. */
  by: 'target' | 'label';
  count: number;
  /** Sizes of the network explained (absent when nothing was added). */
  architecture?: PathArchitecture;
  /** Ascending class. */
  classes: ClassPathStatistics[];
}

interface LayerAcc { count: number; sizeSum: number; units: Map<number, { n: number; score: number }> }
interface ClassAcc { count: number; mass: number; sum: number; logit: number; predicted: number; layers: Map<number, LayerAcc> }

/**
 * Accumulates path statistics one explanation at a time: memory grows with the number of distinct
 * selected units, not with the number of explanations.
 */
export class PathStatisticsBuilder {
  readonly by: 'target' | 'label';
  #count = 0;
  #classes = new Map<number, ClassAcc>();
  #architecture?: PathArchitecture;

  /** `model`: the explained model, recorded (its ReLU layer sizes) so that comparePaths can check it. */
  constructor(options: PathStatisticsOptions = {}) {
    const by = options.by ?? 'target';
    oneOf(by, ['target', 'label'], 'by');
    this.by = by;
    const m = options.model;
    if (m) this.#architecture = { inputSize: m.inputSize, numClasses: m.numClasses, reluUnits: m.gateLayers.map((r) => r.units) };
  }

  #checkArchitecture(e: Explanation): void {
    const inputSize = e.attribution?.length, numClasses = e.logits?.length;
    if (inputSize === undefined || numClasses === undefined) return;
    const a = this.#architecture;
    if (!a) { this.#architecture = { inputSize, numClasses }; return; }
    if (a.inputSize !== inputSize || a.numClasses !== numClasses)
      throw new RangeError(`this explanation has ${inputSize} input values and ${numClasses} classes; the statistics so far have ` +
        `${a.inputSize} and ${a.numClasses}: one PathStatistics summarises one network`);
  }

  /** Adds one result (from explainDataset) or one explanation (grouped by its target). */
  add(result: DatasetResult | Explanation): this {
    const e = 'explanation' in result ? result.explanation : result;
    const label = 'explanation' in result ? result.label : undefined;
    const cls = this.by === 'label' ? label : e.target;
    if (cls === undefined) throw new RangeError("pathStatistics by 'label' needs results with a label");
    this.#checkArchitecture(e);
    let acc = this.#classes.get(cls);
    if (!acc) this.#classes.set(cls, (acc = { count: 0, mass: 0, sum: 0, logit: 0, predicted: 0, layers: new Map() }));
    acc.count++;
    let mass = 0, sum = 0;
    for (const a of e.attribution) { mass += Math.abs(a); sum += a; }
    acc.mass += mass;
    acc.sum += sum;
    acc.logit += e.pathLogit;
    if (e.predicted === e.target) acc.predicted++;
    for (const l of e.layers) {
      let la = acc.layers.get(l.ordinal);
      if (!la) acc.layers.set(l.ordinal, (la = { count: 0, sizeSum: 0, units: new Map() }));
      la.count++;
      la.sizeSum += l.units.length;
      for (let i = 0; i < l.units.length; i++) {
        const u = la.units.get(l.units[i]);
        if (u) { u.n++; u.score += l.scores[i]; } else la.units.set(l.units[i], { n: 1, score: l.scores[i] });
      }
    }
    this.#count++;
    return this;
  }

  /** The statistics of everything added so far. */
  finish(): PathStatistics {
    const classes = [...this.#classes.entries()].sort(([a], [b]) => a - b).map(([cls, acc]): ClassPathStatistics => ({
      class: cls,
      count: acc.count,
      meanAttributionMass: acc.mass / acc.count,
      meanAttributionSum: acc.sum / acc.count,
      meanPathLogit: acc.logit / acc.count,
      predictedFraction: acc.predicted / acc.count,
      layers: [...acc.layers.entries()].sort(([a], [b]) => a - b).map(([ordinal, la]) => {
        const entries = [...la.units.entries()].sort(([a], [b]) => a - b);
        return {
          ordinal,
          count: la.count,
          meanPathSize: la.sizeSum / la.count,
          units: Int32Array.from(entries, ([u]) => u),
          counts: Uint32Array.from(entries, ([, v]) => v.n),
          frequency: Float64Array.from(entries, ([, v]) => v.n / la.count),
          meanScore: Float64Array.from(entries, ([, v]) => v.score / v.n),
        };
      }),
    }));
    return { by: this.by, count: this.#count, ...(this.#architecture ? { architecture: { ...this.#architecture } } : {}), classes };
  }
}

export interface PathStatisticsOptions {
  /** Group by the explained class ('target', default) or the items' labels. */
  by?: 'target' | 'label';
  /** The model explained: records its ReLU layer sizes for comparePaths' architecture check. */
  model?: Pick<Model, 'inputSize' | 'numClasses' | 'gateLayers'>;
}

/** Path statistics of a finished list of results (see PathStatisticsBuilder for streams). */
export function pathStatistics(results: Iterable<DatasetResult | Explanation>, options: PathStatisticsOptions = {}): PathStatistics {
  const b = new PathStatisticsBuilder(options);
  for (const r of results) b.add(r);
  return b.finish();
}

/** Path statistics of an async stream of results, e.g. straight from explainDataset. */
export async function pathStatisticsAsync(results: AsyncIterable<DatasetResult | Explanation> | Iterable<DatasetResult | Explanation>, options: PathStatisticsOptions = {}): Promise<PathStatistics> {
  const b = new PathStatisticsBuilder(options);
  for await (const r of results) b.add(r);
  return b.finish();
}

export interface LayerPathComparison {
  ordinal: number;
  /** |A ∩ B| / |A ∪ B| of the units on the path (selected in at least `threshold` of the explanations); 1 when both are empty. */
  jaccard: number;
  /** Σ min(fA, fB) / Σ max(fA, fB) over the selection frequencies: no threshold. */
  weightedJaccard: number;
  /** On the path in b, not in a (ascending). */
  entered: Int32Array;
  /** On the path in a, not in b (ascending). */
  left: Int32Array;
  sizeA: number;
  sizeB: number;
}

export interface ClassPathComparison {
  class: number;
  countA: number;
  countB: number;
  /** Layers that are path layers in both, bottom → top. */
  layers: LayerPathComparison[];
}

export interface PathComparison {
  threshold: number;
  /** Classes present in both, ascending. */
  classes: ClassPathComparison[];
  /** Per layer, the mean over classes of jaccard and weightedJaccard, bottom → top. */
  layers: { ordinal: number; jaccard: number; weightedJaccard: number; entered: number; left: number }[];
}

/**
 * Compares two path summaries class by class and layer by layer. A unit is "on the path" of a class
 * when it was selected in at least `threshold` (default 0.5) of that class's explanations.
 */
export function comparePaths(a: PathStatistics, b: PathStatistics, options: { threshold?: number } = {}): PathComparison {
  const threshold = options.threshold ?? 0.5;
  if (!(threshold > 0 && threshold <= 1)) throw new RangeError(`threshold must be in (0, 1], got ${threshold}`);
  for (const [s, name] of [[a, 'a'], [b, 'b']] as const)
    if (!s || !Array.isArray(s.classes)) throw new TypeError(`${name} must be PathStatistics (from pathStatistics), got ${describe(s)}`);
  // Statistics that went through JSON.stringify / JSON.parse (typed arrays become objects) are revived.
  a = pathStatisticsFromJSON(a as unknown as PathStatisticsJSON);
  b = pathStatisticsFromJSON(b as unknown as PathStatisticsJSON);
  checkSameArchitecture(a.architecture, b.architecture);
  const inB = new Map(b.classes.map((c) => [c.class, c]));
  const classes: ClassPathComparison[] = [];
  for (const ca of a.classes) {
    const cb = inB.get(ca.class);
    if (!cb) continue;
    const lb = new Map(cb.layers.map((l) => [l.ordinal, l]));
    const layers: LayerPathComparison[] = [];
    for (const la of ca.layers) {
      const l2 = lb.get(la.ordinal);
      if (!l2) continue;
      const fa = new Map<number, number>(), fb = new Map<number, number>();
      la.units.forEach((u, i) => fa.set(u, la.frequency[i]));
      l2.units.forEach((u, i) => fb.set(u, l2.frequency[i]));
      let minSum = 0, maxSum = 0;
      for (const u of new Set([...fa.keys(), ...fb.keys()])) {
        const x = fa.get(u) ?? 0, y = fb.get(u) ?? 0;
        minSum += Math.min(x, y);
        maxSum += Math.max(x, y);
      }
      const pathA = new Set([...fa].filter(([, f]) => f >= threshold).map(([u]) => u));
      const pathB = new Set([...fb].filter(([, f]) => f >= threshold).map(([u]) => u));
      let both = 0;
      for (const u of pathA) if (pathB.has(u)) both++;
      const union = pathA.size + pathB.size - both;
      layers.push({
        ordinal: la.ordinal,
        jaccard: union === 0 ? 1 : both / union,
        weightedJaccard: maxSum === 0 ? 1 : minSum / maxSum,
        entered: Int32Array.from([...pathB].filter((u) => !pathA.has(u)).sort((x, y) => x - y)),
        left: Int32Array.from([...pathA].filter((u) => !pathB.has(u)).sort((x, y) => x - y)),
        sizeA: pathA.size,
        sizeB: pathB.size,
      });
    }
    classes.push({ class: ca.class, countA: ca.count, countB: cb.count, layers });
  }
  const ordinals = [...new Set(classes.flatMap((c) => c.layers.map((l) => l.ordinal)))].sort((x, y) => x - y);
  const layers = ordinals.map((ordinal) => {
    const ls = classes.flatMap((c) => c.layers.filter((l) => l.ordinal === ordinal));
    const mean = (f: (l: LayerPathComparison) => number) => ls.reduce((s, l) => s + f(l), 0) / ls.length;
    return { ordinal, jaccard: mean((l) => l.jaccard), weightedJaccard: mean((l) => l.weightedJaccard), entered: mean((l) => l.entered.length), left: mean((l) => l.left.length) };
  });
  return { threshold, classes, layers };
}

const architectureText = (x: PathArchitecture) =>
  `${x.inputSize} input values, ${x.numClasses} classes${x.reluUnits ? `, ReLU layers of [${x.reluUnits.join(', ')}] units` : ''}`;

function checkSameArchitecture(a: PathArchitecture | undefined, b: PathArchitecture | undefined): void {
  if (!a || !b) return;
  const differ = a.inputSize !== b.inputSize || a.numClasses !== b.numClasses ||
    (a.reluUnits && b.reluUnits && (a.reluUnits.length !== b.reluUnits.length || a.reluUnits.some((u, i) => u !== b.reluUnits![i])));
  if (differ)
    throw new RangeError(`comparePaths: a and b summarise different architectures (a: ${architectureText(a)}; b: ${architectureText(b)}); ` +
      'unit indices mean different units in them, so their paths cannot be compared');
}

/** PathStatistics as plain JSON data (typed arrays as number arrays); pathStatisticsFromJSON reads it back. */
export interface PathStatisticsJSON {
  format: 'pathwise.pathStatistics';
  version: 1;
  by: 'target' | 'label';
  count: number;
  architecture?: PathArchitecture;
  classes: (Omit<ClassPathStatistics, 'layers'> & {
    layers: (Omit<LayerPathStatistics, 'units' | 'counts' | 'frequency' | 'meanScore'> &
      { units: number[]; counts: number[]; frequency: number[]; meanScore: number[] })[];
  })[];
}

/** Path statistics as JSON-ready data: `JSON.stringify(pathStatisticsToJSON(stats))` stores them. */
export function pathStatisticsToJSON(stats: PathStatistics): PathStatisticsJSON {
  if (!stats || !Array.isArray(stats.classes)) throw new TypeError(`expected PathStatistics, got ${describe(stats)}`);
  return {
    format: 'pathwise.pathStatistics',
    version: 1,
    by: stats.by,
    count: stats.count,
    ...(stats.architecture ? { architecture: stats.architecture } : {}),
    classes: stats.classes.map((c) => ({
      ...c,
      layers: c.layers.map((l) => ({
        ...l, units: Array.from(l.units), counts: Array.from(l.counts), frequency: Array.from(l.frequency), meanScore: Array.from(l.meanScore),
      })),
    })),
  };
}

/** A typed array from a JSON array, or from what JSON.stringify makes of a typed array ({"0": v, "1": v, …}). */
function arrayOf<T extends Int32Array | Uint32Array | Float64Array>(make: (v: number[]) => T, value: unknown, what: string): T {
  if (ArrayBuffer.isView(value) || Array.isArray(value)) return make(Array.from(value as ArrayLike<number>));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.every(([k, v], i) => k === String(i) && typeof v === 'number')) return make(entries.map(([, v]) => v as number));
  }
  throw new TypeError(`${what} must be an array of numbers, got ${describe(value)}`);
}

/**
 * Path statistics back from JSON: the output of pathStatisticsToJSON, or of a plain
 * JSON.stringify(stats), as a string or parsed. comparePaths accepts either form directly too.
 */
export function pathStatisticsFromJSON(json: string | PathStatisticsJSON | PathStatistics): PathStatistics {
  const data = (typeof json === 'string' ? JSON.parse(json) : json) as PathStatisticsJSON;
  if (!isObject(data) || !Array.isArray(data.classes) || (data.by !== 'target' && data.by !== 'label'))
    throw new TypeError(`expected path statistics JSON ({ by, count, classes }), got ${describe(data)}`);
  return {
    by: data.by,
    count: data.count,
    ...(data.architecture ? { architecture: { ...data.architecture } } : {}),
    classes: data.classes.map((c, ci) => ({
      class: c.class, count: c.count, meanAttributionMass: c.meanAttributionMass, meanAttributionSum: c.meanAttributionSum,
      meanPathLogit: c.meanPathLogit, predictedFraction: c.predictedFraction,
      layers: c.layers.map((l, li) => {
        const at = `classes[${ci}].layers[${li}]`;
        return {
          ordinal: l.ordinal, count: l.count, meanPathSize: l.meanPathSize,
          units: arrayOf((v) => Int32Array.from(v), l.units, `${at}.units`),
          counts: arrayOf((v) => Uint32Array.from(v), l.counts, `${at}.counts`),
          frequency: arrayOf((v) => Float64Array.from(v), l.frequency, `${at}.frequency`),
          meanScore: arrayOf((v) => Float64Array.from(v), l.meanScore, `${at}.meanScore`),
        };
      }),
    })),
  };
}

/** One record of pathwiseCallback: the probe set's path statistics after `epoch` epochs (0: before training). */
export interface PathRecord {
  epoch: number;
  stats: PathStatistics;
  /** The epoch's logs from tfjs (loss, metrics), when there are any. */
  logs?: Record<string, number>;
  /** Fraction of probe items whose predicted class is their label (when the probe has labels). */
  accuracy?: number;
}

export interface PathwiseCallbackOptions extends Omit<ExplainDatasetOptions, 'onProgress' | 'signal' | 'total'> {
  /** The tf.LayersModel being trained (its weights are read at each record). */
  model: TfjsLayersModelLike;
  /** The fixed probe set: a dataset object { inputs, labels? } or an array of items. */
  probe: DatasetLike | readonly DatasetItem[];
  /** Record every this many epochs (default 1). */
  every?: number;
  /** Also record before the first epoch, as epoch 0 (default true). */
  atStart?: boolean;
  /** Group the statistics by 'target' (default, or 'label' when the probe has labels and target is 'label'). */
  by?: 'target' | 'label';
  /** Called with each record as it is made. */
  onRecord?: (record: PathRecord) => void | Promise<void>;
}

/** A tfjs fit callback (pass it in `callbacks`) that keeps the records it made. */
export interface PathwiseCallback {
  onTrainBegin(logs?: unknown): Promise<void>;
  onEpochEnd(epoch: number, logs?: Record<string, number>): Promise<void>;
  /** The records so far, in epoch order. */
  readonly records: PathRecord[];
}

/**
 * A tfjs `fit` callback that explains a fixed probe set with the model as it trains and records
 * the path statistics every `every` epochs:
 *
 *   const cb = pathwiseCallback({ model, probe: { inputs, labels }, every: 1, width: '10%' });
 *   await model.fit(xs, ys, { epochs: 5, callbacks: [cb] });
 *   comparePaths(cb.records[0].stats, cb.records.at(-1).stats);
 *
 * The model's weights are copied into a pathwise model at each record (tfjsLayersModelToSpec), so
 * training is never disturbed; the model's input is NCHW as for loadModel(tfModel).
 */
export function pathwiseCallback(options: PathwiseCallbackOptions): PathwiseCallback {
  if (!isObject(options)) throw wrongType('options', 'an object', options);
  const { model: tfModel, probe, every = 1, atStart = true, by, onRecord, ...explainOptions } = options;
  if (!isObject(tfModel)) throw wrongType('model', 'the tf.LayersModel being trained', tfModel);
  positiveInteger(every, 'every');
  let items: DatasetItem[] | undefined;
  const labelled = (): boolean => items!.every((it) => isObject(it) && 'input' in (it as object) && (it as { label?: number }).label !== undefined);
  const records: PathRecord[] = [];
  const record = async (epoch: number, logs?: Record<string, number>): Promise<void> => {
    const m = loadModelSync(tfjsLayersModelToSpec(tfModel));
    try {
      items ??= isDatasetLike(probe) ? datasetItems(probe, m.inputSize) : [...(probe as readonly DatasetItem[])];
      const grouping = by ?? (explainOptions.target === 'label' ? 'label' : 'target');
      const builder = new PathStatisticsBuilder({ by: grouping, model: m });
      let correct = 0;
      for await (const r of explainDataset(m, items, explainOptions)) {
        builder.add(r);
        if (r.label !== undefined && r.explanation.predicted === r.label) correct++;
      }
      const rec: PathRecord = {
        epoch, stats: builder.finish(), ...(logs ? { logs: { ...logs } } : {}), ...(labelled() ? { accuracy: correct / items.length } : {}),
      };
      records.push(rec);
      await onRecord?.(rec);
    } finally {
      m.dispose();
    }
  };
  return {
    records,
    async onTrainBegin() { if (atStart) await record(0); },
    async onEpochEnd(epoch: number, logs?: Record<string, number>) { if ((epoch + 1) % every === 0) await record(epoch + 1, logs); },
  };
}
