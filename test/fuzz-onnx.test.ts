// Issue 6, part 2 (smoke): the ONNX loader on mutated and truncated fixture models. Every outcome is
// an accepted model or a documented rejection (PathwiseError from parseOnnx; PathwiseError,
// TypeError or RangeError from loadModelSync on the parsed spec) — never another exception, an
// engine-raised message, a crash or a hang. scripts/fuzz-onnx.mjs runs the same mutator for
// millions of executions; PATHWISE_FUZZ_SEED and PATHWISE_FUZZ_COUNT vary this smoke.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelSync, explainSync, PathwiseError } from '../lib/index.js';
import { parseOnnx } from '../lib/onnx/load.js';
import { createMutator, encodeMessage, parseMessage, prng, runOne, type FuzzApi } from '../scripts/onnx-mutator.mjs';

const dir = join(import.meta.dirname, 'fixtures', 'models');
const names = readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort();
const seeds = names.map((f) => new Uint8Array(readFileSync(join(dir, f))));
const api = { parseOnnx, loadModelSync, explainSync, PathwiseError } as unknown as FuzzApi;
const seed = Number(process.env.PATHWISE_FUZZ_SEED ?? 20240611);
const count = Number(process.env.PATHWISE_FUZZ_COUNT ?? 3000);

function expectNoFindings(results: { outcome: string; error?: unknown; label: string }[]) {
  const findings = results.filter((r) => r.outcome.startsWith('finding'));
  expect(findings.map((f) => `${f.label}: ${f.outcome}: ${String((f.error as Error)?.stack ?? f.error).split('\n').slice(0, 3).join(' | ')}`)).toEqual([]);
}

describe('ONNX loader fuzz (smoke)', () => {
  it('the wire-format walker round-trips every fixture byte for byte', () => {
    for (const s of seeds) expect(Buffer.compare(Buffer.from(encodeMessage(parseMessage(s)!)), Buffer.from(s))).toBe(0);
  });

  it('every fixture model loads unmutated', () => {
    for (const s of seeds) expect(runOne(s, api, prng(1), true).outcome).toBe('accepted');
  });

  it('every truncation of the models is rejected cleanly', () => {
    const results = [];
    for (let k = 0; k < seeds.length; k++) {
      const s = seeds[k];
      // Every prefix of the small model; ~400 spread over each large one, plus the ends.
      const step = s.length < 20_000 ? 1 : Math.ceil(s.length / 400);
      for (let len = 0; len < s.length; len += step) results.push({ ...runOne(s.subarray(0, len), api, prng(len), false), label: `${names[k]}[:${len}]` });
      for (let cut = 1; cut <= 16; cut++) results.push({ ...runOne(s.subarray(0, s.length - cut), api, prng(cut), false), label: `${names[k]}[:-${cut}]` });
    }
    expectNoFindings(results);
    // A truncated model is never accepted as the original (at most a graph that lost its tail).
    expect(results.filter((r) => r.outcome === 'accepted').length).toBeLessThan(results.length / 10);
  });

  it(`${count} structure-aware mutations (seed ${seed}) end in an accepted model or a documented rejection`, () => {
    const mutator = createMutator(seeds, names.map((n) => (n.startsWith('tiny_resnet') ? names.length - 1 : 1)));
    const results = [];
    const counts: Record<string, number> = {};
    let slowest = 0;
    for (let i = 0; i < count; i++) {
      const rand = prng((seed * 0x9e3779b1) ^ i);
      const bytes = mutator.next(rand);
      const t0 = performance.now();
      const r = runOne(bytes, api, rand, i % 20 === 0);
      slowest = Math.max(slowest, performance.now() - t0);
      counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
      results.push({ ...r, label: `#${i}` });
    }
    expectNoFindings(results);
    // The mutator reaches every stage: rejections of both kinds and accepted models.
    expect(counts['accepted']).toBeGreaterThan(count / 20);
    expect(counts['rejected:PATHWISE_BAD_MODEL']).toBeGreaterThan(count / 20);
    expect(counts['rejected:PATHWISE_UNSUPPORTED_OP']).toBeGreaterThan(0);
    expect(slowest).toBeLessThan(5000);
  });
});
