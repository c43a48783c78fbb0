// Issue 6, part 1: validation at every boundary. Whatever a caller passes — to the public API, or
// straight to the native addon, which must never trust lib/ — the outcome is a TypeError, a
// RangeError or a PathwiseError with a documented code, thrown before anything is sized from the
// bad numbers. Never a crash, never another exception type, never a hang.
import { describe, it, expect } from 'vitest';
import {
  loadModelSync, explainSync, explainBatchSync, explain, PathwiseError,
  type LayerSpec, type NetworkSpec,
} from '../lib/index.js';
import { nativeAddon, type NativeLayer } from '../lib/addon/native.js';
import { unpackResults } from '../lib/explain/explain.js';
import { parseOnnx } from '../lib/onnx/load.js';
import { buildModel, floatTensor, gemm, node } from './helpers/onnx-build.js';

const CODES = ['PATHWISE_UNSUPPORTED_OP', 'PATHWISE_BAD_MODEL', 'PATHWISE_DISPOSED', 'PATHWISE_MEMORY_LIMIT', 'PATHWISE_NATIVE'];

/** Runs fn and returns what it threw; fails if it returned or threw anything off-policy. */
function thrown(fn: () => unknown): Error {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected an error').toBeDefined();
  const ok = error instanceof TypeError || error instanceof RangeError ||
    (error instanceof Error && CODES.includes((error as { code?: string }).code ?? ''));
  expect(ok, `off-policy error: ${String(error)} (${(error as { code?: string })?.code})`).toBe(true);
  return error as Error;
}

