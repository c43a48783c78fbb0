// tfjs models with the layers of issue 14 (Concatenate, ZeroPadding2D, Cropping2D, DepthwiseConv2D,
// SeparableConv2D, GlobalMaxPooling2D; ReLU with max_value/threshold/negative_slope, LeakyReLU,
// PReLU, ThresholdedReLU, relu6) → NetworkSpec. The converted specs are checked against tfjs
// predict through the float64 spec evaluator of test/helpers/spec-eval.ts (the shared oracle in
// test/oracle does not know the new kinds yet); the end-to-end tests through the engine skip themselves until
// lib/model/lower.ts lowers every kind they need.
import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { loadModelSync, explainSync, PathwiseError } from '../lib/index.js';
import { tfjsLayersModelToSpec, tfjsArtifactsToSpec, convertTfjsGraph, type TfjsArtifacts } from '../lib/tfjs/index.js';
import type { LayerSpec, NetworkSpec } from '../lib/model/layers.js';
import { maxRelDiff } from './helpers/fixtures.js';
import { batch, expectUnsupported, predict, seeded, toNchw } from './helpers/tfjs.js';
import { evalBatch, evalSpec } from './helpers/spec-eval.js';

tf.setBackend('cpu');
beforeAll(async () => { await tf.ready(); });

/** Random weights everywhere (biases and PReLU slopes too, so that every term matters). */
function randomize(model: tf.LayersModel, seed: number, scale = 0.6) {
  const rand = seeded(seed);
  for (const l of model.layers) {
    const ws = l.getWeights();
    if (ws.length) l.setWeights(ws.map((t) => tf.tensor(new Float32Array(t.size).map(() => rand() * scale), t.shape)));
  }
}

async function artifactsOf(model: tf.LayersModel): Promise<TfjsArtifacts> {
  let artifacts: unknown;
  await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  return artifacts as TfjsArtifacts;
}

// ---- Which new kinds the engine lowers (other branches of issue 14 add them) ----

function lowers(inputShape: number[], layers: LayerSpec[]): boolean {
  try {
    loadModelSync({ inputShape, layers }).dispose();
    return true;
  } catch (e) {
    if (e instanceof PathwiseError && e.code === 'PATHWISE_UNSUPPORTED_OP') return false;
    throw e;
  }
}
const dense = (n: number, m: number): LayerSpec => ({ type: 'dense', in: n, out: m, weights: new Float32Array(n * m).fill(0.1) });
const conv1x1: LayerSpec = { type: 'conv', inChannels: 2, outChannels: 2, kernel: [1, 1], weights: Float32Array.of(1, 0.5, -0.5, 1) };
const flatGate = (g: LayerSpec) => lowers([4], [dense(4, 4), g, dense(4, 2)]);
const engine = {
  gate: flatGate({ type: 'gate', lower: 0.5, upper: 2, slope: 0.1, lowerValue: 0 }),
  clip: flatGate({ type: 'clip', min: 0, max: 6 }),
  leakyrelu: flatGate({ type: 'leakyrelu', alpha: 0.1 }),
  prelu: flatGate({ type: 'prelu', slope: Float32Array.of(0.2) }),
  concat: lowers([2, 3, 3], [conv1x1, { type: 'relu' }, { type: 'concat', inputs: [0, 1] }, { type: 'flatten' }, dense(36, 2)]),
  pad: lowers([2, 3, 3], [conv1x1, { type: 'relu' }, { type: 'pad', pads: [1, 0, -1, 1] }, { type: 'flatten' }, dense(24, 2)]),
  globalmaxpool: lowers([2, 3, 3], [conv1x1, { type: 'relu' }, { type: 'globalmaxpool' }, { type: 'flatten' }, dense(2, 2)]),
};
type Kind = keyof typeof engine;
const engineLowers = (...kinds: Kind[]) => kinds.every((k) => engine[k]);

