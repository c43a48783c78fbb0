/**
 * The plain layer-spec form of a network, the common currency of every loader (ONNX, plain
 * arrays, later tfjs). Dense weights are row-major out × in, as in PyTorch's Linear and ONNX Gemm
 * with transB = 1. Shape-only layers (flatten, reshape, identity) change no values: the engine
 * works on flat NCHW buffers, so they only matter for the shapes reported to the user.
 */
export interface DenseLayerSpec {
  type: 'dense';
  /** Row-major out × in. */
  weights: Float32Array;
  /** Length out; zeros when omitted. */
  bias?: Float32Array;
  in: number;
  out: number;
  /** Where the layer came from (ONNX node name), for error messages. */
  name?: string;
}
export interface ReluLayerSpec { type: 'relu'; name?: string }
export interface FlattenLayerSpec { type: 'flatten'; name?: string }
export interface IdentityLayerSpec { type: 'identity'; name?: string }
export interface ReshapeLayerSpec {
  type: 'reshape';
  /** Target shape without the batch dimension. */
  shape: number[];
  name?: string;
}

export type LayerSpec =
  | DenseLayerSpec
  | ReluLayerSpec
  | FlattenLayerSpec
  | IdentityLayerSpec
  | ReshapeLayerSpec;

/** A network ready for the engine: its input shape (no batch dimension) and its layers. */
export interface NetworkSpec {
  inputShape: number[];
  layers: LayerSpec[];
}
