// The shared Fashion-MNIST CNN as a layer spec, its weights read from the ONNX initializers (the
// same construction as test/helpers/fashion-cnn-spec.ts), for `--model bench/eval/fashion-cnn.mjs`
// until the ONNX loader reads Conv and MaxPool. Needs the TypeScript build (dist/).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../../dist/gen/onnx_subset_pb.js';

export default function fashionCnn(path = fileURLToPath(new URL('../../test/fixtures/models/fashion_cnn.onnx', import.meta.url))) {
  const model = fromBinary(ModelProtoSchema, readFileSync(path));
  const init = new Map();
  for (const t of model.graph.initializer) {
    const raw = new Uint8Array(t.rawData); // copy: the view may be unaligned
    init.set(t.name, new Float32Array(raw.buffer, 0, raw.byteLength / 4));
  }
  const get = (name) => init.get(name);
  return {
    inputShape: [1, 28, 28],
    layers: [
      { type: 'conv', inChannels: 1, outChannels: 16, kernel: [3, 3], weights: get('0.weight'), bias: get('0.bias') },
      { type: 'relu' },
      { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
      { type: 'conv', inChannels: 16, outChannels: 32, kernel: [3, 3], weights: get('3.weight'), bias: get('3.bias') },
      { type: 'relu' },
      { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
      { type: 'flatten' },
      { type: 'dense', in: 800, out: 128, weights: get('7.weight'), bias: get('7.bias') },
      { type: 'relu' },
      { type: 'dense', in: 128, out: 10, weights: get('9.weight'), bias: get('9.bias') },
    ],
  };
}
