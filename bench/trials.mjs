// The trials of `npm run bench`, as data (better-sqlite3's benchmark/trials.js). Each one runs in
// a fresh `node` process (bench/run-trial.mjs) with `env` added to its environment, so JIT, GC,
// thread pools and the kernel choice cannot leak from one trial into the next.
import { vgg16Spec } from '../test/helpers/shaped-models.mjs';
import { explainFlopsSpec, fashionCnnShape } from './support/flops.mjs';
import { specToOnnx } from './support/onnx.mjs';
//
// Fields: id (unique), group (rows that share a table section and a baseline), driver (a key of
// bench/drivers.mjs), threads, env, and the driver's own parameters. `kernel` is pinned with
// PATHWISE_FORCE_KERNEL; a trial whose kernel the CPU lacks is reported as skipped.

/**
 * Models the explain trials use. A model is a function returning what the drivers need:
 *   { onnx: path to an .onnx file (for pathwise and onnxruntime) or bytes,
 *     inputs: () => Float32Array of `count` inputs back to back,
 *     inputNpy?: path of an .npy the PyTorch reference reads (it is skipped without one) }
 * CNN and VGG16-shaped networks are added here when convolutions land: a builder that makes a
 * layer spec with seeded random weights (and its ONNX bytes for onnxruntime) fits the same slot.
 */
let vgg16;
const vgg16Cached = () => (vgg16 ??= vgg16Spec(1, 224));

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
  // Full-size torchvision classifiers with random weights and a 10-class head, exported by
  // tools/reference/export_torchvision.py when a trial first needs them (drivers.mjs,
  // exportedTorchvision); the input is the export's seeded N(0, 1) image. No FLOP count: the
  // dense-chain count of explainFlops does not apply to these DAGs.
  ...Object.fromEntries(['resnet18', 'mobilenet_v2'].map((name) => [`torchvision_${name}`, {
    title: `torchvision ${name} (full size, 224×224, random weights, 10 classes)`,
    torchvision: { name, classes: 10 },
    inputShape: [3, 224, 224],
    flops: () => 0,
    repetitions: { warmup: 1, minSamples: 3, maxSamples: 20 },
  }])),
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
    // Baseline: the PyTorch reference at 1 and 2 threads (torch.set_num_threads; Debian's build
    // defaults to 1 here), explaining one input after another; skipped without
    // /usr/bin/python3 + torch.
    trials.push({ ...common, id: `${model}-${mode}-torch-t1`, driver: 'torch-reference', threads: 1, baseline: true });
    trials.push({ ...common, id: `${model}-${mode}-torch-t2`, driver: 'torch-reference', threads: 2 });
    for (const threads of [1, 2]) {
      const env = { PATHWISE_THREADS: String(threads) };
      trials.push({ ...common, id: `${model}-${mode}-pathwise-t${threads}`, driver: 'pathwise-explain', threads, env });
      if (batch === 1) trials.push({ ...common, id: `${model}-${mode}-pathwise-async-t${threads}`, driver: 'pathwise-explain', async: true, threads, env });
      trials.push({ ...common, id: `${model}-${mode}-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    }
  }
}

// VGG16-shaped: explain batch 1 at depth 5, width 64, next to our own forward and onnxruntime's
// forward of the same network (ONNX bytes built from the spec), and the PyTorch reference on
// that ONNX file (seconds per call: one warm-up and three samples).
{
  const group = 'vgg16 latency (batch 1, width 64, depth 5)';
  const common = { group, model: 'vgg16', batch: 1, width: 64, depth: 5 };
  // The reference at 1 thread is the baseline; without torch, our forward at 1 thread is.
  trials.push({ ...common, id: 'vgg16-latency-torch-t1', driver: 'torch-reference', threads: 1, referenceSamples: 3, baseline: true });
  trials.push({ ...common, id: 'vgg16-latency-torch-t2', driver: 'torch-reference', threads: 2, referenceSamples: 3 });
  for (const threads of [1, 2]) {
    const env = { PATHWISE_THREADS: String(threads) };
    trials.push({ ...common, id: `vgg16-latency-pathwise-forward-t${threads}`, driver: 'pathwise-forward', threads, env, baseline: threads === 1 });
    trials.push({ ...common, id: `vgg16-latency-pathwise-t${threads}`, driver: 'pathwise-explain', threads, env });
    trials.push({ ...common, id: `vgg16-latency-ort-forward-t${threads}`, driver: 'ort-forward', threads });
  }
}

// Full-size torchvision classifiers: one 'official' explanation (batch 1, width 64, depth 5) next to
// onnxruntime's forward of the same ONNX file, the anchor (how many forwards one explanation
// costs), and our own forward beside it. Skipped with a message when /usr/bin/python3 cannot import torch.
for (const name of ['resnet18', 'mobilenet_v2']) {
  const model = `torchvision_${name}`;
  const group = `torchvision ${name} latency (10 classes, batch 1, width 64, depth 5)`;
  const common = { group, model, batch: 1, width: 64, depth: 5 };
  for (const threads of [1, 2]) {
    trials.push({ ...common, id: `tv-${name}-latency-ort-forward-t${threads}`, driver: 'ort-forward', threads });
    trials.push({ ...common, id: `tv-${name}-latency-pathwise-forward-t${threads}`, driver: 'pathwise-forward', threads, env: { PATHWISE_THREADS: String(threads) } });
    trials.push({ ...common, id: `tv-${name}-latency-pathwise-t${threads}`, driver: 'pathwise-explain', threads, env: { PATHWISE_THREADS: String(threads) } });
  }
}
