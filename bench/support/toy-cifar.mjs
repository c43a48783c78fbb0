// The authors' toy CIFAR CNN (ToyModelv1 of the reference repository's
// pytorch_cifar/models/customnet.py; docs/method.md §11.3) as a layer spec with seeded He weights:
// their checkpoint is not ours to ship, and speed depends on the shape only.
//   Conv 3→32 k3 · ReLU · MaxPool2 · Conv 32→64 k3 · ReLU · MaxPool2 · Conv 64→128 k3 · ReLU ·
//   MaxPool2 · Flatten (128·2·2 = 512) · Linear 512→256 · ReLU · Linear 256→10
// Spatial sizes 32 → 30 → 15 → 13 → 6 → 4 → 2; one forward is 5.21 MMAC.
import { seededNormal } from '../../test/helpers/shaped-models.mjs';

function filled(count, scale, rand) {
  const a = new Float32Array(count);
  for (let i = 0; i < count; i++) a[i] = rand() * scale;
  return a;
}

export function toyCifarSpec(seed = 3) {
  const rand = seededNormal(seed);
  const layers = [];
  let channels = 3;
  for (const c of [32, 64, 128]) {
    layers.push({
      type: 'conv', inChannels: channels, outChannels: c, kernel: [3, 3],
      weights: filled(c * channels * 9, Math.sqrt(2 / (channels * 9)), rand), bias: filled(c, 0.01, rand),
    }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] });
    channels = c;
  }
  const dense = (inn, out) => ({
    type: 'dense', in: inn, out, weights: filled(inn * out, Math.sqrt(2 / inn), rand), bias: filled(out, 0.01, rand),
  });
  layers.push({ type: 'flatten' }, dense(512, 256), { type: 'relu' }, dense(256, 10));
  return { inputShape: [3, 32, 32], layers };
}
