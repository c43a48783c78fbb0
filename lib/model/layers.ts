/**
 * The plain layer-spec form of a network, the common currency of every loader (ONNX, tfjs, plain
 * arrays). Tensors are NCHW without the batch dimension; the engine works on flat buffers in that
 * order, so shape-only layers (flatten, reshape, identity) move no data.
 *
 * Graph form: by default a layer consumes the output of the layer before it (layer 0 consumes the
 * network input). `inputs` names other producers by their index in the array (-1 = the network
 * input), which gives residual networks: `{ type: 'add', inputs: [i, j] }`. Layers must be listed
 * in a topological order (every producer before its consumers); the last layer is the output.
 */
interface LayerBase {
  /** Where the layer came from (e.g. the ONNX node name), for error messages. */
  name?: string;
  /** Producers of this layer's input(s): indices of earlier layers, -1 for the network input. */
  inputs?: number[];
}

/** Fully connected: y = W x + b over the flattened input. */
export interface DenseLayerSpec extends LayerBase {
  type: 'dense';
  /** Row-major out × in. */
  weights: Float32Array;
  /** Length out; zeros when omitted. */
  bias?: Float32Array;
  in: number;
  out: number;
}

/** 2-D convolution (ONNX Conv, PyTorch Conv2d). */
export interface ConvLayerSpec extends LayerBase {
  type: 'conv';
  /** outChannels × (inChannels / groups) × kernel[0] × kernel[1], row-major. */
  weights: Float32Array;
  /** Length outChannels; zeros when omitted. */
  bias?: Float32Array;
  inChannels: number;
  outChannels: number;
  kernel: [number, number];
  /** Default [1, 1]. */
  stride?: [number, number];
  /** [top, left, bottom, right], default zeros (ONNX order is [top, left, bottom, right] too). */
  pads?: [number, number, number, number];
  /** Default [1, 1]. */
  dilation?: [number, number];
  /** Default 1; inChannels and outChannels must be multiples of it (depthwise: groups = inChannels). */
  groups?: number;
}

export interface ReluLayerSpec extends LayerBase { type: 'relu' }

/**
 * The general piecewise-linear gate (docs/semantics.md, "Gates beyond ReLU"):
 * g(z) = slope·(z − lower) + lowerValue for z ≤ lower, z for lower < z < upper, upper for z ≥ upper.
 * Like every gate it is a path layer. ReLU is lower 0, upper Infinity, slope 0.
 */
export interface GateLayerSpec extends LayerBase {
  type: 'gate';
  /** Default 0; may be -Infinity (no lower piece). */
  lower?: number;
  /** Default Infinity (no upper piece). */
  upper?: number;
  /** Slope of the lower piece: one number, or one per channel (NCHW axis 1). Default 0. */
  slope?: number | Float32Array;
  /** g(lower) on the lower piece. Default `lower` (0 when lower is -Infinity). */
  lowerValue?: number;
}

/** min(max(z, min), max): ReLU6 is `{ min: 0, max: 6 }`, Hardtanh `{ min: -1, max: 1 }`. A gate. */
export interface ClipLayerSpec extends LayerBase {
  type: 'clip';
  /** Default -Infinity. */
  min?: number;
  /** Default Infinity. */
  max?: number;
}

/** z for z > 0, alpha·z otherwise. A gate. */
export interface LeakyReluLayerSpec extends LayerBase {
  type: 'leakyrelu';
  alpha: number;
}

/** z for z > 0, slope[c]·z otherwise; slope of length 1 (shared) or one per channel. A gate. */
export interface PReluLayerSpec extends LayerBase {
  type: 'prelu';
  slope: Float32Array;
}

/**
 * Concatenation along channels (NCHW axis 1) of two or more producers with equal H and W; for a
 * flat (dense) output, of the features.
 */
export interface ConcatLayerSpec extends LayerBase {
  type: 'concat';
  inputs: number[];
}

