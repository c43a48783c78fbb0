/**
 * Property tests: the native engine ('official' semantics) against the plain TypeScript oracle
 * (test/oracle/pathwise-oracle.ts) on random dense ReLU networks.
 *
 * Unit sets must agree exactly, except where the decision is rounding-sensitive: an oracle score
 * within 1e-5 of float32(1/C), or a near-tie (1e-6) at the width cut or at the fallback choice, or
 * a near-tie of the top two logits. Such cases are counted as skips (must stay < 5% of runs).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explainSync, loadModel, loadModelSync } from '../lib/index.js';
import type { LayerSpec, NetworkSpec } from '../lib/model/layers.js';
import type { Depth, Explanation, Width } from '../lib/explain/types.js';
import { oracleExplain, type OracleExplanation, type OracleLayer } from './oracle/pathwise-oracle.js';

/** Deterministic PRNG (mulberry32) and a normal sampler (Box–Muller). */
function makeRng(seed: number) {
  let s = seed >>> 0;
  const u = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
  return { u, normal };
}

interface Case {
  inputSize: number;
  hidden: number[];
  classes: number;
  seed: number;
  withBias: boolean;
  withNoops: boolean;
  width: Width;
  /** 0 → 'all', otherwise min(depthPick, #relu). */
  depthPick: number;
  /** null → default target, otherwise targetPick mod C. */
  targetPick: number | null;
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  inputSize: fc.integer({ min: 1, max: 30 }),
  hidden: fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }),
  classes: fc.integer({ min: 2, max: 12 }),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
  withBias: fc.boolean(),
  withNoops: fc.boolean(),
  width: fc.oneof(
    fc.integer({ min: 1, max: 43 }) as fc.Arbitrary<Width>,
    fc.integer({ min: 1, max: 100 }).map((p) => `${p}%` as Width),
    fc.constant('all' as Width),
  ),
  depthPick: fc.integer({ min: 0, max: 4 }),
  targetPick: fc.option(fc.integer({ min: 0, max: 11 }), { nil: null }),
});

interface Built {
  spec: NetworkSpec;
  input: Float32Array;
  options: { width: Width; depth: Depth; target?: number };
}

function build(c: Case): Built {
  const rng = makeRng(c.seed);
  const layers: LayerSpec[] = [];
  let fanIn = c.inputSize;
  const sizes = [...c.hidden, c.classes];
  sizes.forEach((n, index) => {
    const weights = Float32Array.from({ length: n * fanIn }, () => rng.normal() / Math.sqrt(fanIn));
    const bias = c.withBias ? Float32Array.from({ length: n }, () => 0.1 * rng.normal()) : undefined;
    layers.push({ type: 'dense', in: fanIn, out: n, weights, bias });
    if (index < c.hidden.length) {
      layers.push({ type: 'relu' });
      if (c.withNoops && index === 0) layers.push({ type: 'identity' });
    }
    fanIn = n;
  });
  if (c.withNoops) layers.unshift({ type: 'flatten' });
  const input = Float32Array.from({ length: c.inputSize }, () => rng.normal());
  const depth: Depth = c.depthPick === 0 ? 'all' : Math.min(c.depthPick, c.hidden.length);
  const target = c.targetPick === null ? undefined : c.targetPick % c.classes;
  return { spec: { inputShape: [c.inputSize], layers }, input, options: { width: c.width, depth, target } };
}

const sum = (v: ArrayLike<number>, f: (x: number) => number = (x) => x) => {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += f(v[i]);
  return s;
};
const maxAbs = (v: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
};

/** Is the oracle's decision for this layer rounding-sensitive? */
function layerIsDelicate(L: OracleLayer, C: number): string | null {
  const thr = Math.fround(1 / C);
  for (let u = 0; u < L.allScores.length; u++) {
    if (!L.identical[u] && Math.abs(L.allScores[u] - thr) <= 1e-5) return `score of unit ${u} near 1/C`;
  }
  const N = L.order.length;
  if (L.k < N && Math.abs(L.allScores[L.order[L.k - 1]] - L.allScores[L.order[L.k]]) <= 1e-6) {
    return 'near-tie at the width cut';
  }
  if (N > 1 && Math.abs(L.allScores[L.order[0]] - L.allScores[L.order[1]]) <= 1e-6) {
    return 'near-tie at the fallback choice';
  }
  return null;
}

function logitsNearTie(logits: Float32Array): boolean {
  const sorted = Array.from(logits).sort((a, b) => b - a);
  return sorted[0] - sorted[1] <= 1e-5 * Math.max(1, Math.abs(sorted[0]));
}

