/**
 * The samples shipped with the package (its samples/ folder), so that a first run needs nothing
 * else: a small CNN trained on Fashion-MNIST (samples/fashion_cnn.onnx, carrying its input
 * normalisation in its ONNX metadata) and ten Fashion-MNIST test images, one per class, as 28 × 28
 * grey PNGs (samples/fashion-mnist/, described by samples.json). scripts/make-samples.mjs made them.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../addon/binding.cjs';
import { decodePng } from '../render/image.js';
import { normalise, type Dataset, type Normalisation } from './datasets.js';

/** The ten Fashion-MNIST classes, by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
]);

const SAMPLES_DIR = 'samples';

/** The absolute path of a file in the package's samples/ folder, e.g. samplePath('fashion_cnn.onnx'). */
export function samplePath(name: string): string {
  if (typeof name !== 'string' || name === '' || name.split(/[\\/]/).includes('..'))
    throw new TypeError(`samplePath needs a file name inside samples/, got ${JSON.stringify(name)}`);
  const dir = join(packageRoot(), SAMPLES_DIR);
  const path = join(dir, name);
  if (!existsSync(path)) {
    const list = existsSync(dir) ? readdirSync(dir).join(', ') : '(no samples/ folder)';
    throw new RangeError(`no sample ${JSON.stringify(name)}; samples/ holds ${list}`);
  }
  return path;
}

/** The shipped sample images as a dataset: normalised model inputs plus what they are. */
export interface Samples extends Dataset {
  labels: Int32Array;
  /** Class names by label. */
  classNames: readonly string[];
  /** How `inputs` were made from the PNG bytes p: (p / scale − mean) / std, as in training. */
  normalisation: Normalisation;
  /** The PNG files, absolute paths, in input order. */
  files: string[];
  /** Each image's index in the Fashion-MNIST test split. */
  testIndices: number[];
}

interface SamplesJson {
  classes: string[];
  normalisation: Normalisation;
  images: { file: string; label: number; testIndex: number }[];
}

/**
 * Loads the ten shipped Fashion-MNIST test images (one per class, in label order), normalised as
 * the sample model was trained: x = (p / 255 − 0.286) / 0.353. `inputs` holds them back to back
 * (10 × 1 × 28 × 28); `samples.inputs.subarray(i * 784, (i + 1) * 784)` is image i.
 */
export function loadSamples(): Samples {
  const dir = join(packageRoot(), SAMPLES_DIR, 'fashion-mnist');
  const meta = JSON.parse(readFileSync(samplePath('fashion-mnist/samples.json'), 'utf8')) as SamplesJson;
  const size = 28 * 28;
  const raw = new Uint8Array(meta.images.length * size);
  const files: string[] = [];
  meta.images.forEach((image, i) => {
    const file = join(dir, image.file);
    const png = decodePng(readFileSync(file), file);
    if (png.width !== 28 || png.height !== 28) throw new RangeError(`${file}: expected 28 × 28, got ${png.width} × ${png.height}`);
    for (let p = 0; p < size; p++) raw[i * size + p] = png.data[p * 4];
    files.push(file);
  });
  return {
    name: 'pathwise samples (Fashion-MNIST test images)',
    inputs: normalise(raw, meta.normalisation),
    shape: [1, 28, 28],
    count: meta.images.length,
    labels: Int32Array.from(meta.images, (m) => m.label),
    classNames: Object.freeze([...meta.classes]),
    normalisation: meta.normalisation,
    files,
    testIndices: meta.images.map((m) => m.testIndex),
  };
}
