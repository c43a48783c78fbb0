// The cost of each explanation feature relative to a plain explain, on the Fashion MLP and CNN
// (median of 200 calls after warm-up, one thread of the calling process):
//   node bench/features.mjs
import { loadModelSync, explainSync } from '../dist/index.js';

const root = new URL('..', import.meta.url).pathname;
const time = (f, reps) => {
  for (let i = 0; i < 10; i++) f();
  const t = [];
  for (let i = 0; i < reps; i++) {
    const s = process.hrtime.bigint();
    f();
    t.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  t.sort((a, b) => a - b);
  return t[t.length >> 1];
};

const base = { width: 16 };
const features = [
  ["official (plain)", base],
  ["semantics 'linear'", { ...base, semantics: 'linear' }],
  ["decompose by unit", { ...base, decompose: { by: 'unit' } }],
  ["decompose top 3", { ...base, decompose: { by: { top: 3 } } }],
  ["region (a 14×14 box)", { ...base, region: { x: 4, y: 4, width: 14, height: 14 } }],
  ["paths k = 10", { ...base, paths: { k: 10 } }],
  ["width 'all'", {}],
];
console.log('| model | feature | ms / explanation | × plain |\n| --- | --- | --- | --- |');
for (const [name, file] of [['Fashion MLP', 'fashion_mlp.onnx'], ['Fashion CNN', 'fashion_cnn.onnx']]) {
  const model = loadModelSync(`${root}test/fixtures/models/${file}`);
  const x = new Float32Array(784).map((_, i) => Math.sin(i * 0.1) * 1.2);
  const plain = time(() => explainSync(model, x, base), 200);
  for (const [label, options] of features) {
    const ms = label.startsWith('official') ? plain : time(() => explainSync(model, x, options), 200);
    console.log(`| ${name} | ${label} | ${ms.toFixed(3)} | ${(ms / plain).toFixed(2)} |`);
  }
  model.dispose();
}
