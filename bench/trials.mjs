// The trials of `npm run bench`, as data (better-sqlite3's benchmark/trials.js). Each one runs in
// a fresh `node` process (bench/run-trial.mjs) with `env` added to its environment, so JIT, GC,
// thread pools and the kernel choice cannot leak from one trial into the next.
import { vgg16Spec } from '../test/helpers/shaped-models.mjs';
import { explainFlopsSpec, fashionCnnShape, forwardMacs } from './support/flops.mjs';
import { specToOnnx } from './support/onnx.mjs';
import { toyCifarSpec } from './support/toy-cifar.mjs';
//
// Fields: id (unique), group (rows that share a table section and its anchors), driver (a key of
// bench/drivers.mjs), threads, env, and the driver's own parameters. `kernel` is pinned with
// PATHWISE_FORCE_KERNEL; a trial whose kernel the CPU lacks is reported as skipped. `heavy`
// trials (minutes each, or a model zoo to export) run only with `--heavy`; `repetitions`
// overrides the model's warm-up and sample counts (a heavy explanation: one timed call, no
// warm-up beyond loading the model); `timeoutMinutes` the child's limit (default 15).

/**
 * Models the explain trials use. A model is a function returning what the drivers need:
 *   { onnx: path to an .onnx file (for pathwise and onnxruntime) or bytes,
 *     inputs: () => Float32Array of `count` inputs back to back,
 *     inputNpy?: path of an .npy the PyTorch reference reads (it is skipped without one) }
 * or a builder: build() returning a layer spec with seeded random weights, and ortBytes() its ONNX
 * bytes for onnxruntime and the PyTorch scripts; or `torchvision: { name, classes }`, exported on
 * demand (drivers.mjs, exportedTorchvision).
 */
let vgg16, toyCifar;
const vgg16Cached = () => (vgg16 ??= vgg16Spec(1, 224));
const toyCifarCached = () => (toyCifar ??= toyCifarSpec(3));

// Full-size torchvision classifiers that pathwise explains (tools/reference/export_torchvision.py
// builds them: random seeded weights, BatchNorm statistics randomised, classifier rescaled).
// resnet18 and mobilenet_v2 run by default, the rest of the zoo with --heavy.
export const torchvisionZoo = ['alexnet', 'vgg16', 'resnet50', 'resnext50_32x4d', 'wide_resnet50_2', 'squeezenet1_1',
  'densenet121', 'googlenet', 'inception_v3', 'mobilenet_v2', 'shufflenet_v2_x1_0', 'mnasnet1_0', 'regnet_x_400mf'];
const torchvisionEntry = (name, classes) => {
  const size = name === 'inception_v3' ? 299 : 224;
  return {
    title: `torchvision ${name} (full size, ${size}×${size}, random weights, ${classes} classes)`,
    torchvision: { name, classes },
    inputShape: [3, size, size],
    flops: () => 0,
    repetitions: { warmup: 1, minSamples: 3, maxSamples: 20 },
  };
};

