import { describe, expect, it } from 'vitest';
import type { LayerSpec, NetworkSpec } from '../../lib/model/layers.js';
import { oracleExplain, roundHalfEven, unitScore, widthToK } from './pathwise-oracle.js';

const f32 = (v: number[]) => Float32Array.from(v);

function dense(rows: number[][], bias?: number[]): LayerSpec {
  const out = rows.length;
  const inn = rows[0].length;
  return { type: 'dense', in: inn, out, weights: f32(rows.flat()), bias: bias ? f32(bias) : undefined };
}
const relu: LayerSpec = { type: 'relu' };

function net(inputSize: number, layers: LayerSpec[]): NetworkSpec {
  return { inputShape: [inputSize], layers };
}

/** σ-style softmax entry for two classes: e^a / (e^a + e^b). */
const sm2 = (a: number, b: number) => Math.exp(a) / (Math.exp(a) + Math.exp(b));

describe('width rule', () => {
  it('rounds half to even', () => {
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(0.5)).toBe(0);
    expect(roundHalfEven(1.49)).toBe(1);
    expect(roundHalfEven(1.51)).toBe(2);
  });
  it("computes k for 'P%', integers and 'all'", () => {
    expect(widthToK('25%', 10)).toBe(2); // 2.5 → 2
    expect(widthToK('35%', 10)).toBe(4); // 3.5 → 4
    expect(widthToK('1%', 3)).toBe(1); // 0.03 → 0 → max(1, ·)
    expect(widthToK('100%', 7)).toBe(7);
    expect(widthToK('12.5%', 16)).toBe(2);
    expect(widthToK('all', 9)).toBe(9);
    expect(widthToK(undefined, 9)).toBe(9);
    expect(widthToK(3, 9)).toBe(3);
    expect(widthToK(50, 9)).toBe(9); // clamped to N
  });
  it("evaluates 'P%' left to right, (N / 100) · P, as the Reference (docs/method.md §3.6)", () => {
    // (14 / 100) · 75 = 10.500000000000002 → 11, whereas 14 · 75 / 100 = 10.5 → 10.
    expect(widthToK('75%', 14)).toBe(11);
    // (35 / 100) · 90 = 31.499999999999996 → 31, whereas 35 · 90 / 100 = 31.5 → 32.
    expect(widthToK('90%', 35)).toBe(31);
  });
});

describe('unit score', () => {
  it('is exactly float32(1/C) for identical contributions, flagged identical', () => {
    for (const C of [2, 3, 7, 10, 12]) {
      const r = unitScore(new Array(C).fill(0), 0);
      expect(r.identical).toBe(true);
      expect(r.score).toBe(Math.fround(1 / C));
    }
  });
  it('saturates to exactly 1 when the target leads by a lot', () => {
    expect(unitScore([40, 0, 0], 0).score).toBe(1);
    expect(unitScore([40, 0, 0], 1).score).toBe(Math.fround(Math.exp(-40)));
    expect(unitScore([200, 0, 0], 1).score).toBe(0); // exp(-200) underflows float32
  });
  it('follows the float32 recipe', () => {
    const a = [Math.fround(0.3), Math.fround(-1.2), Math.fround(2.1)];
    const e = a.map((v) => Math.fround(Math.exp(Math.fround(v - a[2]))));
    const sum = Math.fround(Math.fround(Math.fround(0 + e[0]) + e[1]) + e[2]);
    expect(unitScore(a, 0).score).toBe(Math.fround(e[0] / sum));
    expect(unitScore(a, 0).identical).toBe(false);
  });
});