/** Compare; returns a skip reason, or null when everything was compared. Throws on mismatch. */
function compare(e: Explanation, o: OracleExplanation, b: Built): string | null {
  const C = o.logits.length;
  const ctx = () => JSON.stringify({ options: b.options, oracleLayers: o.layers.map((L) => [L.ordinal, L.units, L.k, L.fallback]), engineLayers: e.layers.map((L) => [L.ordinal, Array.from(L.units), L.k, L.fallback]) });

  const logitTol = 1e-4 * maxAbs(o.logits) + 1e-6;
  for (let j = 0; j < C; j++) {
    if (Math.abs(e.logits[j] - o.logits[j]) > logitTol) throw new Error(`logit ${j}: engine ${e.logits[j]} oracle ${o.logits[j]}`);
  }
  if (e.predicted !== o.predicted) {
    if (logitsNearTie(o.logits)) return 'predicted: near-tie of logits';
    throw new Error(`predicted: engine ${e.predicted} oracle ${o.predicted}`);
  }
  if (e.target !== o.target) throw new Error(`target: engine ${e.target} oracle ${o.target}`);

  // Path layers, top-down (a mismatch high up changes everything below it).
  expect(e.layers.map((L) => L.ordinal), ctx()).toEqual(o.layers.map((L) => L.ordinal));
  for (let p = o.layers.length - 1; p >= 0; p--) {
    const OL = o.layers[p];
    const EL = e.layers[p];
    const same = EL.units.length === OL.units.length && OL.units.every((u, i) => EL.units[i] === u);
    if (!same || EL.fallback !== OL.fallback) {
      const why = layerIsDelicate(OL, C);
      if (why) return `layer ${OL.ordinal}: ${why}`;
      throw new Error(`layer ${OL.ordinal} units differ (no rounding excuse). ${ctx()}`);
    }
    expect(EL.k, `k of layer ${OL.ordinal}. ${ctx()}`).toBe(OL.k);
    for (let i = 0; i < OL.units.length; i++) {
      if (Math.abs(EL.scores[i] - OL.scores[i]) > 1e-4) {
        throw new Error(`layer ${OL.ordinal} unit ${OL.units[i]} score: engine ${EL.scores[i]} oracle ${OL.scores[i]}`);
      }
    }
  }

  // The path linear model.
  const aTol = 1e-4 * maxAbs(o.attribution) + 1e-6;
  for (let i = 0; i < o.attribution.length; i++) {
    if (Math.abs(e.attribution[i] - o.attribution[i]) > aTol) {
      throw new Error(`attribution[${i}]: engine ${e.attribution[i]} oracle ${o.attribution[i]} (tol ${aTol}). ${ctx()}`);
    }
  }
  const wTol = 1e-4 * maxAbs(o.weights) + 1e-6;
  for (let i = 0; i < o.weights.length; i++) {
    if (Math.abs(e.weights[i] - o.weights[i]) > wTol) {
      throw new Error(`weights[${i}]: engine ${e.weights[i]} oracle ${o.weights[i]} (tol ${wTol})`);
    }
  }
  const scale = sum(o.attribution, Math.abs) + Math.abs(o.bias) + 1e-6;
  if (Math.abs(e.bias - o.bias) > 1e-4 * scale) throw new Error(`bias: engine ${e.bias} oracle ${o.bias} (scale ${scale})`);
  const t = o.target;
  if (Math.abs(e.pathLogit - o.pathLogits[t]) > 1e-4 * scale) {
    throw new Error(`pathLogit: engine ${e.pathLogit} oracle ${o.pathLogits[t]} (scale ${scale})`);
  }
  const plTol = 1e-4 * (maxAbs(o.pathLogits) + scale) + 1e-6;
  for (let j = 0; j < C; j++) {
    if (Math.abs(e.pathLogits[j] - o.pathLogits[j]) > plTol) {
      throw new Error(`pathLogits[${j}]: engine ${e.pathLogits[j]} oracle ${o.pathLogits[j]}`);
    }
  }

  // Completeness of the engine's own output.
  const eScale = sum(e.attribution, Math.abs) + Math.abs(e.bias);
  const res = sum(e.attribution) + e.bias - e.pathLogit;
  if (Math.abs(res) > 1e-4 * eScale + 1e-6) throw new Error(`engine completeness residual ${res} (scale ${eScale})`);
  if (Math.abs(e.residual) > 1e-4 * eScale + 1e-6) throw new Error(`engine residual field ${e.residual} (scale ${eScale})`);
  return null;
}

function runEngine(b: Built): Explanation {
  const model = loadModelSync(b.spec.layers, { inputShape: b.spec.inputShape });
  try {
    return explainSync(model, b.input, b.options);
  } finally {
    model.dispose();
  }
}

describe('native engine vs oracle (official semantics, dense ReLU MLPs)', () => {
  it('agrees on random MLPs', () => {
    let runs = 0;
    const skips = new Map<string, number>();
    fc.assert(
      fc.property(caseArb, (c) => {
        const b = build(c);
        const o = oracleExplain(b.spec, b.input, b.options);
        const e = runEngine(b);
        const why = compare(e, o, b);
        runs += 1;
        if (why) {
          const key = why.replace(/^layer \d+: /, '').replace(/unit \d+/, 'unit');
          skips.set(key, (skips.get(key) ?? 0) + 1);
        }
      }),
      { numRuns: 200, seed: 20240605 },
    );
    const skipped = [...skips.values()].reduce((a, v) => a + v, 0);
    if (skipped > 0) console.info(`property: ${skipped}/${runs} runs skipped`, Object.fromEntries(skips));
    expect(skipped).toBeLessThan(0.05 * runs);
  });

  it('async loadModel gives the same explanation as loadModelSync', async () => {
    const b = build({ inputSize: 7, hidden: [9, 5], classes: 4, seed: 7, withBias: true, withNoops: false, width: 'all', depthPick: 0, targetPick: null });
    const model = await loadModel(b.spec.layers, { inputShape: b.spec.inputShape });
    try {
      const e = explainSync(model, b.input, b.options);
      const o = oracleExplain(b.spec, b.input, b.options);
      expect(compare(e, o, b)).toBeNull();
      expect(Array.from(e.attribution)).toEqual(Array.from(runEngine(b).attribution));
    } finally {
      model.dispose();
    }
  });
});
