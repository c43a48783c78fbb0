// attribute against Captum itself: test/fixtures/captum/attributions.json holds Captum's outputs (its
// source at a pinned commit, Debian torch 1.13, float32) on two fresh Fashion-MNIST test images,
// written by tools/reference/make_captum_fixtures.py. Every integrated-gradients rule under Captum's
// name at 7 and 50 points, the (x − x₀) scaling with a non-zero baseline, and the gradient methods.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelSync, attributeBatchSync, quadrature, type Model, type AttributionMethod, type QuadratureRule } from '../lib/index.js';
import { fixtureDir, maxRelDiff } from './helpers/fixtures.js';

interface CaptumRun { attribution: string[]; delta?: number[]; baseline?: number }
interface CaptumFixture {
  captumCommit: string;
  inputIndices: number[];
  inputs: string[];
  quadratures: Record<string, { stepSizes: number[]; alphas: number[] }>;
  models: Record<string, { targets: number[]; predicted: number[]; methods: Record<string, CaptumRun> }>;
}

const fixture: CaptumFixture = JSON.parse(readFileSync(join(fixtureDir('captum'), 'attributions.json'), 'utf8'));
const CAPTUM_RULES = ['riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid', 'gausslegendre'] as const;

function float32s(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  const out = new Float32Array(bytes.length / 4);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function concat(parts: Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const inputs = concat(fixture.inputs.map(float32s));
const n = fixture.inputs.length;
const D = 784;

// Largest error seen per model and fixture key, printed once at the end (the numbers the docs quote).
const measured: Record<string, number> = {};

describe('quadrature against Captum approximation_methods', () => {
  it.each(Object.keys(fixture.quadratures))('%s', (key) => {
    const [rule, count] = key.split('/');
    const steps = Number(count);
    const ours = quadrature(rule as QuadratureRule, steps);
    const theirs = fixture.quadratures[key];
    let alphaErr = 0, weightErr = 0;
    for (let i = 0; i < steps; i++) {
      alphaErr = Math.max(alphaErr, Math.abs(ours.alpha[i] - theirs.alphas[i]));
      weightErr = Math.max(weightErr, Math.abs(ours.weight[i] - theirs.stepSizes[i]));
    }
    measured[`quadrature ${key} α`] = alphaErr;
    measured[`quadrature ${key} weight`] = weightErr;
    if (rule === 'gausslegendre') {
      // numpy's leggauss (eigenvalues, then one Newton step) against ours (Newton to 1e-15), both float64.
      expect(alphaErr).toBeLessThan(2e-15);
      expect(weightErr).toBeLessThan(2e-15);
    } else {
      // Captum's α come from torch.linspace in float32 (start + i·step, not correctly rounded: up to
      // 6.7e-8 off at n = 50); ours are the exact float64 values. Step sizes: Python's 1/n, as ours.
      expect(alphaErr).toBeLessThanOrEqual(2 ** -23);
      expect(weightErr).toBe(0);
    }
  });
});

describe.each(Object.keys(fixture.models))('attribute against Captum on %s', (name) => {
  const ref = fixture.models[name];
  let model: Model;
  beforeAll(() => {
    model = loadModelSync(join(fixtureDir('models'), `${name}.onnx`));
  });
  afterAll(() => model.dispose());

  // w₁ g(p₁) ⊙ x per input, p₁ = α₁ x formed in float32 as the engine and Captum form it: the first
  // Gauss–Legendre node's term of the zero-baseline sum.
  function firstNodeTerm(steps: number): Float64Array[] {
    const { alpha, weight } = quadrature('gausslegendre', steps);
    const a1 = Math.fround(alpha[0]);
    const points = inputs.map((v) => Math.fround(a1 * v));
    const grads = attributeBatchSync(model, points, { method: 'saliency', targets: ref.targets });
    return grads.map((g, j) => Float64Array.from(g.attribution, (v, i) => weight[0] * v * inputs[j * D + i]));
  }

  it.each(Object.keys(ref.methods))('%s', (key) => {
    const run = ref.methods[key];
    const [method, rule, steps, variant] = key.split('/');
    const options = method === 'integratedGradients'
      ? { rule: rule as QuadratureRule, steps: Number(steps), ...(run.baseline !== undefined ? { baseline: run.baseline } : {}) }
      : {};
    const out = attributeBatchSync(model, inputs, { method: method as AttributionMethod, targets: ref.targets, ...options });
    const hasRest = ref.methods[`${key}/withoutFirstNode`] !== undefined;
    const first = variant === 'withoutFirstNode' || hasRest ? firstNodeTerm(Number(steps)) : undefined;
    let worst = 0;
    for (let j = 0; j < n; j++) {
      expect(out[j].predicted).toBe(ref.predicted[j]);
      const theirs = float32s(run.attribution[j]);
      if (variant === 'withoutFirstNode') {
        // Ours minus its node-1 term against Captum over nodes 2…50: the strict check of the rule.
        const rest = Float64Array.from(out[j].attribution, (v, i) => v - first![j][i]);
        const err = maxRelDiff(rest, theirs);
        worst = Math.max(worst, err);
        expect(err, `input ${j}`).toBeLessThan(1e-6);
        continue;
      }
      const err = maxRelDiff(out[j].attribution, theirs);
      worst = Math.max(worst, err);
      // Node 1 of a 50-point Gauss–Legendre run sits at α = 5.7e-4, where float32 rounding decides
      // ReLU and max-pool near-ties (torch's own gradient there differs between batch 1 and the
      // batch of 100 Captum runs): its term may differ by up to twice its own size.
      let scale = 0;
      for (const v of theirs) scale = Math.max(scale, Math.abs(v));
      const slack = first ? (2 * first[j].reduce((m, v) => Math.max(m, Math.abs(v)), 0)) / scale : 0;
      expect(err, `input ${j}`).toBeLessThan(1e-6 + slack);
      if (first) measured[`${name} ${key} node-1 allowance`] = Math.max(measured[`${name} ${key} node-1 allowance`] ?? 0, slack);
      if (run.delta) {
        // Captum's convergence delta, Σ attribution − (f_t(x) − f_t(x₀)), against ours, relative to Σ |attribution|.
        const sum = out[j].attribution.reduce((s, v) => s + Math.abs(v), 0);
        const deltaErr = Math.abs(out[j].delta! - run.delta[j]) / sum;
        measured[`${name} ${key} delta`] = Math.max(measured[`${name} ${key} delta`] ?? 0, deltaErr);
        expect(deltaErr, `delta, input ${j}`).toBeLessThan(1e-6);
      }
    }
    measured[`${name} ${key}`] = worst;
  });
});

afterAll(() => {
  for (const [k, v] of Object.entries(measured)) console.log(`${k}: ${v.toExponential(2)}`);
});
