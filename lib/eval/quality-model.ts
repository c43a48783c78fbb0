/**
 * Metrics that explain a changed copy of the network: the model parameter randomisation test
 * (cascading, top layer down) and input invariance, after Quantus. The copies are built from the
 * network's plain layer spec (NetworkSpec: what parseOnnx returns, or the spec a Model was loaded
 * from) and handed to the explainer callback as its third argument.
 */
import { loadModelSync, type Model } from '../model/model.js';
import type { ConvLayerSpec, DenseLayerSpec, LayerSpec, NetworkSpec } from '../model/layers.js';
import { generator, prepare, spearman, ssim1d, summarise, type QualityExplainer, type QualityValues, type StateRunner } from './quality-shared.js';

export interface MprtLayer {
  /** Index of the randomised layer in spec.layers, and its name when the spec has one. */
  index: number;
  name?: string;
  /** Spearman and SSIM between the trained network's explanation and this randomisation step's. */
  spearman: QualityValues;
  ssim: QualityValues;
}

export interface MprtSettings {
  seed: number;
  normalise: boolean;
  abs: boolean;
}

/** Layers with parameters, as PyTorch modules with reset_parameters: dense and conv. */
function parametrised(spec: NetworkSpec): number[] {
  return spec.layers.flatMap((l, i) => (l.type === 'dense' || l.type === 'conv' ? [i] : []));
}

/**
 * PyTorch's reset_parameters of nn.Linear and nn.Conv2d (kaiming_uniform_ with a = √5, and the
 * bias rule): weights and bias uniform in [−1/√fan_in, 1/√fan_in], fan_in = inputs per output
 * (dense: in; conv: inChannels / groups × kernel area). Drawn from mulberry32(seed + 1) as Quantus
 * seeds torch.manual_seed(seed + 1) before every layer.
 */
export function randomisedLayer(layer: DenseLayerSpec | ConvLayerSpec, seed: number): DenseLayerSpec | ConvLayerSpec {
  const fanIn = layer.type === 'dense' ? layer.in : (layer.inChannels / (layer.groups ?? 1)) * layer.kernel[0] * layer.kernel[1];
  const bound = 1 / Math.sqrt(fanIn);
  const random = generator(seed + 1);
  const weights = Float32Array.from(layer.weights, () => (2 * random() - 1) * bound);
  const outs = layer.type === 'dense' ? layer.out : layer.outChannels;
  const bias = Float32Array.from({ length: outs }, () => (2 * random() - 1) * bound);
  return { ...layer, weights, bias };
}

/**
 * quantus/metrics/randomisation/mprt.py (layer_order "top_down", cascading): the parametrised layers
 * are re-initialised one after another from the output down, each step keeping the layers above
 * randomised, and after each step the inputs are explained again for the same classes. Per step and
 * input: Spearman's correlation (Quantus's default similarity_func correlation_spearman) and SSIM
 * between the trained network's explanation and the randomised one's, both normalised by max and
 * made absolute (Quantus's defaults normalise=True, abs=True). The value per input is the mean over
 * the steps (Quantus's return_average_correlation). Lower is better (the explanation depends on the
 * parameters).
 */
export async function mprt(runner: StateRunner, explainer: QualityExplainer, spec: NetworkSpec, x: Float32Array, a: Float32Array,
  targets: Int32Array, s: MprtSettings): Promise<{ spearman: Float64Array; ssim: Float64Array; layers: MprtLayer[] }> {
  const n = targets.length, d = x.length / n;
  const original = Array.from({ length: n }, (_, i) => prepare(a.subarray(i * d, (i + 1) * d), s.normalise, s.abs));
  const layers = [...spec.layers];
  const steps: MprtLayer[] = [];
  for (const index of parametrised(spec).reverse()) {
    layers[index] = randomisedLayer(layers[index] as DenseLayerSpec | ConvLayerSpec, s.seed);
    const model = loadModelSync({ inputShape: [...spec.inputShape], layers: [...layers] });
    const rho = new Float64Array(n), sim = new Float64Array(n);
    try {
      await runner.explain(n, explainer, model, (k) => targets[k], (k, dst) => dst.set(x.subarray(k * d, (k + 1) * d)), (k, ak) => {
        const v = prepare(ak, s.normalise, s.abs);
        rho[k] = spearman(original[k], v);
        sim[k] = ssim1d(original[k], v);
      });
    } finally {
      model.dispose();
    }
    steps.push({ index, ...(spec.layers[index].name ? { name: spec.layers[index].name } : {}), spearman: summarise(rho), ssim: summarise(sim) });
  }
  const average = (pick: (l: MprtLayer) => Float64Array) =>
    Float64Array.from({ length: n }, (_, i) => steps.reduce((t, l) => t + pick(l)[i], 0) / steps.length);
  return { spearman: average((l) => l.spearman.values), ssim: average((l) => l.ssim.values), layers: steps };
}

const SHAPE_ONLY = new Set(['flatten', 'reshape', 'identity']);

