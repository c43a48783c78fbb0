/**
 * Everything the ONNX loader uses from the rest of lib/, in one place: the generated protobuf
 * schema, the error helpers and the layer spec types. The other files in lib/onnx import these
 * from here, so a move elsewhere in lib/ is re-pointed in this file alone.
 */
export {
  AttributeProto_AttributeType as AttrType,
  ModelProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation as DataLocation,
  TensorProto_DataType as DataType,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../gen/onnx_subset_pb.js';
export { PathwiseError, badModel, unsupported } from '../errors.js';
export type {
  AvgPoolLayerSpec,
  BatchNormLayerSpec,
  ConvLayerSpec,
  DenseLayerSpec,
  LayerSpec,
  MaxPoolLayerSpec,
  NetworkSpec,
} from '../model/layers.js';
export { halfToFloat } from '../io/float16.js';
