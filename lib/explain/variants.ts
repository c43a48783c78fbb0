/**
 * Research variants of pathwise that are compositions of explain calls (docs/research.md):
 *
 * - explainIntegrated: the path analogue of integrated gradients. The path model is recomputed at
 *   every point α·x of the straight line from 0 to x (its own selection at each point, the target
 *   fixed to the class explained at x), and the attribution is x ⊙ Σ_s w_s W_P(α_s x)[t] with the
 *   integrated-gradients quadrature (α_s, w_s). With semantics 'linear', threshold 0 and width and
 *   depth 'all', W_P(αx)[t] = ∇f_t(αx) and this is integrated gradients exactly.
 * - explainRegional: the regional explanation of docs/method.md §7.2 used as an attribution map.
 *   The image plane is cut into a grid of tiles; each tile Ω_k gets its own path, selected by the
 *   evidence that flows from Ω_k, and the map is Σ_k A_k ⊙ 1_{Ω_k}: every pixel is attributed by the
 *   path of its own tile.
 *
 * Both run as one batched explainBatch call (n × steps or n × tiles explanations).
 */
import type { Model } from '../model/model.js';
import type { ExplainBatchOptions, Explanation } from './types.js';
import { explainBatch } from './explain.js';
import { quadrature } from '../baselines/attribute.js';
import { argmaxFirst } from './argmax.js';
import { checkTargets, oneOf, positiveInteger, toFloat32, wrongType } from '../validate.js';

/** One input's variant attribution. */
export interface VariantExplanation {
  /** Shaped like the input (flat). */
  attribution: Float32Array;
  /** The averaged (integrated) or tiled (regional) path weights; attribution = weights ⊙ x. */
  weights: Float32Array;
  /** The class explained at every point or tile. */
  target: number;
  /** argmax f(x), lowest index on ties. */
  predicted: number;
  /**
   * Fraction of the explanations (points or tiles) whose path network predicts `target`: how often
   * the paths that make the map still carry the decision.
   */
  pathAgreement: number;
}

export interface IntegratedOptions extends Omit<ExplainBatchOptions, 'regions' | 'region' | 'signal' | 'onProgress'> {
  /** Points on the line 0 → x (default 16). */
  steps?: number;
  /** Quadrature: 'gauss-legendre' (default, as integratedGradients) or 'trapezoid'. */
  rule?: 'gauss-legendre' | 'trapezoid';
  /**
   * 'quadrature' (default): the quadrature weights w_s. 'decision': w_s times the derivative of the
   * explained quantity along the line, d/dα at α_s = W_P(α_s x)[t]·x (the integrated decision
   * gradients of Walker et al., AAAI 2024, on path models), normalised so Σ |weights| = 1: the
   * points where the decision changes count most.
   */
  weighting?: 'quadrature' | 'decision';
}

export interface RegionalOptions extends Omit<ExplainBatchOptions, 'regions' | 'region' | 'signal' | 'onProgress'> {
  /** Tiles per side of the image plane (default 4: a 4 × 4 grid; the last row and column take the remainder). */
  tiles?: number;
}

function splitOwn<T extends object>(options: T, own: readonly string[]): [Record<string, unknown>, ExplainBatchOptions] {
  if (options === null || typeof options !== 'object') throw wrongType('options', 'an object', options);
  const mine: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) (own.includes(k) ? mine : rest)[k] = v;
  for (const k of ['region', 'regions', 'signal', 'onProgress'])
    if (k in rest) throw new RangeError(`option '${k}' does not apply to this variant`);
  return [mine, rest as ExplainBatchOptions];
}

/** The predicted classes (targets when given) of n inputs, from the original network's logits. */
function classesOf(model: Model, x: Float32Array, n: number, options: ExplainBatchOptions & { target?: number }): { targets: Int32Array; predicted: Int32Array } {
  const logits = model.forward(x);
  const C = model.numClasses;
  const predicted = new Int32Array(n);
  for (let e = 0; e < n; e++) predicted[e] = argmaxFirst(logits.subarray(e * C, (e + 1) * C));
  const given = checkTargets(options, C, n);
  return { targets: given ?? predicted, predicted };
}

function agreement(rows: Explanation[]): number {
  let agree = 0;
  for (const r of rows) if (r.pathPredicted === r.target) agree++;
  return agree / rows.length;
}

/**
 * The integrated path model of n inputs (back to back): x ⊙ Σ_s w_s W_P(α_s x)[t], each W_P with
 * its own selection at α_s x and t the class explained at x. Every other option is explain's.
 */
