// Large-class explanations against the model's own forward, in one process (issue #15 item 1):
//   node bench/large/resnet-classes.mjs MODEL.onnx [--threads 2] [--rounds 3] [--width 64 --depth 5] ...
// MODEL.onnx: e.g. tools/reference/export_torchvision.py --classes 1000 --no-references OUT resnet18.
// Each round times one onnxruntime-node forward (best of 5) and one explainSync, interleaved, and
// prints: explain ms, the ratio to the forward of the same round, minor page faults and CPU % of
// the explain call (process CPU time / wall time), the CPU-time ratio, classChunk and the
// estimate's prediction.
// Configurations: pairs of --width W --depth D (default w64 d5, then w16 depth 'all').
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const args = process.argv.slice(2);
const file = resolve(args[0] ?? '');
const opt = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const threads = Number(opt('--threads', 2));
const rounds = Number(opt('--rounds', 3));
const configs = [];
for (let i = 0; i < args.length; i++)
  if (args[i] === '--width') configs.push({ width: Number(args[i + 1]), depth: args[i + 3] === 'all' ? 'all' : Number(args[i + 3]) });
if (!configs.length) configs.push({ width: 64, depth: 5 }, { width: 16, depth: 'all' });

const pw = await import(resolve(root, 'dist/index.js'));
const ort = createRequire(import.meta.url)('onnxruntime-node');
pw.setThreads(threads);
const model = await pw.loadModel(file);
const session = await ort.InferenceSession.create(file, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' });
const size = model.inputShape.reduce((a, b) => a * b, 1);
const x = Float32Array.from({ length: size }, (_, i) => Math.sin(i * 0.013) * 1.5);
const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, [1, ...model.inputShape]) };
await session.run(feeds);

// Best of 5 forwards: wall ms and process CPU ms (on a shared machine the CPU-time ratio is the
// steadier one: both sides lose the same share of the cores).
async function forwardMs() {
  let best = Infinity, cpu = Infinity;
  for (let i = 0; i < 5; i++) {
    const u0 = process.cpuUsage(), t0 = process.hrtime.bigint();
    await session.run(feeds);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) * 1e-6);
    const u = process.cpuUsage(u0);
    cpu = Math.min(cpu, (u.user + u.system) / 1e3);
  }
  return { wall: best, cpu };
}

for (const c of configs) {
  const est = pw.estimate(model, c);
  let best = null;
  for (let r = 0; r < rounds; r++) {
    const { wall: fwd, cpu: fwdCpu } = await forwardMs();
    const u0 = process.resourceUsage(), t0 = process.hrtime.bigint();
    const e = pw.explainSync(model, x, c);
    const ms = Number(process.hrtime.bigint() - t0) * 1e-6, u1 = process.resourceUsage();
    const cpu = (u1.userCPUTime + u1.systemCPUTime - u0.userCPUTime - u0.systemCPUTime) / 1e3 / ms;
    const cpuMs = (u1.userCPUTime + u1.systemCPUTime - u0.userCPUTime - u0.systemCPUTime) / 1e3;
    const row = { ms: +ms.toFixed(1), forwardMs: +fwd.toFixed(2), ratio: +(ms / fwd).toFixed(1),
      cpuMs: Math.round(cpuMs), forwardCpuMs: +fwdCpu.toFixed(2), cpuRatio: +(cpuMs / fwdCpu).toFixed(1), faults: u1.minorPageFault - u0.minorPageFault,
      cpuPercent: Math.round(cpu * 100), classChunk: e.stats.classChunk, units: e.layers.map((l) => l.units.length).join(','),
      maxRssMB: Math.round(u1.maxRSS / 1024) };
    console.log(JSON.stringify({ width: c.width, depth: c.depth, round: r, ...row }));
    if (!best || row.ratio < best.ratio) best = row;
  }
  console.log(JSON.stringify({ width: c.width, depth: c.depth, best: true, ...best, predictedMs: Math.round(est.predictedSeconds * 1e3),
    estimateClassChunk: est.classChunk }));
}
model.dispose();
