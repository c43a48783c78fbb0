/**
 * Paper-shaped networks with seeded random weights (He initialisation), built as plain layer specs
 * so tests and benchmarks need no large model files: VGG16 with the paper's 25088-256-64-10 head
 * (docs/method.md §11.2), and a ResNet-18 (basic blocks, BatchNorm) with a 10-class head.
 *
 * Plain JavaScript (types in shaped-models.d.mts) because both vitest and the bench, which runs
 * plain Node on dist/, import this one file.
 */

/** A seeded standard normal generator (LCG + Box–Muller). */
export function seededNormal(seed) {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function filled(count, scale, rand) {
  const a = new Float32Array(count);
  for (let i = 0; i < count; i++) a[i] = rand() * scale;
  return a;
}

export function vgg16Spec(seed = 1, size = 224) {
  const rand = seededNormal(seed);
  const layers = [];
  let channels = 3, hw = size;
  const cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  for (const c of cfg) {
    if (c === 'M') {
      layers.push({ type: 'maxpool', kernel: [2, 2], stride: [2, 2] });
      hw /= 2;
      continue;
    }
    layers.push({
      type: 'conv', inChannels: channels, outChannels: c, kernel: [3, 3], pads: [1, 1, 1, 1],
      weights: filled(c * channels * 9, Math.sqrt(2 / (channels * 9)), rand), bias: filled(c, 0.01, rand),
    });
    layers.push({ type: 'relu' });
    channels = c;
  }
  layers.push({ type: 'flatten' });
  const dense = (inn, out) => ({
    type: 'dense', in: inn, out, weights: filled(inn * out, Math.sqrt(2 / inn), rand), bias: filled(out, 0.01, rand),
  });
  layers.push(dense(channels * hw * hw, 256), { type: 'relu' }, { type: 'identity' }, dense(256, 64), { type: 'relu' }, { type: 'identity' }, dense(64, 10));
  return { inputShape: [3, size, size], layers };
}

export function resnet18Spec(seed = 2, size = 224) {
  const rand = seededNormal(seed);
  const layers = [];
  const conv = (inC, outC, k, stride, pad, inputs) => {
    layers.push({
      type: 'conv', inChannels: inC, outChannels: outC, kernel: [k, k], stride: [stride, stride], pads: [pad, pad, pad, pad],
      weights: filled(outC * inC * k * k, Math.sqrt(2 / (inC * k * k)), rand), ...(inputs ? { inputs } : {}),
    });
    return layers.length - 1;
  };
  const bn = (c) => {
    layers.push({
      type: 'batchnorm', scale: filled(c, 0.1, rand).map((v) => 1 + v), bias: filled(c, 0.05, rand),
      mean: filled(c, 0.05, rand), variance: filled(c, 0.1, rand).map((v) => 1 + Math.abs(v)), epsilon: 1e-5,
    });
    return layers.length - 1;
  };
  const relu = () => (layers.push({ type: 'relu' }), layers.length - 1);
  conv(3, 64, 7, 2, 3);
  bn(64);
  relu();
  layers.push({ type: 'maxpool', kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] });
  let x = layers.length - 1, channels = 64;
  for (const [outC, stride] of [[64, 1], [64, 1], [128, 2], [128, 1], [256, 2], [256, 1], [512, 2], [512, 1]]) {
    conv(channels, outC, 3, stride, 1, [x]);
    bn(outC);
    relu();
    conv(outC, outC, 3, 1, 1);
    const main = bn(outC);
    let skip = x;
    if (stride !== 1 || outC !== channels) {
      conv(channels, outC, 1, stride, 0, [x]);
      skip = bn(outC);
    }
    layers.push({ type: 'add', inputs: [main, skip] });
    x = relu();
    channels = outC;
  }
  layers.push({ type: 'globalavgpool' }, { type: 'flatten' });
  layers.push({ type: 'dense', in: 512, out: 10, weights: filled(5120, Math.sqrt(1 / 512), rand), bias: filled(10, 0.01, rand) });
  return { inputShape: [3, size, size], layers };
}
