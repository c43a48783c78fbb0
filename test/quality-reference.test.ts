// The Quantus metrics of lib/eval/quality*.ts against tools/reference/quality_ref.py: an independent
// NumPy/SciPy transcription of each Quantus file's formula with the same seeded draws, on a small ReLU
// network explained by input × gradient (float64 there, the engine's float32 here).
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadModelSync, evaluateQuality, attributeBatchSync, type Model, type NetworkSpec, type QualityExplainer } from '../lib/index.js';
import { fixtureDir } from './helpers/fixtures.js';

interface Reference {
  inputShape: number[];
  layers: { weights: number[]; bias: number[]; in: number; out: number }[];
  inputs: number[];
  attributions: number[];
  targets: number[];
  settings: { patchSize: number; monotonicitySamples: number; monotonicityFeaturesInStep: number; sensitivitySamples: number; seed: number };
  regionPerturbationMorf: number[];
  regionPerturbationLerf: number[];
  regionPerturbationMorfPatch3: number[];
  monotonicityCorrelation: number[];
  maxSensitivity: number[];
  avgSensitivity: number[];
  localLipschitzEstimate: number[];
  mprt: { spearman: number[]; ssim: number[] }[];
}

const ref = JSON.parse(readFileSync(join(fixtureDir('quality'), 'reference.json'), 'utf8')) as Reference;
const spec: NetworkSpec = {
  inputShape: ref.inputShape,
  layers: [
    { type: 'flatten' },
    ...ref.layers.flatMap((l, k) => [
      { type: 'dense' as const, in: l.in, out: l.out, weights: Float32Array.from(l.weights), bias: Float32Array.from(l.bias) },
      ...(k < ref.layers.length - 1 ? [{ type: 'relu' as const }] : []),
    ]),
  ],
};
const model = loadModelSync(spec);
const x = Float32Array.from(ref.inputs);
const a = Float32Array.from(ref.attributions);
const s = ref.settings;
const explainer: QualityExplainer = (inputs, targets, m: Model) => {
  const rows = attributeBatchSync(m, inputs, { method: 'inputXGradient', targets });
  const out = new Float32Array(inputs.length);
  rows.forEach((r, i) => out.set(r.attribution, i * m.inputSize));
  return out;
};

function close(actual: Float64Array, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((v, i) => expect(Math.abs(v - expected[i]), `entry ${i}: ${v} vs ${expected[i]}`).toBeLessThan(tolerance * Math.max(1, Math.abs(expected[i]))));
}

describe('Quantus metrics against the NumPy reference (tools/reference/quality_ref.py)', () => {
  it('the engine predicts the reference targets', () => {
    const logits = model.forward(x);
    ref.targets.forEach((t, i) => {
      const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
      expect(row.indexOf(Math.max(...row))).toBe(t);
    });
  });

  it('region perturbation, MoRF and LeRF, 2-D patches with and without padding', async () => {
    const r = await evaluateQuality(model, x, a, { metrics: ['regionPerturbationMorf', 'regionPerturbationLerf'], targets: ref.targets, patchSize: s.patchSize });
    close(r.regionPerturbationMorf!.values, ref.regionPerturbationMorf, 1e-5);
    close(r.regionPerturbationLerf!.values, ref.regionPerturbationLerf, 1e-5);
    expect(r.regionPerturbationMorf!.curves[0].length).toBe(4); // 6 × 6 padded to 8 × 8: 2 × 2 patches
    const three = await evaluateQuality(model, x, a, { metrics: ['regionPerturbationMorf'], targets: ref.targets, patchSize: 3 });
    close(three.regionPerturbationMorf!.values, ref.regionPerturbationMorfPatch3, 1e-5);
  });

  it('monotonicity correlation', async () => {
    const r = await evaluateQuality(model, x, a, {
      metrics: ['monotonicityCorrelation'], targets: ref.targets, seed: s.seed,
      monotonicitySamples: s.monotonicitySamples, monotonicityFeaturesInStep: s.monotonicityFeaturesInStep,
    });
    close(r.monotonicityCorrelation!.values, ref.monotonicityCorrelation, 1e-9); // ranks: exact unless a near-tie flips
    expect(r.forwards).toBe(4 + 4 * 12 * s.monotonicitySamples);
  });

  it('max- and avg-sensitivity, local Lipschitz estimate', async () => {
    const r = await evaluateQuality(model, x, a, {
      metrics: ['maxSensitivity', 'avgSensitivity', 'localLipschitzEstimate'], targets: ref.targets, seed: s.seed,
      sensitivitySamples: s.sensitivitySamples, explainer,
    });
    close(r.maxSensitivity!.values, ref.maxSensitivity, 1e-4);
    close(r.avgSensitivity!.values, ref.avgSensitivity, 1e-4);
    close(r.localLipschitzEstimate!.values, ref.localLipschitzEstimate, 1e-4);
    expect(r.explained).toBe(2 * 4 * s.sensitivitySamples); // one pass for both sensitivities, one for Lipschitz
  });

  it('MPRT: Spearman and SSIM per randomised layer, top down', async () => {
    const r = await evaluateQuality(model, x, a, { metrics: ['mprt'], targets: ref.targets, seed: s.seed, explainer, spec });
    const layers = r.mprt!.layers;
    expect(layers.map((l) => l.index)).toEqual([5, 3, 1]);
    layers.forEach((l, k) => {
      close(l.spearman.values, ref.mprt[k].spearman, 1e-9);
      close(l.ssim.values, ref.mprt[k].ssim, 1e-4);
    });
    const mean = ref.targets.map((_, i) => ref.mprt.reduce((t, l) => t + l.spearman[i], 0) / ref.mprt.length);
    close(r.mprt!.values, mean, 1e-9);
  });
});
