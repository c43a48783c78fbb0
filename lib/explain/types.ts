/** Public types of the pathwise API. */

/**
 * Units kept per path layer before the score filter: an integer k ≥ 1, a percentage of the layer
 * ('10%', 'P%': k = max(1, round(N_l · P / 100)), half to even, as the reference), or 'all'.
 */
export type Width = number | `${number}%` | 'all';
/** How many ReLU layers, counted from the output, are path layers: an integer d ≥ 1 or 'all'. */
export type Depth = number | 'all';
/**
 * 'official': the authors' reference algorithm (MaskLayers replace the path ReLUs, pools re-route
 * on masked values; docs/method.md §4.2). 'linear': the clean path linear model with the original activation
 * pattern and routing frozen at x (gates m ⊙ φ(z(x)); docs/method.md §4.3): completeness holds for every
 * input, and with width and depth 'all' and threshold 0 it equals unwrapping (input × gradient).
 */
export type Semantics = 'official' | 'linear';

/**
 * A region of the input: a 0/1 mask over the image plane (H × W values, applied to every channel)
 * or over the whole input (inputSize values), or a box in pixel coordinates of the image plane.
 */
export type Region = ArrayLike<number> | { x: number; y: number; width: number; height: number };

export interface ExplainOptions {
  /** Default 'all'. */
  width?: Width;
  /**
   * Stops the call (async forms only): the native work stops at its next layer step and the
   * promise rejects with an Error named 'AbortError' (code 'ABORT_ERR', cause: the signal's
   * reason). An already-aborted signal rejects before any work starts. Results are the same with
   * or without a signal.
   */
  signal?: AbortSignal;
  /**
   * Called on the JavaScript thread after each layer step (async forms only): `done` of `total`
   * steps, `done` increasing to `total` (one step per path layer and one for the path network, per
   * chunk of examples). If it throws, the call stops and rejects with that error.
   */
  onProgress?: (done: number, total: number) => void;
  /** Default 'all'. */
  depth?: Depth;
  /** Class to explain; default the predicted class (argmax of the logits, lowest index on ties). */
  target?: number;
  /** Default 'official' (the authors' reference, docs/method.md §4.2). */
  semantics?: Semantics;
  /**
   * Selection threshold: a unit is kept when its class-softmax score exceeds it. Default 1/C, the
   * reference's rule (which drops 83–96% of active units per layer). 0 keeps every unit whose class
   * contributions are not all identical (every active unit with a route to the logits).
   */
  threshold?: number | 'adaptive';
  /**
   * Research option (docs/research.md). How a unit is scored: 'softmax' (default, the reference:
   * the class softmax of its contributions, entry t) or 'target' (its contribution to the target
   * logit alone, h_i · ∂ŷ_t/∂h_i; kept when above 0, or above the layer's mean positive
   * contribution with threshold 'adaptive'). With threshold 'adaptive' each layer keeps the units
   * whose score exceeds the mean score of its live units (units whose contributions differ).
   */
  score?: 'softmax' | 'target';
  /**
   * Research option (docs/research.md). Also keep every unit whose contribution to the target
   * logit is negative, whatever the width, so the path logit is not inflated by masking the
   * units that oppose the target. Default false.
   */
  keepOpposing?: boolean;
  /**
   * Research option (docs/research.md). 'logit' (default): the path model's row t, Σ attribution +
   * bias = ŷ_t. 'logSoftmax': the gradient of the path network's log-probability of t,
   * W_Pᵀ(e_t − p̂) with p̂ = softmax(ŷ(x)), so Σ attribution + bias = ŷ_t − Σ_j p̂_j ŷ_j. Not with
   * decompose or paths.
   */
  objective?: 'logit' | 'logSoftmax';
  /**
   * Bound on the working memory of one call, in bytes (default 2 GiB). A batch is split into
   * chunks that fit; if a single input does not fit, the call fails with PATHWISE_MEMORY_LIMIT
   * before allocating.
   */
  maxMemoryBytes?: number;
  /**
   * Split the explanation exactly into the contributions of one path layer's units (docs/method.md §6):
   * `by: 'unit'` (each kept unit), `'channel'` (the kept units of each conv channel), or
   * `{ top: m }` (the m units of largest |contribution| plus one "rest" group). `layer`: a path
   * layer's ordinal, default the top one. The components' weights, attributions and contributions
   * sum to the explanation's (Σ r + biasAbove = pathLogit).
   */
  decompose?: { layer?: number; by: 'unit' | 'channel' | { top: number } };
  /**
   * Regional explanation (docs/method.md §7.2): score units by the part of their evidence that comes from
   * this region (a forward-mode pass of x ⊙ 1_Ω), and report regionAttribution and regionShare.
   * With a region, 'official' no longer reproduces the reference (the scores exclude biases).
   */
  region?: Region;
  /**
   * The top-k complete one-way paths (one unit per path layer) by contribution to the target
   * logit, each with its linear model (docs/method.md §8). `rank`: 'signed' (default: strongest evidence for
   * the target) or 'abs'. Exact k-best search; above `maxEdges` edges (default 20 Mi) only the
   * `beam` (default 256) units of largest |contribution| per layer are searched and the result is
   * marked `exact: false`. Needs a chain above the first path layer.
   */
  paths?: { k: number; rank?: 'signed' | 'abs'; maxEdges?: number; beam?: number };
}

