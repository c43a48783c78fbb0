/**
 * Robustness metrics after Quantus: max-sensitivity, avg-sensitivity and the local Lipschitz
 * estimate. Each re-explains `samples` noisy copies of every input through the explainer callback,
 * in batched calls (StateRunner.explain), with the noise drawn from the metric's seeded generator in
 * a fixed order (input by input, sample by sample, feature by feature), so the values do not depend
 * on the batch size.
 */
import type { Model } from '../model/model.js';
import { generator, normal, prepare, type QualityExplainer, type StateRunner } from './quality-shared.js';

export interface SensitivitySettings {
  samples: number;
  /** Uniform noise in [−radius, radius] per feature (Quantus's lower_bound, default 0.2). */
  radius: number;
  seed: number;
}

function norm2(a: ArrayLike<number>, b?: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - (b ? b[i] : 0)) ** 2;
  return Math.sqrt(s);
}

/**
 * quantus/metrics/robustness/max_sensitivity.py and avg_sensitivity.py (one pass serves both: the
 * same noise): every feature gets uniform noise in [−radius, radius] (batch_uniform_noise), the
 * perturbed input is explained for the same class, and each sample scores ‖a − a′‖₂ / ‖a‖₂
 * (similarity_func difference, norm_numerator and norm_denominator fro_norm; normalise=False,
 * abs=False); max-sensitivity is the maximum over the samples, avg-sensitivity the mean (NaN skipped,
 * as nanmax / nanmean). Lower is better.
 */
export async function sensitivity(runner: StateRunner, explainer: QualityExplainer, model: Model, x: Float32Array, a: Float32Array,
  targets: Int32Array, s: SensitivitySettings): Promise<{ max: Float64Array; avg: Float64Array }> {
  const n = targets.length, d = x.length / n, m = s.samples;
  const random = generator(s.seed);
  const max = new Float64Array(n).fill(NaN), sum = new Float64Array(n), count = new Float64Array(n);
  const denominators = Float64Array.from({ length: n }, (_, i) => norm2(a.subarray(i * d, (i + 1) * d)));
  await runner.explain(n * m, explainer, model, (k) => targets[Math.floor(k / m)], (k, dst) => {
    const xi = x.subarray(Math.floor(k / m) * d, (Math.floor(k / m) + 1) * d);
    for (let j = 0; j < d; j++) dst[j] = xi[j] + (2 * random() - 1) * s.radius;
  }, (k, ak) => {
    const i = Math.floor(k / m);
    const v = norm2(a.subarray(i * d, (i + 1) * d), ak) / denominators[i];
    if (Number.isNaN(v)) return;
    max[i] = Number.isNaN(max[i]) ? v : Math.max(max[i], v);
    sum[i] += v;
    count[i]++;
  });
  return { max, avg: Float64Array.from(sum, (v, i) => (count[i] ? v / count[i] : NaN)) };
}

export interface LipschitzSettings {
  samples: number;
  /** Gaussian noise N(0, std²) per feature (Quantus's perturb_std, default 0.1). */
  std: number;
  normalise: boolean;
  seed: number;
}

/**
 * quantus/metrics/robustness/local_lipschitz_estimate.py: every feature gets Gaussian noise
 * N(0, std²) (batch_gaussian_noise), the perturbed input is explained for the same class, and each
 * sample scores ‖a − a′‖₂ / (‖x − x′‖₂ + 1e-10) (lipschitz_constant with distance_euclidean on both
 * sides); both attributions normalised by their max |value| (Quantus's default normalise=True); the
 * value is the maximum over the samples. Lower is better.
 */
export async function localLipschitz(runner: StateRunner, explainer: QualityExplainer, model: Model, x: Float32Array, a: Float32Array,
  targets: Int32Array, s: LipschitzSettings): Promise<Float64Array> {
  const n = targets.length, d = x.length / n, m = s.samples;
  const gauss = normal(generator(s.seed));
  const prepared = Array.from({ length: n }, (_, i) => prepare(a.subarray(i * d, (i + 1) * d), s.normalise, false));
  const out = new Float64Array(n).fill(NaN);
  await runner.explain(n * m, explainer, model, (k) => targets[Math.floor(k / m)], (k, dst) => {
    const xi = x.subarray(Math.floor(k / m) * d, (Math.floor(k / m) + 1) * d);
    for (let j = 0; j < d; j++) dst[j] = xi[j] + gauss() * s.std;
  }, (k, ak, xk) => {
    const i = Math.floor(k / m);
    const v = norm2(prepared[i], prepare(ak, s.normalise, false)) / (norm2(x.subarray(i * d, (i + 1) * d), xk) + 1e-10);
    if (!Number.isNaN(v)) out[i] = Number.isNaN(out[i]) ? v : Math.max(out[i], v);
  });
  return out;
}
