/**
 * The ONNX loader on convolutional and residual networks: per-op conformance of parseOnnx +
 * the float64 reference forward (test/oracle/forward-ref.ts) against onnxruntime-node, the
 * Fashion-MNIST CNN fixture, residual models, and the errors.
 *
 * Every generated model is body → Relu → Flatten → Gemm (3–5 classes), so it is explainable.
 * The Gemm's input size comes from onnxruntime running the body alone, not from our code.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { fromBinary, toBinary } from '@bufbuild/protobuf';
import { ModelProtoSchema, TensorProto_DataType as DataType, type ModelProto, type NodeProto, type TensorProto } from '../lib/gen/onnx_subset_pb.js';
import type { LayerSpec, NetworkSpec } from '../lib/model/layers.js';
import { parseOnnx } from '../lib/onnx/load.js';
import { loadModelSync, explainSync } from '../lib/index.js';
import { readNpy } from './helpers/npy.js';
import {
  add,
  averagePool,
  batchNorm,
  buildModel,
  cast,
  concat,
  constant,
  conv,
  flatten,
  floatTensor,
  gather,
  gemm,
  globalAveragePool,
  int64Tensor,
  maxPool,
  node,
  relu,
  reshape,
  rng,
  shapeOf,
  slice,
  squeeze,
  uniform,
  unsqueeze,
  type WindowAttrs,
} from './helpers/onnx-build.js';
import { expectPathwiseError, relErr, runOrt } from './helpers/ort.js';
import { referenceForward, referenceTrace, referenceVjp } from './oracle/forward-ref.js';

/** Relative agreement demanded between the float64 reference on the parsed spec and onnxruntime. */
const REL_TOL = 1e-5;
/** Random models per op family. */
const CASES = 30;

const fixtureUrl = (p: string): URL => new URL(`./fixtures/${p}`, import.meta.url);
const fixture = (p: string): Buffer => readFileSync(fixtureUrl(p));

// ---------------------------------------------------------------------------------------------
// helpers

const prod = (s: number[]): number => s.reduce((a, b) => a * b, 1);
const int = (r: () => number, n: number): number => Math.floor(r() * n);
const pick = <T>(r: () => number, xs: readonly T[]): T => xs[int(r, xs.length)];

/** A model body: x [N, ...inputShape] → `out`. */
interface Body {
  title: string;
  inputShape: number[];
  nodes: NodeProto[];
  inits: TensorProto[];
  out: string;
  /** Default 13. */
  opset?: number;
  /**
   * False when onnxruntime cannot load the completed model. Ceil-mode pools: onnxruntime 1.30's
   * shape inference sizes them without the "last window starts inside the input or its leading
   * padding" rule that its kernels (and PyTorch) apply, so a Gemm after them fails shape
   * inference. The body's output is still compared.
   */
  ortLoadsFull?: boolean;
  /** Expected layer types of the parsed model, tail (relu, flatten, dense) included. */
  types?: string[];
  /** Further checks of the parsed spec. */
  check?: (spec: NetworkSpec) => void;
}

/** Runs the body alone in onnxruntime: output values and dims. */
async function runProbe(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  // Log level 3: the ceil-mode size warnings of the shape inference (see Body.ortLoadsFull) are noise here.
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const res = await session.run({ x: new ort.Tensor('float32', x, dims) });
    const out = res[session.outputNames[0]];
    return { data: out.data as Float32Array, dims: [...out.dims] };
  } finally {
    await session.release();
  }
}

/**
 * Adds Relu → Flatten → Gemm (3–5 classes) after the body; the feature count comes from
 * onnxruntime running the body alone (`probe`).
 */
async function complete(b: Body, seed: number): Promise<{ bytes: Uint8Array; probe: Uint8Array }> {
  const opset = b.opset ?? 13;
  const irVersion = opset >= 15 ? 8 : 7;
  const probe = buildModel({ input: { name: 'x', shape: ['N', ...b.inputShape] }, output: { name: b.out }, nodes: b.nodes, initializers: b.inits, opset, irVersion });
  const { dims } = await runProbe(probe, new Float32Array(prod(b.inputShape)), [1, ...b.inputShape]);
  const features = prod(dims.slice(1));
  const r = rng(seed);
  const k = 3 + int(r, 3);
  const bytes = buildModel({
    input: { name: 'x', shape: ['N', ...b.inputShape] },
    output: { name: 'y', shape: ['N', k] },
    nodes: [
      ...b.nodes,
      relu('tail/relu', b.out, 'tail_r'),
      flatten('tail/flatten', 'tail_r', 'tail_f'),
      gemm('tail/gemm', 'tail_f', 'tail_W', 'tail_B', 'y', { transB: 1 }),
    ],
    initializers: [...b.inits, floatTensor('tail_W', [k, features], uniform(r, k * features, 1 / Math.sqrt(features))), floatTensor('tail_B', [k], uniform(r, k))],
    opset,
    irVersion,
  });
  return { bytes, probe };
}

/** referenceForward of the parsed spec against onnxruntime on a batch of random inputs. */
async function expectMatchesOrt(bytes: Uint8Array, spec: NetworkSpec, seed: number, batch = 2, x?: Float32Array): Promise<void> {
  const size = prod(spec.inputShape);
  x ??= Float32Array.from(uniform(rng(seed), batch * size, 2));
  const ref = await runOrt(bytes, x, [batch, ...spec.inputShape]);
  const ours = new Float64Array(ref.length);
  const classes = ref.length / batch;
  for (let b = 0; b < batch; b++) ours.set(referenceForward(spec, x.subarray(b * size, (b + 1) * size)), b * classes);
  expect(relErr(ours, ref)).toBeLessThanOrEqual(REL_TOL);
}

/**
 * Parses the completed model and checks it: the body's output (the layer the tail's Relu reads)
 * against onnxruntime running the body alone, values and dims; then the logits of the whole model.
 */
async function runBody(b: Body, seed: number): Promise<NetworkSpec> {
  const { bytes, probe } = await complete(b, seed);
  const spec = parseOnnx(bytes);
  expect(spec.inputShape).toEqual(b.inputShape);
  if (b.types) expect(spec.layers.map((l) => l.type)).toEqual(b.types);
  b.check?.(spec);

  const batch = 2;
  const size = prod(spec.inputShape);
  const x = Float32Array.from(uniform(rng(seed + 1), batch * size, 2));
  const tailRelu = spec.layers.findIndex((l) => l.name === 'tail/relu');
  const bodyLayer = spec.layers[tailRelu].inputs?.[0] ?? tailRelu - 1;
  const ref = await runProbe(probe, x, [batch, ...spec.inputShape]);
  const ours = new Float64Array(ref.data.length);
  for (let s = 0; s < batch; s++) {
    const t = referenceTrace(spec, x.subarray(s * size, (s + 1) * size));
    expect([batch, ...t.shapes[bodyLayer]]).toEqual(ref.dims);
    ours.set(t.values[bodyLayer], (s * ref.data.length) / batch);
  }
  expect(relErr(ours, ref.data)).toBeLessThanOrEqual(REL_TOL);

  if (b.ortLoadsFull !== false) await expectMatchesOrt(bytes, spec, seed + 1, batch, x);
  expectEngineMatchesReference(spec, x.subarray(0, size));
  return spec;
}

/**
 * The native engine on the same spec: its forward against the float64 reference, and its VJP —
 * the gradient ∂f_t/∂x, read from 'linear' semantics with every unit kept (threshold 0, width and
 * depth 'all', which is unwrapping) — against referenceVjp, for every class t.
 */