export async function explainIntegrated(model: Model, inputs: Float32Array | ArrayLike<number>, options: IntegratedOptions = {}): Promise<VariantExplanation[]> {
  const [own, explainOptions] = splitOwn(options, ['steps', 'rule', 'weighting']);
  const decision = oneOf(own.weighting ?? 'quadrature', ['quadrature', 'decision'] as const, 'weighting') === 'decision';
  const steps = own.steps === undefined ? 16 : positiveInteger(own.steps, 'steps', 10000);
  const { alpha, weight } = quadrature((own.rule ?? 'gauss-legendre') as 'gauss-legendre' | 'trapezoid', steps);
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  const d = model.inputSize;
  const { targets, predicted } = classesOf(model, x, n, explainOptions);
  const scaled = new Float32Array(n * steps * d);
  const rowTargets = new Int32Array(n * steps);
  for (let e = 0; e < n; e++)
    for (let s = 0; s < steps; s++) {
      const row = (e * steps + s) * d;
      const a = alpha[s];
      for (let i = 0; i < d; i++) scaled[row + i] = Math.fround(a * x[e * d + i]);
      rowTargets[e * steps + s] = targets[e];
    }
  const { target: _t, targets: _ts, ...rest } = explainOptions as ExplainBatchOptions & { target?: number };
  const rows = await explainBatch(model, scaled, { ...rest, targets: rowTargets });
  const out: VariantExplanation[] = [];
  for (let e = 0; e < n; e++) {
    const acc = new Float64Array(d);
    const v = Float64Array.from(weight);
    if (decision) {
      let norm = 0;
      for (let s = 0; s < steps; s++) {
        const w = rows[e * steps + s].weights;
        let slope = 0;
        for (let i = 0; i < d; i++) slope += w[i] * x[e * d + i];
        v[s] *= slope;
        norm += Math.abs(v[s]);
      }
      for (let s = 0; s < steps; s++) v[s] = norm > 0 ? v[s] / norm : weight[s];
    }
    for (let s = 0; s < steps; s++) {
      const w = rows[e * steps + s].weights;
      for (let i = 0; i < d; i++) acc[i] += v[s] * w[i];
    }
    const weights = Float32Array.from(acc);
    const attribution = new Float32Array(d);
    for (let i = 0; i < d; i++) attribution[i] = weights[i] * x[e * d + i];
    out.push({ attribution, weights, target: targets[e], predicted: predicted[e], pathAgreement: agreement(rows.slice(e * steps, (e + 1) * steps)) });
  }
  return out;
}

/** 0/1 masks (inputSize values each) of a tiles × tiles grid over the image plane, every channel. */
export function tileMasks(model: Model, tiles: number): Float32Array[] {
  const shape = model.inputShape;
  if (shape.length < 2) throw new RangeError('explainRegional needs an image input (shape [C, H, W] or [H, W])');
  const H = shape[shape.length - 2], W = shape[shape.length - 1];
  const plane = H * W, channels = model.inputSize / plane;
  if (tiles > Math.min(H, W)) throw new RangeError(`tiles must be at most ${Math.min(H, W)} for a ${H}×${W} image, got ${tiles}`);
  const th = Math.floor(H / tiles), tw = Math.floor(W / tiles);
  const masks: Float32Array[] = [];
  for (let ty = 0; ty < tiles; ty++)
    for (let tx = 0; tx < tiles; tx++) {
      const y0 = ty * th, y1 = ty === tiles - 1 ? H : y0 + th;
      const x0 = tx * tw, x1 = tx === tiles - 1 ? W : x0 + tw;
      const m = new Float32Array(model.inputSize);
      for (let c = 0; c < channels; c++)
        for (let r = y0; r < y1; r++) m.fill(1, c * plane + r * W + x0, c * plane + r * W + x1);
      masks.push(m);
    }
  return masks;
}

/**
 * The regional mosaic of n inputs (back to back): each tile of a tiles × tiles grid explained with
 * that tile as its region (docs/method.md §7.2), the map Σ_k regionAttribution_k. Every other option is
 * explain's.
 */
export async function explainRegional(model: Model, inputs: Float32Array | ArrayLike<number>, options: RegionalOptions = {}): Promise<VariantExplanation[]> {
  const [own, explainOptions] = splitOwn(options, ['tiles']);
  const tiles = own.tiles === undefined ? 4 : positiveInteger(own.tiles, 'tiles');
  const x = toFloat32(inputs, 'inputs');
  const n = model.batchCount(x, 'inputs');
  const d = model.inputSize;
  const masks = tileMasks(model, tiles);
  const K = masks.length;
  const { targets, predicted } = classesOf(model, x, n, explainOptions);
  const repeated = new Float32Array(n * K * d);
  const regions: Float32Array[] = [];
  const rowTargets = new Int32Array(n * K);
  for (let e = 0; e < n; e++)
    for (let k = 0; k < K; k++) {
      repeated.set(x.subarray(e * d, (e + 1) * d), (e * K + k) * d);
      regions.push(masks[k]);
      rowTargets[e * K + k] = targets[e];
    }
  const { target: _t, targets: _ts, ...rest } = explainOptions as ExplainBatchOptions & { target?: number };
  const rows = await explainBatch(model, repeated, { ...rest, regions, targets: rowTargets });
  const out: VariantExplanation[] = [];
  for (let e = 0; e < n; e++) {
    const attribution = new Float32Array(d);
    const weights = new Float32Array(d);
    for (let k = 0; k < K; k++) {
      const r = rows[e * K + k];
      const m = masks[k];
      for (let i = 0; i < d; i++)
        if (m[i] !== 0) {
          attribution[i] = r.attribution[i];
          weights[i] = r.weights[i];
        }
    }
    out.push({ attribution, weights, target: targets[e], predicted: predicted[e], pathAgreement: agreement(rows.slice(e * K, (e + 1) * K)) });
  }
  return out;
}
