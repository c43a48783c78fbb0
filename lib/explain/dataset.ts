/**
 * Explanations over a dataset, and what the paths look like in aggregate:
 *
 * - explainDataset streams explanations for an array or (async) iterable of inputs, a batch at a
 *   time (bounded memory: at most `batchSize` inputs and results are held), with progress events;
 * - pathStatistics / PathStatisticsBuilder summarise them per class and per path layer: how often
 *   each unit is selected, the mean path size, the mean attribution mass;
 * - comparePaths compares two summaries (two checkpoints of a model, two data slices): per class
 *   and layer, the Jaccard overlap of the units on the path and the units that entered or left.
 */
import type { Model } from '../model/model.js';
import type { Explanation, ExplainBatchOptions } from './types.js';
import { explainBatch } from './explain.js';
import { describe, isObject, oneOf, positiveInteger, toFloat32, wrongType } from '../validate.js';

/** One dataset item: an input (flat, NCHW), optionally with its label and the class to explain. */
export type DatasetItem =
  | Float32Array
  | ArrayLike<number>
  | { input: Float32Array | ArrayLike<number>; label?: number; target?: number };

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

export interface ExplainDatasetOptions extends Omit<ExplainBatchOptions, 'targets'> {
  /** The class to explain for every item (an item's own `target` wins); default the predicted class. */
  target?: number;
  /** Inputs per engine call (default 32). Memory holds at most this many inputs and results. */
  batchSize?: number;
  /** Number of items, for progress when the inputs are an iterable of unknown length. */
  total?: number;
  /** Called after every batch. */
  onProgress?: (progress: DatasetProgress) => void;
  /** Stops the stream (the generator throws the signal's reason) before the next batch. */
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
  inputs: Iterable<DatasetItem> | AsyncIterable<DatasetItem>,
  options: ExplainDatasetOptions = {},
): AsyncGenerator<DatasetResult, void, undefined> {
  if (!isObject(options)) throw wrongType('options', 'an object', options);
  const { batchSize = 32, total: totalOption, onProgress, signal, target, ...explainOptions } = options;
  positiveInteger(batchSize, 'batchSize');
  if (inputs === null || typeof inputs !== 'object' || (!(Symbol.iterator in inputs) && !(Symbol.asyncIterator in inputs)))
    throw wrongType('inputs', 'an array or an (async) iterable of inputs', inputs);
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
    const targets = pending.map((p) => p.target ?? target);
    const batchOptions: ExplainBatchOptions = { ...explainOptions };
    if (targets.some((t) => t !== undefined)) {
      // Items without a target explain their predicted class: one pass finds it.
      const logits = targets.every((t) => t !== undefined) ? undefined : model.forward(buffer.subarray(0, n * size));
      batchOptions.targets = targets.map((t, i) => t ?? argmax(logits!, i * model.numClasses, model.numClasses));
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
    const { input, label, target: own } = itemParts(item, index);
    if (input.length !== size)
      throw new RangeError(`inputs[${index}] has ${input.length} values, expected ${size} (shape [${model.inputShape.join(', ')}])`);
    buffer.set(input, pending.length * size);
    pending.push({ index, label, target: own });
    index++;
    if (pending.length === batchSize) yield* await flush();
  }
  yield* await flush();
}

function argmax(values: Float32Array, offset: number, n: number): number {
  let best = 0;
  for (let c = 1; c < n; c++) if (values[offset + c] > values[offset + best]) best = c;
  return best;
}

/** Per class and path layer: how often each unit was selected. */
export interface LayerPathStatistics {
  /** Which ReLU layer (Model.reluLayers ordinal). */
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

export interface PathStatistics {
  /** 'target': grouped by the explained class; 'label': by the items' labels. */
  by: 'target' | 'label';
  count: number;
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

  constructor(options: { by?: 'target' | 'label' } = {}) {
    const by = options.by ?? 'target';
    oneOf(by, ['target', 'label'], 'by');
    this.by = by;
  }

  /** Adds one result (from explainDataset) or one explanation (grouped by its target). */
  add(result: DatasetResult | Explanation): this {
    const e = 'explanation' in result ? result.explanation : result;
    const label = 'explanation' in result ? result.label : undefined;
    const cls = this.by === 'label' ? label : e.target;
    if (cls === undefined) throw new RangeError("pathStatistics by 'label' needs results with a label");
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
    return { by: this.by, count: this.#count, classes };
  }
}

/** Path statistics of a finished list of results (see PathStatisticsBuilder for streams). */
export function pathStatistics(results: Iterable<DatasetResult | Explanation>, options: { by?: 'target' | 'label' } = {}): PathStatistics {
  const b = new PathStatisticsBuilder(options);
  for (const r of results) b.add(r);
  return b.finish();
}

/** Path statistics of an async stream of results, e.g. straight from explainDataset. */
export async function pathStatisticsAsync(results: AsyncIterable<DatasetResult | Explanation> | Iterable<DatasetResult | Explanation>, options: { by?: 'target' | 'label' } = {}): Promise<PathStatistics> {
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
