/**
 * Path drift during training: trains a small MLP on Fashion-MNIST with @tensorflow/tfjs (pure JS,
 * CPU) and, with pathwise's fit callback (pathwiseCallback), explains a fixed probe set after every
 * epoch; then reports how the decision paths moved between epochs with the same report as
 * `pathwise drift` (lib/report/drift.ts) — per ReLU layer and per class, the Jaccard overlap of
 * each class's path units (selected in at least half of the class's explanations), the
 * frequency-weighted Jaccard, and the units that entered or left — as tables, JSON and an SVG plot.
 *
 * Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, the IDX .gz files) or
 * any folder with the same four files (--data).
 *
 *   npx tsx examples/path-drift.ts [--epochs 5] [--train 6000] [--probe 1000] [--out drift/]
 *
 * (tsx runs TypeScript directly; test/dataset.test.ts runs this example on a subset. With
 * checkpoints saved as ONNX files, `pathwise drift ckpt_*.onnx --data fashion-mnist --out drift/`
 * makes the same report without training anything.)
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { loadFashionMnist, FASHION_MNIST_CLASSES, pathwiseCallback, type Width, type Depth, type PathStatistics } from '../lib/index.js';
import { driftRows, driftTable, driftPlot, writeDriftReport, type DriftRow } from '../lib/report/drift.js';

export const DEFAULT_DATA = '/usr/share/datasets/fashion-mnist';

export interface DriftOptions {
  dataDir?: string;
  trainSize?: number;
  probeSize?: number;
  epochs?: number;
  width?: Width;
  depth?: Depth;
  /** Where to write path-drift.md, path-drift.svg, path-drift.json and stats/ (nothing written if absent). */
  outDir?: string;
  log?: (line: string) => void;
  seed?: number;
}

export interface EpochSnapshot {
  epoch: number;
  /** The epoch, as the drift report names a checkpoint. */
  name: number;
  /** Accuracy on the probe set. */
  accuracy: number;
  loss?: number;
  stats: PathStatistics;
}

export type { DriftRow };

/** Trains, records the probe set's paths every epoch, compares; returns the snapshots, the drift rows, the table and the plot. */
export async function pathDrift(options: DriftOptions = {}) {
  const {
    dataDir = DEFAULT_DATA, trainSize = 6000, probeSize = 1000, epochs = 5, width = '10%', depth = 'all',
    outDir, log = () => {}, seed = 7,
  } = options;
  await tf.setBackend('cpu');
  const train = loadFashionMnist({ split: 'train', dir: dataDir, count: trainSize });
  const probe = loadFashionMnist({ split: 'test', dir: dataDir, count: probeSize });
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
  const xs = tf.tensor2d(train.inputs, [train.count, 784]);
  const ys = tf.oneHot(tf.tensor1d(train.labels!, 'int32'), 10);

  // Explain each probe image's true class, so that classes compare across epochs.
  const callback = pathwiseCallback({
    model, probe, every: 1, width, depth, target: 'label', batchSize: 64,
    onRecord: (r) => log(`epoch ${r.epoch}: probe accuracy ${(r.accuracy! * 100).toFixed(1)}%` +
      `${r.logs?.loss !== undefined ? `, training loss ${r.logs.loss.toFixed(3)}` : ''}`),
  });
  await model.fit(xs, ys, { epochs, batchSize: 64, shuffle: false, verbose: 0, callbacks: [callback] });
  xs.dispose(); ys.dispose(); model.dispose();

  const snapshots: EpochSnapshot[] = callback.records.map((r) => ({
    epoch: r.epoch, name: r.epoch, accuracy: r.accuracy!, loss: r.logs?.loss, stats: r.stats,
  }));
  const rows = driftRows(snapshots);
  const table = driftTable(snapshots, rows);
  const svg = driftPlot(rows);
  if (outDir) {
    writeDriftReport(outDir, snapshots, rows, {
      title: `Path drift, Fashion-MNIST MLP (width ${width}, depth ${depth})`, classNames: FASHION_MNIST_CLASSES,
    });
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
