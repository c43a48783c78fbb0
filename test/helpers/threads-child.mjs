// Child process of test/threads.test.ts: explains a fixed set of inputs with the thread count of
// its environment (PATHWISE_THREADS) and prints one SHA-256 per explanation of every number it
// returns, so the parent can compare thread counts bit for bit.
//   node threads-child.mjs <dist/index.js> <fashion_cnn.onnx>
import { createHash } from 'node:crypto';

const { loadModelSync, explainSync, explainBatchSync } = await import(process.argv[2]);

function seeded(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const filled = (count, scale, rand) => Float32Array.from({ length: count }, () => rand() * scale);

function hash(ex) {
  const h = createHash('sha256');
  for (const a of [ex.attribution, ex.weights, ex.logits, ex.pathLogits, new Float64Array([ex.bias])])
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  for (const l of ex.layers) h.update(new Uint8Array(l.units.buffer, l.units.byteOffset, l.units.byteLength));
  return h.digest('hex');
}

const out = [];
// A VGG-like block at 32 × 32 with 64 channels: its im2col and col2im blocks (576 × 1024) are
// large enough to run on the pool, and its products are parallel.
const rand = seeded(3);
const conv = (cin, cout) => ({ type: 'conv', inChannels: cin, outChannels: cout, kernel: [3, 3], pads: [1, 1, 1, 1],
  weights: filled(cout * cin * 9, Math.sqrt(2 / (cin * 9)), rand), bias: filled(cout, 0.01, rand) });
const vggish = loadModelSync({
  inputShape: [3, 32, 32],
  layers: [conv(3, 64), { type: 'relu' }, conv(64, 64), { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    conv(64, 64), { type: 'relu' }, { type: 'flatten' },
    { type: 'dense', in: 64 * 16 * 16, out: 10, weights: filled(10 * 64 * 256, 0.01, rand), bias: filled(10, 0.01, rand) }],
});
const x = filled(3 * 32 * 32, 1, rand);
for (const options of [{ width: 16 }, { width: 'all', depth: 1 }, { width: 8, semantics: 'linear' }]) out.push(hash(explainSync(vggish, x, options)));
// A batch of 16 on the Fashion CNN: with more than one thread its items are explained in parallel.
const cnn = loadModelSync(process.argv[3]);
const xs = filled(16 * 784, 1, rand);
for (const ex of explainBatchSync(cnn, xs, { width: 16 })) out.push(hash(ex));
console.log(JSON.stringify(out));