const badModel = (fn: () => unknown) => expect((thrown(fn) as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}
const rand = seeded(1);
const f32 = (n: number) => new Float32Array(n).map(() => rand());
const dense = (inn: number, out: number): LayerSpec => ({ type: 'dense', in: inn, out, weights: f32(inn * out), bias: f32(out) });
const mlp = (): LayerSpec[] => [dense(4, 6), { type: 'relu' }, dense(6, 3)];
/** A small CNN on [2, 5, 5] with `conv` as its first layer. */
const cnn = (conv: Partial<LayerSpec>): NetworkSpec => ({
  inputShape: [2, 5, 5],
  layers: [
    { type: 'conv', inChannels: 2, outChannels: 2, kernel: [3, 3], weights: f32(36), ...conv } as LayerSpec,
    { type: 'relu' }, { type: 'globalavgpool' }, { type: 'flatten' }, dense(2, 3),
  ],
});

describe('model structure (public API)', () => {
  it('accepts the fixtures the cases below perturb', () => {
    expect(loadModelSync(mlp()).numClasses).toBe(3);
    expect(loadModelSync(cnn({})).numClasses).toBe(3);
  });

  it('rejects dims that do not chain, wrong weight lengths and non-finite weights', () => {
    badModel(() => loadModelSync([dense(4, 6), { type: 'relu' }, dense(5, 3)]));
    expect(thrown(() => loadModelSync([{ ...dense(4, 6), weights: f32(23) } as LayerSpec, { type: 'relu' }, dense(6, 3)]))).toBeInstanceOf(RangeError);
    expect(thrown(() => loadModelSync([{ ...dense(4, 6), bias: f32(5) } as LayerSpec, { type: 'relu' }, dense(6, 3)]))).toBeInstanceOf(RangeError);
    for (const v of [NaN, Infinity, -Infinity]) {
      const layers = mlp();
      (layers[2] as { bias: Float32Array }).bias[1] = v;
      badModel(() => loadModelSync(layers));
    }
    badModel(() => loadModelSync(cnn({ inChannels: 3, weights: f32(54) })));
    badModel(() => loadModelSync({ inputShape: [2, 5, 5], layers: [...cnn({}).layers.slice(0, 2), dense(50, 3)] }));
  });

  it('rejects absurd sizes before allocating for them', () => {
    // Shapes lib/ lets through (a 1×1 conv checks no size) that the engine must refuse: ≥ 2^31 values.
    const probe = (inputShape: number[]): NetworkSpec => ({
      inputShape,
      layers: [{ type: 'conv', inChannels: inputShape[0], outChannels: 1, kernel: [1, 1], weights: f32(inputShape[0]) }, { type: 'relu' },
        { type: 'globalavgpool' }, { type: 'flatten' }, dense(1, 2)],
    });
    expect(loadModelSync(probe([1, 4, 4])).numClasses).toBe(2);
    for (const inputShape of [[1, 2 ** 16, 2 ** 16], [2, 2 ** 15, 2 ** 15], [1, 2 ** 40, 2 ** 40], [1, 2 ** 53 - 1, 1]])
      badModel(() => loadModelSync(probe(inputShape)));
    for (const inputShape of [[2 ** 31], [2 ** 53, 1, 1], [1e300]]) thrown(() => loadModelSync({ inputShape, layers: [{ type: 'relu' }, dense(4, 3)] }));
    for (const inputShape of [[0], [-1], [1.5], [NaN], [], [1, 2, 3, 4], ['4']])
      expect(thrown(() => loadModelSync({ inputShape: inputShape as number[], layers: mlp() }))).toBeInstanceOf(RangeError);
    expect(thrown(() => loadModelSync([{ type: 'dense', in: 2 ** 40, out: 2 ** 40, weights: f32(4) }, { type: 'relu' }, dense(2, 2)]))).toBeInstanceOf(RangeError);
    // Padding makes a conv's output far larger than its input: 131073² values per channel.
    badModel(() => loadModelSync(cnn({ pads: [2 ** 16, 2 ** 16, 2 ** 16, 2 ** 16] })));
    badModel(() => loadModelSync(cnn({ pads: [2 ** 20, 0, 0, 0] })));
    badModel(() => loadModelSync(cnn({ kernel: [2 ** 17, 1], weights: f32(4 * 2 ** 17) })));
  });

  it('rejects a last layer whose output (the classes) is absurdly large', () => {
    // Regression: only layers with a consumer had their size checked (as the consumer's input),
    // so a final padded conv built with 131073² "classes" (over 2^31: not an int32 class index).
    const one = new Float32Array([1]);
    const layers: LayerSpec[] = [
      { type: 'conv', inChannels: 1, outChannels: 1, kernel: [1, 1], weights: one },
      { type: 'relu' },
      { type: 'conv', inChannels: 1, outChannels: 1, kernel: [1, 1], pads: [65536, 65536, 65536, 65536], weights: one },
    ];
    const e = thrown(() => loadModelSync({ inputShape: [1, 1, 1], layers }));
    expect((e as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');
    expect(e.message).toMatch(/out of range/);
  });

  it('rejects window layers that would take hours per example (padding blows up the work, not the size)', () => {
    // Regression: a MaxPool (no weights) with a 2048 × 2048 window padded around a 1 × 1 input
    // made forward take 17 s; 2^16 × 2^14 would take days. A conv needs weights, but 4 MB of them
    // (1024 × 1024) with padding asked for 2^42 multiply-adds.
    const pooled = (k: number, type: 'maxpool' | 'avgpool'): NetworkSpec => ({
      inputShape: [1, 1, 1],
      layers: [{ type, kernel: [k, k], stride: [1, 1], pads: [k - 1, k - 1, k - 1, k - 1] } as LayerSpec, { type: 'relu' },
        { type: 'globalavgpool' }, { type: 'flatten' }, dense(1, 2)],
    });
    for (const type of ['maxpool', 'avgpool'] as const) {
      expect(loadModelSync(pooled(64, type)).numClasses).toBe(2); // 127² windows of 64² taps: fine
      for (const k of [1024, 2048, 2 ** 16]) {
        const t0 = performance.now();
        const e = thrown(() => loadModelSync(pooled(k, type)));
        expect((e as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');
        expect(e.message).toMatch(/too much work per example|out of range/);
        expect(performance.now() - t0).toBeLessThan(1000);
      }
    }
    const k = 1024;
    const conv: NetworkSpec = {
      inputShape: [1, 1, 1],
      layers: [{ type: 'conv', inChannels: 1, outChannels: 1, kernel: [k, k], pads: [k - 1, k - 1, k - 1, k - 1], weights: new Float32Array(k * k) },
        { type: 'relu' }, { type: 'globalavgpool' }, { type: 'flatten' }, dense(1, 2)],
    };
    expect(thrown(() => loadModelSync(conv)).message).toMatch(/too much work per example/);
  });

  it('rejects negative or fractional pads, zero strides, kernels and dilations, bad groups', () => {
    for (const pads of [[-1, 0, 0, 0], [0.5, 0, 0, 0], [NaN, 0, 0, 0]])
      expect(thrown(() => loadModelSync(cnn({ pads: pads as [number, number, number, number] })))).toBeInstanceOf(RangeError);
    for (const key of ['stride', 'dilation', 'kernel'])
      for (const v of [[0, 1], [1, -1], [1, 1.5], [Infinity, 1]])
        expect(thrown(() => loadModelSync(cnn({ [key]: v })))).toBeInstanceOf(RangeError);
    expect(thrown(() => loadModelSync(cnn({ stride: [1] as never })))).toBeInstanceOf(TypeError);
    for (const groups of [0, 3, -2, 1.5]) badModel(() => loadModelSync(cnn({ groups })));
    badModel(() => loadModelSync(cnn({ kernel: [6, 6], weights: f32(144) })));
    badModel(() => loadModelSync({ inputShape: [2, 5, 5], layers: [{ type: 'maxpool', kernel: [2, 2], pads: [2, 0, 0, 0] }, { type: 'relu' }, { type: 'flatten' }, dense(12, 2)] }));
    badModel(() => loadModelSync({ inputShape: [2, 5, 5], layers: [{ type: 'maxpool', kernel: [9, 9] }, { type: 'relu' }, { type: 'flatten' }, dense(2, 2)] }));
  });

  it('rejects cycles, forward and dangling edges, unused outputs', () => {
    const withInputs = (inputs: unknown): LayerSpec[] => [dense(4, 4), { type: 'relu' }, { type: 'add', inputs } as LayerSpec, dense(4, 3)];
    for (const inputs of [[1, 2], [1, 3], [2, 2], [1, -2], [1, 0.5], [1, NaN], [1, '0']]) badModel(() => loadModelSync(withInputs(inputs)));
    expect(thrown(() => loadModelSync(withInputs('0,1')))).toBeInstanceOf(TypeError);
    badModel(() => loadModelSync(withInputs([1])));
    badModel(() => loadModelSync([dense(4, 4), { type: 'relu', inputs: [1] } as LayerSpec, dense(4, 3)]));
    badModel(() => loadModelSync([dense(4, 4), { type: 'relu' }, { ...dense(4, 3), inputs: [0] } as LayerSpec]));
  });

  it('rejects a missing or malformed last layer, no ReLU, unknown layer types, bad BatchNorm', () => {
    badModel(() => loadModelSync([dense(4, 4), { type: 'relu' }]));
    badModel(() => loadModelSync([dense(4, 4), { type: 'relu' }, dense(4, 1)]));
    badModel(() => loadModelSync([dense(4, 4), dense(4, 3)]));
    expect(thrown(() => loadModelSync({ inputShape: [4], layers: [] }))).toBeDefined();
    expect((thrown(() => loadModelSync({ inputShape: [4], layers: [{ type: 'lstm' } as never] })) as PathwiseError).code).toBe('PATHWISE_UNSUPPORTED_OP');
    for (const layer of [null, 42, 'relu', undefined])
      expect(thrown(() => loadModelSync({ inputShape: [4], layers: [layer as never, dense(4, 3)] }))).toBeInstanceOf(TypeError);
    const bn = (variance: number, epsilon: number): LayerSpec => ({
      type: 'batchnorm', scale: f32(4), bias: f32(4), mean: f32(4), variance: new Float32Array(4).fill(variance), epsilon,
    });
    for (const [v, eps] of [[0, 0], [-1, 0.5], [NaN, 1e-5]]) badModel(() => loadModelSync([dense(4, 4), bn(v, eps), { type: 'relu' }, dense(4, 3)]));
    expect(thrown(() => loadModelSync([dense(4, 4), bn(1, -1), { type: 'relu' }, dense(4, 3)]))).toBeInstanceOf(RangeError);
    badModel(() => loadModelSync({ inputShape: [2, 2], layers: [{ type: 'reshape', shape: [3] }, { type: 'relu' }, dense(3, 2)] }));
  });

  it('rejects bad sources and options', () => {
    for (const source of [undefined, null, 42, {}, { layers: 'x' }, new Float32Array(4)])
      expect(thrown(() => loadModelSync(source as never))).toBeInstanceOf(TypeError);
    expect(thrown(() => loadModelSync(mlp(), null as never))).toBeInstanceOf(TypeError);
    for (const bytes of [new Uint8Array(0), new Uint8Array([0xff, 0xff, 0xff]), new Uint8Array(1000).fill(0x0a)]) badModel(() => loadModelSync(bytes));
  });
});

describe('error classes', () => {
  it('throws the engine\'s model, memory and runtime errors as PathwiseError', async () => {
    // Regression: errors raised in the addon reached users as plain Errors with a code, so
    // `instanceof PathwiseError` (the README's documented class) was false for them.
    const nan = mlp();
    (nan[0] as { weights: Float32Array }).weights[0] = NaN;
    const cases: [() => unknown, string][] = [
      [() => loadModelSync(nan), 'PATHWISE_BAD_MODEL'],
      [() => loadModelSync(cnn({ pads: [2 ** 20, 0, 0, 0] })), 'PATHWISE_BAD_MODEL'],
      [() => explainSync(loadModelSync(mlp()), f32(4), { maxMemoryBytes: 16 }), 'PATHWISE_MEMORY_LIMIT'],
      [() => explainBatchSync(loadModelSync(mlp()), f32(8), { maxMemoryBytes: 16 }), 'PATHWISE_MEMORY_LIMIT'],
    ];
    for (const [fn, code] of cases) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(PathwiseError);
      expect(e.name).toBe('PathwiseError');
      expect((e as PathwiseError).code).toBe(code);
    }
    const model = loadModelSync(mlp());
    await expect(explain(model, f32(4), { maxMemoryBytes: 16 })).rejects.toBeInstanceOf(PathwiseError);
    await expect(explain(model, f32(4), { maxMemoryBytes: 16 })).rejects.toMatchObject({ code: 'PATHWISE_MEMORY_LIMIT' });
  });
});

describe('ONNX pools', () => {
  /** x [N, 1, 1, 1] → MaxPool → Relu → Flatten → Gemm → y [N, 2]: a 300-byte model. */
  const pooled = (kernel: number[], pads: number[]) => buildModel({
    input: { name: 'x', shape: ['N', 1, 1, 1] }, output: { name: 'y', shape: ['N', 2] },
    nodes: [node('MaxPool', 'pool', ['x'], ['h'], { kernel_shape: { ints: kernel }, pads: { ints: pads }, strides: { ints: [1, 1] } }),
      node('Relu', 'relu', ['h'], ['a']), node('Flatten', 'flat', ['a'], ['f']), gemm('fc', 'f', 'W', undefined, 'y', { transB: 1 })],
    initializers: [floatTensor('W', [2, 1], [1, 2])],
  });

  it('rejects a pool window beyond the engine\'s limit at once, without sweeping it', () => {
    // Regression: the loader checked that every window sees the input with a loop over every
    // output position and kernel tap — kernel 2^20 with pads 2^20 − 1 hung it (2^40 steps), and
    // kernel 2^40 forever.
    for (const k of [2 ** 16 + 1, 2 ** 20, 2 ** 40]) {
      const t0 = performance.now();
      const e = thrown(() => parseOnnx(pooled([k, 1], [k - 1, 0, k - 1, 0])));
      expect((e as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');
      expect(e.message).toMatch(/window geometry out of range/);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    // At the limit the check is O(1) per output position.
    const t0 = performance.now();
    // (The pool passes: 65536 outputs, which then do not chain into the 1-input Gemm.)
    expect(() => parseOnnx(pooled([2 ** 16, 1], [2 ** 16 - 1, 0, 2 ** 16 - 1, 0]))).toThrow(/Gemm at node "fc" expects 1 input/);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(() => parseOnnx(pooled([2, 1], [2, 0, 0, 0]))).toThrow(/entirely in the padding/);
  });
});

describe('ONNX BatchNormalization', () => {
  it('rejects a negative or NaN epsilon as a bad model (found by the ONNX fuzz: it surfaced as a RangeError from the layer specs)', () => {
    const bn = (epsilon: number) => buildModel({
      input: { name: 'x', shape: ['N', 2, 3, 3] }, output: { name: 'y', shape: ['N', 2] },
      nodes: [node('BatchNormalization', 'bn', ['x', 's', 'b', 'm', 'v'], ['h'], { epsilon: { float: epsilon } }),
        node('Relu', 'relu', ['h'], ['a']), node('Flatten', 'flat', ['a'], ['f']), gemm('fc', 'f', 'W', undefined, 'y', { transB: 1 })],
      initializers: [floatTensor('s', [2], [1, 1]), floatTensor('b', [2], [0, 0]), floatTensor('m', [2], [0, 0]),
        floatTensor('v', [2], [4, 4]), floatTensor('W', [2, 18], new Float32Array(36).fill(0.1))],
    });
    expect(parseOnnx(bn(1e-5)).layers[0]).toMatchObject({ type: 'batchnorm' });
    for (const epsilon of [-1, -1e-5, NaN]) {
      const e = thrown(() => parseOnnx(bn(epsilon)));
      expect((e as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');
      expect(e.message).toMatch(/BatchNormalization at node "bn" has epsilon/);
    }
  });
});

describe('explain arguments (public API)', () => {
  const model = loadModelSync([dense(8, 16), { type: 'relu' }, dense(16, 12), { type: 'relu' }, dense(12, 4)]);
  const x = f32(8);

  it('rejects wrong input types and lengths, non-finite values', () => {
    for (const input of [undefined, null, 'abc', 42, {}, new DataView(new ArrayBuffer(32)), new BigInt64Array(8), [1, 2, 3, 4, 5, 6, 7, '8']])
      expect(thrown(() => explainSync(model, input as never))).toBeInstanceOf(TypeError);
    for (const input of [new Float32Array(0), new Float32Array(7), new Float32Array(9), new Float32Array(16)])
      expect(thrown(() => explainSync(model, input))).toBeInstanceOf(RangeError);
    for (const v of [NaN, Infinity, -Infinity]) {
      const bad = x.slice();
      bad[7] = v;
      expect(thrown(() => explainSync(model, bad))).toBeInstanceOf(RangeError);
      expect(thrown(() => explainBatchSync(model, [...x, ...bad]))).toBeInstanceOf(RangeError);
    }
    // A detached buffer reads as an empty array.
    const detached = x.slice();
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(thrown(() => explainSync(model, detached))).toBeInstanceOf(RangeError);
    for (const inputs of [new Float32Array(12), new Float32Array(0)]) expect(thrown(() => explainBatchSync(model, inputs))).toBeInstanceOf(RangeError);
  });

  it('rejects every out-of-range option value', () => {
    const range: Record<string, unknown[]> = {
      width: [0, -1, 2 ** 53, 1.5, NaN, Infinity, '0%', '101%', '1e3%', 'NaN%', ' %', 'all ', ''],
      depth: [0, 3, -1, 1.5, NaN, Infinity, 2 ** 53],
      target: [-1, 4, 1.5, NaN, Infinity],
      threshold: [1, -0.1, NaN, Infinity, -Infinity],
      maxMemoryBytes: [0, -1, 1.5, NaN, Infinity, 2 ** 53],
      semantics: ['Official', '', 'exact'],
      region: [[1, 0], new Float32Array(8).fill(2), new Float32Array(8).fill(NaN), new Float32Array(9)],
      decompose: [{ by: 'units' }, { by: { top: 0 } }, { by: { top: 1.5 } }, { by: 'unit', layer: 2 }, { by: 'unit', layer: -1 }],
      widht: [3],
    };
    for (const [key, values] of Object.entries(range))
      for (const v of values) expect(thrown(() => explainSync(model, x, { [key]: v } as never)), `${key}: ${String(v)}`).toBeInstanceOf(RangeError);
    const type: Record<string, unknown[]> = {
      width: [{}, null, [3], true],
      depth: ['2', null, {}],
      target: ['1', null, [1]],
      threshold: ['0.5', null],
      maxMemoryBytes: ['1GB', null, 10n],
      decompose: [null, 'unit', 3],
      region: [null, 'abc', 5],
      semantics: [1, null, ['official']],
    };
    for (const [key, values] of Object.entries(type))
      for (const v of values) expect(thrown(() => explainSync(model, x, { [key]: v } as never)), `${key}: ${String(v)}`).toBeInstanceOf(TypeError);
    expect(thrown(() => explainSync(model, x, null as never))).toBeInstanceOf(TypeError);
    expect(thrown(() => explainSync(model, x, 'width' as never))).toBeInstanceOf(TypeError);
    expect(thrown(() => explainSync(model, x, { targets: [0] } as never))).toBeInstanceOf(RangeError);
    const two = new Float32Array(16);
    for (const targets of [[0], [0, 1, 2], [0, 4], [0, -1], [0, 0.5]])
      expect(thrown(() => explainBatchSync(model, two, { targets })), JSON.stringify(targets)).toBeInstanceOf(RangeError);
    expect(thrown(() => explainBatchSync(model, two, { targets: [0, '1'] as never }))).toBeInstanceOf(TypeError);
    expect(thrown(() => explainBatchSync(model, two, { regions: [new Float32Array(8)] }))).toBeInstanceOf(RangeError);
    expect(thrown(() => explainBatchSync(model, two, { regions: new Float32Array(16) as never }))).toBeInstanceOf(TypeError);
  });

  it('rejects bad regions on an image input', () => {
    const img = loadModelSync(cnn({}));
    const xi = f32(50);
    for (const region of [{ x: 0, y: 0, width: 6, height: 1 }, { x: -1, y: 0, width: 1, height: 1 }, { x: 0, y: 0, width: 0, height: 1 },
      { x: 0.5, y: 0, width: 1, height: 1 }, { x: 4, y: 4, width: 2, height: 2 }, { x: 2 ** 53, y: 0, width: 1, height: 1 }])
      expect(thrown(() => explainSync(img, xi, { region })), JSON.stringify(region)).toBeInstanceOf(RangeError);
    expect(thrown(() => explainSync(img, xi, { region: new Float32Array(24) }))).toBeInstanceOf(RangeError);
    expect(explainSync(img, xi, { region: { x: 1, y: 1, width: 2, height: 2 } }).regionAttribution).toHaveLength(50);
  });

  it('rejects async misuse with a rejected promise, never a synchronous crash', async () => {
    await expect(explain(model, new Float32Array(3))).rejects.toThrow(RangeError);
    await expect(explain(model, x, { depth: 9 })).rejects.toThrow(RangeError);
    await expect(explain(model, x, { width: {} as never })).rejects.toThrow(TypeError);
    await expect(explain(model, x, { maxMemoryBytes: 16 })).rejects.toMatchObject({ code: 'PATHWISE_MEMORY_LIMIT' });
  });
});

describe('native addon boundary (called directly, bypassing lib/)', () => {
  const addon = nativeAddon();
  const Net = addon.NativeNetwork;
  const layers = (): NativeLayer[] => [
    { kind: 'dense', inShape: [4, 1, 1], out: 4, weights: f32(16), bias: f32(4) },
    { kind: 'relu', inShape: [4, 1, 1] },
    { kind: 'dense', inShape: [4, 1, 1], out: 3, weights: f32(12) },
  ];
  const opts = { widthMode: 'all', depth: 0 } as const;
  const net = new Net([4, 1, 1], layers());
  const x = f32(4);

  it('builds the valid network and explains it', () => {
    expect(unpackResults(net.explainSync(x, 1, opts))).toHaveLength(1);
    expect(net.forward(x, 1)).toHaveLength(3);
  });

  it('rejects malformed constructor arguments', () => {
    const cases: unknown[][] = [
      [], [[4, 1, 1]], [[4, 1], layers()], [[4, 1, 1, 1], layers()], ['4', layers()], [[4, 1, -1], layers()], [[4, 1, 1.5], layers()],
      [[4, 1, NaN], layers()], [[4, 1, 2 ** 60], layers()], [[0, 1, 1], layers()], [[4, 1, 1], 'layers'], [[4, 1, 1], [null]],
      [[4, 1, 1], [...layers().slice(0, 2), { ...layers()[2], kind: 'lstm' }]],
      [[4, 1, 1], [{ ...layers()[0], weights: Array.from(f32(16)) }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], weights: new Float64Array(16) }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], weights: f32(15) }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], bias: f32(5) }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], out: -4 }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], out: 2 ** 62 }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: [0] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: [-2] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: [2 ** 40] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: [0.5] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: 'x' }, ...layers().slice(1)]],
      [[4, 1, 1], [{ ...layers()[0], inputs: [-1, -1] }, ...layers().slice(1)]],
      [[4, 1, 1], [layers()[0], { kind: 'add', inShape: [4, 1, 1], inputs: [0, 5] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'conv', inShape: [4, 1, 1], out: 2, weights: f32(8), kernel: [1, 1], stride: [0, 1] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'conv', inShape: [4, 1, 1], out: 2, weights: f32(8), kernel: [1, 1], pads: [1, 1, 1] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'conv', inShape: [4, 1, 1], out: 2, weights: f32(8), kernel: [1, 1], groups: 0 }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'conv', inShape: [4, 1, 1], out: 2, weights: f32(8), kernel: [1, 1], dilation: [1, 2 ** 40] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'maxpool', inShape: [4, 1, 1], kernel: [1, 1], pads: [1, 0, 0, 0] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'maxpool', inShape: [4, 1, 1], kernel: [2 ** 20, 1] }, ...layers().slice(1)]],
      [[4, 1, 1], [{ kind: 'affine', inShape: [4, 1, 1], weights: f32(4) }, ...layers().slice(1)]],
      [[4, 1, 1], [...layers().slice(0, 2), { ...layers()[2], weights: new Float32Array(12).fill(Infinity) }]],
    ];
    for (const args of cases) thrown(() => new (Net as unknown as new (...a: unknown[]) => unknown)(...args));
  });

  it('rejects malformed call arguments', () => {
    const calls: [string, unknown[]][] = [
      ['forward', []], ['forward', [x]], ['forward', [x, 2]], ['forward', [x, 0]], ['forward', [x, -1]], ['forward', [x, 1.5]],
      ['forward', [x, NaN]], ['forward', [Array.from(x), 1]], ['forward', [new Float64Array(4), 1]], ['forward', [x, '1']],
      ['explainSync', [x, 1]], ['explainSync', [x, 1, null]], ['explainSync', [x, 1, {}]], ['explainSync', [x, 1, { widthMode: 'some', depth: 0 }]],
      ['explainSync', [x, 1, { widthMode: 'count', depth: 0 }]], ['explainSync', [x, 1, { widthMode: 'count', widthValue: NaN, depth: 0 }]],
      ['explainSync', [x, 1, { widthMode: 'count', widthValue: 0, depth: 0 }]], ['explainSync', [x, 1, { widthMode: 'count', widthValue: 1.5, depth: 0 }]],
      ['explainSync', [x, 1, { widthMode: 'percent', widthValue: 0, depth: 0 }]], ['explainSync', [x, 1, { widthMode: 'percent', widthValue: 1e300, depth: 0 }]],
      ['explainSync', [x, 1, { ...opts, depth: 2 }]], ['explainSync', [x, 1, { ...opts, depth: -1 }]], ['explainSync', [x, 1, { ...opts, depth: 1e300 }]],
      ['explainSync', [x, 1, { ...opts, semantics: 'exact' }]], ['explainSync', [x, 1, { ...opts, threshold: NaN }]], ['explainSync', [x, 1, { ...opts, threshold: 1 }]],
      ['explainSync', [x, 1, { ...opts, targets: [0] }]], ['explainSync', [x, 1, { ...opts, targets: new Int32Array([3]) }]],
      ['explainSync', [x, 1, { ...opts, targets: new Int32Array([-1]) }]], ['explainSync', [x, 1, { ...opts, targets: new Int32Array(2) }]],
      ['explainSync', [x, 1, { ...opts, region: new Float32Array(3) }]], ['explainSync', [x, 1, { ...opts, region: [1, 1, 1, 1] }]],
      ['explainSync', [x, 1, { ...opts, decompose: { by: 'x' } }]], ['explainSync', [x, 1, { ...opts, decompose: { by: 'top', top: 0 } }]],
      ['explainSync', [x, 1, { ...opts, decompose: { by: 'unit', layer: 1 } }]], ['explainSync', [x, 1, { ...opts, decompose: 'unit' }]],
      ['explainSync', [x, 1, { ...opts, maxMemoryBytes: -1 }]], ['explainSync', [x, 1, { ...opts, maxMemoryBytes: 8 }]],
      ['explain', [x, 2, opts]], ['explain', [x, 1, { ...opts, depth: 5 }]], ['explain', [x, 1, null]],
    ];
    for (const [method, args] of calls)
      thrown(() => (net as unknown as Record<string, (...a: unknown[]) => unknown>)[method](...args));
    thrown(() => addon.gemmWithKernel('none', false, 1, 1, 1, f32(1), f32(1)));
    // Regression: m × k and k × n wrapped to 0, so empty arrays passed for m = n = k = 2^32.
    thrown(() => addon.gemmWithKernel('scalar', false, 2 ** 32, 2 ** 32, 2 ** 32, f32(0), f32(0)));
    thrown(() => addon.gemmWithKernel('scalar', true, 2 ** 32, 2 ** 32, 2 ** 32, f32(0), f32(0)));
    thrown(() => addon.gemmWithKernel('scalar', false, 2, 1, 1, f32(1), f32(1)));
  });

  it('rejects a batch size whose product with the input size wraps around', () => {
    // Regression: the length check compared x.length with n × inputSize in 64-bit arithmetic, so
    // n = 2^52 + 1 with inputSize 4096 passed as "one example": explain failed to allocate 2^52
    // results, and forward (with a wide first layer) wrote far past its output buffer for minutes.
    const d = 4096;
    const wide = new Net([d, 1, 1], [
      { kind: 'dense', inShape: [d, 1, 1], out: 2, weights: new Float32Array(2 * d) },
      { kind: 'relu', inShape: [2, 1, 1] },
      { kind: 'dense', inShape: [2, 1, 1], out: 2, weights: new Float32Array(4) },
    ]);
    const one = new Float32Array(d);
    for (const n of [2 ** 52 + 1, 2 ** 51 + 1, 2 ** 53 - 1]) {
      expect(thrown(() => wide.forward(one, n))).toBeInstanceOf(RangeError);
      expect(thrown(() => wide.explainSync(one, n, opts))).toBeInstanceOf(RangeError);
      expect(thrown(() => wide.explain(one, n, opts))).toBeInstanceOf(RangeError);
    }
    expect(wide.forward(one, 1)).toHaveLength(2);
  });

  it('takes data pointers only after every getter has run (a getter may detach a buffer)', () => {
    // Regression: the constructor kept layer 0's weight pointer while a getter on layer 2 detached
    // its buffer (use after free: a segfault); explainSync read the input after the options'
    // getters had detached it.
    const detach = (a: Float32Array) => structuredClone(a.buffer, { transfer: [a.buffer as ArrayBuffer] });
    const w0 = f32(16);
    const evil = [
      { kind: 'dense', inShape: [4, 1, 1], out: 4, weights: w0 },
      { kind: 'relu', inShape: [4, 1, 1] },
      { kind: 'dense', inShape: [4, 1, 1], out: 3, weights: f32(12), get name() { detach(w0); return 'evil'; } },
    ];
    expect((thrown(() => new Net([4, 1, 1], evil as NativeLayer[])) as PathwiseError).code).toBe('PATHWISE_BAD_MODEL');
    for (const method of ['explainSync', 'explain'] as const) {
      const input = f32(4);
      const options = { widthMode: 'all', get depth() { detach(input); return 0; } };
      expect(thrown(() => net[method](input, 1, options as never))).toBeInstanceOf(RangeError);
    }
    const region = f32(4).fill(1);
    const options = { widthMode: 'all', depth: 0, region, get threshold() { detach(region); return undefined; } };
    expect(unpackResults(net.explainSync(f32(4), 1, options as never))[0].regionAttribution).toHaveLength(4); // copied before the getter ran
  });
});