export const models = {
  fashion_mlp: {
    title: 'Fashion MLP 784-256-128-64-10',
    onnx: 'test/fixtures/models/fashion_mlp.onnx',
    ortOnnx: 'test/fixtures/models/fashion_mlp_dyn.onnx', // same weights, dynamic batch
    inputShape: [1, 28, 28],
    inputNpy: 'test/fixtures/fashion_mlp/inputs.npy',
  },
  fashion_cnn: {
    title: 'Fashion CNN conv16-pool-conv32-pool-128-10',
    onnx: 'test/fixtures/models/fashion_cnn.onnx',
    ortOnnx: 'test/fixtures/models/fashion_cnn_dyn.onnx', // same weights, dynamic batch
    inputShape: [1, 28, 28],
    inputNpy: 'test/fixtures/fashion_cnn/inputs.npy',
    // 0.76 MMAC per forward; explanation at depth all ≈ 17.6 MFLOP per example (explainFlopsSpec).
    flops: (batch, trial) => explainFlopsSpec(fashionCnnShape, batch, trial.depth),
  },
  // VGG16 shape (13 conv + 5 pools, 25088-256-64-10 head) with seeded He weights:
  // test/helpers/shaped-models.mjs vgg16Spec(1, 224), as the tests build it. ortBytes: the same
  // network as ONNX for onnxruntime. One forward is 15.35 GMAC (30.7 GFLOP). FLOPs of an explanation
  // at depth 5 (the five top ReLUs: conv5_1..5_3 and the two head ReLUs) by explainFlopsSpec: forward
  // 15.35 + C=10 Jacobian rows through conv5_2, conv5_3 and the head 10 × 0.931 + masked forward
  // 0.931 + input VJP ≈ forward 15.35 ≈ 40.95 GMAC ≈ 81.9 GFLOP (a plain "forward + VJP" count,
  // without the class rows, would be 61.4 GFLOP).
  vgg16: {
    title: 'VGG16-shaped 224×224, 25088-256-64-10 head, seeded',
    build: () => ({ spec: vgg16Cached() }),
    ortBytes: () => specToOnnx(vgg16Cached()),
    inputShape: [3, 224, 224],
    flops: (batch, trial) => trial.driver === 'pathwise-forward'
      ? 2 * batch * 15353070208 // forwardMacs(vgg16Spec(1, 224))
      : explainFlopsSpec(vgg16Cached(), batch, trial.depth),
    // One explanation takes seconds: 1 warm-up call, then exactly 3 timed calls.
    repetitions: { warmup: 1, minSamples: 3, maxSamples: 3 },
  },
  // The authors' toy CIFAR CNN shape (docs/method.md §11.3) with seeded He weights
  // (support/toy-cifar.mjs); its ONNX bytes serve onnxruntime and the PyTorch reference, as for
  // the VGG16 layout. The input is the bench's seeded uniform [-1, 1) image.
  toy_cifar: {
    title: 'toy CIFAR CNN 3×32×32 conv32-pool-conv64-pool-conv128-pool-256-10, seeded',
    build: () => ({ spec: toyCifarCached() }),
    ortBytes: () => specToOnnx(toyCifarCached()),
    inputShape: [3, 32, 32],
    // One forward is 5.21 MMAC (10.4 MFLOP); an explanation at depth all ≈ 118 MFLOP (explainFlopsSpec).
    flops: (batch, trial) => trial.driver === 'pathwise-forward'
      ? 2 * batch * forwardMacs(toyCifarCached())
      : explainFlopsSpec(toyCifarCached(), batch, trial.depth),
  },
  // Full-size torchvision classifiers with random weights, exported by
  // tools/reference/export_torchvision.py when a trial first needs them (drivers.mjs,
  // exportedTorchvision); the input is the export's seeded N(0, 1) image. No FLOP count: the
  // dense-chain count of explainFlops does not apply to these DAGs.
  torchvision_resnet18_c1000: torchvisionEntry('resnet18', 1000),
  ...Object.fromEntries(torchvisionZoo.map((name) => [`torchvision_${name}_c10`, torchvisionEntry(name, 10)])),
  torchvision_resnet18_c10: torchvisionEntry('resnet18', 10),
};

const kernels = ['avx512', 'avx2'];
const gemmShapes = [
  { shape: [512, 512, 512], label: '512×512×512' },
  { shape: [10, 4096, 4096], label: '10×4096×4096' },
];

export const trials = [];

for (const { shape, label } of gemmShapes) {
  for (const threads of [1, 2]) {
    const group = `GEMM ${label}, ${threads} thread${threads > 1 ? 's' : ''}`;
    const base = { group, shape, threads, env: { PATHWISE_THREADS: String(threads) } };
    // The baseline first: onnxruntime-node MatMul with B as a graph input (it packs B on every
    // run, as our GEMM does) and as a constant initializer (it packs B once, at load).
    trials.push({ ...base, id: `gemm-${shape.join('x')}-t${threads}-ort`, driver: 'ort-matmul', bInitializer: false, baseline: true });
    trials.push({ ...base, id: `gemm-${shape.join('x')}-t${threads}-ort-init`, driver: 'ort-matmul', bInitializer: true });
    for (const kernel of kernels) {
      trials.push({ ...base, id: `gemm-${shape.join('x')}-t${threads}-${kernel}-nn`, driver: 'pathwise-gemm', kernel, transB: false, env: { ...base.env, PATHWISE_FORCE_KERNEL: kernel } });
    }
    trials.push({ ...base, id: `gemm-${shape.join('x')}-t${threads}-avx512-nt`, driver: 'pathwise-gemm', kernel: 'avx512', transB: true, env: { ...base.env, PATHWISE_FORCE_KERNEL: 'avx512' } });
  }
}

