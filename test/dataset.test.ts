// Dataset pipelines: explainDataset (streaming, bounded, progress), pathStatistics, comparePaths,
// and the path-drift example (examples/path-drift.ts) on a subset of Fashion-MNIST.
import { describe, it, expect } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadModelSync, explainBatchSync, type LayerSpec, type Explanation } from '../lib/index.js';
import {
  explainDataset, pathStatistics, pathStatisticsAsync, PathStatisticsBuilder, comparePaths, type DatasetProgress, type DatasetResult,
} from '../lib/explain/dataset.js';

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

function mlp(sizes: number[], seed = 1): LayerSpec[] {
  const rand = seeded(seed);
  const layers: LayerSpec[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [inn, out] = [sizes[i], sizes[i + 1]];
    layers.push({ type: 'dense', in: inn, out, weights: new Float32Array(inn * out).map(() => rand() / Math.sqrt(inn)), bias: new Float32Array(out).map(() => rand() * 0.1) });
    if (i + 2 < sizes.length) layers.push({ type: 'relu' });
  }
  return layers;
}

const model = loadModelSync(mlp([6, 12, 8, 3]));
const N = 10;
const data = new Float32Array(N * 6).map(seeded(4));
const rows = Array.from({ length: N }, (_, i) => data.subarray(i * 6, (i + 1) * 6));

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('explainDataset', () => {
  it('yields the batch explanations in order, with progress after every batch', async () => {
    const progress: DatasetProgress[] = [];
    const results = await collect(explainDataset(model, rows, { width: 3, batchSize: 3, onProgress: (p) => progress.push(p) }));
    const ref = explainBatchSync(model, data, { width: 3 });
    expect(results.map((r) => r.index)).toEqual([...Array(N).keys()]);
    results.forEach((r, i) => {
      expect(r.explanation.target).toBe(ref[i].target);
      expect(r.explanation.attribution).toEqual(ref[i].attribution);
      expect(r.explanation.layers.map((l) => Array.from(l.units))).toEqual(ref[i].layers.map((l) => Array.from(l.units)));
    });
    expect(progress.map((p) => p.done)).toEqual([3, 6, 9, 10]);
    expect(progress.every((p) => p.total === N && p.itemsPerSecond > 0 && p.etaMs !== undefined)).toBe(true);
    expect(progress[3].etaMs).toBe(0);
  });

  it('reads an async source lazily: no more than one batch ahead of the consumer', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < N; i++) { pulled++; yield { input: rows[i], label: i % 3 }; }
    }
    const it = explainDataset(model, source(), { batchSize: 4 });
    const first = await it.next();
    expect(first.value).toMatchObject({ index: 0, label: 0 });
    expect(pulled).toBe(4);
    const rest = await collect({ [Symbol.asyncIterator]: () => it });
    expect(rest).toHaveLength(N - 1);
    expect(pulled).toBe(N);
  });

  it('explains per-item targets, a fixed target, or the predicted class', async () => {
    const items = rows.map((input, i) => (i % 2 ? { input, target: 2 } : input));
    const results = await collect(explainDataset(model, items, { batchSize: 4 }));
    const predicted = explainBatchSync(model, data).map((e) => e.predicted);
    results.forEach((r, i) => expect(r.explanation.target).toBe(i % 2 ? 2 : predicted[i]));
    const fixed = await collect(explainDataset(model, rows, { target: 1 }));
    expect(fixed.every((r) => r.explanation.target === 1)).toBe(true);
  });

  it('rejects bad inputs and options, and stops on abort', async () => {
    await expect(collect(explainDataset(model, [new Float32Array(5)]))).rejects.toThrow(/inputs\[0\] has 5 values, expected 6/);
    await expect(collect(explainDataset(model, rows, { batchSize: 0 }))).rejects.toThrow(RangeError);
    await expect(collect(explainDataset(model, 42 as never))).rejects.toThrow(TypeError);
    await expect(collect(explainDataset(model, rows, { widht: 3 } as never))).rejects.toThrow(/unknown option "widht"/);
    const ac = new AbortController();
    const seen: DatasetResult[] = [];
    await expect((async () => {
      for await (const r of explainDataset(model, rows, { batchSize: 2, signal: ac.signal })) { seen.push(r); ac.abort(); }
    })()).rejects.toThrow();
    expect(seen.length).toBeLessThanOrEqual(2);
  });

  it('an abort cancels the batch in flight instead of waiting for it', async () => {
    // One batch of 48 on a 784-1024-1024-1024-10 MLP at width 'all' takes ~0.2 s here; the abort at
    // 20 ms lands while it runs (or before it starts), so no result may come out. Before, the batch
    // ran to its end and the stream ended normally.
    const big = loadModelSync(mlp([784, 1024, 1024, 1024, 10], 3));
    try {
      const inputs = new Float32Array(48 * 784).map(seeded(9));
      const ac = new AbortController();
      const seen: DatasetResult[] = [];
      setTimeout(() => ac.abort(), 20);
      await expect((async () => {
        for await (const r of explainDataset(big, { inputs }, { batchSize: 48, width: 'all', signal: ac.signal })) seen.push(r);
      })()).rejects.toMatchObject({ name: 'AbortError' });
      expect(seen).toHaveLength(0);
    } finally { big.dispose(); }
  });
});