describe('oracle on hand-computed 2-2-2 networks', () => {
  // x = [1, 2], W1 = I → h = [1, 2]; W2 = [[2, -1], [1, 1]] → logits [0, 3], predicted 1.
  // Contributions a[i][j] = h_i · W2[j][i]: unit 0 → [2, 1], unit 1 → [-2, 2].
  const spec = net(2, [dense([[1, 0], [0, 1]]), relu, dense([[2, -1], [1, 1]])]);
  const x = f32([1, 2]);

  it('selects by the predicted class by default', () => {
    const r = oracleExplain(spec, x, {});
    expect(r.predicted).toBe(1);
    expect(r.target).toBe(1);
    expect(Array.from(r.logits)).toEqual([0, 3]);
    expect(r.layers).toHaveLength(1);
    const L = r.layers[0];
    expect(L.ordinal).toBe(0);
    expect(L.k).toBe(2);
    expect(L.units).toEqual([1]); // s0 = 1/(1+e) ≈ 0.269 < 0.5; s1 = 1/(1+e^-4) ≈ 0.982
    expect(L.fallback).toBe(false);
    expect(L.scores[0]).toBeCloseTo(sm2(2, -2), 6);
    expect(L.allScores[0]).toBeCloseTo(sm2(1, 2), 6);
    expect(L.order).toEqual([1, 0]);
    // Masked network: logits = W2[:, 1] · x1 = [-2, 2]; W_P[1] = [0, 1].
    expect(Array.from(r.pathLogits)).toEqual([-2, 2]);
    expect(Array.from(r.weights)).toEqual([0, 1]);
    expect(Array.from(r.attribution)).toEqual([0, 2]);
    expect(r.bias).toBe(0);
  });

  it('selects by an explicit target', () => {
    const r = oracleExplain(spec, x, { target: 0 });
    expect(r.predicted).toBe(1);
    expect(r.target).toBe(0);
    expect(r.layers[0].units).toEqual([0]); // s0 = e^2/(e^2+e) ≈ 0.731
    expect(r.layers[0].scores[0]).toBeCloseTo(sm2(2, 1), 6);
    expect(Array.from(r.pathLogits)).toEqual([2, 1]);
    expect(Array.from(r.weights)).toEqual([2, 0]);
    expect(Array.from(r.attribution)).toEqual([2, 0]);
  });

  it('falls back to the best-ranked unit when none passes 1/C', () => {
    // W2 = [[1, 1], [0, 0]], b2 = [0, 0.5], target 1: a0 = [1, 0] → s = 1/(1+e) ≈ 0.269,
    // a1 = [2, 0] → s = 1/(1+e^2) ≈ 0.119. Fallback: unit 0.
    const s = net(2, [dense([[1, 0], [0, 1]]), relu, dense([[1, 1], [0, 0]], [0, 0.5])]);
    const r = oracleExplain(s, x, { target: 1 });
    expect(r.predicted).toBe(0);
    const L = r.layers[0];
    expect(L.fallback).toBe(true);
    expect(L.units).toEqual([0]);
    expect(L.scores[0]).toBeCloseTo(sm2(0, 1), 6);
    expect(Array.from(r.weights)).toEqual([0, 0]);
    expect(r.bias).toBeCloseTo(0.5, 7);
    expect(r.pathLogits[1]).toBeCloseTo(0.5, 7);
    expect(r.pathLogits[0]).toBe(1); // masked: only unit 0 passes
  });

  it('rejects inactive units; an inactive fallback unit passes its negative pre-activation', () => {
    // x = [1], W1 = [[-1]] → z = -1, h = 0. W2 = [[1], [-1]], b2 = [0, 0.1]: logits [0, 0.1].
    // The only unit has all-zero contributions → rejected → fallback. MaskLayer passes z = -1.
    const s = net(1, [dense([[-1]]), relu, dense([[1], [-1]], [0, 0.1])]);
    const r = oracleExplain(s, f32([1]), {});
    expect(r.predicted).toBe(1);
    const L = r.layers[0];
    expect(L.fallback).toBe(true);
    expect(L.units).toEqual([0]);
    expect(L.scores[0]).toBe(0.5);
    expect(r.pathLogits[0]).toBe(-1);
    expect(r.pathLogits[1]).toBeCloseTo(1.1, 6);
    expect(Array.from(r.weights)).toEqual([1]);
    expect(Array.from(r.attribution)).toEqual([1]);
    expect(r.bias).toBeCloseTo(0.1, 7);
  });

  it('breaks score ties by ascending unit index at the width cut', () => {
    // x = [1, 1, 1], W1 = I; W2 row 0 = [0.5, 1, 1], row 1 = 0 → units 1 and 2 tie (e/(1+e)),
    // unit 0 is lower (e^0.5/(1+e^0.5)). All pass 1/2.
    const s = net(3, [dense([[1, 0, 0], [0, 1, 0], [0, 0, 1]]), relu, dense([[0.5, 1, 1], [0, 0, 0]])]);
    const xs = f32([1, 1, 1]);
    const all = oracleExplain(s, xs, {});
    expect(all.layers[0].order).toEqual([1, 2, 0]);
    expect(all.layers[0].units).toEqual([0, 1, 2]);
    expect(oracleExplain(s, xs, { width: 1 }).layers[0].units).toEqual([1]);
    expect(oracleExplain(s, xs, { width: 2 }).layers[0].units).toEqual([1, 2]);
    expect(oracleExplain(s, xs, { width: 2 }).layers[0].k).toBe(2);
    expect(oracleExplain(s, xs, { width: '50%' }).layers[0].units).toEqual([1, 2]); // 1.5 → 2
    expect(oracleExplain(s, xs, { width: '1%' }).layers[0].units).toEqual([1]);
  });

  it('uses the lowest index on argmax ties', () => {
    const s = net(2, [dense([[1, 0], [0, 1]]), relu, dense([[1, 1], [1, 1]])]);
    const r = oracleExplain(s, x, {});
    expect(r.predicted).toBe(0);
    // Every unit has identical contributions → all rejected → fallback to order[0] = unit 0.
    expect(r.layers[0].fallback).toBe(true);
    expect(r.layers[0].units).toEqual([0]);
  });
});

