/**
 * FLOP counts of an explanation (docs/method.md §11.1), shared by estimate() and the bench: from
 * each layer's forward multiply-accumulates (the engine's, or a sequential layer spec's), the
 * original forward, the Jacobian block of C rows per example pulled down through every layer above
 * the lowest path gate, the masked forward from that gate up, and the final VJP of one row per
 * example through every layer (an input-gradient VJP costs the forward's MACs). Pooling, gates,
 * selection and softmax are O(activations) and not counted.
 */
import type { Depth } from './types.js';

/**
 * FLOPs (2 × MACs) of explaining `batch` examples at this depth, from per-layer forward MACs and
 * the layer indices of the gate layers (bottom → top).
 */
export function explainFlopsFromMacs(layerMacs: ArrayLike<number>, gatePositions: ArrayLike<number>, batch: number, depth: Depth,
  numClasses: number): number {
  const gates = gatePositions.length;
  const d = depth === 'all' ? gates : Math.min(depth, gates);
  const lowest = gatePositions[gates - d];
  let all = 0, above = 0;
  for (let i = 0; i < layerMacs.length; i++) {
    all += layerMacs[i];
    if (i > lowest) above += layerMacs[i];
  }
  return 2 * batch * (all + numClasses * above + above + all);
}

/** A sequential conv / pool / dense layer spec's shape (weights not needed). */
export interface SequentialShapeSpec {
  inputShape: readonly number[];
  layers: ReadonlyArray<{
    type: string; kernel?: readonly number[]; stride?: readonly number[]; pads?: readonly number[];
    inChannels?: number; outChannels?: number; groups?: number; in?: number; out?: number;
  }>;
}

/** Multiply-accumulates per layer of one forward pass of a sequential conv/pool/dense spec (per example). */
export function specLayerMacs(spec: SequentialShapeSpec): number[] {
  let [, h, w] = spec.inputShape;
  return spec.layers.map((l) => {
    if (l.type === 'conv' || l.type === 'maxpool') {
      const [kh, kw] = l.kernel!, [sh, sw] = l.stride ?? (l.type === 'conv' ? [1, 1] : l.kernel!), p = l.pads ?? [0, 0, 0, 0];
      h = Math.floor((h + p[0] + p[2] - kh) / sh) + 1;
      w = Math.floor((w + p[1] + p[3] - kw) / sw) + 1;
      return l.type === 'conv' ? l.outChannels! * h * w * (l.inChannels! / (l.groups ?? 1)) * kh * kw : 0;
    }
    return l.type === 'dense' ? l.in! * l.out! : 0;
  });
}

/** FLOPs of explaining `batch` examples of a sequential spec whose gates are its 'relu' layers. */
export function explainFlopsSpec(spec: SequentialShapeSpec, batch: number, depth: Depth, numClasses = 10): number {
  const gates = spec.layers.map((l, i) => (l.type === 'relu' ? i : -1)).filter((i) => i >= 0);
  return explainFlopsFromMacs(specLayerMacs(spec), gates, batch, depth, numClasses);
}
