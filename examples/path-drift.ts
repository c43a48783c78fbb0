/**
 * Path drift during training: trains a small MLP on Fashion-MNIST with @tensorflow/tfjs (pure JS,
 * CPU), snapshots it after every epoch, explains a fixed probe set with each snapshot and reports
 * how the decision paths move between epochs — per ReLU layer, the Jaccard overlap of each class's
 * path units (selected in at least half of the class's explanations), the frequency-weighted
 * Jaccard, and how many units entered or left — as a table and a small SVG plot.
 *
 * Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, the IDX .gz files) or
 * any folder with the same four files (--data).
 *
 *   npx tsx examples/path-drift.ts [--epochs 5] [--train 6000] [--probe 1000] [--out drift/]
 *
 * (tsx runs TypeScript directly; test/dataset.test.ts runs this example on a subset.)
 */
import { readFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadModelSync, type Width, type Depth } from '../lib/index.js';
import { tfjsLayersModelToSpec } from '../lib/tfjs/index.js';
import { explainDataset, pathStatisticsAsync, comparePaths, type PathStatistics, type PathComparison } from '../lib/explain/dataset.js';

export const DEFAULT_DATA = '/usr/share/datasets/fashion-mnist';
const MEAN = 0.286, STD = 0.353;
const CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

export interface DriftOptions {
  dataDir?: string;
  trainSize?: number;
  probeSize?: number;
  epochs?: number;
  width?: Width;
  depth?: Depth;
  /** Where to write path-drift.md, path-drift.svg and path-drift.json (nothing written if absent). */
  outDir?: string;
  log?: (line: string) => void;
  seed?: number;
}

export interface EpochSnapshot {
  epoch: number;
  /** Accuracy on the probe set. */
  accuracy: number;
  loss?: number;
  stats: PathStatistics;
}

export interface DriftRow {
  from: number;
  to: number;
  comparison: PathComparison;
}

/** Reads an IDX file (gzipped or not): unsigned bytes with their dimensions. */
export function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  let bytes: Uint8Array = readFileSync(path);
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic >> 8 !== 0x08) throw new Error(`${path}: not an unsigned-byte IDX file (magic 0x${magic.toString(16)})`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, data: bytes.subarray(4 + 4 * rank) };
}

function loadSplit(dir: string, split: 'train' | 't10k', n: number) {
  const images = readIdx(join(dir, `${split}-images-idx3-ubyte.gz`));
  const labels = readIdx(join(dir, `${split}-labels-idx1-ubyte.gz`));
  const count = Math.min(n, images.dims[0]);
  const x = new Float32Array(count * 784);
  for (let i = 0; i < x.length; i++) x[i] = (images.data[i] / 255 - MEAN) / STD;
  return { x, y: Int32Array.from(labels.data.subarray(0, count)), count };
}

