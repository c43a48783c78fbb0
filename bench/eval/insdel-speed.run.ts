/**
 * Insertion + deletion of one image: the engine's batched curves versus the straightforward
 * per-step loop (the Reference's structure: one forward per state, bench/eval/insdel-loop.ts), in
 * one process, on the Fashion-MNIST MLP and CNN and on a VGG16-shaped network (seeded weights, 3 × 224 ×
 * 224, 224 steps of 224 pixels). Both produce the same curves (checked).
 *
 *   npx vitest run --config bench/eval/vitest.config.ts insdel-speed
 *   (environment: VGG_SIZE=224, REPEATS=20)
 */
import { it } from 'vitest';
import { join } from 'node:path';
import { loadModel, loadModelSync, attributeSync, insertionDeletionSync, kernelInfo, type Model } from '../../lib/index.js';
import { loadNpyDataset } from '../../lib/io/datasets.js';
import { vgg16Spec, seededNormal } from '../../test/helpers/shaped-models.mjs';
import { loopCurve } from './insdel-loop.js';

const root = join(import.meta.dirname, '..', '..');
const arg = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function compare(name: string, model: Model, x: Float32Array, repeats: number, engineOnePerState = true) {
  const a = attributeSync(model, x, { method: 'saliency' }).attribution;
  const batched: number[] = [], engineLoop: number[] = [], jsLoop: number[] = [];
  let diff = 0, forwards = 0;
  for (let r = 0; r < repeats; r++) {
    const b = timed(() => insertionDeletionSync(model, x, a));
    batched.push(b.ms);
    const e = engineOnePerState ? timed(() => insertionDeletionSync(model, x, a, { chunkSize: 1, reuseKnownStates: false })) : b;
    if (engineOnePerState) engineLoop.push(e.ms);
    const l = timed(() => [loopCurve(model, x, a, { mode: 'ins' }), loopCurve(model, x, a, { mode: 'del' })]);
    jsLoop.push(l.ms);
    diff = Math.max(diff, maxDiff(b.value.insertion!, l.value[0]), maxDiff(b.value.deletion!, l.value[1]),
      maxDiff(e.value.insertion!, l.value[0]), maxDiff(e.value.deletion!, l.value[1]));
    forwards = b.value.insertion!.length * 2;
  }
  const mb = median(batched), ml = median(jsLoop);
  const me = engineLoop.length ? median(engineLoop) : NaN;
  const engine = engineLoop.length ? [me.toFixed(1), `${(me / mb).toFixed(2)}×`] : ['(not run)', '–'];
  console.log(`| ${name} | ${forwards} | ${mb.toFixed(1)} | ${engine[0]} | ${ml.toFixed(1)} | ${(ml / mb).toFixed(2)}× | ${engine[1]} | ${diff.toExponential(1)} |`);
}

it('insertion + deletion: batched engine vs per-step loop', async () => {
const repeats = arg('REPEATS', 20);
console.log(`kernels: ${kernelInfo().active}; medians of ${repeats} (Fashion) / 1 (VGG16) runs, ms per image (insertion + deletion)`);
console.log('| network | curve points | engine, batched | engine, 1 forward per state | per-step loop (Reference structure) | loop / batched | engine 1-per-state / batched | max curve diff |');
console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
for (const [name, label] of [['fashion_mlp', 'Fashion MLP (1×28×28, 28 steps)'], ['fashion_cnn', 'Fashion CNN (1×28×28, 28 steps)']]) {
  const model = await loadModel(join(root, 'test', 'fixtures', 'models', `${name}.onnx`));
  const ds = loadNpyDataset(join(root, 'test', 'fixtures', 'fashion_cnn_dither', 'inputs.npy'), { count: 1 });
  compare(label, model, ds.inputs, repeats);
  model.dispose();
}
{
  const size = arg('VGG_SIZE', 224);
  const model = loadModelSync(vgg16Spec(1, size));
  const rand = seededNormal(7);
  const x = new Float32Array(3 * size * size).map(() => rand());
  // One forward of VGG16 at 224 × 224 takes about a second here: the engine's one-per-state run
  // (another 450 forwards) is skipped unless VGG_ENGINE_LOOP=1.
  compare(`VGG16-shaped (3×${size}×${size}, ${size} steps)`, model, x, 1, process.env.VGG_ENGINE_LOOP === '1');
  model.dispose();
}
});
