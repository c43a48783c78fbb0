import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PathwiseError } from '../lib/errors.js';
import {
  ModelProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorProtoSchema,
  ValueInfoProtoSchema,
} from '../lib/gen/onnx_subset_pb.js';
import type { DenseLayerSpec, NetworkSpec } from '../lib/model/layers.js';
import { halfToFloat, parseOnnx } from '../lib/onnx/load.js';
import { readNpy } from './helpers/npy.js';
import {
  add,
  boolTensor,
  buildModel,
  constant,
  doubleTensor,
  dropout,
  flatten,
  float16Tensor,
  floatTensor,
  forwardBatch,
  gemm,
  identity,
  int64Tensor,
  matmul,
  node,
  relu,
  reshape,
  rng,
  uniform,
  type ModelOptions,
} from './helpers/onnx-build.js';

const fixture = (p: string): Buffer => readFileSync(new URL(`./fixtures/${p}`, import.meta.url));

/** Relative agreement demanded between the float64 forward of the parsed spec and onnxruntime. */
const REL_TOL = 1e-5;

// ---------------------------------------------------------------------------------------------
// helpers

async function runOrt(bytes: Uint8Array, x: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const res = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, dims) });
    return res[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

/** max |a − b| / max |b| over all entries. */
function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

function flat(rows: Float64Array[]): Float64Array {
  const out = new Float64Array(rows.reduce((n, r) => n + r.length, 0));
  let o = 0;
  for (const r of rows) {
    out.set(r, o);
    o += r.length;
  }
  return out;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected an error, none was thrown');
}

function expectPathwiseError(fn: () => unknown, code: PathwiseError['code'], ...parts: string[]): PathwiseError {
  const err = catchError(fn);
  expect(err).toBeInstanceOf(PathwiseError);
  const e = err as PathwiseError;
  expect(e.code, e.message).toBe(code);
  for (const p of parts) expect(e.message).toContain(p);
  return e;
}

const denses = (spec: NetworkSpec): DenseLayerSpec[] =>
  spec.layers.filter((l): l is DenseLayerSpec => l.type === 'dense');

/** Checks the parsed model against onnxruntime on `batch` random inputs (dynamic batch 'N'). */
async function expectMatchesOrt(bytes: Uint8Array, spec: NetworkSpec, ortBytes: Uint8Array = bytes, batch = 5, seed = 99): Promise<void> {
  const size = spec.inputShape.reduce((a, b) => a * b, 1);
  const x = Float32Array.from(uniform(rng(seed), batch * size, 2));
  const ref = await runOrt(ortBytes, x, [batch, ...spec.inputShape]);
  const ours = flat(forwardBatch(spec, x, batch));
  expect(relErr(ours, ref)).toBeLessThanOrEqual(REL_TOL);
}

// A small random dense model: x [N, 6] → Gemm 6→5 → Relu → Gemm 5→3 → y, with overrides.
const R = rng(1234);
const W1 = uniform(R, 30);
const B1 = uniform(R, 5);
const W2 = uniform(R, 15);
const B2 = uniform(R, 3);

/** Transposes a row-major rows × cols matrix. */
function transpose(m: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

function model(o: Omit<ModelOptions, 'input' | 'output'> & { inputShape?: (number | string)[]; outSize?: number }): Uint8Array {
  return buildModel({
    input: { name: 'x', shape: o.inputShape ?? ['N', 6] },
    output: { name: 'y', shape: ['N', o.outSize ?? 3] },
    nodes: o.nodes,
    initializers: o.initializers,
    opset: o.opset,
  });
}

/** The standard two-layer Gemm model (transB = 1), stored with `storage`. */
function twoLayerGemm(storage: 'raw' | 'typed' = 'raw'): Uint8Array {
  return model({
    nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
    initializers: [
      floatTensor('W1', [5, 6], W1, storage),
      floatTensor('B1', [5], B1, storage),
      floatTensor('W2', [3, 5], W2, storage),
      floatTensor('B2', [3], B2, storage),
    ],
  });
}

// ---------------------------------------------------------------------------------------------
// fixtures

describe('parseOnnx on the Fashion-MNIST fixtures', () => {
  const mlp = fixture('models/fashion_mlp.onnx');
  const mlpDyn = fixture('models/fashion_mlp_dyn.onnx');

  it.each([
    ['fashion_mlp.onnx', mlp],
    ['fashion_mlp_dyn.onnx', mlpDyn],
  ])('%s parses to Flatten + 4 dense + 3 relu', (_name, bytes) => {
    const spec = parseOnnx(bytes);
    expect(spec.inputShape).toEqual([1, 28, 28]);
    expect(spec.layers.map((l) => l.type)).toEqual(['flatten', 'dense', 'relu', 'dense', 'relu', 'dense', 'relu', 'dense']);
    expect(spec.layers.map((l) => l.name)).toEqual(['/0/Flatten', '/1/Gemm', '/2/Relu', '/3/Gemm', '/4/Relu', '/5/Gemm', '/6/Relu', '/7/Gemm']);
    const d = denses(spec);
    expect(d.map((l) => [l.in, l.out])).toEqual([
      [784, 256],
      [256, 128],
      [128, 64],
      [64, 10],
    ]);
    for (const l of d) {
      expect(l.weights).toBeInstanceOf(Float32Array);
      expect(l.weights.length).toBe(l.in * l.out);
      expect(l.bias?.length).toBe(l.out);
    }
  });

  it('static and dynamic-batch files give identical weights', () => {
    const a = denses(parseOnnx(mlp));
    const b = denses(parseOnnx(mlpDyn));
    for (let i = 0; i < a.length; i++) {
      expect(a[i].weights).toEqual(b[i].weights);
      expect(a[i].bias).toEqual(b[i].bias);
    }
  });

  it('fashion_mlp matches onnxruntime and the reference logits on the 16 fixture inputs', async () => {
    const inputs = readNpy(fileURLToPath(new URL('./fixtures/fashion_mlp/inputs.npy', import.meta.url)));
    const logits = readNpy(fileURLToPath(new URL('./fixtures/fashion_mlp/logits.npy', import.meta.url)));
    expect(inputs.shape).toEqual([16, 1, 28, 28]);
    const x = inputs.data as Float32Array;
    const spec = parseOnnx(mlp);
    const ours = flat(forwardBatch(spec, x, 16));

    // Static model: batch 1, one run per input.
    const refStatic = new Float32Array(160);
    for (let j = 0; j < 16; j++) {
      refStatic.set(await runOrt(mlp, x.slice(j * 784, (j + 1) * 784), [1, 1, 28, 28]), j * 10);
    }
    expect(relErr(ours, refStatic)).toBeLessThanOrEqual(REL_TOL);
    // Dynamic model: all 16 at once.
    const oursDyn = flat(forwardBatch(parseOnnx(mlpDyn), x, 16));
    expect(relErr(oursDyn, await runOrt(mlpDyn, x, [16, 1, 28, 28]))).toBeLessThanOrEqual(REL_TOL);
    // PyTorch's float32 logits from the fixture folder.
    expect(relErr(ours, logits.data as Float32Array)).toBeLessThanOrEqual(REL_TOL);
  });

  it('fashion_cnn parses too (CNNs: test/onnx-cnn.test.ts)', () => {
    // Until the CNN loader this was PATHWISE_UNSUPPORTED_OP naming Conv.
    const spec = parseOnnx(fixture('models/fashion_cnn.onnx'));
    expect(spec.layers[0]).toMatchObject({ type: 'conv', name: '/0/Conv' });
  });

  it('fixture raw_data views are unaligned, and a model at an odd byte offset still parses', () => {
    const m = fromBinary(ModelProtoSchema, mlp);
    expect(m.graph!.initializer.some((t) => t.rawData.byteOffset % 4 !== 0)).toBe(true);
    const shifted = new Uint8Array(mlp.length + 3);
    shifted.set(mlp, 3);
    const a = denses(parseOnnx(shifted.subarray(3)));
    const b = denses(parseOnnx(mlp));
    for (let i = 0; i < a.length; i++) expect(a[i].weights).toEqual(b[i].weights);
  });
});

// ---------------------------------------------------------------------------------------------
// generated models against onnxruntime

interface Case {
  title: string;
  bytes: Uint8Array;
  /** Model onnxruntime runs instead (same function, e.g. with Cast nodes). */
  ortBytes?: Uint8Array;
  inputShape: number[];
  layerTypes?: string[];
}

function cases(): Case[] {
  const r = rng(7);
  const list: Case[] = [];

  list.push({
    title: 'Gemm transB=1, C [out]',
    bytes: twoLayerGemm('raw'),
    inputShape: [6],
    layerTypes: ['dense', 'relu', 'dense'],
  });

  list.push({
    title: 'Gemm transB=0 (attribute absent and explicit), C [1, out]',
    bytes: model({
      nodes: [gemm('fc1', 'x', 'W1t', 'B1r', 'h1'), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2t', 'B2r', 'y', { transB: 0 })],
      initializers: [
        floatTensor('W1t', [6, 5], transpose(W1, 5, 6)),
        floatTensor('B1r', [1, 5], B1),
        floatTensor('W2t', [5, 3], transpose(W2, 3, 5)),
        floatTensor('B2r', [1, 3], B2),
      ],
    }),
    inputShape: [6],
  });

  list.push({
    title: 'Gemm alpha and beta ≠ 1, scalar C [] and [1]',
    bytes: model({
      nodes: [
        gemm('fc1', 'x', 'W1', 'c1', 'h1', { transB: 1, alpha: 0.37, beta: -1.9 }),
        relu('act1', 'h1', 'a1'),
        gemm('fc2', 'a1', 'W2t', 'c2', 'y', { alpha: -2.5, beta: 0.5 }),
      ],
      initializers: [
        floatTensor('W1', [5, 6], W1),
        floatTensor('c1', [], [0.8]),
        floatTensor('W2t', [5, 3], transpose(W2, 3, 5)),
        floatTensor('c2', [1], [-1.3]),
      ],
    }),
    inputShape: [6],
  });

  list.push({
    title: 'Gemm without C',
    bytes: model({
      nodes: [gemm('fc1', 'x', 'W1', undefined, 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', undefined, 'y', { transB: 1, alpha: 1.5 })],
      initializers: [floatTensor('W1', [5, 6], W1), floatTensor('W2', [3, 5], W2)],
    }),
    inputShape: [6],
  });

  list.push({
    title: 'MatMul + Add (constant on either side, [out] and [1, out])',
    bytes: model({
      nodes: [
        matmul('mm1', 'x', 'W1t', 'm1'),
        add('add1', 'm1', 'B1', 'h1'),
        relu('act1', 'h1', 'a1'),
        matmul('mm2', 'a1', 'W2t', 'm2'),
        add('add2', 'B2r', 'm2', 'y'),
      ],
      initializers: [
        floatTensor('W1t', [6, 5], transpose(W1, 5, 6)),
        floatTensor('B1', [5], B1, 'typed'),
        floatTensor('W2t', [5, 3], transpose(W2, 3, 5)),
        floatTensor('B2r', [1, 3], B2),
      ],
    }),
    inputShape: [6],
    layerTypes: ['dense', 'relu', 'dense'],
  });

  list.push({
    title: 'Gemm with C plus folded Adds after Identity and Reshape',
    bytes: model({
      nodes: [
        gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }),
        identity('id1', 'h1', 'i1'),
        add('add1', 'i1', 'extra1', 'h1b'),
        relu('act1', 'h1b', 'a1'),
        gemm('fc2', 'a1', 'W2', 'B2', 'h2', { transB: 1 }),
        add('add2', 'h2', 'extra2', 'y'),
      ],
      initializers: [
        floatTensor('W1', [5, 6], W1),
        floatTensor('B1', [5], B1),
        floatTensor('extra1', [5], uniform(r, 5)),
        floatTensor('W2', [3, 5], W2),
        floatTensor('B2', [3], B2),
        floatTensor('extra2', [], [0.25]),
      ],
    }),
    inputShape: [6],
    layerTypes: ['dense', 'identity', 'relu', 'dense'],
  });

  {
    const w1 = uniform(r, 8 * 24);
    const w2 = uniform(r, 3 * 8);
    list.push({
      title: 'Reshape with 0 and -1 (initializer, Constant node, int64_data), Add folded through Reshape',
      bytes: model({
        inputShape: ['N', 2, 3, 4],
        nodes: [
          reshape('rs0', 'x', 'shape0', 'r0'),
          gemm('fc1', 'r0', 'W1', 'B1', 'h1', { transB: 1 }),
          constant('shape1_const', 'shape1', int64Tensor('', [-1, 2, 4])),
          reshape('rs1', 'h1', 'shape1', 'r1'),
          add('add1', 'r1', 'rowbias', 'r1b'),
          reshape('rs2', 'r1b', 'shape2', 'r2'),
          relu('act1', 'r2', 'a1'),
          gemm('fc2', 'a1', 'W2', undefined, 'y', { transB: 1 }),
        ],
        initializers: [
          int64Tensor('shape0', [0, -1]),
          floatTensor('W1', [8, 24], w1),
          floatTensor('B1', [8], uniform(r, 8)),
          floatTensor('rowbias', [1, 4], uniform(r, 4)),
          int64Tensor('shape2', [0, -1], 'typed'),
          floatTensor('W2', [3, 8], w2),
        ],
      }),
      inputShape: [2, 3, 4],
      layerTypes: ['reshape', 'dense', 'reshape', 'reshape', 'relu', 'dense'],
    });
  }

  list.push({
    title: 'Identity and Dropout (opset 13 ratio / training_mode=false / mask output, and bare)',
    bytes: model({
      nodes: [
        gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }),
        identity('id1', 'h1', 'i1'),
        relu('act1', 'i1', 'a1'),
        dropout('drop1', 'a1', 'd1', ['ratio', 'training'], 'mask1'),
        dropout('drop2', 'd1', 'd2'),
        gemm('fc2', 'd2', 'W2', 'B2', 'y', { transB: 1 }),
      ],
      initializers: [
        floatTensor('W1', [5, 6], W1),
        floatTensor('B1', [5], B1),
        floatTensor('ratio', [], [0.5]),
        boolTensor('training', false),
        floatTensor('W2', [3, 5], W2),
        floatTensor('B2', [3], B2),
      ],
    }),
    inputShape: [6],
    layerTypes: ['dense', 'identity', 'relu', 'identity', 'identity', 'dense'],
  });

  list.push({
    title: 'Flatten on [N, 2, 3] and a no-op Flatten axis=2 on [N, 1, 6]',
    bytes: model({
      inputShape: ['N', 1, 6],
      nodes: [flatten('fl0', 'x', 'f0', 2), gemm('fc1', 'f0', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2', [3, 5], W2), floatTensor('B2', [3], B2)],
    }),
    inputShape: [1, 6],
    layerTypes: ['flatten', 'dense', 'relu', 'dense'],
  });

  list.push({
    title: 'float_data storage',
    bytes: twoLayerGemm('typed'),
    inputShape: [6],
  });

  // float64 and float16 weights: onnxruntime runs the same stored values through Cast nodes.
  {
    const d1 = uniform(r, 30);
    const db1 = uniform(r, 5);
    const halfBits = (n: number): number[] =>
      Array.from({ length: n }, () => (r() < 0.5 ? 0x8000 : 0) | ((10 + Math.floor(r() * 7)) << 10) | Math.floor(r() * 1024));
    const h2 = halfBits(15);
    // A few subnormal and zero halves in the bias.
    const hb2 = [0x0001, 0x83ff, 0x0000];
    for (const storage of ['raw', 'typed'] as const) {
      const inits = [
        doubleTensor('D1', [5, 6], d1, storage),
        doubleTensor('DB1', [5], db1, storage),
        float16Tensor('H2', [3, 5], h2, storage),
        float16Tensor('HB2', [3], hb2, storage),
      ];
      const direct = model({
        nodes: [gemm('fc1', 'x', 'D1', 'DB1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'H2', 'HB2', 'y', { transB: 1 })],
        initializers: inits,
      });
      const cast = (n: string): ReturnType<typeof node> => node('Cast', `cast_${n}`, [n], [`${n}_f`], { to: { int: TensorProto_DataType.FLOAT } });
      const viaCast = model({
        nodes: [
          ...['D1', 'DB1', 'H2', 'HB2'].map(cast),
          gemm('fc1', 'x', 'D1_f', 'DB1_f', 'h1', { transB: 1 }),
          relu('act1', 'h1', 'a1'),
          gemm('fc2', 'a1', 'H2_f', 'HB2_f', 'y', { transB: 1 }),
        ],
        initializers: inits,
      });
      list.push({ title: `double and float16 weights (${storage})`, bytes: direct, ortBytes: viaCast, inputShape: [6] });
    }
  }
  return list;
}

describe('parseOnnx on generated models agrees with onnxruntime', () => {
  it.each(cases())('$title', async (c) => {
    const spec = parseOnnx(c.bytes);
    expect(spec.inputShape).toEqual(c.inputShape);
    if (c.layerTypes) expect(spec.layers.map((l) => l.type)).toEqual(c.layerTypes);
    await expectMatchesOrt(c.bytes, spec, c.ortBytes);
  });

  it('raw_data and float_data give the same spec, with names and folded biases', () => {
    const a = parseOnnx(twoLayerGemm('raw'));
    const b = parseOnnx(twoLayerGemm('typed'));
    expect(b).toEqual(a);
    const [d1, d2] = denses(a);
    expect(d1).toMatchObject({ name: 'fc1', in: 6, out: 5 });
    expect(d2).toMatchObject({ name: 'fc2', in: 5, out: 3 });
    expect(d1.weights).toEqual(Float32Array.from(W1));
    expect(d1.bias).toEqual(Float32Array.from(B1));
    expect(a.layers[1]).toEqual({ type: 'relu', name: 'act1' });
  });

  it('Gemm alpha/beta scale the stored weights and bias; MatMul weights are transposed to out × in', () => {
    const spec = parseOnnx(
      model({
        nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1, alpha: 2, beta: 3 }), relu('r', 'h1', 'a1'), matmul('mm', 'a1', 'W2t', 'y')],
        initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2t', [5, 3], transpose(W2, 3, 5))],
      }),
    );
    const [d1, d2] = denses(spec);
    expect(d1.weights).toEqual(Float32Array.from(W1, (v) => 2 * Math.fround(v)));
    expect(d1.bias).toEqual(Float32Array.from(B1, (v) => 3 * Math.fround(v)));
    expect(d2.weights).toEqual(Float32Array.from(W2));
    expect(d2.bias).toBeUndefined();
  });

  it('reads raw_data that starts at an odd byte offset of the model bytes', async () => {
    // Pad the first node's name (written once, before the initializers) until the weight's
    // raw_data view starts at an odd offset: odd by construction, checked below.
    let bytes: Uint8Array | undefined;
    for (let pad = 0; pad < 8 && !bytes; pad++) {
      const b = model({
        nodes: [gemm(`fc1${'_'.repeat(pad)}`, 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
        initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2', [3, 5], W2), floatTensor('B2', [3], B2)],
      });
      const view = fromBinary(ModelProtoSchema, b).graph!.initializer[0].rawData;
      if (view.byteOffset % 2 === 1) bytes = b;
    }
    expect(bytes).toBeDefined();
    const spec = parseOnnx(bytes!);
    expect(denses(spec)[0].weights).toEqual(Float32Array.from(W1));
    await expectMatchesOrt(bytes!, spec);
  });

  it('Constant nodes with value_ints / value_floats feed Reshape and a folded Add', async () => {
    const bytes = model({
      inputShape: ['N', 2, 3],
      nodes: [
        node('Constant', 'c_shape', [], ['s'], { value_ints: { ints: [0, -1] } }),
        reshape('rs', 'x', 's', 'r'),
        gemm('fc1', 'r', 'W1', 'B1', 'h1', { transB: 1 }),
        node('Constant', 'c_bias', [], ['cb'], { value_floats: { floats: [0.5, -0.25, 1, 2, -3] } }),
        add('addc', 'h1', 'cb', 'h1b'),
        node('Constant', 'c_scalar', [], ['cs'], { value_float: { float: 0.125 } }),
        add('adds', 'cs', 'h1b', 'h1c'),
        relu('act1', 'h1c', 'a1'),
        gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 }),
      ],
      initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2', [3, 5], W2), floatTensor('B2', [3], B2)],
    });
    const spec = parseOnnx(bytes);
    expect(spec.layers.map((l) => l.type)).toEqual(['reshape', 'dense', 'relu', 'dense']);
    expect(spec.layers[0]).toEqual({ type: 'reshape', shape: [6], name: 'rs' });
    await expectMatchesOrt(bytes, spec);
  });

  it('converts float16 bit patterns exactly', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x7bff, 65504],
      [0x0001, 2 ** -24],
      [0x03ff, 1023 * 2 ** -24],
      [0x0400, 2 ** -14],
      [0x3555, 0.333251953125],
      [0x8000, -0],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
    ];
    for (const [bits, v] of cases) expect(halfToFloat(bits)).toBe(v);
    expect(halfToFloat(0x7e00)).toBeNaN();
    const spec = parseOnnx(
      model({
        nodes: [gemm('fc', 'x', 'W', undefined, 'y', { transB: 1 })],
        initializers: [float16Tensor('W', [2, 6], [0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555, 0x8000, 0, 0, 0, 0, 0, 0x0400])],
        outSize: 2,
      }),
    );
    expect(Array.from(denses(spec)[0].weights.slice(0, 6))).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125, -0]);
    // bfloat16 is the high half of a float32.
    const bf = create(TensorProtoSchema, { name: 'W', dims: [2n, 6n], dataType: TensorProto_DataType.BFLOAT16, int32Data: [0x3f80, 0xc040, 0x3e00, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f7f] });
    const specBf = parseOnnx(model({ nodes: [gemm('fc', 'x', 'W', undefined, 'y', { transB: 1 })], initializers: [bf], outSize: 2 }));
    const wb = denses(specBf)[0].weights;
    expect([wb[0], wb[1], wb[2], wb[11]]).toEqual([1, -3, 0.125, 3.3895313892515355e38]);
  });
});

