// Issue 6, part 4: resources. A VGG16-shaped explanation at depth 'all' stays within 2 GB of RSS
// and within the engine's own working-memory estimate (which maxMemoryBytes relies on); a model
// that needs more than the bound fails fast, before allocating; batches are chunked to the bound;
// the leak tests are in reliability-leaks.test.ts.
//
// Peak RSS is the process's VmHWM after resetting it (/proc/self/clear_refs), so it measures the
// call alone; each vitest file runs in its own process. The engine's block cache (sweep blocks kept
// from one call for the next, DEVELOPERS.md) is off in this file: blocks an earlier test left
// would sit in the RSS before a call, and a call that frees them to allocate its own would look
// smaller than it is. The full-size runs are opt-in:
//   PATHWISE_HEAVY=1       VGG16 at 224 × 224 (about 10 s; the default is 32 × 32)
import { describe, it, expect } from 'vitest';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadModelSync, explainSync, explainBatchSync, PathwiseError, type Model } from '../lib/index.js';
import { seededNormal, vgg16Spec } from './helpers/shaped-models.mjs';

// The block cache off (see above): the addon reads this when its cache is first used, at the first
// explanation, so setting it after the imports is in time.
process.env.PATHWISE_BLOCK_CACHE = '0';

// RSS means nothing under AddressSanitizer (shadow memory, quarantine): skipped in sanitizer runs.
const linux = existsSync('/proc/self/clear_refs') && !/libasan/.test(process.env.LD_PRELOAD ?? '');
const MiB = 2 ** 20;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function status(field: 'VmHWM' | 'VmRSS'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

/** Runs fn with the peak-RSS counter reset: { peak: VmHWM after, base: VmRSS before }. */
function peakOf<T>(fn: () => T): { value: T; base: number; peak: number } {
  gc();
  writeFileSync('/proc/self/clear_refs', '5');
  const base = status('VmRSS');
  const value = fn();
  return { value, base, peak: status('VmHWM') };
}

/** The engine's estimate of one example's working memory, from the PATHWISE_MEMORY_LIMIT message. */
function estimateMiB(model: Model, x: Float32Array, options: object = {}): number {
  try {
    explainSync(model, x, { ...options, maxMemoryBytes: 1 });
  } catch (e) {
    expect(e).toBeInstanceOf(PathwiseError);
    return Number(/needs about (\d+) MiB/.exec((e as Error).message)![1]);
  }
  throw new Error('expected PATHWISE_MEMORY_LIMIT');
}

describe.skipIf(!linux)('memory', () => {
  const size = process.env.PATHWISE_HEAVY ? 224 : 32;

  it(`VGG16-shaped (${size} × ${size}) at depth 'all' stays within 2 GB, and within a tight maxMemoryBytes`, () => {
    const model = loadModelSync(vgg16Spec(1, size));
    const rand = seededNormal(5);
    const x = new Float32Array(model.inputSize).map(() => rand());
    const options = { depth: 'all', width: 64 } as const;
    const { value: ex, base, peak } = peakOf(() => explainSync(model, x, options));
    console.log(`VGG16 ${size}×${size} depth 'all': peak RSS ${(peak / MiB).toFixed(0)} MiB (${((peak - base) / MiB).toFixed(0)} MiB ` +
      `above the ${(base / MiB).toFixed(0)} MiB before the call), ${ex.stats.recomputes} recomputes`);
    expect(ex.layers).toHaveLength(15);
    expect(peak).toBeLessThan(2e9);
    // A bound just above the least explain accepts (one class's Jacobian rows at a time): the same
    // explanation, and the call's working memory stays under the bound. What it returns (an
    // attribution and weights of inputSize floats, the unit lists) comes on top.
    const least = estimateMiB(model, x, options);
    const bound = Math.ceil(least * 1.25 + 1) * MiB;
    const tight = peakOf(() => explainSync(model, x, { ...options, maxMemoryBytes: bound }));
    const used = tight.peak - tight.base;
    console.log(`  with maxMemoryBytes = ${bound / MiB} MiB (the least accepted: ${least} MiB): ${(used / MiB).toFixed(0)} MiB above ` +
      `the ${(tight.base / MiB).toFixed(0)} MiB before the call`);
    expect(tight.value.layers.map((l) => Array.from(l.units))).toEqual(ex.layers.map((l) => Array.from(l.units)));
    expect(used).toBeLessThanOrEqual(bound + 8 * model.inputSize + 16 * MiB);
    model.dispose();
  }, process.env.PATHWISE_HEAVY ? 1_800_000 : 60_000);

  /** Few weights, large activations: [3, H, H] → conv 3×3 (C channels) → relu → maxpool P → dense 16 → relu → dense 10. */
  const wide = (h: number, c: number, pool: number): Model => {
    const rand = seededNormal(9);
    const f = (n: number, scale: number) => new Float32Array(n).map(() => rand() * scale);
    const side = h / pool;
    return loadModelSync({ inputShape: [3, h, h], layers: [
      { type: 'conv', inChannels: 3, outChannels: c, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(27 * c, 0.3), bias: f(c, 0.1) },
      { type: 'relu' }, { type: 'maxpool', kernel: [pool, pool] }, { type: 'flatten' },
      { type: 'dense', in: c * side * side, out: 16, weights: f(16 * c * side * side, 0.05), bias: f(16, 0.1) },
      { type: 'relu' }, { type: 'dense', in: 16, out: 10, weights: f(160, 0.3) },
    ] });
  };

  it('a model that needs more than maxMemoryBytes fails fast with PATHWISE_MEMORY_LIMIT, before allocating', () => {
    // 64 channels of 1024 × 1024 at depth 'all': over 2 GiB even one class at a time (the cached
    // activations alone are ~1.7 GB, and one Jacobian row of the conv output 0.27 GB per block).
    const model = wide(1024, 64, 32);
    const x = new Float32Array(model.inputSize).fill(0.5);
    const t0 = performance.now();
    const { value: error, base, peak } = peakOf(() => {
      try {
        explainSync(model, x);
      } catch (e) {
        return e as PathwiseError;
      }
    });
    expect(performance.now() - t0).toBeLessThan(500);
    expect(error).toBeInstanceOf(PathwiseError);
    expect(error!.code).toBe('PATHWISE_MEMORY_LIMIT');
    expect(error!.message).toMatch(/needs about \d+ MiB .* above maxMemoryBytes = 2147483648/);
    expect(peak - base).toBeLessThan(32 * MiB);
    model.dispose();
  });

  it('bounds the decomposition and the one-way path search by maxMemoryBytes as well', () => {
    // Regression (found by the native fuzzer): their batched VJPs have one row per live unit, group
    // or surviving path node, which the per-example estimate did not count — a decomposition by
    // unit of 2,000 units used ~60 MB under a 1 MiB bound, the exact path search over 20,000 units
    // ~570 MB under a 64 MiB one.
    const f = (n: number, v: (i: number) => number) => new Float32Array(n).map((_, i) => v(i));
    const wideLayer = (units: number) => loadModelSync([
      { type: 'dense', in: 4, out: units, weights: f(4 * units, () => 0.01), bias: f(units, () => 1) },
      { type: 'relu' },
      { type: 'dense', in: units, out: 2, weights: f(2 * units, (i) => (i % 3) - 1), bias: f(2, () => 5) },
      { type: 'relu' },
      { type: 'dense', in: 2, out: 2, weights: new Float32Array([1, -1, 0.5, 2]) },
    ]);
    const x = new Float32Array(4).fill(1);
    const outcome = (model: Model, options: object) => peakOf(() => {
      try {
        return explainSync(model, x, options);
      } catch (e) {
        return e as PathwiseError;
      }
    });
    const small = wideLayer(2000);
    const dec = { decompose: { by: 'unit', layer: 0 }, maxMemoryBytes: 2 ** 20 } as const;
    let r = outcome(small, dec);
    expect(r.value).toBeInstanceOf(PathwiseError);
    expect((r.value as PathwiseError).code).toBe('PATHWISE_MEMORY_LIMIT');
    expect((r.value as PathwiseError).message).toMatch(/the decomposition needs about \d+ MiB/);
    expect(r.peak - r.base).toBeLessThan(8 * MiB);
    r = outcome(small, { ...dec, decompose: { by: { top: 8 }, layer: 0 } }); // 9 rows: fits
    expect((r.value as { decomposition?: { components: unknown[] } }).decomposition?.components).toHaveLength(9);
    expect(r.peak - r.base).toBeLessThan(8 * MiB);

    const wide = wideLayer(20000);
    r = outcome(wide, { paths: { k: 5 }, maxMemoryBytes: 64 * MiB });
    expect((r.value as PathwiseError).code).toBe('PATHWISE_MEMORY_LIMIT');
    expect((r.value as PathwiseError).message).toMatch(/the one-way path search needs about \d+ MiB/);
    expect(r.peak - r.base).toBeLessThan(16 * MiB);
    r = outcome(wide, { paths: { k: 5, maxEdges: 1000 }, maxMemoryBytes: 64 * MiB }); // beam search: fits
    expect((r.value as { paths?: { items: unknown[]; exact: boolean } }).paths).toMatchObject({ exact: false });
    expect(r.peak - r.base).toBeLessThan(64 * MiB);
    small.dispose();
    wide.dispose();
  });

  it('counts a region\'s extra pass in the estimate', () => {
    // Regression (found by the native fuzzer): a region adds a JVP of x ⊙ mask through the frozen
    // network — a third set of activations, gates and routing — that the estimate left out, so a
    // bound just above it was exceeded by about a third.
    const model = wide(256, 16, 8);
    const x = new Float32Array(model.inputSize).map(seededNormal(4));
    const region = { x: 64, y: 64, width: 128, height: 128 };
    const plain = estimateMiB(model, x), regional = estimateMiB(model, x, { region });
    // One more set: the input (3 × 256²), the conv's values (16 × 256²) and the ReLU's values and
    // gates (2 × 16 × 256²), … — 3.4 M floats, 13 MiB.
    expect(regional - plain).toBeGreaterThanOrEqual(12);
    const bound = Math.ceil(regional * 1.1) * MiB;
    const r = peakOf(() => explainSync(model, x, { region, maxMemoryBytes: bound }));
    expect(r.value.regionAttribution).toHaveLength(model.inputSize);
    expect(r.peak - r.base).toBeLessThan(bound + 16 * model.inputSize + 8 * MiB);
    model.dispose();
  });

  it('chunks a batch so that its working memory stays near maxMemoryBytes', () => {
    const model = wide(96, 16, 8);
    const n = 12;
    const xs = new Float32Array(n * model.inputSize).map(seededNormal(7));
    const per = estimateMiB(model, xs.subarray(0, model.inputSize));
    const bound = 3 * per * MiB; // three examples per chunk
    const { value: whole, base: base1, peak: peak1 } = peakOf(() => explainBatchSync(model, xs, { width: 8 }));
    const { value: chunked, base, peak } = peakOf(() => explainBatchSync(model, xs, { width: 8, maxMemoryBytes: bound }));
    expect(chunked.map((e) => e.layers.map((l) => Array.from(l.units)))).toEqual(whole.map((e) => e.layers.map((l) => Array.from(l.units))));
    const output = n * 8 * model.inputSize;
    console.log(`batch of ${n}: ${((peak1 - base1) / MiB).toFixed(0)} MiB whole, ${((peak - base) / MiB).toFixed(0)} MiB in chunks of 3 ` +
      `(estimate ${per} MiB per example)`);
    expect(peak - base).toBeLessThan(bound + output + 8 * MiB);
    expect(peak - base).toBeLessThan(peak1 - base1);
    model.dispose();
  });
});
