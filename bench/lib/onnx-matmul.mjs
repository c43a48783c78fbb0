// Builds a one-node ONNX MatMul model (Y = A · B, float32) with the generated ONNX subset schema,
// so onnxruntime-node can be timed on exactly the shapes our GEMM is timed on.
//   bInitializer = false: A and B are both graph inputs (B is packed on every run, as ours is).
//   bInitializer = true:  B is a constant initializer (onnxruntime pre-packs it once at load).
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
} from '../../dist/gen/onnx_subset_pb.js';

function valueInfo(name, dims) {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: DataType.FLOAT,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) => create(TensorShapeProto_DimensionSchema, { value: { case: 'dimValue', value: BigInt(d) } })),
          }),
        }),
      },
    }),
  });
}

/** ONNX bytes of Y[m×n] = A[m×k] · B[k×n]; with bValues, B is an initializer holding them. */
export function matmulModel(m, n, k, bValues) {
  const inputs = [valueInfo('A', [m, k])];
  const initializer = [];
  if (bValues) {
    initializer.push(create(TensorProtoSchema, {
      name: 'B', dims: [BigInt(k), BigInt(n)], dataType: DataType.FLOAT,
      rawData: new Uint8Array(bValues.buffer, bValues.byteOffset, bValues.byteLength),
    }));
  } else {
    inputs.push(valueInfo('B', [k, n]));
  }
  const graph = create(GraphProtoSchema, {
    name: 'matmul',
    node: [create(NodeProtoSchema, { opType: 'MatMul', input: ['A', 'B'], output: ['Y'], name: 'mm' })],
    initializer,
    input: inputs,
    output: [valueInfo('Y', [m, n])],
  });
  const model = create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: 'pathwise-bench',
    graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })],
  });
  return toBinary(ModelProtoSchema, model);
}