for (const model of ['fashion_mlp', 'fashion_cnn']) {
  for (const [mode, batch] of [['latency', 1], ['throughput', 64]]) {
    const group = `${model} ${mode} (batch ${batch}, width 16, depth all)`;
    const common = { group, model, batch, width: 16, depth: 'all' };
    // The PyTorch reference at 1 and 2 threads (torch.set_num_threads; Debian's build defaults to
    // 1 here), explaining one input after another (the speed-up column's anchor at 1 thread);
    // skipped without /usr/bin/python3 + torch.
    trials.push({ ...common, id: `${model}-${mode}-torch-t1`, driver: 'torch-reference', threads: 1 });
    trials.push({ ...common, id: `${model}-${mode}-torch-t2`, driver: 'torch-reference', threads: 2 });
    for (const threads of [1, 2]) {
      const env = { PATHWISE_THREADS: String(threads) };
      trials.push({ ...common, id: `${model}-${mode}-pathwise-t${threads}`, driver: 'pathwise-explain', threads, env });
      if (batch === 1) trials.push({ ...common, id: `${model}-${mode}-pathwise-async-t${threads}`, driver: 'pathwise-explain', async: true, threads, env });
      trials.push({ ...common, id: `${model}-${mode}-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    }
  }
}

// The authors' toy CIFAR CNN, like the Fashion latency trials (batch 1, width 16, depth all): the
// PyTorch reference on the spec's ONNX bytes (written to a temporary folder with the seeded
// input), pathwise, onnxruntime's forward and a PyTorch input gradient.
{
  const group = 'toy_cifar latency (batch 1, width 16, depth all)';
  const common = { group, model: 'toy_cifar', batch: 1, width: 16, depth: 'all' };
  for (const threads of [1, 2]) {
    const env = { PATHWISE_THREADS: String(threads) };
    trials.push({ ...common, id: `toy_cifar-latency-torch-t${threads}`, driver: 'torch-reference', threads });
    trials.push({ ...common, id: `toy_cifar-latency-pathwise-t${threads}`, driver: 'pathwise-explain', threads, env });
    trials.push({ ...common, id: `toy_cifar-latency-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    trials.push({ ...common, id: `toy_cifar-latency-torch-grad-t${threads}`, driver: 'torch-gradient', threads });
  }
}

// The paper's VGG16 layout (batch 1, width 64): explanations at depth 5 and depth 'all' next to
// our own forward, onnxruntime's forward of the same network (ONNX bytes built from the spec), a
// PyTorch input gradient and the PyTorch reference at depth 5 on that ONNX file (seconds per
// call: one warm-up and three samples). Depth 'all' (15 path layers): one timed call.
{
  const group = 'vgg16 layout (batch 1, 224×224, width 64)';
  const common = { group, model: 'vgg16', batch: 1, width: 64 };
  for (const threads of [1, 2]) {
    const env = { PATHWISE_THREADS: String(threads) };
    trials.push({ ...common, id: `vgg16-w64d5-torch-t${threads}`, driver: 'torch-reference', depth: 5, threads, referenceSamples: 3 });
    trials.push({ ...common, id: `vgg16-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    trials.push({ ...common, id: `vgg16-forward-t${threads}`, driver: 'pathwise-forward', threads, env });
    trials.push({ ...common, id: `vgg16-torch-grad-t${threads}`, driver: 'torch-gradient', threads });
    trials.push({ ...common, id: `vgg16-w64d5-t${threads}`, driver: 'pathwise-explain', depth: 5, threads, env });
    // 8.1 s a call on the old engine (1 thread, loaded machine): one timed call, no warm-up.
    trials.push({ ...common, id: `vgg16-w64dall-t${threads}`, driver: 'pathwise-explain', depth: 'all', threads, env,
      repetitions: { warmup: 0, minSamples: 1, maxSamples: 1 }, timeoutMinutes: 60 });
  }
}

// Full-size torchvision classifiers (batch 1): onnxruntime's forward of the exported ONNX file
// (the anchor: what one inference costs), our forward of the same file, a PyTorch input gradient
// of the same network (the torchvision module rebuilt with the export's seed) and 'official'
// explanations. resnet18 with 10 and 1000 classes (the ImageNet head) at width 64 depth 5 and at
// width 16 depth 'all' (the default depth: one timed call; heavy for 1000 classes);
// mobilenet_v2 at width 64 depth 5; with --heavy, the rest of the zoo at width 64 depth 5.
// Skipped with a message when /usr/bin/python3 cannot import torch, torchvision and onnx.
const torchvisionRuns = [
  { name: 'resnet18', classes: 10, configs: [[64, 5], [16, 'all']] },
  { name: 'resnet18', classes: 1000, configs: [[64, 5], [16, 'all']], heavyConfigs: [[16, 'all']] },
  { name: 'mobilenet_v2', classes: 10, configs: [[64, 5]] },
  ...torchvisionZoo.filter((n) => n !== 'mobilenet_v2').map((name) => ({ name, classes: 10, configs: [[64, 5]], heavy: true })),
];
for (const { name, classes, configs, heavyConfigs = [], heavy = false } of torchvisionRuns) {
  const model = `torchvision_${name}_c${classes}`;
  const group = `torchvision ${name}, ${classes} classes (batch 1)`;
  // A zoo model's first trial exports it (up to a minute or two), hence the longer limit.
  const common = { group, model, batch: 1, ...(heavy ? { heavy, timeoutMinutes: 60 } : {}) };
  const key = `tv-${name}-c${classes}`;
  for (const threads of [1, 2]) {
    const env = { PATHWISE_THREADS: String(threads) };
    trials.push({ ...common, id: `${key}-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    trials.push({ ...common, id: `${key}-forward-t${threads}`, driver: 'pathwise-forward', threads, env });
    trials.push({ ...common, id: `${key}-torch-grad-t${threads}`, driver: 'torch-gradient', threads });
    for (const [width, depth] of configs) {
      const slow = depth === 'all';
      const isHeavy = heavy || heavyConfigs.some(([w, d]) => w === width && d === depth);
      trials.push({
        ...common, id: `${key}-w${width}d${depth}-t${threads}`, driver: 'pathwise-explain', width, depth, threads, env,
        ...(isHeavy ? { heavy: true } : {}),
        ...(slow ? { repetitions: { warmup: 0, minSamples: 1, maxSamples: 1 }, timeoutMinutes: 60 } : {}),
      });
    }
  }
}

/**
 * The speed targets of issue #15, printed as a summary at the end of a run and stored in its JSON.
 * Each is a ratio of per-example times (best / batch) of trials of the same run: value = num / den,
 * met when value ≤ max (or ≥ min). `num` and `den` are a trial id or a list of ids, of which the
 * fastest that ran counts. Ours runs at the target's thread count N; an anchor (onnxruntime, the
 * PyTorch reference, the PyTorch gradient) counts with its best at up to N threads: on the shared
 * 2-core machine torch at 2 threads ran 2–25× slower than at 1 (fashion_cnn reference 13.7 ms at 1
 * thread, 76.9 ms at 2), which would otherwise "meet" a target by the anchor's bad moment. A target
 * whose trials did not run (filtered out, heavy without --heavy, skipped) is reported as not measured.
 */
export const targets = [];
for (const threads of [1, 2]) {
  const t = `t${threads}`, th = `${threads} thread${threads > 1 ? 's' : ''}`;
  const upTo = (prefix) => (threads === 1 ? [`${prefix}t1`] : [`${prefix}t1`, `${prefix}t2`]);
  targets.push(
    { measure: `resnet18 1000 classes, explain w64 d5 / onnxruntime forward (${th})`, num: `tv-resnet18-c1000-w64d5-${t}`, den: upTo('tv-resnet18-c1000-ort-forward-'), max: 40 },
    { measure: `resnet18 1000 classes, explain w16 d'all' / onnxruntime forward (${th})`, num: `tv-resnet18-c1000-w16dall-${t}`, den: upTo('tv-resnet18-c1000-ort-forward-'), max: 500 },
    { measure: `VGG16 layout, explain w64 d5 / onnxruntime forward (${th})`, num: `vgg16-w64d5-${t}`, den: upTo('vgg16-ort-forward-'), max: 4 },
    { measure: `VGG16 layout, explain w64 d5 / PyTorch input gradient (${th})`, num: `vgg16-w64d5-${t}`, den: upTo('vgg16-torch-grad-'), max: 1 },
    { measure: `VGG16 layout, our forward / onnxruntime forward (${th})`, num: `vgg16-forward-${t}`, den: upTo('vgg16-ort-forward-'), max: 1 },
    { measure: `resnet18 1000 classes, our forward / onnxruntime forward (${th})`, num: `tv-resnet18-c1000-forward-${t}`, den: upTo('tv-resnet18-c1000-ort-forward-'), max: 1 },
    ...['fashion_mlp', 'fashion_cnn', 'toy_cifar'].map((model) => ({
      measure: `${model} w16 d'all' batch 1, speed-up over the PyTorch reference (${th})`,
      num: upTo(`${model}-latency-torch-`), den: `${model}-latency-pathwise-${t}`, min: 80,
    })),
    { measure: `fashion_cnn w16 d'all', batch 64 per example / batch 1 (${th})`, num: `fashion_cnn-throughput-pathwise-${t}`, den: `fashion_cnn-latency-pathwise-${t}`, max: 1 },
  );
}