/** loadModel's logits against tfjs predict, and completeness of an explanation. */
function checkEndToEnd(spec: NetworkSpec, model: tf.LayersModel, x: Float32Array, tfShape: number[]) {
  const n = tfShape[0];
  const nchw = tfShape.length === 4 ? toNchw(x, n, tfShape[1], tfShape[2], tfShape[3]) : x;
  const m = loadModelSync(spec);
  try {
    expect(maxRelDiff(m.forward(nchw), predict(model, x, tfShape))).toBeLessThan(1e-4);
    const one = nchw.subarray(0, nchw.length / n);
    for (const width of ['all', '50%'] as const) {
      const ex = explainSync(m, one, { width });
      const sum = ex.attribution.reduce((p, q) => p + q, 0);
      expect(Math.abs(sum + ex.bias - ex.pathLogit)).toBeLessThan(1e-3 * Math.max(1, Math.abs(ex.pathLogit)));
    }
  } finally {
    m.dispose();
  }
}

const apply = (layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[]) => layer.apply(x) as tf.SymbolicTensor;

describe('tfjs inception-style block: Concatenate, GlobalMaxPooling2D, relu6', () => {
  const [H, W, C] = [8, 8, 3];
  let model: tf.LayersModel;
  let spec: NetworkSpec;
  beforeAll(() => {
    const input = tf.input({ shape: [H, W, C] });
    const b1 = apply(tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu' }), input);
    const b2 = apply(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu6' }), input);
    const b3 = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1 }), apply(tf.layers.maxPooling2d({ poolSize: 3, strides: 1, padding: 'same' }), input));
    const cat = apply(tf.layers.concatenate({ axis: -1, name: 'cat' }), [b1, b2, b3]);
    const cat2 = apply(tf.layers.concatenate({ axis: 3, name: 'cat2' }), [cat, b1]);
    const r = apply(tf.layers.reLU(), cat2);
    const gmp = apply(tf.layers.globalMaxPooling2d({}), r);
    const flat = apply(tf.layers.flatten(), apply(tf.layers.maxPooling2d({ poolSize: 2 }), r));
    const both = apply(tf.layers.concatenate({ name: 'cat_flat' }), [gmp, flat]);
    const out = apply(tf.layers.dense({ units: 3 }), apply(tf.layers.dense({ units: 6, activation: 'relu' }), both));
    model = tf.model({ inputs: input, outputs: out });
    randomize(model, 3);
    spec = tfjsLayersModelToSpec(model);
  });

  it('maps NHWC channel concatenation (axis −1 and 3) to the NCHW concat', () => {
    expect(spec.inputShape).toEqual([C, H, W]);
    const kinds = spec.layers.map((l) => l.type);
    expect(kinds.filter((k) => k === 'concat')).toHaveLength(3);
    expect(kinds).toContain('clip');
    expect(kinds).toContain('globalmaxpool');
    const cat = spec.layers.find((l) => l.name === 'cat')!;
    expect(cat.inputs).toHaveLength(3);
    expect(spec.layers.find((l) => l.type === 'clip')).toMatchObject({ min: 0, max: 6 });
  });

  it('the spec computes tfjs predict (float64 evaluator, 1e-4)', () => {
    const n = 6;
    const x = batch(n, H * W * C, 7, 3);
    expect(maxRelDiff(evalBatch(spec, toNchw(x, n, H, W, C), n), predict(model, x, [n, H, W, C]))).toBeLessThan(1e-4);
  });

  it('model.json artifacts give the same spec', async () => {
    expect(tfjsArtifactsToSpec(await artifactsOf(model))).toEqual(spec);
  });

  it.skipIf(!engineLowers('concat', 'clip', 'globalmaxpool'))('loads and explains end to end', () => {
    checkEndToEnd(spec, model, batch(4, H * W * C, 9, 3), [4, H, W, C]);
  });
});