export interface OneWayPath {
  /** One unit per path layer, bottom → top (flat indices). */
  units: Int32Array;
  /** c_p = ω_d · Π ω_j · z_{l_1}(u_1): the path's term of the exact sum that makes the logit. */
  contribution: number;
  /** W_p: the path's linear model; W_p·x + bias = contribution. */
  weights: Float32Array;
  bias: number;
}

export interface OneWayPaths {
  items: OneWayPath[];
  /** Σ contribution over the returned paths / (pathLogit − biasAbove). */
  coverage: number;
  /** b_{>l_1}: the bias entering above the first path layer; Σ over all paths + biasAbove = pathLogit. */
  biasAbove: number;
  /** False when the beam limited the search. */
  exact: boolean;
}

export interface Component {
  /** The group's units in the decomposed layer (ascending flat indices). */
  units: Int32Array;
  /** W^(G): this group's share of `weights`. */
  weights: Float32Array;
  /** W^(G) ⊙ x. */
  attribution: Float32Array;
  /** b^(G): its share of the bias entering at or below the decomposed layer. */
  bias: number;
  /** r_G = W^(G)·x + b^(G): the group's contribution to the path logit. */
  contribution: number;
  /** The remainder group of a `{ top: m }` grouping. */
  rest: boolean;
}

export interface Decomposition {
  /** The decomposed path layer. */
  ordinal: number;
  /** b_{>k}: the bias entering above the decomposed layer; Σ contribution + biasAbove = pathLogit. */
  biasAbove: number;
  components: Component[];
}

export interface ExplainBatchOptions extends Omit<ExplainOptions, 'target'> {
  /** One region per input (e.g. several regions of one repeated input, run as one batch). */
  regions?: Region[];
  /** One target per example; default each example's predicted class. */
  targets?: ArrayLike<number>;
}

/** The layer spec type a gate layer came from ('relu', or another piecewise-linear gate). */
export type GateKind = 'relu' | 'gate' | 'clip' | 'leakyrelu' | 'prelu';

/** A path layer: a ReLU or another piecewise-linear gate (Model.gateLayers lists GateLayerInfo). */
export interface ReluLayerInfo {
  /** 0 = the gate layer nearest the input. */
  ordinal: number;
  /** Number of units (numel of the layer's output without the batch dimension). */
  units: number;
  /** Shape of the layer's output without the batch dimension. */
  shape: number[];
}

/** A gate layer of a model (Model.gateLayers). */
export interface GateLayerInfo extends ReluLayerInfo {
  /** The layer spec type it came from. */
  kind: GateKind;
}

export interface PathLayer {
  /** Which gate (path) layer (see Model.gateLayers). */
  ordinal: number;
  /** Selected units: ascending flat (NCHW) indices into the layer's output. */
  units: Int32Array;
  /** Selection score of each selected unit, same order as `units`. */
  scores: Float32Array;
  /** No candidate passed the 1/C test; the single best-ranked unit was kept. */
  fallback: boolean;
  /** Candidates kept by the width rule, before the score test. */
  k: number;
  /** Units whose score lies within 4 ulp of float32(1/C): rounding-sensitive decisions. */
  borderline: number;
}

export interface Explanation {
  /** A = W_P[t] ⊙ x, shaped like the input (flat). */
  attribution: Float32Array;
  /** W_P[t], the path linear model's weights for the target. */
  weights: Float32Array;
  /** b_P[t], the path linear model's bias for the target. */
  bias: number;
  target: number;
  predicted: number;
  /** Logits of the original network at x. */
  logits: Float32Array;
  /** Logits of the path (fully masked) network at x. */
  pathLogits: Float32Array;
  /** ŷ_t(x): the path network's logit for the target. */
  pathLogit: number;
  /**
   * argmax of pathLogits (lowest index on ties): the class the path network itself predicts. When
   * it is not `target`, the path no longer carries the decision it explains (narrow paths lose it;
   * see the report's warning).
   */
  pathPredicted: number;
  /** W_P[t]·x + b_P[t] − ŷ_t(x): the completeness residual (float32 rounding only). */
  residual: number;
  /** Path layers bottom → top. */
  layers: PathLayer[];
  /** With a region: attribution ⊙ 1_Ω. */
  regionAttribution?: Float32Array;
  /** With a region: W_P[t] · (x ⊙ 1_Ω), the region's share of the path logit (bias excluded). */
  regionShare?: number;
  /** Present when the `paths` option was given. */
  paths?: OneWayPaths;
  /** Present when the `decompose` option was given. */
  decomposition?: Decomposition;
  stats: {
    /** Path-layer steps whose C Jacobian rows were recomputed from the logits (docs/method.md §4.2 H2). */
    recomputes: number;
    /**
     * Classes whose Jacobian rows one step held at once: C, unless maxMemoryBytes forced the
     * memory-bounded mode (the lower path layers then sweep chunks of classes, each from the lowest
     * layer whose C rows fit; same result bit for bit).
     */
    classChunk: number;
  };
}