/** A hand-made explanation: only what pathStatistics reads. */
function ex(target: number, predicted: number, attribution: number[], layers: [number, number[], number[]][]): Explanation {
  return {
    target, predicted, attribution: Float32Array.from(attribution), pathLogit: attribution.reduce((a, b) => a + b, 0),
    layers: layers.map(([ordinal, units, scores]) => ({ ordinal, units: Int32Array.from(units), scores: Float32Array.from(scores), fallback: false, k: units.length, borderline: 0 })),
  } as unknown as Explanation;
}

describe('pathStatistics', () => {
  const results = [
    ex(0, 0, [1, -2], [[0, [1, 2], [0.5, 0.3]], [1, [4], [0.9]]]),
    ex(0, 1, [3, 1], [[0, [2, 5], [0.7, 0.2]], [1, [4], [0.8]]]),
    ex(1, 1, [-1, 0], [[1, [0, 4], [0.6, 0.4]]]),
  ];

  it('counts unit selections, path sizes and attribution mass per class and layer', () => {
    const s = pathStatistics(results);
    expect(s).toMatchObject({ by: 'target', count: 3 });
    const [c0, c1] = s.classes;
    expect(c0).toMatchObject({ class: 0, count: 2, meanAttributionMass: 3.5, meanAttributionSum: 1.5, predictedFraction: 0.5 });
    expect(c0.layers.map((l) => l.ordinal)).toEqual([0, 1]);
    const l0 = c0.layers[0];
    expect(l0).toMatchObject({ count: 2, meanPathSize: 2 });
    expect(Array.from(l0.units)).toEqual([1, 2, 5]);
    expect(Array.from(l0.counts)).toEqual([1, 2, 1]);
    expect(Array.from(l0.frequency)).toEqual([0.5, 1, 0.5]);
    expect(l0.meanScore[1]).toBeCloseTo(0.5, 6);
    expect(c1).toMatchObject({ class: 1, count: 1, meanAttributionMass: 1 });
    expect(c1.layers.map((l) => l.ordinal)).toEqual([1]);
    expect(c1.layers[0].meanPathSize).toBe(2);
  });

  it('groups by label, streams, and agrees between its three entry points', async () => {
    const labelled = results.map((explanation, index) => ({ index, label: index === 2 ? 0 : 1, explanation }));
    const s = pathStatistics(labelled, { by: 'label' });
    expect(s.classes.map((c) => [c.class, c.count])).toEqual([[0, 1], [1, 2]]);
    const b = new PathStatisticsBuilder({ by: 'label' });
    for (const r of labelled) b.add(r);
    expect(b.finish()).toEqual(s);
    async function* stream() { yield* labelled; }
    expect(await pathStatisticsAsync(stream(), { by: 'label' })).toEqual(s);
    expect(() => pathStatistics(results, { by: 'label' })).toThrow(/needs results with a label/);
  });
});

