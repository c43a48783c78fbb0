// FLOP counts of the bench's layer-spec models (the VGG16-shaped network of
// test/helpers/shaped-models.mjs, the Fashion CNN's shape). The counting is the library's
// (lib/explain/cost.ts, which estimate() uses too), imported from dist/.
import { explainFlopsSpec, specLayerMacs } from '../../dist/index.js';

export { explainFlopsSpec };

/** Multiply-accumulates per layer of one forward pass of a sequential conv/pool/dense spec (per example). */
export const layerMacs = specLayerMacs;

export const forwardMacs = (spec) => layerMacs(spec).reduce((a, b) => a + b, 0);

/** Shapes only (no weights) of test/fixtures/models/fashion_cnn.onnx, for its FLOP count. */
export const fashionCnnShape = {
  inputShape: [1, 28, 28],
  layers: [
    { type: 'conv', inChannels: 1, outChannels: 16, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'conv', inChannels: 16, outChannels: 32, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'flatten' }, { type: 'dense', in: 800, out: 128 }, { type: 'relu' }, { type: 'dense', in: 128, out: 10 },
  ],
};