// ---------------------------------------------------------------------------------------------
// errors

describe('parseOnnx errors', () => {
  const okInits = () => [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2', [3, 5], W2), floatTensor('B2', [3], B2)];

  it('names an unsupported op and its node', () => {
    const bytes = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), node('Sigmoid', 'block/act/Sigmoid', ['h1'], ['a1']), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: okInits(),
    });
    expectPathwiseError(() => parseOnnx(bytes), 'PATHWISE_UNSUPPORTED_OP', 'Unsupported ONNX op "Sigmoid" at node "block/act/Sigmoid"', 'Relu');
  });

  it('rejects ops from another domain', () => {
    const bytes = model({
      nodes: [node('FusedGemm', 'fused', ['x', 'W1', 'B1'], ['y'], {}, 'com.microsoft')],
      initializers: okInits(),
    });
    expectPathwiseError(() => parseOnnx(bytes), 'PATHWISE_UNSUPPORTED_OP', '"FusedGemm"', 'domain "com.microsoft"', 'node "fused"');
  });

  it('rejects truncated bytes, garbage and empty input with PATHWISE_BAD_MODEL', () => {
    const mlp = fixture('models/fashion_mlp.onnx');
    for (const cut of [1, 7, 100, 5000, mlp.length >> 1, mlp.length - 5]) {
      expectPathwiseError(() => parseOnnx(mlp.subarray(0, cut)), 'PATHWISE_BAD_MODEL');
    }
    const small = twoLayerGemm();
    // Cut exactly between the graph and opset_import, the prefix is a complete (opset-less) model.
    const graphEnd = small.length - toBinary(ModelProtoSchema, create(ModelProtoSchema, { opsetImport: fromBinary(ModelProtoSchema, small).opsetImport })).length;
    for (let cut = 1; cut < small.length; cut += 3) {
      if (cut === graphEnd) continue;
      const e = catchError(() => parseOnnx(small.subarray(0, cut)));
      expect((e as PathwiseError).code, `cut at ${cut}`).toBe('PATHWISE_BAD_MODEL');
    }
    expectPathwiseError(() => parseOnnx(new TextEncoder().encode('this is not an ONNX model, just some text')), 'PATHWISE_BAD_MODEL');
    const r = rng(5);
    for (let i = 0; i < 20; i++) {
      const junk = Uint8Array.from({ length: 64 + i * 13 }, () => Math.floor(r() * 256));
      expectPathwiseError(() => parseOnnx(junk), 'PATHWISE_BAD_MODEL');
    }
    expectPathwiseError(() => parseOnnx(new Uint8Array(0)), 'PATHWISE_BAD_MODEL', 'no graph');
  });

  it('throws TypeError for a non-Uint8Array argument', () => {
    expect(() => parseOnnx('model.onnx' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => parseOnnx(new ArrayBuffer(8) as unknown as Uint8Array)).toThrow(TypeError);
  });

  it('rejects dense layers whose sizes do not chain', () => {
    const bytes = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'Wbad', undefined, 'y', { transB: 1 })],
      initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('Wbad', [3, 4], uniform(rng(1), 12))],
    });
    expectPathwiseError(() => parseOnnx(bytes), 'PATHWISE_BAD_MODEL', 'node "fc2"', 'expects 4 input features', '5 features');
    // Wrong input size for the first layer, and a Gemm on a rank-3 activation (Flatten missing).
    const wrongInput = model({ inputShape: ['N', 7], nodes: [gemm('fc', 'x', 'W1', undefined, 'y', { transB: 1 })], initializers: okInits(), outSize: 5 });
    expectPathwiseError(() => parseOnnx(wrongInput), 'PATHWISE_BAD_MODEL', 'node "fc"');
    const noFlatten = model({ inputShape: ['N', 2, 3], nodes: [gemm('fc', 'x', 'W1', undefined, 'y', { transB: 1 })], initializers: okInits(), outSize: 5 });
    expectPathwiseError(() => parseOnnx(noFlatten), 'PATHWISE_BAD_MODEL', 'Flatten');
    const badBias = model({ nodes: [gemm('fc', 'x', 'W1', 'B2', 'y', { transB: 1 })], initializers: okInits(), outSize: 5 });
    expectPathwiseError(() => parseOnnx(badBias), 'PATHWISE_BAD_MODEL', 'bias C of shape [3]');
  });

  it('rejects a last dense layer with 1 output, or a model ending in Relu', () => {
    const one = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', undefined, 'y', { transB: 1 })],
      initializers: [floatTensor('W1', [5, 6], W1), floatTensor('B1', [5], B1), floatTensor('W2', [1, 5], W2.slice(0, 5))],
      outSize: 1,
    });
    expectPathwiseError(() => parseOnnx(one), 'PATHWISE_BAD_MODEL', 'at least 2 outputs');
    const endsInRelu = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'y')],
      initializers: okInits(),
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(endsInRelu), 'PATHWISE_BAD_MODEL', 'Relu');
  });

  it('rejects external data with a clear message', () => {
    const ext = create(TensorProtoSchema, {
      name: 'W1',
      dims: [5n, 6n],
      dataType: TensorProto_DataType.FLOAT,
      dataLocation: TensorProto_DataLocation.EXTERNAL,
      externalData: [
        { key: 'location', value: 'weights.bin' },
        { key: 'offset', value: '0' },
      ],
    });
    const bytes = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: [ext, ...okInits().slice(1)],
    });
    expectPathwiseError(() => parseOnnx(bytes), 'PATHWISE_BAD_MODEL', '"W1"', 'external', 'weights.bin');
  });

  it('rejects Gemm with transA=1 or the activation as B', () => {
    const transA = model({
      nodes: [gemm('fc1', 'x', 'W1t', 'B1', 'y', { transA: 1 })],
      initializers: [floatTensor('W1t', [6, 5], transpose(W1, 5, 6)), floatTensor('B1', [5], B1)],
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(transA), 'PATHWISE_UNSUPPORTED_OP', 'transA=1', 'node "fc1"');
    const asB = model({
      nodes: [gemm('fc1', 'W1', 'x', undefined, 'y', { transB: 1 })],
      initializers: [floatTensor('W1', [5, 6], W1)],
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(asB), 'PATHWISE_UNSUPPORTED_OP', 'input B', 'node "fc1"');
    const varB = model({
      nodes: [gemm('fc1', 'x', 'x', undefined, 'y')],
      outSize: 6,
    });
    expectPathwiseError(() => parseOnnx(varB), 'PATHWISE_UNSUPPORTED_OP', 'node "fc1"');
  });

  it('reads Add of two activations as a residual add layer, and a constant Add not after a dense layer as affine', async () => {
    const residual = model({
      nodes: [
        gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }),
        relu('act1', 'h1', 'a1'),
        gemm('fc1b', 'a1', 'Wsq', undefined, 'h1b', { transB: 1 }),
        add('skip/Add', 'h1b', 'a1', 'a2'),
        gemm('fc2', 'a2', 'W2', 'B2', 'y', { transB: 1 }),
      ],
      initializers: [...okInits(), floatTensor('Wsq', [5, 5], uniform(rng(2), 25))],
    });
    // Until the DAG loader this was PATHWISE_UNSUPPORTED_OP ('non-constant').
    const spec = parseOnnx(residual);
    expect(spec.layers.map((l) => l.type)).toEqual(['dense', 'relu', 'dense', 'add', 'dense']);
    expect(spec.layers[3]).toEqual({ type: 'add', inputs: [2, 1], name: 'skip/Add' });
    await expectMatchesOrt(residual, spec);
    const afterRelu = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), add('shift', 'a1', 'B1', 'a2'), gemm('fc2', 'a2', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: okInits(),
    });
    // A constant shift after a gate: an affine layer since issue 14.
    expect(parseOnnx(afterRelu).layers.map((l) => l.type)).toEqual(['dense', 'relu', 'affine', 'dense']);
  });

  it('rejects tensors whose element count does not match dims', () => {
    for (const storage of ['raw', 'typed'] as const) {
      const b2 = floatTensor('B2', [3], B2, storage);
      b2.dims = [4n];
      const tampered = model({
        nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('act1', 'h1', 'a1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
        initializers: [...okInits().slice(0, 3), b2],
      });
      expectPathwiseError(() => parseOnnx(tampered), 'PATHWISE_BAD_MODEL', '"B2"', 'need 4');
    }
  });

  it('rejects a non-float, rank-1 or symbolic-shaped graph input', () => {
    const nodes = [gemm('fc1', 'x', 'W1', 'B1', 'y', { transB: 1 })];
    const inits = okInits();
    const dbl = buildModel({ input: { name: 'x', shape: ['N', 6], elemType: TensorProto_DataType.DOUBLE }, output: { name: 'y' }, nodes, initializers: inits });
    expectPathwiseError(() => parseOnnx(dbl), 'PATHWISE_BAD_MODEL', 'element type DOUBLE', 'float32');
    const rank1 = buildModel({ input: { name: 'x', shape: [6] }, output: { name: 'y' }, nodes, initializers: inits });
    expectPathwiseError(() => parseOnnx(rank1), 'PATHWISE_BAD_MODEL', 'rank 1');
    const sym = buildModel({ input: { name: 'x', shape: ['N', 'features'] }, output: { name: 'y' }, nodes, initializers: inits });
    expectPathwiseError(() => parseOnnx(sym), 'PATHWISE_BAD_MODEL', 'symbolic ("features")');
    const batch4 = buildModel({ input: { name: 'x', shape: [4, 6] }, output: { name: 'y' }, nodes, initializers: inits });
    expectPathwiseError(() => parseOnnx(batch4), 'PATHWISE_BAD_MODEL', 'batch size of 4');
    const noShape = buildModel({ input: { name: 'x', shape: undefined as unknown as number[] }, output: { name: 'y' }, nodes, initializers: inits });
    expectPathwiseError(() => parseOnnx(noShape), 'PATHWISE_BAD_MODEL', 'no shape');
  });

  it('rejects shape ops that would mix the batch dimension, and computed shapes', () => {
    const inits = okInits();
    const flat2 = model({ inputShape: ['N', 2, 3], nodes: [flatten('fl', 'x', 'f', 2), gemm('fc', 'f', 'W1', undefined, 'y', { transB: 1 })], initializers: inits, outSize: 5 });
    expectPathwiseError(() => parseOnnx(flat2), 'PATHWISE_UNSUPPORTED_OP', 'Flatten at node "fl" with axis=2');
    const flat0 = model({ inputShape: ['N', 6], nodes: [flatten('fl', 'x', 'f', 0), gemm('fc', 'f', 'W1', undefined, 'y', { transB: 1 })], initializers: inits, outSize: 5 });
    expectPathwiseError(() => parseOnnx(flat0), 'PATHWISE_UNSUPPORTED_OP', 'axis=0');
    const moveBatch = model({
      inputShape: ['N', 2, 3],
      nodes: [reshape('rs', 'x', 's', 'r'), gemm('fc', 'r', 'W1', undefined, 'y', { transB: 1 })],
      initializers: [...inits, int64Tensor('s', [3, -1])],
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(moveBatch), 'PATHWISE_UNSUPPORTED_OP', 'Reshape at node "rs"', 'batch');
    const badCount = model({
      inputShape: ['N', 2, 3],
      nodes: [reshape('rs', 'x', 's', 'r'), gemm('fc', 'r', 'W1', undefined, 'y', { transB: 1 })],
      initializers: [...inits, int64Tensor('s', [0, 4])],
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(badCount), 'PATHWISE_BAD_MODEL', 'Reshape at node "rs"');
    // Shapes computed from static shapes fold (test/onnx-cnn.test.ts); from activation values they cannot.
    const computed = model({
      inputShape: ['N', 2, 3],
      nodes: [node('Cast', 'to_int', ['x'], ['s'], { to: { int: TensorProto_DataType.INT64 } }), reshape('rs', 'x', 's', 'r'), gemm('fc', 'r', 'W1', undefined, 'y', { transB: 1 })],
      initializers: inits,
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(computed), 'PATHWISE_UNSUPPORTED_OP', 'Cast at node "to_int"', 'activation');
  });

  it('rejects Dropout in training mode, int8 weights and multiple outputs; drops dead branches', () => {
    const inits = okInits();
    const training = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), dropout('drop', 'h1', 'd', ['ratio', 'on']), gemm('fc2', 'd', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: [...inits, floatTensor('ratio', [], [0.1]), boolTensor('on', true)],
    });
    expectPathwiseError(() => parseOnnx(training), 'PATHWISE_UNSUPPORTED_OP', 'Dropout at node "drop"', 'training');
    const branch = model({
      nodes: [gemm('fc1', 'x', 'W1', 'B1', 'h1', { transB: 1 }), relu('a', 'h1', 'a1'), relu('b', 'h1', 'b1'), gemm('fc2', 'a1', 'W2', 'B2', 'y', { transB: 1 })],
      initializers: inits,
    });
    // Until the DAG loader a second consumer was PATHWISE_UNSUPPORTED_OP ('single chain'); a dead one is dropped now.
    expect(parseOnnx(branch).layers.map((l) => l.name)).toEqual(['fc1', 'a', 'fc2']);
    const int8 = model({
      nodes: [gemm('fc1', 'x', 'Q', undefined, 'y', { transB: 1 })],
      initializers: [create(TensorProtoSchema, { name: 'Q', dims: [5n, 6n], dataType: TensorProto_DataType.INT8, rawData: new Uint8Array(30) })],
      outSize: 5,
    });
    expectPathwiseError(() => parseOnnx(int8), 'PATHWISE_UNSUPPORTED_OP', '"Q"', 'INT8');
    const m = fromBinary(ModelProtoSchema, twoLayerGemm());
    m.graph!.output.push(create(ValueInfoProtoSchema, { name: 'h1' }));
    expectPathwiseError(() => parseOnnx(toBinary(ModelProtoSchema, m)), 'PATHWISE_UNSUPPORTED_OP', '2 outputs');
  });
});
