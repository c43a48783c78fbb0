// FLOP counts of the bench's layer-spec models (the VGG16-shaped network of
// test/helpers/shaped-models.mjs, the Fashion CNN's shape), counted the way drivers.mjs's
// explainFlops counts dense chains.

/** Multiply-accumulates per layer of one forward pass of a sequential conv/pool/dense spec (per example). */
export function layerMacs(spec) {
  let [, h, w] = spec.inputShape;
  return spec.layers.map((l) => {
    if (l.type === 'conv' || l.type === 'maxpool') {
      const [kh, kw] = l.kernel, [sh, sw] = l.stride ?? (l.type === 'conv' ? [1, 1] : l.kernel), p = l.pads ?? [0, 0, 0, 0];
      h = Math.floor((h + p[0] + p[2] - kh) / sh) + 1;
      w = Math.floor((w + p[1] + p[3] - kw) / sw) + 1;
      return l.type === 'conv' ? l.outChannels * h * w * (l.inChannels / (l.groups ?? 1)) * kh * kw : 0;
    }
    return l.type === 'dense' ? l.in * l.out : 0;
  });
}

export const forwardMacs = (spec) => layerMacs(spec).reduce((a, b) => a + b, 0);

/**
 * FLOPs (2 × MACs) of one explain call on a sequential conv/dense spec, counted like explainFlops
 * in drivers.mjs for dense chains: the original forward (every layer), the Jacobian block of C rows
 * per example pulled down through every weighted layer above the lowest path ReLU, the masked
 * forward from that ReLU up, and the final VJP of one row per example through every layer (an
 * input-gradient VJP costs the forward's MACs). Pooling, ReLU masks, selection and softmax are
 * O(activations) and not counted.
 */
export function explainFlopsSpec(spec, batch, depth, numClasses = 10) {
  const macs = layerMacs(spec);
  const relus = spec.layers.map((l, i) => (l.type === 'relu' ? i : -1)).filter((i) => i >= 0);
  const d = depth === 'all' ? relus.length : Math.min(depth, relus.length);
  const lowest = relus[relus.length - d];
  const all = macs.reduce((a, b) => a + b, 0);
  const above = macs.filter((_, i) => i > lowest).reduce((a, b) => a + b, 0);
  return 2 * batch * (all + numClasses * above + above + all);
}

/** Shapes only (no weights) of test/fixtures/models/fashion_cnn.onnx, for its FLOP count. */
export const fashionCnnShape = {
  inputShape: [1, 28, 28],
  layers: [
    { type: 'conv', inChannels: 1, outChannels: 16, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'conv', inChannels: 16, outChannels: 32, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'flatten' }, { type: 'dense', in: 800, out: 128 }, { type: 'relu' }, { type: 'dense', in: 128, out: 10 },
  ],
};
