// Issue 6, part 4: explain calls (sync and async, and every rejection path) do not leak: RSS stays
// flat after warm-up. Its own file, so its own process: after the memory tests' large
// explanations, the allocator holds tens of MB of free but resident memory, and a small leak fills
// that before RSS moves (the 512-bytes-per-call control read 700–1000 KiB per 10,000 calls there,
// 7,000–9,300 here).
//   PATHWISE_LEAK_CALLS=N  calls per mode (default 20,000 after a warm-up of 10,000; the README's figure: 100,000)
import { describe, it, expect } from 'vitest';
import { readFileSync, existsSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadModelSync, explain, explainSync } from '../lib/index.js';
import { inputs, smallCnn } from './helpers/small-models.js';

// RSS means nothing under AddressSanitizer (shadow memory, quarantine): skipped in sanitizer runs.
const linux = existsSync('/proc/self/clear_refs') && !/libasan/.test(process.env.LD_PRELOAD ?? '');
const MiB = 2 ** 20;
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function status(field: 'VmRSS'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))![1]) * 1024;
}

describe.skipIf(!linux)('leaks', () => {
  const calls = Number(process.env.PATHWISE_LEAK_CALLS ?? 20_000);
  const timeout = Math.max(60_000, calls * 5); // ms: 1.5 × calls at up to 3 ms each
  const model = loadModelSync(smallCnn(5));
  const xs = inputs(64, model.inputSize, 3);
  const options = [{ width: 3 }, { width: 'all', semantics: 'linear' }, { depth: 2, decompose: { by: 'channel' } }, { region: { x: 1, y: 1, width: 4, height: 4 } }] as const;

  /**
   * RSS (after a full GC) sampled 11 times over `calls` calls, after a warm-up of calls / 2 (at
   * least 2,000) and bursts of 64 calls at once, which let the JIT, V8's heap and the allocator's
   * per-thread arenas (the thread pool's four threads) reach their working size.
   */
  async function slope(run: (i: number) => unknown): Promise<{ perTenK: number; samples: number[] }> {
    const warmup = Math.max(2000, calls / 2);
    for (let i = 0; i < warmup; i++) await run(i);
    for (let burst = 0; burst < 20; burst++) await Promise.all(Array.from({ length: 64 }, (_, i) => run(i)));
    const samples: number[] = [];
    const step = calls / 10;
    for (let i = 0; i <= calls; i++) {
      if (i % step === 0) {
        gc();
        samples.push(status('VmRSS'));
      }
      if (i < calls) await run(i);
    }
    // The median growth of the ten intervals, in bytes per call: a leak grows every interval,
    // while the allocator and V8 move RSS in occasional steps, which a median ignores.
    const growth = samples.slice(1).map((v, k) => (v - samples[k]) / step).sort((a, b) => a - b);
    const b = (growth[4] + growth[5]) / 2;
    return { perTenK: (b * 10_000) / 1024, samples };
  }

  for (const mode of ['sync', 'async'] as const) {
    it(`${mode} explain: RSS flat after warm-up over ${calls} calls`, async () => {
      const explainOne = (i: number) =>
        mode === 'sync' ? explainSync(model, xs[i % xs.length], options[i % options.length]) : explain(model, xs[i % xs.length], options[i % options.length]);
      const { perTenK, samples } = await slope(explainOne);
      console.log(`leak ${mode}: ${calls} calls, RSS ${samples.map((s) => (s / MiB).toFixed(1)).join(' ')} MiB; ` +
        `median growth ${perTenK.toFixed(1)} KiB per 10k calls after warm-up`);
      // A leak of one copy of the input (512 bytes) per call would be 5,000 KiB per 10k calls; of
      // one explanation (several KiB), far more.
      expect(perTenK).toBeLessThan(2000);
    }, timeout);
  }

  it('the measure sees a leak of 512 bytes per call (control)', async () => {
    const kept: Float32Array[] = [];
    const { perTenK, samples } = await slope(() => {
      kept.push(new Float32Array(128).fill(1)); // 512 bytes outside V8's heap, like a native allocation
      return explainSync(model, xs[0], options[0]);
    });
    console.log(`leak control: RSS ${samples.map((s) => (s / MiB).toFixed(1)).join(' ')} MiB; median growth ${perTenK.toFixed(1)} KiB per 10k calls`);
    expect(kept.length).toBeGreaterThan(calls);
    expect(perTenK).toBeGreaterThan(2000);
  }, timeout);

  it('failing calls (every rejection path) do not leak either', async () => {
    const bad = [{ depth: 9 }, { maxMemoryBytes: 8 }, { target: 99 }, { width: 0 }] as const;
    const { perTenK } = await slope(async (i) => {
      try {
        if (i % 2) explainSync(model, xs[0], bad[i % bad.length] as never);
        else await explain(model, xs[0], bad[i % bad.length] as never);
      } catch {
        // expected
      }
    });
    expect(perTenK).toBeLessThan(2000);
  }, timeout);
});