describe('tfjs spatial layers: ZeroPadding2D, DepthwiseConv2D, SeparableConv2D, Cropping2D, LeakyReLU, PReLU', () => {
  const [H, W, C] = [9, 10, 4];
  let model: tf.Sequential;
  let spec: NetworkSpec;
  beforeAll(() => {
    model = tf.sequential({
      layers: [
        tf.layers.zeroPadding2d({ inputShape: [H, W, C], padding: [[1, 2], [0, 1]] }),
        tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, activation: 'relu', name: 'dw' }),
        tf.layers.separableConv2d({ filters: 5, kernelSize: 3, padding: 'same', depthMultiplier: 2, name: 'sep' }),
        tf.layers.cropping2D({ cropping: [[1, 0], [0, 1]], name: 'crop' }),
        tf.layers.leakyReLU({ alpha: 0.15 }),
        tf.layers.separableConv2d({ filters: 3, kernelSize: [2, 3], dilationRate: 2, padding: 'same', useBias: false, name: 'sep_dilated' }),
        tf.layers.prelu({ sharedAxes: [1, 2], name: 'prelu_channels' }),
        tf.layers.depthwiseConv2d({ kernelSize: [2, 1], padding: 'same', useBias: false }),
        tf.layers.zeroPadding2d({ padding: 1 }),
        tf.layers.flatten(),
        tf.layers.prelu({ name: 'prelu_units' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    randomize(model, 5);
    spec = tfjsLayersModelToSpec(model);
  });

  it('converts shapes, pads, crops and the depthwise weight layout', () => {
    const byName = (n: string) => spec.layers.find((l) => l.name === n)!;
    expect(spec.layers[0]).toMatchObject({ type: 'pad', pads: [1, 0, 2, 1] });
    expect(byName('crop')).toMatchObject({ type: 'pad', pads: [-1, 0, 0, -1] });
    const dw = byName('dw') as Extract<LayerSpec, { type: 'conv' }>;
    expect(dw).toMatchObject({ type: 'conv', inChannels: 4, outChannels: 8, groups: 4, kernel: [3, 3], stride: [2, 2], pads: [0, 0, 0, 0] });
    // tfjs [kh, kw, cin, dm] → ours [cin·dm, 1, kh, kw]: output channel c·dm + m is input channel c's m-th filter.
    const k = model.getLayer('dw').getWeights()[0].dataSync();
    for (const [c, m, y, x] of [[0, 0, 0, 0], [2, 1, 1, 2], [3, 1, 2, 0]])
      expect(dw.weights[((c * 2 + m) * 3 + y) * 3 + x]).toBe(k[((y * 3 + x) * 4 + c) * 2 + m]);
    // SeparableConv2D = depthwise conv (no bias) + pointwise 1 × 1 conv (the bias).
    const sepAt = spec.layers.findIndex((l) => l.name === 'sep');
    expect(spec.layers[sepAt - 1]).toMatchObject({ type: 'conv', name: 'sep/depthwise', groups: 8, outChannels: 16, pads: [1, 1, 1, 1] });
    expect((spec.layers[sepAt - 1] as { bias?: Float32Array }).bias).toBeUndefined();
    expect(spec.layers[sepAt]).toMatchObject({ type: 'conv', kernel: [1, 1], inChannels: 16, outChannels: 5 });
    expect((spec.layers[sepAt] as { bias?: Float32Array }).bias).toHaveLength(5);
    expect(byName('sep_dilated/depthwise')).toMatchObject({ dilation: [2, 2], pads: [1, 2, 1, 2] });
    expect(spec.layers.find((l) => l.type === 'leakyrelu')).toMatchObject({ alpha: 0.15 });
    expect((byName('prelu_channels') as { slope: Float32Array }).slope).toHaveLength(3);
    // A PReLU on flattened NHWC features: its per-unit slopes follow the HWC → CHW permutation.
    const units = byName('prelu_units') as { slope: Float32Array };
    const alpha = model.getLayer('prelu_units').getWeights()[0].dataSync();
    expect(units.slope).toHaveLength(alpha.length);
    expect(Array.from(units.slope).sort()).toEqual(Array.from(alpha).sort());
    expect(Array.from(units.slope)).not.toEqual(Array.from(alpha));
  });

  it('the spec computes tfjs predict (float64 evaluator, 1e-4)', () => {
    const n = 5;
    const x = batch(n, H * W * C, 13, 2);
    expect(maxRelDiff(evalBatch(spec, toNchw(x, n, H, W, C), n), predict(model, x, [n, H, W, C]))).toBeLessThan(1e-4);
  });

  it('model.json artifacts give the same spec', async () => {
    expect(tfjsArtifactsToSpec(await artifactsOf(model))).toEqual(spec);
  });

  it.skipIf(!engineLowers('pad', 'leakyrelu', 'prelu'))('loads and explains end to end', () => {
    checkEndToEnd(spec, model, batch(3, H * W * C, 17, 2), [3, H, W, C]);
  });
});

describe('tfjs gates on dense layers', () => {
  let model: tf.Sequential;
  let spec: NetworkSpec;
  beforeAll(() => {
    model = tf.sequential({
      layers: [
        tf.layers.dense({ inputShape: [6], units: 8 }),
        tf.layers.reLU({ maxValue: 1.5 }),
        tf.layers.dense({ units: 8 }),
        tf.layers.leakyReLU(),
        tf.layers.dense({ units: 8 }),
        tf.layers.prelu({}),
        tf.layers.dense({ units: 8 }),
        tf.layers.prelu({ sharedAxes: 1 }),
        tf.layers.dense({ units: 8 }),
        tf.layers.thresholdedReLU({ theta: 0.3 }),
        tf.layers.dense({ units: 8, activation: 'linear' }),
        tf.layers.activation({ activation: 'relu6' }),
        tf.layers.dense({ units: 8, activation: 'relu6' }),
        tf.layers.dense({ units: 3 }),
      ],
    });
    randomize(model, 21, 1.2);
    spec = tfjsLayersModelToSpec(model);
  });

  it('lowers each activation to its gate', () => {
    const gates = spec.layers.filter((l) => l.type !== 'dense');
    expect(gates.map((l) => l.type)).toEqual(['clip', 'leakyrelu', 'prelu', 'prelu', 'gate', 'clip', 'clip']);
    expect(gates[0]).toMatchObject({ min: 0, max: 1.5 });
    expect(gates[1]).toMatchObject({ alpha: 0.3 });
    expect((gates[2] as { slope: Float32Array }).slope).toHaveLength(8);
    expect((gates[3] as { slope: Float32Array }).slope).toHaveLength(1);
    expect(gates[4]).toMatchObject({ lower: 0.3, upper: Infinity, slope: 0, lowerValue: 0 });
    expect(gates[5]).toMatchObject({ min: 0, max: 6 });
  });

  it('the spec computes tfjs predict (float64 evaluator, 1e-4), saturated units included', () => {
    const n = 32;
    const x = batch(n, 6, 23, 4);
    expect(maxRelDiff(evalBatch(spec, x, n), predict(model, x, [n, 6]))).toBeLessThan(1e-4);
  });

  it("Keras's ReLU(max_value, threshold, negative_slope) from model.json is the general gate", async () => {
    const small = tf.sequential({ layers: [tf.layers.dense({ inputShape: [5], units: 7 }), tf.layers.reLU({ name: 'kr' }), tf.layers.dense({ units: 3 })] });
    randomize(small, 31, 1);
    const artifacts = await artifactsOf(small);
    const variants: Array<[Record<string, number>, Record<string, unknown>]> = [
      [{ max_value: 2, threshold: 0.25, negative_slope: 0.1 }, { type: 'gate', lower: 0.25, upper: 2, slope: 0.1, lowerValue: 0 }],
      [{ threshold: -0.5 }, { type: 'gate', lower: -0.5, upper: Infinity, slope: 0, lowerValue: 0 }],
      [{ negative_slope: 0.2 }, { type: 'gate', lower: 0, upper: Infinity, slope: 0.2, lowerValue: 0 }],
      [{ max_value: 3 }, { type: 'clip', min: 0, max: 3 }],
      [{}, { type: 'relu' }],
    ];
    const [d1, , d2] = small.layers;
    const x = batch(16, 5, 37, 2);
    const z = tf.tidy(() => (d1.apply(tf.tensor(x, [16, 5])) as tf.Tensor).dataSync());
    for (const [config, expected] of variants) {
      const topology = JSON.parse(JSON.stringify(artifacts.modelTopology));
      const layer = topology.config.layers.find((l: { config: { name: string } }) => l.config.name === 'kr');
      Object.assign(layer.config, config);
      const s = tfjsArtifactsToSpec({ ...artifacts, modelTopology: topology });
      expect(s.layers[1]).toEqual({ ...expected, name: 'kr' });
      // Keras: max_value above it, z from the threshold on, negative_slope·(z − threshold) below.
      const { max_value: max = Infinity, threshold: th = 0, negative_slope: a = 0 } = config;
      const h = Float32Array.from(z, (v) => (v >= max ? max : v >= th ? v : a * (v - th)));
      const keras = tf.tidy(() => (d2.apply(tf.tensor(h, [16, 7])) as tf.Tensor).dataSync());
      expect(maxRelDiff(evalBatch(s, x, 16), keras)).toBeLessThan(1e-4);
    }
  });

  it.skipIf(!engineLowers('clip', 'leakyrelu', 'prelu', 'gate'))('loads and explains end to end', () => {
    checkEndToEnd(spec, model, batch(8, 6, 41, 4), [8, 6]);
  });
});

describe('tfjs refusals', () => {
  const mlp = (middle: tf.layers.Layer[], hidden: Record<string, unknown> = {}) => tf.sequential({
    layers: [tf.layers.dense({ inputShape: [4], units: 5, name: 'hidden', ...hidden }), ...middle, tf.layers.dense({ units: 2 })],
  });

  it('non-piecewise-linear activations, fused or as layers, name the layer and the activation', () => {
    for (const act of ['sigmoid', 'tanh', 'swish', 'mish', 'gelu', 'elu', 'selu', 'softplus', 'softsign'] as const)
      expectUnsupported(() => tfjsLayersModelToSpec(mlp([], { activation: act })), new RegExp(`"hidden" \\(Dense\\): activation "${act}" is not piecewise linear; pathwise explains piecewise-linear networks`));
    expectUnsupported(() => tfjsLayersModelToSpec(mlp([], { activation: 'hardSigmoid' })), /"hidden" \(Dense\): activation "hard_?sigmoid".*piecewise-linear networks.*ambiguous/i);
    expectUnsupported(() => tfjsLayersModelToSpec(mlp([tf.layers.activation({ activation: 'tanh', name: 'act' })])), /"act" \(Activation\): activation "tanh" is not piecewise linear/);
    expectUnsupported(() => tfjsLayersModelToSpec(mlp([tf.layers.elu({ name: 'e' })])), /"e" \(ELU\): activation "elu" is not piecewise linear; pathwise explains piecewise-linear/);
  });

  it('a softmax before the last layer is refused, even with stripSoftmax; a trailing one keeps its option', () => {
    for (const stripSoftmax of [false, true]) {
      expectUnsupported(() => tfjsLayersModelToSpec(mlp([], { activation: 'softmax' }), { stripSoftmax }), /"hidden" \(Dense\): activation "softmax" is not piecewise linear.*only a softmax on the output/);
      expectUnsupported(() => tfjsLayersModelToSpec(mlp([tf.layers.softmax({ name: 'sm' })]), { stripSoftmax }), /"sm" \(Softmax\).*softmax.*piecewise-linear/);
    }
    const trailing = tf.sequential({ layers: [tf.layers.dense({ inputShape: [4], units: 5, activation: 'relu' }), tf.layers.dense({ units: 3 }), tf.layers.softmax({ name: 'out' })] });
    expectUnsupported(() => tfjsLayersModelToSpec(trailing), /"out" \(Softmax\).*stripSoftmax: true/);
    expect(tfjsLayersModelToSpec(trailing, { stripSoftmax: true }).layers.map((l) => l.type)).toEqual(['dense', 'relu', 'dense']);
  });

  it('a PReLU slope per position, a spatial concatenation and a dilated DepthwiseConv2D', () => {
    const image = (layers: tf.layers.Layer[]) => tf.sequential({
      layers: [tf.layers.conv2d({ inputShape: [4, 4, 2], filters: 3, kernelSize: 1 }), ...layers, tf.layers.flatten(), tf.layers.dense({ units: 2 })],
    });
    expectUnsupported(() => tfjsLayersModelToSpec(image([tf.layers.prelu({ name: 'pp' })])), /"pp" \(PReLU\).*\[4, 4, 3\] varies over positions/);
    expectUnsupported(() => tfjsLayersModelToSpec(image([tf.layers.prelu({ sharedAxes: [3], name: 'pp' })])), /"pp" \(PReLU\).*varies over positions/);
    expectUnsupported(() => tfjsLayersModelToSpec(image([tf.layers.depthwiseConv2d({ kernelSize: 2, dilationRate: 2, name: 'dd' })])), /"dd" \(DepthwiseConv2D\).*dilation_rate/);
    const input = tf.input({ shape: [4, 4, 2] });
    const a = apply(tf.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu' }), input);
    const cat = apply(tf.layers.concatenate({ axis: 1, name: 'rows' }), [a, input]);
    const out = apply(tf.layers.dense({ units: 2 }), apply(tf.layers.flatten(), cat));
    expectUnsupported(() => tfjsLayersModelToSpec(tf.model({ inputs: input, outputs: out })), /"rows" \(Concatenate\): concatenates along axis 1; only the channel/);
  });

  it('channels_first: the channel axis is 1', () => {
    const spec = convertTfjsGraph(channelsFirstGraph(1));
    expect(spec.inputShape).toEqual([2, 3, 3]);
    expect(spec.layers.find((l) => l.type === 'concat')).toEqual({ type: 'concat', name: 'cat', inputs: [1, -1] });
    const x = batch(1, 18, 3);
    const y = evalSpec(spec, x);
    // By hand: channel 0 = relu(x0 − x1), channels 1, 2 = x; the dense reads them in CHW order.
    const feat = [...Array.from({ length: 9 }, (_, j) => Math.max(0, x[j] - x[9 + j])), ...Array.from(x)];
    const w = channelsFirstGraph(1).layers[4].weights.get('kernel')!.data;
    for (let o = 0; o < 2; o++) expect(y[o]).toBeCloseTo(feat.reduce((a, f, j) => a + f * w[j * 2 + o], 0), 5);
    expectUnsupported(() => convertTfjsGraph(channelsFirstGraph(-1)), /"cat" \(Concatenate\): concatenates along axis -1/);
  });

  it("a Keras 3 DepthwiseConv2D (its kernel named 'kernel')", () => {
    const k = Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i);
    const spec = convertTfjsGraph({
      inputShape: [3, 3, 2],
      layers: [
        graphLayer('DepthwiseConv2D', 'dw', { kernel_size: [2, 2], depth_multiplier: 3, use_bias: false, activation: 'relu' }, undefined, { kernel: [[2, 2, 2, 3], k] }),
        graphLayer('Flatten', 'f', {}, undefined),
        graphLayer('Dense', 'd', { units: 2 }, undefined, { kernel: [[24, 2], new Array(48).fill(0.5)], bias: [[2], [0, 0]] }),
      ],
    });
    expect(spec.layers[0]).toMatchObject({ type: 'conv', inChannels: 2, outChannels: 6, groups: 2 });
    // Output channel c·3 + m = 1 (c 0, m 1), kernel row 1, column 0: ours [1][0][1][0], Keras [1][0][0][1].
    expect((spec.layers[0] as { weights: Float32Array }).weights[1 * 4 + 1 * 2 + 0]).toBe(k[((1 * 2 + 0) * 2 + 0) * 3 + 1]);
  });
});

const graphLayer = (className: string, name: string, config: Record<string, unknown>, inbound: string[] | undefined, weights: Record<string, [number[], number[]]> = {}) => ({
  className, name, config, inbound,
  weights: new Map(Object.entries(weights).map(([k, [shape, data]]) => [k, { shape, data: Float32Array.from(data) }])),
});

/** input [2, 3, 3] channels_first → conv 1 × 1 (relu) → Concatenate(axis)([conv, input]) → flatten → dense. */
const channelsFirstGraph = (axis: number) => ({
  inputShape: [2, 3, 3],
  layers: [
    graphLayer('InputLayer', 'in', {}, []),
    graphLayer('Conv2D', 'c', { filters: 1, kernel_size: [1, 1], data_format: 'channels_first', activation: 'relu' }, ['in'], { kernel: [[1, 1, 2, 1], [1, -1]], bias: [[1], [0]] }),
    graphLayer('Concatenate', 'cat', { axis }, ['c', 'in']),
    graphLayer('Flatten', 'f', { data_format: 'channels_first' }, ['cat']),
    graphLayer('Dense', 'd', { units: 2 }, ['f'], { kernel: [[27, 2], Array.from({ length: 54 }, (_, i) => i / 54)], bias: [[2], [0, 0]] }),
  ],
});
