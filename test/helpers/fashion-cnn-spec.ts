/**
 * The fixture CNN written as a plain layer spec, its weights read straight from the ONNX
 * initializers: an independent route into the engine (no graph import), for comparing with the ONNX
 * loader's output.
 */
import { readFileSync } from 'node:fs';
import { fromBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema } from '../../lib/gen/onnx_subset_pb.js';
import type { NetworkSpec } from '../../lib/model/layers.js';

export function fashionCnnSpec(path: string): NetworkSpec {
  const model = fromBinary(ModelProtoSchema, readFileSync(path));
  const init = new Map<string, Float32Array>();
  for (const t of model.graph!.initializer) {
    const raw = new Uint8Array(t.rawData); // copy: the view may be unaligned
    init.set(t.name, new Float32Array(raw.buffer, 0, raw.byteLength / 4));
  }
  const get = (name: string) => init.get(name)!;
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
