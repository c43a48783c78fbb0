// Makes the package's samples/ folder (see lib/io/samples.ts): the Fashion-MNIST CNN fixture with
// its input normalisation written into its ONNX metadata (pathwise.mean / pathwise.std), and the
// first test image of each class as a 28 × 28 grey PNG, listed with its label in samples.json.
// Needs Debian's dataset-fashion-mnist and a built dist/: `npm run build:ts && node scripts/make-samples.mjs`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readIdx } from '../dist/io/idx.js';
import { encodePng, createImage } from '../dist/render/image.js';
import { withOnnxMetadata } from '../dist/io/onnx-metadata.js';
import { FASHION_MNIST_CLASSES } from '../dist/io/samples.js';
import { FASHION_MNIST_DIR, FASHION_MNIST_NORMALISATION } from '../dist/io/datasets.js';

const root = join(import.meta.dirname, '..');
const out = join(root, 'samples');
mkdirSync(join(out, 'fashion-mnist'), { recursive: true });

const model = readFileSync(join(root, 'test', 'fixtures', 'models', 'fashion_cnn.onnx'));
writeFileSync(join(out, 'fashion_cnn.onnx'), withOnnxMetadata(model, {
  'pathwise.mean': String(FASHION_MNIST_NORMALISATION.mean), 'pathwise.std': String(FASHION_MNIST_NORMALISATION.std),
  'pathwise.classes': FASHION_MNIST_CLASSES.join(','),
}));

const images = readIdx(join(FASHION_MNIST_DIR, 't10k-images-idx3-ubyte.gz'));
const labels = readIdx(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
const slug = (name) => name.toLowerCase().replace(/[^a-z]+/g, '-');
const list = [];
for (let label = 0; label < 10; label++) {
  const testIndex = labels.data.indexOf(label);
  const image = createImage(28, 28);
  for (let p = 0; p < 784; p++) {
    const v = images.data[testIndex * 784 + p];
    image.data.set([v, v, v, 255], p * 4);
  }
  const file = `${label}-${slug(FASHION_MNIST_CLASSES[label])}.png`;
  writeFileSync(join(out, 'fashion-mnist', file), encodePng(image));
  list.push({ file, label, testIndex });
}
writeFileSync(join(out, 'fashion-mnist', 'samples.json'), JSON.stringify({
  description: 'The first image of each class in the Fashion-MNIST test split (t10k), as 28 × 28 grey PNGs. ' +
    'The sample model fashion_cnn.onnx reads (p / 255 − 0.286) / 0.353 of each pixel p, NCHW [1, 28, 28].',
  classes: FASHION_MNIST_CLASSES,
  normalisation: { ...FASHION_MNIST_NORMALISATION },
  images: list,
}, null, 1) + '\n');
console.log(`wrote ${list.length} images and fashion_cnn.onnx to ${out}`);