describe('memory estimate', () => {
  it('does not wrap around for a network of legal sizes that needs more than 2^64 bytes', () => {
    // Regression: a last conv padded to 35212 × 35212 "classes" (1.24e9 < 2^31, legal) needs
    // 4 · (3 · C² + …) bytes, which wrapped to ~1 PB and passed maxMemoryBytes = 2^53 − 1; explain
    // then started allocating the 5 GB forward before failing for lack of memory.
    const one = new Float32Array([1]);
    const model = loadModelSync({ inputShape: [1, 1, 1], layers: [
      { type: 'conv', inChannels: 1, outChannels: 1, kernel: [1, 1], weights: one },
      { type: 'relu' },
      { type: 'conv', inChannels: 1, outChannels: 1, kernel: [1, 1], pads: [17606, 17606, 17605, 17605], weights: one },
    ] });
    expect(model.numClasses).toBe(35212 * 35212);
    // All C rows at once would need 2^64 bytes (saturated, so it does not fit); one class at a
    // time still needs ~10 GB for the cached activations, above an 8 GiB bound.
    const e = thrown(() => explainSync(model, [1], { maxMemoryBytes: 2 ** 33 }));
    expect((e as PathwiseError).code).toBe('PATHWISE_MEMORY_LIMIT');
    expect(e.message).toMatch(/even one class at a time/);
  });
});
