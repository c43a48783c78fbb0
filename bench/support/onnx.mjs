// The ONNX builders of test/helpers/onnx-bytes.mjs (shared with the tests), bound to the built
// schema in dist/: the bench runs plain Node, which cannot load lib/gen's TypeScript.
import * as onnxSchema from '../../dist/gen/onnx_subset_pb.js';
import { onnxBuilders } from '../../test/helpers/onnx-bytes.mjs';

export const { specToOnnx, matmulModel } = onnxBuilders(onnxSchema);