describe('comparePaths', () => {
  const a = pathStatistics([
    ex(0, 0, [1], [[0, [1, 2, 3], [1, 1, 1]]]),
    ex(0, 0, [1], [[0, [1, 2], [1, 1]]]),
  ]);
  const b = pathStatistics([
    ex(0, 0, [1], [[0, [2, 4], [1, 1]]]),
    ex(0, 0, [1], [[0, [2, 4, 1], [1, 1, 1]]]),
    ex(1, 1, [1], [[0, [7], [1]]]),
  ]);

  it('gives Jaccard overlaps and the units that entered and left', () => {
    const c = comparePaths(a, b);
    expect(c.threshold).toBe(0.5);
    expect(c.classes.map((x) => x.class)).toEqual([0]); // class 1 is only in b
    const l = c.classes[0].layers[0];
    // a: f(1)=1, f(2)=1, f(3)=.5 → path {1,2,3}; b: f(2)=1, f(4)=1, f(1)=.5 → path {1,2,4}.
    expect(l.jaccard).toBeCloseTo(2 / 4, 12);
    expect(l.weightedJaccard).toBeCloseTo((0.5 + 1) / (1 + 1 + 0.5 + 1), 12);
    expect(Array.from(l.entered)).toEqual([4]);
    expect(Array.from(l.left)).toEqual([3]);
    expect(c.layers).toEqual([{ ordinal: 0, jaccard: l.jaccard, weightedJaccard: l.weightedJaccard, entered: 1, left: 1 }]);
    const strict = comparePaths(a, b, { threshold: 1 }).classes[0].layers[0];
    expect(strict.jaccard).toBeCloseTo(1 / 3, 12);
    expect(comparePaths(a, a).layers[0]).toMatchObject({ jaccard: 1, weightedJaccard: 1, entered: 0, left: 0 });
    expect(() => comparePaths(a, b, { threshold: 0 })).toThrow(RangeError);
  });
});

const FASHION = '/usr/share/datasets/fashion-mnist';
const haveFashion = existsSync(join(FASHION, 'train-images-idx3-ubyte.gz'));

describe.skipIf(!haveFashion)('examples/path-drift.ts on a Fashion-MNIST subset', () => {
  it('trains, snapshots every epoch and reports path drift as a table and a plot', async () => {
    const { pathDrift } = await import('../examples/path-drift.js');
    const out = mkdtempSync(join(tmpdir(), 'pathwise-drift-'));
    try {
      const lines: string[] = [];
      const r = await pathDrift({ trainSize: 1500, probeSize: 200, epochs: 3, outDir: out, log: (l) => lines.push(l) });
      expect(r.snapshots.map((s) => s.epoch)).toEqual([0, 1, 2, 3]);
      // It learns: well above chance after three epochs on 1500 images.
      expect(r.snapshots[3].accuracy).toBeGreaterThan(0.5);
      expect(r.rows.map((x) => `${x.from}→${x.to}`)).toEqual(['0→1', '1→2', '2→3']);
      for (const row of r.rows) {
        expect(row.comparison.classes).toHaveLength(10);
        expect(row.comparison.layers.map((l) => l.ordinal)).toEqual([0, 1]);
        for (const l of row.comparison.layers) {
          expect(l.jaccard).toBeGreaterThanOrEqual(0);
          expect(l.weightedJaccard).toBeLessThanOrEqual(1);
        }
      }
      const table = r.table.trim().split('\n');
      expect(table).toHaveLength(2 + 3);
      expect(table[0]).toBe('| epochs | probe acc. | ReLU 0: J / wJ | ReLU 1: J / wJ | ReLU 0: +in / −out | ReLU 1: +in / −out |');
      expect(table[2]).toMatch(/^\| 0 → 1 \| \d+\.\d% \| \d\.\d\d \/ \d\.\d\d \| \d\.\d\d \/ \d\.\d\d \| [\d.]+ \/ [\d.]+ \| [\d.]+ \/ [\d.]+ \|$/);
      expect(readFileSync(join(out, 'path-drift.md'), 'utf8')).toContain(table[2]);
      expect(r.svg.match(/<polyline /g)).toHaveLength(2);
      expect(readFileSync(join(out, 'path-drift.svg'), 'utf8')).toBe(r.svg);
      expect(JSON.parse(readFileSync(join(out, 'path-drift.json'), 'utf8')).drift).toHaveLength(3);
      expect(lines[0]).toMatch(/^Fashion-MNIST: 1500 training images, 200 probe images/);
      console.log(`path drift (subset):\n${r.table}`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 300_000);
});

it.skipIf(haveFashion)(`path-drift example skipped: ${FASHION} is absent (apt-get install -y dataset-fashion-mnist)`, () => {});
