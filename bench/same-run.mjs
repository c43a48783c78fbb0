// Same-process, interleaved timing of our forward (or explainSync, width 64, depth 5) against
// onnxruntime-node's forward of the same network: the ratio a busy machine still measures, since
// both meet the same load call by call. Best of N wall time, and best of N process CPU time (user +
// system; at 1 thread the figure least moved by other processes).
//   PATHWISE_THREADS=1 node bench/same-run.mjs vgg16 1 [N] [forward|explain]
//   PATHWISE_THREADS=2 node bench/same-run.mjs resnet18 2     (torchvision models: exported by a
//                                                            tv-* trial of npm run bench first)
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [which = 'vgg16', threadsArg = '1', countArg = '5', mode = 'forward'] = process.argv.slice(2);
const threads = Number(threadsArg), count = Number(countArg);
const root = new URL('..', import.meta.url).pathname;
const ort = createRequire(import.meta.url)('onnxruntime-node');
const pw = await import(join(root, 'dist', 'index.js'));
let model, source, x;
if (which === 'vgg16') {
  const { vgg16Spec } = await import('../test/helpers/shaped-models.mjs');
  const { specToOnnx } = await import('./support/onnx.mjs');
  const spec = vgg16Spec(1, 224);
  model = pw.loadModelSync(spec);
  source = specToOnnx(spec);
  x = new Float32Array(3 * 224 * 224).map((_, i) => Math.sin(i * 0.37));
} else {
  const dir = join(tmpdir(), 'pathwise-bench-torchvision');
  source = join(dir, `${which}-c10.onnx`);
  model = pw.loadModelSync(source);
  x = pw.readNpyFile(join(dir, `${which}-c10`, 'input.npy')).data.slice(0, 3 * 224 * 224);
}
const session = await ort.InferenceSession.create(source, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, 3, 224, 224]) };
const ours = mode === 'explain' ? () => pw.explainSync(model, x, { width: 64, depth: 5 }) : () => model.forward(x);
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e3; };
const timed = async (fn) => {
  const c = cpu(), t = process.hrtime.bigint();
  await fn();
  return [Number(process.hrtime.bigint() - t) / 1e6, cpu() - c];
};
ours();
await session.run(feeds);
const best = { ours: [Infinity, Infinity], ort: [Infinity, Infinity] };
for (let r = 0; r < count; r++) {
  for (const [key, fn] of [['ours', ours], ['ort', () => session.run(feeds)]]) {
    const [wall, c] = await timed(fn);
    best[key] = [Math.min(best[key][0], wall), Math.min(best[key][1], c)];
  }
}
const [ow, oc] = best.ours, [rw, rc] = best.ort;
console.log(`${which} ${mode} threads ${threads}: ours ${ow.toFixed(1)} ms, onnxruntime ${rw.toFixed(1)} ms, ratio ${(ow / rw).toFixed(2)}; ` +
  `CPU ${oc.toFixed(1)} / ${rc.toFixed(1)} ms = ${(oc / rc).toFixed(2)} (best of ${count})`);