describe('oracle on a two-hidden-layer network', () => {
  // x = [1, 1]; W1 = I → h1 = [1, 1]; W2 = [[1, 1], [0, 1]] → h2 = [2, 1];
  // W3 = [[2, 0], [0, 1]] → logits [4, 1], predicted 0.
  // Top (ordinal 1): a0 = [4, 0] keep (0.982), a1 = [0, 1] drop (0.269). m1 = [1, 0].
  // Lower (ordinal 0): J = W3 · diag(m1) · W2 = [[2, 2], [0, 0]] → a0 = a1 = [2, 0], both
  // kept with s = e^2/(e^2+1) ≈ 0.881 (without the upper mask unit 1 would score e/(e+1)).
  const spec = net(2, [
    dense([[1, 0], [0, 1]]),
    relu,
    dense([[1, 1], [0, 1]]),
    relu,
    dense([[2, 0], [0, 1]]),
  ]);
  const x = f32([1, 1]);

  it('masks upper layers before scoring lower ones', () => {
    const r = oracleExplain(spec, x, {});
    expect(r.predicted).toBe(0);
    expect(r.layers.map((L) => L.ordinal)).toEqual([0, 1]); // bottom → top
    const [L0, L1] = r.layers;
    expect(L1.units).toEqual([0]);
    expect(L1.scores[0]).toBeCloseTo(sm2(4, 0), 6);
    expect(L0.units).toEqual([0, 1]);
    expect(L0.scores[0]).toBeCloseTo(sm2(2, 0), 6);
    expect(L0.scores[1]).toBeCloseTo(sm2(2, 0), 6);
    expect(Array.from(r.weights)).toEqual([2, 2]);
    expect(Array.from(r.attribution)).toEqual([2, 2]);
    expect(Array.from(r.pathLogits)).toEqual([4, 0]);
  });

  it('applies the width to every path layer', () => {
    const r = oracleExplain(spec, x, { width: 1 });
    expect(r.layers[1].units).toEqual([0]);
    expect(r.layers[0].units).toEqual([0]); // tie → lower index
    expect(Array.from(r.weights)).toEqual([2, 0]);
    expect(Array.from(r.pathLogits)).toEqual([2, 0]);
  });

  it('depth 1 keeps the lower ReLU original', () => {
    const r = oracleExplain(spec, x, { depth: 1 });
    expect(r.layers.map((L) => L.ordinal)).toEqual([1]);
    expect(Array.from(r.weights)).toEqual([2, 2]);
    // Lower ReLU is rectifying: a negative input is cut there.
    const r2 = oracleExplain(spec, f32([1, -1]), { depth: 1 });
    // h1 = [1, 0], h2 = [1, 0], logits [2, 0]; top selects unit 0; W_P[0] = 2 · [1, 0] (gate φ).
    expect(Array.from(r2.logits)).toEqual([2, 0]);
    expect(Array.from(r2.weights)).toEqual([2, 0]);
    // With depth 'all', the lower layer is a MaskLayer, but unit 1 (inactive) is not selected.
    const r3 = oracleExplain(spec, f32([1, -1]), { depth: 'all' });
    expect(r3.layers[0].units).toEqual([0]);
    expect(Array.from(r3.weights)).toEqual([2, 0]);
  });

  it('treats flatten / reshape / identity as no-ops', () => {
    const withNoops = net(2, [
      { type: 'flatten' },
      dense([[1, 0], [0, 1]]),
      { type: 'identity' },
      relu,
      { type: 'reshape', shape: [2] },
      dense([[1, 1], [0, 1]]),
      relu,
      dense([[2, 0], [0, 1]]),
    ]);
    const a = oracleExplain(spec, x, { width: 1 });
    const b = oracleExplain(withNoops, x, { width: 1 });
    expect(b.layers.map((L) => L.units)).toEqual(a.layers.map((L) => L.units));
    expect(Array.from(b.attribution)).toEqual(Array.from(a.attribution));
  });
});