/** The drift table as Markdown: one row per pair of consecutive epochs. */
export function driftTable(snapshots: EpochSnapshot[], rows: DriftRow[]): string {
  const ordinals = rows[0]?.comparison.layers.map((l) => l.ordinal) ?? [];
  const head = ['epochs', 'probe acc.', ...ordinals.map((o) => `ReLU ${o}: J / wJ`), ...ordinals.map((o) => `ReLU ${o}: +in / −out`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const acc = snapshots.find((s) => s.epoch === r.to)!.accuracy;
    const byOrd = new Map(r.comparison.layers.map((l) => [l.ordinal, l]));
    lines.push(`| ${r.from} → ${r.to} | ${(acc * 100).toFixed(1)}% | ` +
      ordinals.map((o) => `${byOrd.get(o)!.jaccard.toFixed(2)} / ${byOrd.get(o)!.weightedJaccard.toFixed(2)}`).join(' | ') + ' | ' +
      ordinals.map((o) => `${byOrd.get(o)!.entered.toFixed(1)} / ${byOrd.get(o)!.left.toFixed(1)}`).join(' | ') + ' |');
  }
  return lines.join('\n') + '\n';
}

/** A small line plot (SVG): weighted Jaccard between consecutive epochs, one line per ReLU layer. */
export function driftPlot(rows: DriftRow[]): string {
  const W = 520, H = 300, L = 56, R = 130, T = 28, B = 46;
  const ordinals = rows[0]?.comparison.layers.map((l) => l.ordinal) ?? [];
  const colours = ['#2166ac', '#b2182b', '#1b7837', '#762a83', '#e08214'];
  const x = (i: number) => L + (rows.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (rows.length - 1));
  const y = (v: number) => T + (1 - v) * (H - T - B);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    `<text x="${L}" y="16" font-size="13" font-weight="600">Path drift between epochs (weighted Jaccard)</text>`,
  ];
  for (const v of [0, 0.25, 0.5, 0.75, 1])
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  rows.forEach((r, i) => parts.push(`<text x="${x(i)}" y="${H - B + 16}" text-anchor="middle">${r.from}→${r.to}</text>`));
  parts.push(`<text x="${(L + W - R) / 2}" y="${H - 8}" text-anchor="middle">epochs</text>`);
  ordinals.forEach((o, k) => {
    const c = colours[k % colours.length];
    const pts = rows.map((r, i) => `${x(i).toFixed(1)},${y(r.comparison.layers.find((l) => l.ordinal === o)!.weightedJaccard).toFixed(1)}`);
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of pts) { const [px, py] = p.split(','); parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${c}"/>`); }
    parts.push(`<line x1="${W - R + 14}" x2="${W - R + 34}" y1="${T + 10 + k * 18}" y2="${T + 10 + k * 18}" stroke="${c}" stroke-width="2"/>` +
      `<text x="${W - R + 40}" y="${T + 14 + k * 18}">ReLU ${o}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Trains, snapshots, explains and compares; returns the snapshots, the drift rows, the table and the plot. */
export async function pathDrift(options: DriftOptions = {}) {
  const {
    dataDir = DEFAULT_DATA, trainSize = 6000, probeSize = 1000, epochs = 5, width = '10%', depth = 'all',
    outDir, log = () => {}, seed = 7,
  } = options;
  await tf.setBackend('cpu');
  const train = loadSplit(dataDir, 'train', trainSize);
  const probe = loadSplit(dataDir, 't10k', probeSize);
  log(`Fashion-MNIST: ${train.count} training images, ${probe.count} probe images (test split)`);

  const init = (s: number) => tf.initializers.glorotUniform({ seed: seed + s });
  const model = tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [784], units: 128, activation: 'relu', kernelInitializer: init(1) }),
      tf.layers.dense({ units: 64, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 10, kernelInitializer: init(3) }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(1e-3), loss: (yt: tf.Tensor, yp: tf.Tensor) => tf.losses.softmaxCrossEntropy(yt, yp) });
  const xs = tf.tensor2d(train.x, [train.count, 784]);
  const ys = tf.oneHot(tf.tensor1d(train.y, 'int32'), 10);

  const probeItems = Array.from({ length: probe.count }, (_, i) => ({
    input: probe.x.subarray(i * 784, (i + 1) * 784), label: probe.y[i], target: probe.y[i],
  }));

  /** Snapshot the weights now (the spec copies them), explain the probe set, summarise. */
  const snapshot = async (epoch: number, loss?: number): Promise<EpochSnapshot> => {
    const m = loadModelSync(tfjsLayersModelToSpec(model));
    try {
      const logits = m.forward(probe.x);
      let correct = 0;
      for (let i = 0; i < probe.count; i++) {
        let best = 0;
        for (let c = 1; c < 10; c++) if (logits[i * 10 + c] > logits[i * 10 + best]) best = c;
        if (best === probe.y[i]) correct++;
      }
      // Explain each probe image's true class, so that classes compare across epochs.
      const stats = await pathStatisticsAsync(explainDataset(m, probeItems, { width, depth, batchSize: 64 }), { by: 'label' });
      const accuracy = correct / probe.count;
      log(`epoch ${epoch}: probe accuracy ${(accuracy * 100).toFixed(1)}%${loss !== undefined ? `, training loss ${loss.toFixed(3)}` : ''}`);
      return { epoch, accuracy, loss, stats };
    } finally {
      m.dispose();
    }
  };

  const snapshots: EpochSnapshot[] = [await snapshot(0)];
  for (let e = 1; e <= epochs; e++) {
    const h = await model.fit(xs, ys, { epochs: 1, batchSize: 64, shuffle: false, verbose: 0 });
    snapshots.push(await snapshot(e, h.history.loss[0] as number));
  }
  xs.dispose(); ys.dispose(); model.dispose();

  const rows: DriftRow[] = [];
  for (let e = 1; e < snapshots.length; e++)
    rows.push({ from: snapshots[e - 1].epoch, to: snapshots[e].epoch, comparison: comparePaths(snapshots[e - 1].stats, snapshots[e].stats) });
  const table = driftTable(snapshots, rows);
  const svg = driftPlot(rows);
  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    writeFileSync(join(outDir, 'path-drift.md'), `# Path drift, Fashion-MNIST MLP (width ${width}, depth ${depth})\n\n${table}\n` +
      'J: Jaccard of the path units (selected in ≥ 50% of a class\'s probe explanations), mean over classes; ' +
      'wJ: frequency-weighted Jaccard; +in / −out: units that entered / left a class\'s path, mean over classes.\n');
    writeFileSync(join(outDir, 'path-drift.svg'), svg);
    writeFileSync(join(outDir, 'path-drift.json'), JSON.stringify({
      classes: CLASSES,
      epochs: snapshots.map((s) => ({ epoch: s.epoch, accuracy: s.accuracy, loss: s.loss })),
      drift: rows.map((r) => ({ from: r.from, to: r.to, layers: r.comparison.layers })),
    }, null, 1));
  }
  return { snapshots, rows, table, svg };
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { table } = await pathDrift({
    dataDir: arg('data', DEFAULT_DATA), epochs: Number(arg('epochs', '5')), trainSize: Number(arg('train', '6000')),
    probeSize: Number(arg('probe', '1000')), outDir: arg('out', 'path-drift'), log: (l) => console.log(l),
  });
  console.log(`\n${table}`);
}