/** Layer indices after inserting one layer at `at` (producers at or above it move up by one). */
function reindex(layer: LayerSpec, at: number): LayerSpec {
  if (!layer.inputs) return layer;
  return { ...layer, inputs: layer.inputs.map((p) => (p >= at ? p + 1 : p)) } as LayerSpec;
}

/**
 * The network that gives on x + shift exactly what `spec` gives on x: the first layer that reads the
 * input (after shape-only layers) absorbs the shift. Dense: b − shift·Σⱼ W[o, j]. Conv: the same on
 * the bias, and zero padding becomes a pad layer of value `shift` in front of it, so border outputs
 * match too (Quantus subtracts one value per channel, exact only away from the border). Affine:
 * shift − scale·shift. Batchnorm: mean + shift.
 */
export function shiftedSpec(spec: NetworkSpec, shift: number): NetworkSpec {
  const layers = [...spec.layers];
  let at = 0;
  while (at < layers.length && SHAPE_ONLY.has(layers[at].type) && !layers[at].inputs) at++;
  const readsInput = (l: LayerSpec, i: number) => (l.inputs ? l.inputs.includes(-1) : i === 0);
  const first = layers[at];
  const others = layers.some((l, i) => i !== 0 && readsInput(l, i));
  if (!first || others || (at > 0 && first.inputs) || (at === 0 && first.inputs && !(first.inputs.length === 1 && first.inputs[0] === -1)))
    throw new RangeError('inputInvariance needs a network whose input feeds one dense, conv, affine or batchnorm layer (after flatten/reshape)');
  if (first.type === 'dense') {
    const b = Float32Array.from({ length: first.out }, (_, o) => {
      let t = 0;
      for (let j = 0; j < first.in; j++) t += first.weights[o * first.in + j];
      return (first.bias ? first.bias[o] : 0) - shift * t;
    });
    layers[at] = { ...first, bias: b };
    return { inputShape: [...spec.inputShape], layers };
  }
  if (first.type === 'conv') {
    const per = first.weights.length / first.outChannels;
    const b = Float32Array.from({ length: first.outChannels }, (_, o) => {
      let t = 0;
      for (let j = 0; j < per; j++) t += first.weights[o * per + j];
      return (first.bias ? first.bias[o] : 0) - shift * t;
    });
    const pads = first.pads ?? [0, 0, 0, 0];
    if (pads.every((p) => p === 0)) {
      layers[at] = { ...first, bias: b };
      return { inputShape: [...spec.inputShape], layers };
    }
    // The conv moves to at + 1 and reads the pad layer by default (no `inputs`); later producers shift by one.
    const { inputs: firstInputs, ...conv } = first;
    const out = layers.map((l, i) => (i > at ? reindex(l, at) : l));
    out.splice(at, 1, { type: 'pad', pads: [...pads] as [number, number, number, number], value: shift, ...(firstInputs ? { inputs: firstInputs } : {}) },
      { ...conv, bias: b, pads: [0, 0, 0, 0] });
    return { inputShape: [...spec.inputShape], layers: out };
  }
  if (first.type === 'affine') {
    layers[at] = { ...first, shift: Float32Array.from(first.shift, (v, c) => v - first.scale[c] * shift) };
    return { inputShape: [...spec.inputShape], layers };
  }
  if (first.type === 'batchnorm') {
    layers[at] = { ...first, mean: Float32Array.from(first.mean, (v) => v + shift) };
    return { inputShape: [...spec.inputShape], layers };
  }
  throw new RangeError(`inputInvariance cannot shift a first layer of type '${first.type}' (dense, conv, affine or batchnorm)`);
}

/**
 * quantus/metrics/axiomatic/input_invariance.py: the inputs shifted by a constant (input_shift,
 * default −1), explained on the network whose first layer absorbs the shift (shiftedSpec); the value
 * per input is 1 when every feature satisfies NumPy's isclose(a, a′, atol = 1e-4) (|a − a′| ≤ 1e-4 +
 * 1e-5·|a′|), else 0 (Quantus returns the boolean); raw attributions (normalise=False, abs=False).
 * `maxDifference` is max |a − a′| per input. Higher is better.
 */
export async function inputInvariance(runner: StateRunner, explainer: QualityExplainer, spec: NetworkSpec, x: Float32Array, a: Float32Array,
  targets: Int32Array, shift: number): Promise<{ values: Float64Array; maxDifference: Float64Array }> {
  const n = targets.length, d = x.length / n;
  const model: Model = loadModelSync(shiftedSpec(spec, shift));
  const values = new Float64Array(n), maxDifference = new Float64Array(n);
  try {
    await runner.explain(n, explainer, model, (k) => targets[k], (k, dst) => {
      for (let j = 0; j < d; j++) dst[j] = x[k * d + j] + shift;
    }, (k, ak) => {
      let close = true, worst = 0;
      for (let j = 0; j < d; j++) {
        const diff = Math.abs(a[k * d + j] - ak[j]);
        worst = Math.max(worst, diff);
        if (!(diff <= 1e-4 + 1e-5 * Math.abs(ak[j]))) close = false;
      }
      values[k] = close ? 1 : 0;
      maxDifference[k] = worst;
    });
  } finally {
    model.dispose();
  }
  return { values, maxDifference };
}