/** Deterministic PRNG (mulberry32) and a normal sampler. */
function rng(seed: number) {
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

describe('oracle completeness on random MLPs', () => {
  it('Σ A + b = pathLogit; selections are well-formed', () => {
    const r = rng(12345);
    for (let trial = 0; trial < 50; trial++) {
      const d = 1 + Math.floor(r.u() * 10);
      const C = 2 + Math.floor(r.u() * 6);
      const hidden = Array.from({ length: 1 + Math.floor(r.u() * 3) }, () => 1 + Math.floor(r.u() * 12));
      const layers: LayerSpec[] = [];
      let fanIn = d;
      for (const [index, n] of [...hidden, C].entries()) {
        const w = Float32Array.from({ length: n * fanIn }, () => r.normal() / Math.sqrt(fanIn));
        const b = Float32Array.from({ length: n }, () => 0.1 * r.normal());
        layers.push({ type: 'dense', in: fanIn, out: n, weights: w, bias: b });
        if (index < hidden.length) layers.push(relu);
        fanIn = n;
      }
      const x = Float32Array.from({ length: d }, () => r.normal());
      const width = [1, 2, '30%', 'all'][trial % 4] as 1 | 2 | '30%' | 'all';
      const e = oracleExplain(net(d, layers), x, { width });

      let sumA = 0;
      let sumAbs = 0;
      for (const a of e.attribution) {
        sumA += a;
        sumAbs += Math.abs(a);
      }
      const residual = sumA + e.bias - e.pathLogits[e.target];
      expect(Math.abs(residual)).toBeLessThanOrEqual(1e-5 * (sumAbs + Math.abs(e.bias)) + 1e-6);
      expect(e.layers).toHaveLength(hidden.length);
      for (const L of e.layers) {
        expect(L.units.length).toBeGreaterThanOrEqual(1);
        expect(L.units.length).toBeLessThanOrEqual(L.k);
        for (let i = 1; i < L.units.length; i++) expect(L.units[i]).toBeGreaterThan(L.units[i - 1]);
        if (!L.fallback) for (const s of L.scores) expect(s).toBeGreaterThan(Math.fround(1 / C));
      }
    }
  });
});
