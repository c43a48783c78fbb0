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