function expectEngineMatchesReference(spec: NetworkSpec, x: Float32Array): void {
  const model = loadModelSync(spec);
  try {
    const logits = model.forward(x);
    const ref = referenceForward(spec, x);
    expect(relErr(Float64Array.from(logits), ref)).toBeLessThanOrEqual(REL_TOL);
    for (let t = 0; t < model.numClasses; t++) {
      const seed = new Float64Array(model.numClasses);
      seed[t] = 1;
      const grad = referenceVjp(spec, x, seed);
      const ex = explainSync(model, x, { semantics: 'linear', threshold: 0, target: t });
      expect(relErr(Float64Array.from(ex.weights), grad)).toBeLessThanOrEqual(1e-4);
    }
  } finally {
    model.dispose();
  }
}

const TAIL = ['relu', 'flatten', 'dense'];

/** Conv weights and optional bias as initializers. */
function convParams(r: () => number, prefix: string, m: number, cPerGroup: number, kh: number, kw: number, bias: boolean): TensorProto[] {
  const fanIn = cPerGroup * kh * kw;
  const t = [floatTensor(`${prefix}_W`, [m, cPerGroup, kh, kw], uniform(r, m * fanIn, 1 / Math.sqrt(fanIn)))];
  if (bias) t.push(floatTensor(`${prefix}_B`, [m], uniform(r, m, 0.5)));
  return t;
}

function bnParams(r: () => number, prefix: string, c: number): TensorProto[] {
  return [
    floatTensor(`${prefix}_s`, [c], Float64Array.from({ length: c }, () => 0.5 + r())),
    floatTensor(`${prefix}_b`, [c], uniform(r, c, 0.5)),
    floatTensor(`${prefix}_m`, [c], uniform(r, c, 0.5)),
    floatTensor(`${prefix}_v`, [c], Float64Array.from({ length: c }, () => 0.2 + 2 * r())),
  ];
}
const bnNames = (p: string): [string, string, string, string] => [`${p}_s`, `${p}_b`, `${p}_m`, `${p}_v`];

const layerOf = <T extends LayerSpec['type']>(spec: NetworkSpec, type: T): Extract<LayerSpec, { type: T }> =>
  spec.layers.find((l) => l.type === type) as Extract<LayerSpec, { type: T }>;

// ---------------------------------------------------------------------------------------------
// per-op conformance against onnxruntime

function convCases(): Body[] {
  const r = rng(101);
  const list: Body[] = [];
  for (let i = 0; i < CASES; i++) {
    const c = 1 + int(r, 4);
    const mode = pick(r, ['plain', 'grouped', 'depthwise'] as const);
    let groups = 1;
    let m = 1 + int(r, 4);
    if (mode === 'depthwise') {
      groups = c;
      m = c * (1 + int(r, 2));
    } else if (mode === 'grouped') {
      const divisors = [1, 2, 3, 4].filter((g) => c % g === 0);
      groups = pick(r, divisors);
      m = groups * (1 + int(r, 3));
    }
    const kernel = [1 + int(r, 3), 1 + int(r, 3)];
    const strides = [1 + int(r, 3), 1 + int(r, 3)];
    const autoPad = r() < 0.3 ? pick(r, ['VALID', 'SAME_UPPER', 'SAME_LOWER', 'NOTSET'] as const) : undefined;
    // onnxruntime rejects dilations with SAME_UPPER / SAME_LOWER (so does the loader).
    const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
    const dilations = [!same && r() < 0.3 ? 2 : 1, !same && r() < 0.3 ? 2 : 1];
    const pads = autoPad === undefined || autoPad === 'NOTSET' ? [int(r, 3), int(r, 3), int(r, 3), int(r, 3)] : undefined;
    const h = dilations[0] * (kernel[0] - 1) + 1 + int(r, 6);
    const w = dilations[1] * (kernel[1] - 1) + 1 + int(r, 6);
    const bias = r() < 0.6;
    const attrs: WindowAttrs = { strides, dilations, group: groups, autoPad, pads };
    if (r() < 0.5) attrs.kernel = kernel;
    list.push({
      title: `Conv ${c}→${m} g${groups} k${kernel} s${strides} d${dilations} ${autoPad ?? `pads ${pads}`}${bias ? '' : ' no bias'} on ${h}×${w}`,
      inputShape: [c, h, w],
      nodes: [conv('conv', 'x', 'c_W', bias ? 'c_B' : undefined, 'h', attrs)],
      inits: convParams(r, 'c', m, c / groups, kernel[0], kernel[1], bias),
      out: 'h',
      types: ['conv', ...TAIL],
      check: (spec) => {
        const l = layerOf(spec, 'conv');
        expect(l).toMatchObject({ inChannels: c, outChannels: m, kernel, stride: strides, dilation: dilations, groups, name: 'conv' });
        expect(l.bias !== undefined).toBe(bias);
        if (pads) expect(l.pads).toEqual(pads);
      },
    });
  }
  return list;
}

function maxPoolCases(): Body[] {
  const r = rng(202);
  const list: Body[] = [];
  for (let i = 0; i < CASES; i++) {
    const c = 1 + int(r, 3);
    const kernel = [1 + int(r, 3), 1 + int(r, 3)];
    const autoPad = r() < 0.2 ? pick(r, ['VALID', 'SAME_UPPER', 'SAME_LOWER'] as const) : undefined;
    const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
    // With SAME, onnxruntime fails on a negative total pad (stride > kernel) instead of clamping it.
    const strides = same ? [1 + int(r, kernel[0]), 1 + int(r, kernel[1])] : [1 + int(r, 3), 1 + int(r, 3)];
    const dilations = [!same && r() < 0.3 ? 2 : 1, !same && r() < 0.3 ? 2 : 1];
    const ceilMode = int(r, 2);
    // ONNX Runtime requires pads < kernel.
    const pads = autoPad ? undefined : [int(r, kernel[0]), int(r, kernel[1]), int(r, kernel[0]), int(r, kernel[1])];
    const h = dilations[0] * (kernel[0] - 1) + 1 + int(r, 6);
    const w = dilations[1] * (kernel[1] - 1) + 1 + int(r, 6);
    const attrs: WindowAttrs = { kernel, strides, ceilMode, autoPad, pads };
    if (dilations[0] !== 1 || dilations[1] !== 1 || r() < 0.5) attrs.dilations = dilations;
    list.push({
      title: `MaxPool k${kernel} s${strides} d${dilations} ${autoPad ?? `pads ${pads}`} ceil ${ceilMode} on ${c}×${h}×${w}`,
      inputShape: [c, h, w],
      nodes: [maxPool('pool', 'x', 'h', attrs)],
      inits: [],
      out: 'h',
      ortLoadsFull: ceilMode === 0,
      types: ['maxpool', ...TAIL],
      check: (spec) => {
        expect(layerOf(spec, 'maxpool')).toMatchObject({ kernel, stride: strides, dilation: dilations, ceilMode: ceilMode === 1 });
      },
    });
  }
  return list;
}