/** Channels start … end − 1 of the input (a Split is several slices of one producer). */
export interface SliceLayerSpec extends LayerBase {
  type: 'slice';
  channels: [number, number];
}

/**
 * ShuffleNet's channel shuffle (reshape to groups × C/groups, transpose, reshape back): output
 * channel i is input channel (i mod groups)·(C/groups) + ⌊i / groups⌋.
 */
export interface ChannelShuffleLayerSpec extends LayerBase {
  type: 'channelshuffle';
  groups: number;
}

/** Constant padding of H and W, [top, left, bottom, right]; negative entries crop. */
export interface PadLayerSpec extends LayerBase {
  type: 'pad';
  pads: [number, number, number, number];
  /** Default 0; must be finite. */
  value?: number;
}

/** Max over each channel's H × W positions (first maximum wins); output C × 1 × 1. */
export interface GlobalMaxPoolLayerSpec extends LayerBase { type: 'globalmaxpool' }

/** Max pooling; ties go to the first element of the window in row-major scan order. */
export interface MaxPoolLayerSpec extends LayerBase {
  type: 'maxpool';
  kernel: [number, number];
  /** Default = kernel. */
  stride?: [number, number];
  /** [top, left, bottom, right], default zeros; padded positions never win. */
  pads?: [number, number, number, number];
  dilation?: [number, number];
  ceilMode?: boolean;
}

export interface AvgPoolLayerSpec extends LayerBase {
  type: 'avgpool';
  kernel: [number, number];
  stride?: [number, number];
  pads?: [number, number, number, number];
  ceilMode?: boolean;
  /** Divide by the full window including padding (PyTorch's default true; ONNX's default false). */
  countIncludePad?: boolean;
}

/** Mean over each channel's H × W positions; output C × 1 × 1. */
export interface GlobalAvgPoolLayerSpec extends LayerBase { type: 'globalavgpool' }

/**
 * Inference-mode batch normalisation, y = scale · (x − mean) / sqrt(variance + epsilon) + bias per
 * channel. Folded exactly into the preceding conv or dense layer when that layer feeds nothing
 * else; otherwise kept as a per-channel affine layer.
 */
export interface BatchNormLayerSpec extends LayerBase {
  type: 'batchnorm';
  scale: Float32Array;
  bias: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/** Per-channel affine map y = scale[c] · x + shift[c]. */
export interface AffineLayerSpec extends LayerBase {
  type: 'affine';
  scale: Float32Array;
  shift: Float32Array;
}

/** Elementwise sum of two producers of the same shape (a residual connection). */
export interface AddLayerSpec extends LayerBase {
  type: 'add';
  inputs: [number, number];
}

export interface FlattenLayerSpec extends LayerBase { type: 'flatten' }
export interface IdentityLayerSpec extends LayerBase { type: 'identity' }
export interface ReshapeLayerSpec extends LayerBase {
  type: 'reshape';
  /** Target shape without the batch dimension. */
  shape: number[];
}

export type LayerSpec =
  | DenseLayerSpec
  | ConvLayerSpec
  | ReluLayerSpec
  | GateLayerSpec
  | ClipLayerSpec
  | LeakyReluLayerSpec
  | PReluLayerSpec
  | ConcatLayerSpec
  | SliceLayerSpec
  | ChannelShuffleLayerSpec
  | PadLayerSpec
  | GlobalMaxPoolLayerSpec
  | MaxPoolLayerSpec
  | AvgPoolLayerSpec
  | GlobalAvgPoolLayerSpec
  | BatchNormLayerSpec
  | AffineLayerSpec
  | AddLayerSpec
  | FlattenLayerSpec
  | IdentityLayerSpec
  | ReshapeLayerSpec;

/** A network ready for the engine: its input shape (no batch dimension) and its layers. */
export interface NetworkSpec {
  inputShape: number[];
  layers: LayerSpec[];
}