function avgPoolCases(): Body[] {
  const r = rng(303);
  const list: Body[] = [];
  for (let i = 0; i < CASES; i++) {
    const c = 1 + int(r, 3);
    const kernel = [1 + int(r, 3), 1 + int(r, 3)];
    const autoPad = r() < 0.2 ? pick(r, ['VALID', 'SAME_UPPER', 'SAME_LOWER'] as const) : undefined;
    const same = autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER';
    const strides = same ? [1 + int(r, kernel[0]), 1 + int(r, kernel[1])] : [1 + int(r, 3), 1 + int(r, 3)];
    const ceilMode = int(r, 2);
    const countIncludePad = int(r, 2);
    const pads = autoPad ? undefined : [int(r, kernel[0]), int(r, kernel[1]), int(r, kernel[0]), int(r, kernel[1])];
    const h = kernel[0] + int(r, 6);
    const w = kernel[1] + int(r, 6);
    list.push({
      title: `AveragePool k${kernel} s${strides} ${autoPad ?? `pads ${pads}`} ceil ${ceilMode} count_include_pad ${countIncludePad} on ${c}×${h}×${w}`,
      inputShape: [c, h, w],
      nodes: [averagePool('pool', 'x', 'h', { kernel, strides, ceilMode, countIncludePad, autoPad, pads })],
      inits: [],
      out: 'h',
      ortLoadsFull: ceilMode === 0,
      types: ['avgpool', ...TAIL],
      check: (spec) => {
        expect(layerOf(spec, 'avgpool')).toMatchObject({ kernel, stride: strides, ceilMode: ceilMode === 1, countIncludePad: countIncludePad === 1 });
      },
    });
  }
  return list;
}

function globalAvgPoolCases(): Body[] {
  const r = rng(404);
  const list: Body[] = [];
  for (let i = 0; i < 10; i++) {
    const c = 1 + int(r, 4);
    const h = 1 + int(r, 7);
    const w = 1 + int(r, 7);
    if (i % 2 === 0) {
      list.push({ title: `GlobalAveragePool on ${c}×${h}×${w}`, inputShape: [c, h, w], nodes: [globalAveragePool('gap', 'x', 'h')], inits: [], out: 'h', types: ['globalavgpool', ...TAIL] });
    } else {
      const m = 2 + int(r, 4);
      list.push({
        title: `Conv → GlobalAveragePool on ${c}×${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [conv('conv', 'x', 'c_W', 'c_B', 'h0', { pads: [1, 1, 1, 1] }), relu('act', 'h0', 'a0'), globalAveragePool('gap', 'a0', 'h')],
        inits: convParams(r, 'c', m, c, 3, 3, true),
        out: 'h',
        types: ['conv', 'relu', 'globalavgpool', ...TAIL],
      });
    }
  }
  return list;
}

function batchNormCases(): Body[] {
  const r = rng(505);
  const list: Body[] = [];
  for (let i = 0; i < 20; i++) {
    const c = 1 + int(r, 4);
    const h = 2 + int(r, 5);
    const w = 2 + int(r, 5);
    const eps = pick(r, [undefined, 1e-5, 1e-3, 0.1]);
    const variant = i % 3;
    if (variant === 0) {
      list.push({
        title: `BatchNormalization on the input ${c}×${h}×${w}, eps ${eps ?? 'default'}`,
        inputShape: [c, h, w],
        nodes: [batchNorm('bn', 'x', bnNames('bn'), 'h', eps)],
        inits: bnParams(r, 'bn', c),
        out: 'h',
        types: ['batchnorm', ...TAIL],
        check: (spec) => expect(layerOf(spec, 'batchnorm').epsilon).toBe(Math.fround(eps ?? 1e-5)),
      });
    } else if (variant === 1) {
      const m = 1 + int(r, 4);
      list.push({
        title: `Conv (no bias) → BatchNormalization ${c}→${m} on ${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [conv('conv', 'x', 'c_W', undefined, 'h0', { pads: [1, 1, 1, 1] }), batchNorm('bn', 'h0', bnNames('bn'), 'h', eps)],
        inits: [...convParams(r, 'c', m, c, 3, 3, false), ...bnParams(r, 'bn', m)],
        out: 'h',
        types: ['conv', 'batchnorm', ...TAIL],
      });
    } else {
      // BatchNorm1d after a dense layer: [N, F].
      const f = 2 + int(r, 6);
      const n = c * h * w;
      list.push({
        title: `Gemm → BatchNormalization on [N, ${f}]`,
        inputShape: [c, h, w],
        nodes: [flatten('fl', 'x', 'f0'), gemm('fc', 'f0', 'fc_W', 'fc_B', 'h0', { transB: 1 }), batchNorm('bn', 'h0', bnNames('bn'), 'h', eps)],
        inits: [floatTensor('fc_W', [f, n], uniform(r, f * n, 0.5)), floatTensor('fc_B', [f], uniform(r, f)), ...bnParams(r, 'bn', f)],
        out: 'h',
        types: ['flatten', 'dense', 'batchnorm', ...TAIL],
      });
    }
  }
  return list;
}

function addCases(): Body[] {
  const r = rng(606);
  const list: Body[] = [];
  for (let i = 0; i < 24; i++) {
    const c = 1 + int(r, 4);
    const h = 3 + int(r, 5);
    const w = 3 + int(r, 5);
    const variant = i % 6;
    if (variant === 0) {
      // Identity skip: x + conv(relu(conv(x))).
      list.push({
        title: `residual x + conv(relu(conv(x))) on ${c}×${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [
          conv('c1', 'x', 'c1_W', 'c1_B', 'h1', { pads: [1, 1, 1, 1] }),
          relu('r1', 'h1', 'a1'),
          conv('c2', 'a1', 'c2_W', 'c2_B', 'h2', { pads: [1, 1, 1, 1] }),
          add('skip', 'h2', 'x', 'h'),
        ],
        inits: [...convParams(r, 'c1', c, c, 3, 3, true), ...convParams(r, 'c2', c, c, 3, 3, true)],
        out: 'h',
        types: ['conv', 'relu', 'conv', 'add', ...TAIL],
        check: (spec) => expect(spec.layers[3].inputs).toEqual([2, -1]),
      });
    } else if (variant === 1) {
      // Projection skip: conv3x3 stride s (x) + conv1x1 stride s (x).
      const m = 1 + int(r, 4);
      const s = 1 + int(r, 2);
      list.push({
        title: `projection skip conv3×3/s${s} + conv1×1/s${s}, ${c}→${m} on ${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [
          conv('main', 'x', 'a_W', undefined, 'ha', { pads: [1, 1, 1, 1], strides: [s, s] }),
          conv('proj', 'x', 'b_W', 'b_B', 'hb', { strides: [s, s] }),
          add('sum', 'hb', 'ha', 'h'),
        ],
        inits: [...convParams(r, 'a', m, c, 3, 3, false), ...convParams(r, 'b', m, c, 1, 1, true)],
        out: 'h',
        types: ['conv', 'conv', 'add', ...TAIL],
        check: (spec) => {
          expect(spec.layers[1].inputs).toEqual([-1]);
          expect(spec.layers[2].inputs).toEqual([1, 0]);
          expect(spec.layers[3].inputs).toBeUndefined();
        },
      });
    } else if (variant === 2) {
      list.push({ title: `x + x on ${c}×${h}×${w}`, inputShape: [c, h, w], nodes: [add('twice', 'x', 'x', 'h')], inits: [], out: 'h', types: ['add', ...TAIL] });
    } else if (variant === 3) {
      // Constant Add after a conv folds into its bias: [C,1,1], [1,C,1,1], [1] or a scalar, either side.
      const m = 1 + int(r, 4);
      const shape = pick(r, [[m, 1, 1], [1, m, 1, 1], [1], []]);
      const n = prod(shape);
      const first = r() < 0.5;
      const bias = r() < 0.5;
      list.push({
        title: `Conv${bias ? '' : ' (no bias)'} + constant [${shape}] (${first ? 'left' : 'right'}) on ${c}×${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [conv('conv', 'x', 'c_W', bias ? 'c_B' : undefined, 'h0'), first ? add('bias', 'k', 'h0', 'h') : add('bias', 'h0', 'k', 'h')],
        inits: [...convParams(r, 'c', m, c, 3, 3, bias), floatTensor('k', shape, uniform(r, n))],
        out: 'h',
        types: ['conv', ...TAIL],
        check: (spec) => expect(layerOf(spec, 'conv').bias?.length).toBe(m),
      });
    } else if (variant === 4) {
      // Two layers of the same block summed, the relu output and the conv after it.
      list.push({
        title: `relu(conv(x)) + conv(relu(conv(x))) on ${c}×${h}×${w}`,
        inputShape: [c, h, w],
        nodes: [
          conv('c1', 'x', 'c1_W', 'c1_B', 'h1', { pads: [1, 1, 1, 1] }),
          relu('r1', 'h1', 'a1'),
          conv('c2', 'a1', 'c2_W', 'c2_B', 'h2', { autoPad: 'SAME_UPPER' }),
          add('sum', 'a1', 'h2', 'h'),
        ],
        inits: [...convParams(r, 'c1', c + 1, c, 3, 3, true), ...convParams(r, 'c2', c + 1, c + 1, 3, 3, true)],
        out: 'h',
        types: ['conv', 'relu', 'conv', 'add', ...TAIL],
        check: (spec) => expect(spec.layers[3].inputs).toEqual([1, 2]),
      });
    } else {
      // Dense residual: fc2(relu(fc1(x))) + fc1(x), after a Flatten.
      const f = 2 + int(r, 5);
      const n = c * h * w;
      list.push({
        title: `dense residual on [N, ${f}]`,
        inputShape: [c, h, w],
        nodes: [
          flatten('fl', 'x', 'f0'),
          gemm('fc1', 'f0', 'fc1_W', 'fc1_B', 'h1', { transB: 1 }),
          relu('r1', 'h1', 'a1'),
          gemm('fc2', 'a1', 'fc2_W', undefined, 'h2', { transB: 1 }),
          add('skip', 'h1', 'h2', 'h'),
        ],
        inits: [floatTensor('fc1_W', [f, n], uniform(r, f * n, 0.5)), floatTensor('fc1_B', [f], uniform(r, f)), floatTensor('fc2_W', [f, f], uniform(r, f * f, 0.5))],
        out: 'h',
        types: ['flatten', 'dense', 'relu', 'dense', 'add', ...TAIL],
        check: (spec) => expect(spec.layers[4].inputs).toEqual([1, 3]),
      });
    }
  }
  return list;
}

/** The constant sub-graphs exporters emit for x.view(x.size(0), -1) and friends. */
function flattenPatternCases(): Body[] {
  const r = rng(707);
  const list: Body[] = [];
  for (let i = 0; i < 14; i++) {
    const c = 1 + int(r, 3);
    const h = 3 + int(r, 4);
    const w = 3 + int(r, 4);
    const m = 1 + int(r, 3);
    const head = [conv('conv', 'x', 'c_W', 'c_B', 'h0', { pads: [1, 1, 1, 1] }), relu('act', 'h0', 'a0')];
    const inits = convParams(r, 'c', m, c, 3, 3, true);
    const variant = i % 7;
    let nodes: NodeProto[];
    let title: string;
    let consts: TensorProto[] = [];
    let types = ['conv', 'relu', 'reshape', ...TAIL];
    switch (variant) {
      case 0:
        title = 'Shape → Gather(0) → Unsqueeze → Concat(-1) → Reshape (PyTorch view)';
        nodes = [
          shapeOf('shape', 'a0', 's'),
          constant('c0', 'zero', int64Tensor('', [0], 'raw', [])),
          gather('gather', 's', 'zero', 'b'),
          constant('c1', 'ax0', int64Tensor('', [0])),
          unsqueeze('unsq', 'b', 'ax0', 'b1'),
          constant('c2', 'minus1', int64Tensor('', [-1])),
          concat('cat', ['b1', 'minus1'], 'target', 0),
          reshape('view', 'a0', 'target', 'h'),
        ];
        break;
      case 1:
        title = 'Shape → Slice[0:1] → Concat(-1) → Reshape';
        nodes = [shapeOf('shape', 'a0', 's'), slice('sl', 's', 'st', 'en', 'b1'), concat('cat', ['b1', 'minus1'], 'target', 0), reshape('view', 'a0', 'target', 'h')];
        consts = [int64Tensor('st', [0]), int64Tensor('en', [1]), int64Tensor('minus1', [-1])];
        break;
      case 2:
        title = 'Shape → Gather([0]) → Concat(C·H·W) → Cast(int64) → Reshape';
        nodes = [
          shapeOf('shape', 'a0', 's'),
          gather('gather', 's', 'idx', 'b1'),
          concat('cat', ['b1', 'feat'], 't0', 0),
          cast('cast', 't0', DataType.INT64, 'target'),
          reshape('view', 'a0', 'target', 'h'),
        ];
        consts = [int64Tensor('idx', [0]), int64Tensor('feat', [m * h * w])];
        break;
      case 3:
        title = 'Shape → Slice with axes, steps and INT64_MAX end, Gather, Squeeze/Unsqueeze, ConstantOfShape(-1)';
        nodes = [
          shapeOf('shape', 'a0', 's'),
          // Shape [batch, C, H, W] sliced [0::2] = [batch, H]; Gather(0) = batch.
          slice('sl', 's', 'st', 'en', 's2', 'ax', 'step'),
          gather('gather', 's2', 'zero', 'b'),
          unsqueeze('unsq', 'b', 'ax', 'b1'),
          squeeze('sq', 'b1', 'ax', 'b2'),
          unsqueeze('unsq2', 'b2', 'ax', 'b3'),
          node('ConstantOfShape', 'fill', ['one'], ['m1'], { value: { tensor: int64Tensor('', [-1], 'raw', [1]) } }),
          concat('cat', ['b3', 'm1'], 'target', 0),
          reshape('view', 'a0', 'target', 'h'),
        ];
        consts = [int64Tensor('st', [0]), int64Tensor('en', [Number.MAX_SAFE_INTEGER]), int64Tensor('ax', [0]), int64Tensor('step', [2]), int64Tensor('zero', [0], 'raw', []), int64Tensor('one', [1])];
        break;
      case 4:
        title = 'Reshape to [batch, C, H·W] from Shape[:2], then Flatten';
        nodes = [
          shapeOf('shape', 'a0', 's'),
          slice('sl', 's', 'st', 'en', 'bc'),
          concat('cat', ['bc', 'minus1'], 'target', 0),
          reshape('view', 'a0', 'target', 'v'),
          flatten('fl', 'v', 'h'),
        ];
        consts = [int64Tensor('st', [0]), int64Tensor('en', [2]), int64Tensor('minus1', [-1])];
        types = ['conv', 'relu', 'reshape', 'flatten', ...TAIL];
        break;
      case 5:
        title = 'Flatten axis=1 on [N, C, H, W]';
        nodes = [flatten('fl', 'a0', 'h')];
        types = ['conv', 'relu', 'flatten', ...TAIL];
        break;
      default:
        title = 'Shape(start=0, end=1) (opset 15) → Concat(-1) → Reshape, and Squeeze of an activation';
        nodes = [
          node('Shape', 'shape', ['a0'], ['b1'], { start: { int: 0 }, end: { int: 1 } }),
          concat('cat', ['b1', 'minus1'], 'target', 0),
          reshape('view', 'a0', 'target', 'v'),
          unsqueeze('unsq', 'v', 'ax', 'v1'),
          squeeze('sq', 'v1', 'ax', 'h'),
        ];
        consts = [int64Tensor('minus1', [-1]), int64Tensor('ax', [2])];
        types = ['conv', 'relu', 'reshape', 'reshape', 'reshape', ...TAIL];
        break;
    }
    list.push({
      title: `${title} on ${c}×${h}×${w}`,
      inputShape: [c, h, w],
      nodes: [...head, ...nodes],
      inits: [...inits, ...consts],
      out: 'h',
      opset: variant === 6 ? 15 : 13,
      types,
      check: (spec) => {
        // Folded shape computations leave no trace, and the chain needs no `inputs`.
        expect(spec.layers.every((l) => l.inputs === undefined)).toBe(true);
        const rs = spec.layers.find((l) => l.type === 'reshape');
        if (rs) expect(rs).toMatchObject({ shape: variant === 4 ? [m, h * w] : [m * h * w] });
      },
    });
  }
  return list;
}

describe('parseOnnx + referenceForward agree with onnxruntime, op by op', () => {
  const families: [string, Body[]][] = [
    ['Conv', convCases()],
    ['MaxPool', maxPoolCases()],
    ['AveragePool', avgPoolCases()],
    ['GlobalAveragePool', globalAvgPoolCases()],
    ['BatchNormalization', batchNormCases()],
    ['Add', addCases()],
    ['flatten patterns', flattenPatternCases()],
  ];
  for (const [family, bodies] of families) {
    describe(family, () => {
      it.each(bodies.map((b, i) => ({ ...b, i })))('$title', async (b) => {
        await runBody(b, 1000 * b.i + family.length);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------------
// fixtures

describe('the Fashion-MNIST CNN fixture', () => {
  const cnn = fixture('models/fashion_cnn.onnx');
  const cnnDyn = fixture('models/fashion_cnn_dyn.onnx');
  const inputs = readNpy(fileURLToPath(fixtureUrl('fashion_cnn/inputs.npy')));
  const logits = readNpy(fileURLToPath(fixtureUrl('fashion_cnn/logits.npy')));
  const targets = readNpy(fileURLToPath(fixtureUrl('fashion_cnn/targets.npy')));

  it.each([
    ['fashion_cnn.onnx', cnn],
    ['fashion_cnn_dyn.onnx', cnnDyn],
  ])('%s parses to conv/relu/maxpool ×2, flatten, dense/relu/dense', (_name, bytes) => {
    const spec = parseOnnx(bytes);
    expect(spec.inputShape).toEqual([1, 28, 28]);
    expect(spec.layers.map((l) => l.type)).toEqual(['conv', 'relu', 'maxpool', 'conv', 'relu', 'maxpool', 'flatten', 'dense', 'relu', 'dense']);
    expect(spec.layers.every((l) => l.inputs === undefined)).toBe(true);
    expect(spec.layers[0]).toMatchObject({ name: '/0/Conv', inChannels: 1, outChannels: 16, kernel: [3, 3], stride: [1, 1], pads: [0, 0, 0, 0], dilation: [1, 1], groups: 1 });
    expect(spec.layers[3]).toMatchObject({ inChannels: 16, outChannels: 32, kernel: [3, 3] });
    expect(spec.layers[2]).toMatchObject({ type: 'maxpool', kernel: [2, 2], stride: [2, 2], pads: [0, 0, 0, 0], ceilMode: false });
    expect(spec.layers[7]).toMatchObject({ in: 800, out: 128 });
    expect(spec.layers[9]).toMatchObject({ in: 128, out: 10 });
    const c0 = layerOf(spec, 'conv');
    expect(c0.weights.length).toBe(16 * 9);
    expect(c0.bias?.length).toBe(16);
  });

  it('static and dynamic files give identical specs', () => {
    expect(parseOnnx(cnnDyn)).toEqual(parseOnnx(cnn));
  });

  it('referenceForward matches onnxruntime and the PyTorch logits on the 16 fixture inputs', async () => {
    expect(inputs.shape).toEqual([16, 1, 28, 28]);
    const x = inputs.data as Float32Array;
    const spec = parseOnnx(cnn);
    const ours = new Float64Array(160);
    for (let j = 0; j < 16; j++) ours.set(referenceForward(spec, x.subarray(j * 784, (j + 1) * 784)), j * 10);
    expect(relErr(ours, await runOrt(cnnDyn, x, [16, 1, 28, 28]))).toBeLessThanOrEqual(REL_TOL);
    const refStatic = new Float32Array(160);
    for (let j = 0; j < 16; j++) refStatic.set(await runOrt(cnn, x.slice(j * 784, (j + 1) * 784), [1, 1, 28, 28]), j * 10);
    expect(relErr(ours, refStatic)).toBeLessThanOrEqual(REL_TOL);
    expect(relErr(ours, logits.data as Float32Array)).toBeLessThanOrEqual(REL_TOL);
    // The predicted classes of the fixture.
    for (let j = 0; j < 16; j++) {
      const row = Array.from(ours.subarray(j * 10, (j + 1) * 10));
      expect(row.indexOf(Math.max(...row))).toBe(Number((targets.data as BigInt64Array)[j]));
    }
  });
});

describe('a tiny ResNet exported by PyTorch (tools/reference/make_resnet_fixture.py)', () => {
  const bytes = fixture('models/tiny_resnet.onnx');

  it('parses: BatchNormalization kept, residual adds with inputs, the view folded away', () => {
    const spec = parseOnnx(bytes);
    expect(spec.inputShape).toEqual([1, 13, 13]);
    expect(spec.layers.map((l) => l.type)).toEqual([
      'conv', 'relu', 'maxpool',
      'conv', 'batchnorm', 'relu', 'conv', 'batchnorm', 'add', 'relu',
      'conv', 'relu',
      'conv', 'batchnorm', 'relu', 'conv', 'batchnorm', 'avgpool', 'conv', 'batchnorm', 'add', 'relu',
      'globalavgpool', 'reshape', 'dense',
    ]);
    // Block 1: the skip reads the maxpool (2); block 2's projection branch reads the depthwise relu (11).
    expect(spec.layers[3].inputs).toBeUndefined();
    expect(spec.layers[8].inputs).toEqual([7, 2]);
    expect(spec.layers[17].inputs).toEqual([11]);
    expect(spec.layers[20].inputs).toEqual([16, 19]);
    expect(spec.layers.filter((l) => l.inputs !== undefined)).toHaveLength(3);
    expect(spec.layers[2]).toMatchObject({ kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1], ceilMode: true });
    expect(spec.layers[10]).toMatchObject({ groups: 4, inChannels: 4, outChannels: 4 });
    expect(spec.layers[17]).toMatchObject({ kernel: [2, 2], stride: [2, 2], ceilMode: true, countIncludePad: false });
    expect(spec.layers[23]).toMatchObject({ type: 'reshape', shape: [8] });
  });

  it('referenceForward matches onnxruntime and the PyTorch logits', async () => {
    const spec = parseOnnx(bytes);
    const inputs = readNpy(fileURLToPath(fixtureUrl('tiny_resnet/inputs.npy')));
    const logits = readNpy(fileURLToPath(fixtureUrl('tiny_resnet/logits.npy')));
    const x = inputs.data as Float32Array;
    const ours = new Float64Array(20);
    for (let j = 0; j < 4; j++) ours.set(referenceForward(spec, x.subarray(j * 169, (j + 1) * 169)), j * 5);
    expect(relErr(ours, await runOrt(bytes, x, [4, 1, 13, 13]))).toBeLessThanOrEqual(REL_TOL);
    expect(relErr(ours, logits.data as Float32Array)).toBeLessThanOrEqual(REL_TOL);
  });
});

// ---------------------------------------------------------------------------------------------
// residual models built here

/** conv-bn-relu-conv-bn + skip, relu, [more blocks], GlobalAveragePool, Flatten, Gemm. */
function residualModel(seed: number, o: { c: number; hw: number; classes: number; projection: boolean }): Uint8Array {
  const r = rng(seed);
  const { c, hw, classes } = o;
  const m = o.projection ? c + 2 : c;
  const s = o.projection ? 2 : 1;
  const nodes: NodeProto[] = [
    conv('block/conv1', 'x', 'c1_W', undefined, 'h1', { kernel: [3, 3], pads: [1, 1, 1, 1], strides: [s, s] }),
    batchNorm('block/bn1', 'h1', bnNames('bn1'), 'n1'),
    relu('block/relu1', 'n1', 'a1'),
    conv('block/conv2', 'a1', 'c2_W', undefined, 'h2', { kernel: [3, 3], pads: [1, 1, 1, 1] }),
    batchNorm('block/bn2', 'h2', bnNames('bn2'), 'n2'),
  ];
  const inits = [...convParams(r, 'c1', m, c, 3, 3, false), ...bnParams(r, 'bn1', m), ...convParams(r, 'c2', m, m, 3, 3, false), ...bnParams(r, 'bn2', m)];
  let skip = 'x';
  if (o.projection) {
    nodes.push(conv('block/down', 'x', 'd_W', undefined, 'hd', { strides: [s, s] }), batchNorm('block/down_bn', 'hd', bnNames('bnd'), 'nd'));
    inits.push(...convParams(r, 'd', m, c, 1, 1, false), ...bnParams(r, 'bnd', m));
    skip = 'nd';
  }
  nodes.push(
    add('block/add', 'n2', skip, 's1'),
    relu('block/relu2', 's1', 'a2'),
    globalAveragePool('gap', 'a2', 'g'),
    flatten('flatten', 'g', 'f'),
    gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 }),
  );
  inits.push(floatTensor('fc_W', [classes, m], uniform(r, classes * m)), floatTensor('fc_B', [classes], uniform(r, classes)));
  return buildModel({ input: { name: 'x', shape: ['N', c, hw, hw] }, output: { name: 'y', shape: ['N', classes] }, nodes, initializers: inits });
}

describe('residual networks built with onnx-build', () => {
  it.each([
    { c: 3, hw: 6, classes: 4, projection: false },
    { c: 2, hw: 7, classes: 3, projection: true },
    { c: 4, hw: 5, classes: 10, projection: true },
  ])('conv-bn-relu-conv-bn + skip (projection: $projection), relu, GAP, flatten, gemm', async (o) => {
    const bytes = residualModel(o.c * 100 + o.hw, o);
    const spec = parseOnnx(bytes);
    const types = o.projection
      ? ['conv', 'batchnorm', 'relu', 'conv', 'batchnorm', 'conv', 'batchnorm', 'add', 'relu', 'globalavgpool', 'flatten', 'dense']
      : ['conv', 'batchnorm', 'relu', 'conv', 'batchnorm', 'add', 'relu', 'globalavgpool', 'flatten', 'dense'];
    expect(spec.layers.map((l) => l.type)).toEqual(types);
    expect(spec.layers.find((l) => l.type === 'add')!.inputs).toEqual(o.projection ? [4, 6] : [4, -1]);
    if (o.projection) expect(spec.layers[5].inputs).toEqual([-1]);
    expect(spec.layers.filter((l) => l.inputs !== undefined)).toHaveLength(o.projection ? 2 : 1);
    expect(spec.layers[1]).toMatchObject({ type: 'batchnorm', name: 'block/bn1', epsilon: Math.fround(1e-5) });
    await expectMatchesOrt(bytes, spec, 7, 3);
  });

  it('accepts nodes out of topological order and emits a topological order', async () => {
    const bytes = residualModel(9, { c: 2, hw: 5, classes: 3, projection: true });
    const shuffled = parseModelProto(bytes);
    shuffled.graph!.node.reverse();
    const reordered = toBytes(shuffled);
    const spec = parseOnnx(reordered);
    // Lowest file index first among ready nodes: after reversal, the projection branch comes first.
    expect(spec.layers.map((l) => l.name)).toEqual([
      'block/down', 'block/down_bn', 'block/conv1', 'block/bn1', 'block/relu1', 'block/conv2', 'block/bn2', 'block/add', 'block/relu2', 'gap', 'flatten', 'fc',
    ]);
    expect(spec.layers[2].inputs).toEqual([-1]);
    expect(spec.layers[7].inputs).toEqual([6, 1]);
    await expectMatchesOrt(bytes, spec, 8, 2);
  });

  it('drops dead nodes, whatever their op, and layers that only feed a Shape', async () => {
    const r = rng(31);
    const bytes = buildModel({
      input: { name: 'x', shape: ['N', 2, 4, 4] },
      output: { name: 'y', shape: ['N', 3] },
      nodes: [
        conv('conv', 'x', 'c_W', 'c_B', 'h', { pads: [1, 1, 1, 1] }),
        node('Sigmoid', 'dead/sigmoid', ['h'], ['dead1']),
        node('Tanh', 'dead/tanh', ['dead1'], ['dead2']),
        relu('act', 'h', 'a'),
        // A relu whose output only feeds Shape: it is read (for its shape) but not emitted.
        relu('shape_only', 'h', 'a_unused'),
        shapeOf('shape', 'a_unused', 's'),
        gather('gather', 's', 'zero', 'b'),
        unsqueeze('unsq', 'b', 'ax0', 'b1'),
        concat('cat', ['b1', 'minus1'], 'target', 0),
        reshape('view', 'a', 'target', 'f'),
        gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 }),
      ],
      initializers: [
        ...convParams(r, 'c', 3, 2, 3, 3, true),
        int64Tensor('zero', [0], 'raw', []),
        int64Tensor('ax0', [0]),
        int64Tensor('minus1', [-1]),
        floatTensor('fc_W', [3, 48], uniform(r, 144, 0.2)),
        floatTensor('fc_B', [3], uniform(r, 3)),
      ],
    });
    const spec = parseOnnx(bytes);
    expect(spec.layers.map((l) => l.name)).toEqual(['conv', 'act', 'view', 'fc']);
    expect(spec.layers.every((l) => l.inputs === undefined)).toBe(true);
    await expectMatchesOrt(bytes, spec, 32, 2);
  });

  it('folds a constant Add into the conv bias only when nothing else reads the conv output', async () => {
    const r = rng(41);
    const base = {
      input: { name: 'x', shape: ['N', 2, 4, 4] as (number | string)[] },
      output: { name: 'y', shape: ['N', 3] as (number | string)[] },
      initializers: [...convParams(r, 'c', 3, 2, 3, 3, true), floatTensor('k', [3, 1, 1], [1, -2, 3]), floatTensor('fc_W', [3, 12], uniform(r, 36)), floatTensor('fc_B', [3], uniform(r, 3))],
    };
    const folded = parseOnnx(
      buildModel({ ...base, nodes: [conv('conv', 'x', 'c_W', 'c_B', 'h'), add('bias', 'h', 'k', 'hb'), relu('act', 'hb', 'a'), flatten('fl', 'a', 'f'), gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 })] }),
    );
    const plain = parseOnnx(
      buildModel({ ...base, nodes: [conv('conv', 'x', 'c_W', 'c_B', 'h'), relu('act', 'h', 'a'), flatten('fl', 'a', 'f'), gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 })] }),
    );
    const b0 = layerOf(plain, 'conv').bias!;
    expect(Array.from(layerOf(folded, 'conv').bias!)).toEqual([b0[0] + 1, b0[1] - 2, b0[2] + 3].map(Math.fround));
    expect(folded.layers.map((l) => l.type)).toEqual(['conv', 'relu', 'flatten', 'dense']);
    // The conv output also feeds the skip of an Add: folding would change it there too.
    const shared = buildModel({
      ...base,
      nodes: [
        conv('conv', 'x', 'c_W', 'c_B', 'h'),
        add('bias', 'h', 'k', 'hb'),
        add('sum', 'hb', 'h', 'hs'),
        relu('act', 'hs', 'a'),
        flatten('fl', 'a', 'f'),
        gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 }),
      ],
    });
    // Not folded (the skip reads the unbiased output): a per-channel affine layer since issue 14.
    expect(parseOnnx(shared).layers.map((l) => l.type)).toEqual(['conv', 'affine', 'add', 'relu', 'flatten', 'dense']);
  });
});

/** Protobuf round trip, to edit generated models. */
function parseModelProto(bytes: Uint8Array): ModelProto {
  return fromBinary(ModelProtoSchema, bytes);
}
function toBytes(m: ModelProto): Uint8Array {
  return toBinary(ModelProtoSchema, m);
}

// ---------------------------------------------------------------------------------------------
// errors

describe('parseOnnx errors on CNN graphs', () => {
  const r = rng(77);
  const cW = convParams(r, 'c', 3, 2, 3, 3, true);
  const fc = [floatTensor('fc_W', [3, 12], uniform(r, 36)), floatTensor('fc_B', [3], uniform(r, 3))];
  /** x [N, 2, 4, 4] → nodes → ... → y [N, 3]. */
  const cnn = (nodes: NodeProto[], inits: TensorProto[] = [...cW, ...fc], inputShape: (number | string)[] = ['N', 2, 4, 4]): Uint8Array =>
    buildModel({ input: { name: 'x', shape: inputShape }, output: { name: 'y', shape: ['N', 3] }, nodes, initializers: inits });
  const tail = (from: string): NodeProto[] => [flatten('fl', from, 'f'), gemm('fc', 'f', 'fc_W', 'fc_B', 'y', { transB: 1 })];

  it('names an unsupported op and its node (Sigmoid, LSTM)', () => {
    expectPathwiseError(
      () => parseOnnx(cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), node('Sigmoid', 'head/Sigmoid', ['h'], ['a']), ...tail('a')])),
      'PATHWISE_UNSUPPORTED_OP',
      'Unsupported ONNX op "Sigmoid" at node "head/Sigmoid"',
      'Conv',
    );
    expectPathwiseError(
      () => parseOnnx(cnn([node('LSTM', 'rnn/LSTM', ['x', 'c_W', 'c_W'], ['h']), ...tail('h')])),
      'PATHWISE_UNSUPPORTED_OP',
      'Unsupported ONNX op "LSTM" at node "rnn/LSTM"',
    );
  });

  it('rejects a cycle and an input nothing produces with PATHWISE_BAD_MODEL', () => {
    const cycle = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), add('loop/add', 'h', 'back', 's'), relu('loop/relu', 's', 'back'), ...tail('back')]);
    expectPathwiseError(() => parseOnnx(cycle), 'PATHWISE_BAD_MODEL', 'cycle', 'node "loop/');
    const selfLoop = cnn([relu('self', 'self_out', 'self_out'), conv('conv', 'self_out', 'c_W', 'c_B', 'h'), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(selfLoop), 'PATHWISE_BAD_MODEL', 'cycle through node "self"');
    const ghost = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), add('skip', 'h', 'ghost', 's'), ...tail('s')]);
    expectPathwiseError(() => parseOnnx(ghost), 'PATHWISE_BAD_MODEL', 'node "skip"', '"ghost"');
    const noOutput = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), relu('act', 'h', 'a')]);
    expectPathwiseError(() => parseOnnx(noOutput), 'PATHWISE_BAD_MODEL', 'graph output', '"y"');
    const twice = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), relu('act', 'h', 'h'), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(twice), 'PATHWISE_BAD_MODEL', '"h" is produced twice', 'nodes "conv" and "act"');
  });

  it('rejects 1-D and 3-D convolution and pooling as unsupported', () => {
    const conv3d = buildModel({
      input: { name: 'x', shape: ['N', 1, 4, 4, 4] },
      output: { name: 'y' },
      nodes: [conv('net/Conv3d', 'x', 'w3', undefined, 'h'), ...tail('h')],
      initializers: [floatTensor('w3', [2, 1, 2, 2, 2], uniform(r, 16)), ...fc],
    });
    expectPathwiseError(() => parseOnnx(conv3d), 'PATHWISE_UNSUPPORTED_OP', 'Conv at node "net/Conv3d"', '2-D convolution');
    const conv1d = buildModel({
      input: { name: 'x', shape: ['N', 1, 8] },
      output: { name: 'y' },
      nodes: [conv('net/Conv1d', 'x', 'w1', undefined, 'h'), ...tail('h')],
      initializers: [floatTensor('w1', [2, 1, 3], uniform(r, 6)), ...fc],
    });
    expectPathwiseError(() => parseOnnx(conv1d), 'PATHWISE_UNSUPPORTED_OP', 'Conv at node "net/Conv1d"');
    const pool1d = buildModel({
      input: { name: 'x', shape: ['N', 2, 8] },
      output: { name: 'y' },
      nodes: [maxPool('net/MaxPool1d', 'x', 'h', { kernel: [2], strides: [2] }), ...tail('h')],
      initializers: fc,
    });
    expectPathwiseError(() => parseOnnx(pool1d), 'PATHWISE_UNSUPPORTED_OP', 'MaxPool at node "net/MaxPool1d"');
  });

  it('rejects MaxPool with Indices, BatchNormalization in training mode, broadcasting Adds', () => {
    const indices = cnn([node('MaxPool', 'pool', ['x'], ['h', 'idx'], { kernel_shape: { ints: [2, 2] }, strides: { ints: [2, 2] } }), ...tail('h')], [...fc]);
    expectPathwiseError(() => parseOnnx(indices), 'PATHWISE_UNSUPPORTED_OP', 'MaxPool at node "pool"', 'Indices');
    const bnTrain = cnn(
      [node('BatchNormalization', 'bn', ['x', ...bnNames('bn')], ['h'], { training_mode: { int: 1 } }), conv('conv', 'h', 'c_W', 'c_B', 'h2'), ...tail('h2')],
      [...cW, ...fc, ...bnParams(r, 'bn', 2)],
    );
    expectPathwiseError(() => parseOnnx(bnTrain), 'PATHWISE_UNSUPPORTED_OP', 'BatchNormalization at node "bn"', 'training');
    const bnStats = cnn(
      [node('BatchNormalization', 'bn', ['x', ...bnNames('bn')], ['h', 'running_mean', 'running_var']), conv('conv', 'h', 'c_W', 'c_B', 'h2'), ...tail('h2')],
      [...cW, ...fc, ...bnParams(r, 'bn', 2)],
    );
    expectPathwiseError(() => parseOnnx(bnStats), 'PATHWISE_UNSUPPORTED_OP', 'training');
    const bcast = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), globalAveragePool('gap', 'h', 'g'), add('scale/Add', 'h', 'g', 's'), ...tail('s')]);
    expectPathwiseError(() => parseOnnx(bcast), 'PATHWISE_UNSUPPORTED_OP', 'Add at node "scale/Add"', '[batch, 3,2,2] and [batch, 3,1,1]');
    const perPixel = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), add('pix', 'h', 'k', 's'), ...tail('s')], [...cW, ...fc, floatTensor('k', [3, 2, 2], uniform(r, 12))]);
    expectPathwiseError(() => parseOnnx(perPixel), 'PATHWISE_UNSUPPORTED_OP', 'Add at node "pix"', 'per-channel');
    const afterRelu = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), relu('act', 'h', 'a'), add('shift', 'a', 'k', 's'), ...tail('s')], [...cW, ...fc, floatTensor('k', [3, 1, 1], [1, 2, 3])]);
    // A per-channel shift after a gate: an affine layer since issue 14.
    expect(parseOnnx(afterRelu).layers.map((l) => l.type)).toEqual(['conv', 'relu', 'affine', 'flatten', 'dense']);
    const sameDilated = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h', { autoPad: 'SAME_UPPER', dilations: [2, 2] }), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(sameDilated), 'PATHWISE_UNSUPPORTED_OP', 'Conv at node "conv"', 'SAME_UPPER');
  });

  it('rejects conv weights, groups, strides and pads that do not fit, and absurd sizes', () => {
    const wrongC = cnn([conv('conv', 'x', 'w', undefined, 'h'), ...tail('h')], [floatTensor('w', [3, 3, 3, 3], uniform(r, 81)), ...fc]);
    expectPathwiseError(() => parseOnnx(wrongC), 'PATHWISE_BAD_MODEL', 'Conv at node "conv"', '[3,2,3,3]');
    const badGroup = cnn([conv('conv', 'x', 'w', undefined, 'h', { group: 2 }), ...tail('h')], [floatTensor('w', [3, 1, 3, 3], uniform(r, 27)), ...fc]);
    expectPathwiseError(() => parseOnnx(badGroup), 'PATHWISE_BAD_MODEL', 'group=2 does not divide');
    const zeroStride = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h', { strides: [0, 1] }), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(zeroStride), 'PATHWISE_BAD_MODEL', 'strides [0,1]');
    const negStride = cnn([maxPool('pool', 'x', 'h', { kernel: [2, 2], strides: [-1, 2] }), ...tail('h')], fc);
    expectPathwiseError(() => parseOnnx(negStride), 'PATHWISE_BAD_MODEL', 'MaxPool at node "pool"', 'strides');
    const negPads = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h', { pads: [0, -1, 0, 0] }), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(negPads), 'PATHWISE_BAD_MODEL', 'negative pads');
    const wrongKs = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h', { kernel: [2, 2] }), ...tail('h')]);
    expectPathwiseError(() => parseOnnx(wrongKs), 'PATHWISE_BAD_MODEL', 'kernel_shape [2,2]');
    const tooBigKernel = cnn([conv('conv', 'x', 'w', undefined, 'h'), ...tail('h')], [floatTensor('w', [3, 2, 5, 5], uniform(r, 150)), ...fc]);
    expectPathwiseError(() => parseOnnx(tooBigKernel), 'PATHWISE_BAD_MODEL', 'does not fit');
    const badBias = cnn([conv('conv', 'x', 'c_W', 'fc_B2', 'h'), ...tail('h')], [...cW, ...fc, floatTensor('fc_B2', [4], [1, 2, 3, 4])]);
    expectPathwiseError(() => parseOnnx(badBias), 'PATHWISE_BAD_MODEL', 'bias B has shape [4], expected [3]');
    const padWindow = cnn([maxPool('pool', 'x', 'h', { kernel: [2, 2], strides: [2, 2], pads: [2, 0, 0, 0] }), ...tail('h')], fc);
    expectPathwiseError(() => parseOnnx(padWindow), 'PATHWISE_BAD_MODEL', 'entirely in the padding');
    // 1024 output channels of 2048 × 2048: 2^32 values.
    const huge = cnn([conv('conv', 'x', 'wh', undefined, 'h'), ...tail('h')], [floatTensor('wh', [1024, 1, 1, 1], new Float64Array(1024)), ...fc], ['N', 1, 2048, 2048]);
    expectPathwiseError(() => parseOnnx(huge), 'PATHWISE_BAD_MODEL', 'more than 2^31');
    const hugeInput = cnn(tail('x'), fc, ['N', 65536, 65536]);
    expectPathwiseError(() => parseOnnx(hugeInput), 'PATHWISE_BAD_MODEL', 'more than 2^31');
    const bnShape = cnn([batchNorm('bn', 'x', bnNames('bn'), 'h'), conv('conv', 'h', 'c_W', 'c_B', 'h2'), ...tail('h2')], [...cW, ...fc, ...bnParams(r, 'bn', 3)]);
    expectPathwiseError(() => parseOnnx(bnShape), 'PATHWISE_BAD_MODEL', 'BatchNormalization at node "bn"', '2 channels');
  });

  it('rejects shape computations that depend on activation values or move the batch', () => {
    const fromValues = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), cast('to_int', 'h', DataType.INT64, 'hi'), reshape('view', 'h', 'hi', 'v'), ...tail('v')]);
    expectPathwiseError(() => parseOnnx(fromValues), 'PATHWISE_UNSUPPORTED_OP', 'Cast at node "to_int"', 'activation');
    const batchLast = cnn(
      [conv('conv', 'x', 'c_W', 'c_B', 'h'), shapeOf('shape', 'h', 's'), gather('g', 's', 'zero', 'b'), unsqueeze('u', 'b', 'ax0', 'b1'), concat('cat', ['minus1', 'b1'], 't', 0), reshape('view', 'h', 't', 'v'), ...tail('v')],
      [...cW, ...fc, int64Tensor('zero', [0], 'raw', []), int64Tensor('ax0', [0]), int64Tensor('minus1', [-1])],
    );
    expectPathwiseError(() => parseOnnx(batchLast), 'PATHWISE_UNSUPPORTED_OP', 'Reshape at node "view"', 'batch');
    const gatherAct = cnn([conv('conv', 'x', 'c_W', 'c_B', 'h'), gather('pick', 'h', 'zero', 'v'), ...tail('v')], [...cW, ...fc, int64Tensor('zero', [0], 'raw', [])]);
    expectPathwiseError(() => parseOnnx(gatherAct), 'PATHWISE_UNSUPPORTED_OP', 'Gather at node "pick"');
    const outOfRange = cnn(
      [conv('conv', 'x', 'c_W', 'c_B', 'h'), shapeOf('shape', 'h', 's'), gather('g', 's', 'nine', 'b'), unsqueeze('u', 'b', 'ax0', 'b1'), concat('cat', ['b1', 'minus1'], 't', 0), reshape('view', 'h', 't', 'v'), ...tail('v')],
      [...cW, ...fc, int64Tensor('nine', [9], 'raw', []), int64Tensor('ax0', [0]), int64Tensor('minus1', [-1])],
    );
    expectPathwiseError(() => parseOnnx(outOfRange), 'PATHWISE_BAD_MODEL', 'Gather at node "g"', 'index 9');
  });
});
