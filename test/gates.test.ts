// Gates beyond ReLU (docs/semantics.md "Gates beyond ReLU"): clip (ReLU6, Hardtanh), LeakyReLU,
// PReLU (per channel and shared) and a thresholded gate with lowerValue ≠ lower, on random small
// MLPs and CNNs (MaxPool, residual add), checked against the float64 oracle (test/oracle/forward-ref.ts)
// and against a plain-loop implementation of the 'official' definition at depth 1; ReLU written as
// a gate must give ReLU's bits.
import { describe, it, expect, afterAll } from 'vitest';
import {
  loadModelSync, explainSync, attributeSync, unwrapSync, type Explanation, type LayerSpec, type NetworkSpec,
} from '../lib/index.js';
import { nativeAddon, type NativeLayer } from '../lib/addon/native.js';
import { referenceTrace, referenceVjp } from './oracle/forward-ref.js';
import { uniformRand } from './helpers/small-models.js';

type GateMaker = (channels: number) => LayerSpec;

const GATES: Record<string, GateMaker> = {
  relu6: () => ({ type: 'clip', min: 0, max: 6 }),
  hardtanh: () => ({ type: 'clip', min: -1, max: 1 }),
  leakyrelu: () => ({ type: 'leakyrelu', alpha: 0.1 }),
  preluChannel: (c) => ({ type: 'prelu', slope: Float32Array.from({ length: c }, (_, i) => 0.05 + 0.07 * (i % 5)) }),
  preluShared: () => ({ type: 'prelu', slope: Float32Array.of(0.2) }),
  threshold: () => ({ type: 'gate', lower: 0.3, upper: 4, slope: 0.15, lowerValue: -0.2 }),
};
const GATE_TYPES = new Set(['relu', 'gate', 'clip', 'leakyrelu', 'prelu']);

/** [12] → dense 16 → gate → dense 10 → gate → dense 4. */
function gateMlp(gate: GateMaker, seed: number, hiddenBias = 0): NetworkSpec {
  const rand = uniformRand(seed);
  const f = (n: number, scale: number, shift = 0) => new Float32Array(n).map(() => rand() * scale + shift);
  return {
    inputShape: [12],
    layers: [
      { type: 'dense', in: 12, out: 16, weights: f(192, 0.8), bias: f(16, 0.3) },
      gate(16),
      { type: 'dense', in: 16, out: 10, weights: f(160, 0.6), bias: f(10, 0.3, hiddenBias) },
      gate(10),
      { type: 'dense', in: 10, out: 4, weights: f(40, 0.8), bias: f(4, 0.2) },
    ],
  };
}

/** [2, 8, 8] → conv → gate → maxpool → conv → gate → add (residual) → gate → dense 12 → gate → dense 5. */
function gateCnn(gate: GateMaker, seed: number): NetworkSpec {
  const rand = uniformRand(seed);
  const f = (n: number, scale: number) => new Float32Array(n).map(() => rand() * scale);
  return {
    inputShape: [2, 8, 8],
    layers: [
      { type: 'conv', inChannels: 2, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(72, 0.9), bias: f(4, 0.2) },
      gate(4),
      { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
      { type: 'conv', inChannels: 4, outChannels: 4, kernel: [3, 3], pads: [1, 1, 1, 1], weights: f(144, 0.5), bias: f(4, 0.2) },
      gate(4),
      { type: 'add', inputs: [4, 2] },
      gate(4),
      { type: 'flatten' },
      { type: 'dense', in: 64, out: 12, weights: f(768, 0.4), bias: f(12, 0.2) },
      gate(12),
      { type: 'dense', in: 12, out: 5, weights: f(60, 0.6), bias: f(5, 0.1) },
    ],
  };
}

function inputsFor(spec: NetworkSpec, n: number, seed: number, scale: number): Float32Array[] {
  const rand = uniformRand(seed);
  const size = spec.inputShape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => new Float32Array(size).map(() => rand() * scale));
}

const MODELS = Object.entries(GATES).flatMap(([name, gate], g) => [
  { name: `mlp/${name}`, spec: gateMlp(gate, 11 + g), scale: 3 },
  { name: `cnn/${name}`, spec: gateCnn(gate, 31 + g), scale: 2.5 },
]);

function sumCheck(ex: Explanation): number {
  let s = ex.bias, abs = Math.abs(ex.bias);
  for (const a of ex.attribution) { s += a; abs += Math.abs(a); }
  return Math.abs(s - ex.pathLogit) / Math.max(abs, 1e-3);
}

/** Whether some gate's pre-activation at x lies within float32 rounding of one of its breakpoints. */
function nearBreakpoint(spec: NetworkSpec, x: Float32Array): boolean {
  const t = referenceTrace(spec, x);
  return spec.layers.some((layer, i) => {
    if (!GATE_TYPES.has(layer.type)) return false;
    const src = t.sources[i][0];
    const z = src < 0 ? t.input : t.values[src];
    const bounds = layer.type === 'gate' ? [layer.lower ?? 0, layer.upper ?? Infinity]
      : layer.type === 'clip' ? [layer.min ?? -Infinity, layer.max ?? Infinity] : [0];
    return Array.from(z).some((v) => bounds.some((b) => Number.isFinite(b) && Math.abs(v - b) <= 1e-5 * Math.max(1, Math.abs(v))));
  });
}

const report: string[] = [];
afterAll(() => { if (report.length) console.log(`gates: ${report.join('; ')}`); });

describe('gates: completeness and the oracle', () => {
  it('saturates some units (the clip inputs reach both bounds)', () => {
    for (const { name, spec, scale } of MODELS.filter((m) => m.name.includes('relu6') || m.name.includes('hardtanh'))) {
      let upper = 0;
      const bound = name.includes('relu6') ? 6 : 1;
      for (const x of inputsFor(spec, 4, 7, scale)) {
        const t = referenceTrace(spec, x);
        spec.layers.forEach((l, i) => { if (l.type === 'clip') upper += t.values[i].filter((v) => v === bound).length; });
      }
      expect(upper, name).toBeGreaterThan(0);
    }
  });

  it('Σ attribution + bias = pathLogit for every gate, both semantics, several depths and widths', () => {
    let worst = 0, runs = 0;
    for (const { name, spec, scale } of MODELS) {
      const model = loadModelSync(spec);
      const depths = model.gateLayers.length;
      for (const x of inputsFor(spec, 3, 5, scale))
        for (const semantics of ['official', 'linear'] as const)
          for (const depth of [1, 2, 'all'] as const)
            for (const width of ['all', 3] as const) {
              const ex = explainSync(model, x, { semantics, depth: depth === 'all' ? depth : Math.min(depth, depths), width });
              const r = sumCheck(ex);
              worst = Math.max(worst, r);
              runs++;
              expect(r, `${name} ${semantics} depth ${depth} width ${width}`).toBeLessThanOrEqual(1e-4);
            }
      model.dispose();
    }
    report.push(`completeness ${runs} explanations, worst relative ${worst.toExponential(2)}`);
  });

  it("'linear', width and depth 'all', threshold 0: attribution = gradient × input, pathLogit = the logit", () => {
    let values = 0, differing = 0, nearInputs = 0;
    for (const { name, spec, scale } of MODELS) {
      const model = loadModelSync(spec);
      for (const x of inputsFor(spec, 4, 9, scale)) {
        const ex = explainSync(model, x, { semantics: 'linear', depth: 'all', width: 'all', threshold: 0 });
        const onehot = new Float64Array(model.numClasses);
        onehot[ex.target] = 1;
        const grad = referenceVjp(spec, x, onehot);
        const logit = referenceTrace(spec, x).values.at(-1)![ex.target];
        let scaleA = 0;
        for (let i = 0; i < x.length; i++) scaleA = Math.max(scaleA, Math.abs(grad[i] * x[i]));
        let bad = 0;
        for (let i = 0; i < x.length; i++) if (Math.abs(ex.attribution[i] - grad[i] * x[i]) > 1e-4 * scaleA + 1e-7) bad++;
        const logitOk = Math.abs(ex.pathLogit - logit) <= 1e-4 * Math.max(1, Math.abs(logit)) && Math.abs(ex.pathLogit - ex.logits[ex.target]) <= 1e-4 * Math.max(1, Math.abs(logit));
        values += x.length;
        if (bad > 0 || !logitOk) {
          const near = nearBreakpoint(spec, x);
          expect(near, `${name}: ${bad} attribution values differ away from any breakpoint`).toBe(true);
          nearInputs++;
          differing += bad;
        }
      }
      model.dispose();
    }
    expect(differing).toBeLessThanOrEqual(0.005 * values);
    report.push(`unwrap identity: ${differing} of ${values} attribution values differ (${nearInputs} inputs near a breakpoint)`);
  });
});

/** docs/semantics.md's 'official' at depth 1 on gateMlp, in plain float64 loops. */
function officialDepth1(spec: NetworkSpec, x: Float32Array, threshold: number) {
  const [d0, , d1, , d2] = spec.layers as [Extract<LayerSpec, { type: 'dense' }>, LayerSpec, Extract<LayerSpec, { type: 'dense' }>, LayerSpec, Extract<LayerSpec, { type: 'dense' }>];
  const t = referenceTrace(spec, x);
  const s0 = t.routes[1] as Float64Array, s1 = t.routes[3] as Float64Array;
  const z1 = t.values[2], h1 = t.values[3], logits = t.values[4];
  const C = d2.out, N = d1.out;
  let target = 0;
  for (let j = 1; j < C; j++) if (logits[j] > logits[target]) target = j;
  const scores = new Float64Array(N), identical: boolean[] = [];
  for (let i = 0; i < N; i++) {
    const a = Array.from({ length: C }, (_, j) => h1[i] * d2.weights[j * N + i]);
    identical.push(a.every((v) => v === a[0]));
    const m = Math.max(...a);
    const sum = a.reduce((acc, v) => acc + Math.exp(v - m), 0);
    scores[i] = identical[i] ? 1 / C : Math.exp(a[target] - m) / sum;
  }
  let kept = Array.from({ length: N }, (_, i) => i).filter((i) => !identical[i] && scores[i] > threshold);
  const fallback = kept.length === 0;
  let ambiguous = Array.from(scores).some((v, i) => !identical[i] && Math.abs(v - threshold) < 1e-4);
  if (fallback) {
    const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
    kept = [order[0]];
    ambiguous ||= scores[order[0]] !== scores[order[1]] && scores[order[0]] - scores[order[1]] < 1e-4;
  }
  // The path network: kept units apply their piece (a zero piece passes z), dropped ones output 0.
  const slope = new Float64Array(N), constant = new Float64Array(N);
  for (const i of kept) {
    const c = h1[i] - s1[i] * z1[i];
    slope[i] = s1[i] === 0 && c === 0 ? 1 : s1[i];
    constant[i] = c;
  }
  let pathLogit = d2.bias ? d2.bias[target] : 0;
  const g1 = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    pathLogit += d2.weights[target * N + i] * (slope[i] * z1[i] + constant[i]);
    g1[i] = d2.weights[target * N + i] * slope[i];
  }
  const g0 = new Float64Array(d1.in);
  for (let i = 0; i < N; i++) for (let k = 0; k < d1.in; k++) g0[k] += g1[i] * d1.weights[i * d1.in + k];
  for (let k = 0; k < d1.in; k++) g0[k] *= s0[k];
  const attribution = new Float64Array(d0.in);
  for (let k = 0; k < d0.out; k++) for (let q = 0; q < d0.in; q++) attribution[q] += g0[k] * d0.weights[k * d0.in + q];
  for (let q = 0; q < d0.in; q++) attribution[q] *= x[q];
  return { kept, fallback, ambiguous, attribution, pathLogit, target };
}

describe("gates: 'official' at depth 1 against the definition", () => {
  const cases = [
    ...Object.entries(GATES).map(([name, gate], g) => ({ name, spec: gateMlp(gate, 51 + g), fallbackCase: false })),
    // Every unit of the path layer on ReLU6's zero piece: the fallback unit passes z with slope 1.
    { name: 'relu6 zero-piece fallback', spec: gateMlp(GATES.relu6, 77, -60), fallbackCase: true },
  ];
  for (const { name, spec, fallbackCase } of cases)
    it(`${name}: the same units and attribution`, () => {
      const model = loadModelSync(spec);
      let compared = 0;
      for (const x of inputsFor(spec, 8, 13, 3)) {
        const threshold = 1 / model.numClasses;
        const ref = officialDepth1(spec, x, threshold);
        if (ref.ambiguous) continue;
        const ex = explainSync(model, x, { depth: 1 });
        expect(ex.target).toBe(ref.target);
        expect(Array.from(ex.layers[0].units)).toEqual(ref.kept);
        expect(ex.layers[0].fallback).toBe(ref.fallback);
        let scale = 0;
        for (const v of ref.attribution) scale = Math.max(scale, Math.abs(v));
        for (let i = 0; i < x.length; i++) expect(Math.abs(ex.attribution[i] - ref.attribution[i])).toBeLessThanOrEqual(1e-4 * scale + 1e-7);
        expect(Math.abs(ex.pathLogit - ref.pathLogit)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.pathLogit)));
        if (fallbackCase) {
          expect(ref.fallback).toBe(true);
          expect(scale).toBeGreaterThan(0);
          // 'linear' keeps the piece (slope 0, constant 0): nothing flows.
          const lin = explainSync(model, x, { depth: 1, semantics: 'linear' });
          expect(lin.attribution.every((v) => v === 0)).toBe(true);
        }
        compared++;
      }
      expect(compared).toBeGreaterThan(4);
      model.dispose();
    });
});

describe('gates: decomposition, baselines and unwrap', () => {
  it('decompositions sum to the explanation', () => {
    for (const { name, spec, scale } of MODELS) {
      const model = loadModelSync(spec);
      const x = inputsFor(spec, 1, 21, scale)[0];
      for (const semantics of ['official', 'linear'] as const) {
        const ex = explainSync(model, x, { semantics, depth: 'all', decompose: { by: 'unit' } });
        const dec = ex.decomposition!;
        let contribution = dec.biasAbove, bias = dec.biasAbove, abs = Math.abs(ex.bias);
        for (const a of ex.attribution) abs += Math.abs(a);
        for (const c of dec.components) {
          contribution += c.contribution;
          bias += c.bias;
          let lin = c.bias;
          for (const a of c.attribution) lin += a;
          expect(Math.abs(lin - c.contribution), name).toBeLessThanOrEqual(1e-4 * abs + 1e-6);
        }
        expect(Math.abs(contribution - ex.pathLogit), `${name} ${semantics}`).toBeLessThanOrEqual(1e-4 * abs + 1e-6);
        expect(Math.abs(bias - ex.bias), `${name} ${semantics}`).toBeLessThanOrEqual(1e-4 * abs + 1e-6);
      }
      model.dispose();
    }
  });

  it('saliency is the oracle gradient; unwrap is exact; guided backprop runs', () => {
    for (const { name, spec, scale } of MODELS) {
      const model = loadModelSync(spec);
      const x = inputsFor(spec, 1, 23, scale)[0];
      const sal = attributeSync(model, x, { method: 'saliency' });
      const onehot = new Float64Array(model.numClasses);
      onehot[sal.target] = 1;
      const grad = referenceVjp(spec, x, onehot);
      let g = 0;
      for (const v of grad) g = Math.max(g, Math.abs(v));
      if (!nearBreakpoint(spec, x))
        for (let i = 0; i < x.length; i++) expect(Math.abs(sal.attribution[i] - grad[i]), name).toBeLessThanOrEqual(1e-4 * g + 1e-7);
      const u = unwrapSync(model, x);
      for (let c = 0; c < model.numClasses; c++)
        expect(Math.abs(u.residual[c]), name).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(u.logits[c])));
      const guided = attributeSync(model, x, { method: 'guidedBackprop' });
      expect(guided.attribution.every(Number.isFinite)).toBe(true);
      model.dispose();
    }
  });

  it('refuses one-way paths through a non-ReLU gate, accepts them through ReLU path layers', () => {
    const spec = gateMlp(GATES.leakyrelu, 3);
    const model = loadModelSync(spec);
    const x = inputsFor(spec, 1, 3, 3)[0];
    expect(() => explainSync(model, x, { paths: { k: 3 } })).toThrow(RangeError);
    expect(() => explainSync(model, x, { paths: { k: 3 } })).toThrow(/one-way paths need ReLU path layers/);
    model.dispose();
    const mixed = gateMlp(GATES.leakyrelu, 3);
    mixed.layers[3] = { type: 'relu' };
    const m2 = loadModelSync(mixed);
    expect(explainSync(m2, x, { depth: 1, paths: { k: 3 } }).paths!.items.length).toBeGreaterThan(0);
    m2.dispose();
  });
});

describe('gates: ReLU written as a gate is ReLU, bit for bit', () => {
  const bits = (a: ArrayLike<number>) => Buffer.from(Float64Array.from(a).buffer).toString('base64');
  const fingerprint = (ex: Explanation) => JSON.stringify({
    a: bits(ex.attribution), w: bits(ex.weights), b: ex.bias, p: bits(ex.pathLogits),
    layers: ex.layers.map((l) => [Array.from(l.units), bits(l.scores), l.fallback]),
    dec: ex.decomposition?.components.map((c) => [c.units, bits(c.attribution), c.bias, c.contribution]),
    paths: ex.paths?.items.map((p) => [p.units, p.contribution, p.bias, bits(p.weights)]),
    recomputes: ex.stats.recomputes,
  });
  const asGate = (spec: NetworkSpec, gate: LayerSpec): NetworkSpec => ({
    ...spec, layers: spec.layers.map((l) => (GATE_TYPES.has(l.type) ? { ...gate } : l)),
  });
  const reluMlp = asGate(gateMlp(GATES.relu6, 5), { type: 'relu' });
  const reluCnn = asGate(gateCnn(GATES.relu6, 6), { type: 'relu' });
  for (const [name, base] of [['mlp', reluMlp], ['cnn', reluCnn]] as const)
    it(`${name}: { type: 'gate' } and { type: 'clip', min: 0 } give relu's results`, () => {
      const variants = [base, asGate(base, { type: 'gate' }), asGate(base, { type: 'clip', min: 0 })];
      const models = variants.map((s) => loadModelSync(s));
      expect(models.map((m) => m.gateLayers[0].kind)).toEqual(['relu', 'gate', 'clip']);
      expect(models[0].reluLayers).toBe(models[0].gateLayers);
      const xs = inputsFor(base, 3, 17, 2);
      const run = (m: (typeof models)[number]) => xs.map((x) => [
        ...(['official', 'linear'] as const).flatMap((semantics) => [
          fingerprint(explainSync(m, x, { semantics })),
          fingerprint(explainSync(m, x, { semantics, depth: 2, width: 3, decompose: { by: 'unit' } })),
          fingerprint(explainSync(m, x, { semantics, depth: 2, paths: { k: 4 } })),
        ]),
        bits(m.forward(x)),
        ...(['saliency', 'guidedBackprop', 'integratedGradients'] as const).map((method) => bits(attributeSync(m, x, { method }).attribution)),
        bits(unwrapSync(m, x).weights) + bits(unwrapSync(m, x).bias),
      ].join('\n'));
      const expected = run(models[0]);
      for (const m of models.slice(1)) expect(run(m)).toEqual(expected);
      for (const m of models) m.dispose();
    });
});

describe('gates: parameters', () => {
  const withGate = (gate: unknown) => gateMlp(() => gate as LayerSpec, 1);
  const bad: [unknown, typeof RangeError | typeof TypeError][] = [
    [{ type: 'clip', min: 2, max: 1 }, RangeError],
    [{ type: 'clip', min: Number.NaN }, RangeError],
    [{ type: 'clip', min: Infinity }, RangeError],
    [{ type: 'clip', max: -Infinity }, RangeError],
    [{ type: 'clip', min: '0' }, TypeError],
    [{ type: 'gate', lower: 1, upper: 0 }, RangeError],
    [{ type: 'gate', slope: Number.NaN }, RangeError],
    [{ type: 'gate', slope: Infinity }, RangeError],
    [{ type: 'gate', slope: new Float32Array(3) }, RangeError],
    [{ type: 'gate', slope: [0.1] }, TypeError],
    [{ type: 'gate', lowerValue: Infinity }, RangeError],
    [{ type: 'gate', upper: 'big' }, TypeError],
    // finite in float64, ±Infinity once stored as float32
    [{ type: 'gate', slope: 1e39 }, RangeError],
    [{ type: 'gate', lowerValue: -1e39 }, RangeError],
    [{ type: 'clip', max: 1e39 }, RangeError],
    [{ type: 'leakyrelu', alpha: 4e38 }, RangeError],
    [{ type: 'leakyrelu', alpha: Number.NaN }, RangeError],
    [{ type: 'leakyrelu' }, TypeError],
    [{ type: 'prelu' }, TypeError],
    [{ type: 'prelu', slope: new Float32Array(5) }, RangeError],
    [{ type: 'prelu', slope: Float32Array.of(Number.NaN) }, RangeError],
  ];
  it('rejects bad parameters with RangeError or TypeError', () => {
    for (const [gate, type] of bad) expect(() => loadModelSync(withGate(gate)), JSON.stringify(gate)).toThrow(type);
  });
  it('the addon checks the gate fields it is given directly (TypeError, RangeError, then the core)', () => {
    const Net = nativeAddon().NativeNetwork;
    const net = (gate: Record<string, unknown>) => () => new Net([4, 1, 1], [
      { kind: 'dense', inShape: [4, 1, 1], out: 4, weights: new Float32Array(16), bias: new Float32Array(4) },
      { kind: 'relu', inShape: [4, 1, 1], ...gate } as NativeLayer,
      { kind: 'dense', inShape: [4, 1, 1], out: 3, weights: new Float32Array(12) },
    ]);
    expect(net({ lower: '0' })).toThrow(TypeError);
    expect(net({ upper: Number.NaN })).toThrow(RangeError);
    expect(net({ slope: [0.1] })).toThrow(TypeError);
    expect(net({ slope: new Float32Array(3) })).toThrow(RangeError);
    expect(net({ slope: Float32Array.of(Infinity) })).toThrow(RangeError);
    expect(net({ lower: 2, upper: 1 })).toThrow(/gate bounds/);
    expect(net({ lowerValue: -Infinity })).toThrow(/lower value must be finite/);
    expect(net({ lower: -1, upper: 1, slope: Float32Array.of(0.1, 0.2, 0.3, 0.4), lowerValue: 0.5 })).not.toThrow();
  });

  it('accepts the edge cases the definition allows', () => {
    const ok = [
      { type: 'clip' }, { type: 'clip', min: -Infinity, max: 0 }, { type: 'clip', min: 1, max: 1 },
      { type: 'gate', lower: -Infinity, upper: 2 }, { type: 'prelu', slope: new Float32Array(16).fill(0.3) },
      { type: 'leakyrelu', alpha: -0.5 },
    ];
    for (const gate of ok) {
      const spec = gateMlp((c) => (gate.type === 'prelu' ? { type: 'prelu', slope: new Float32Array(c).fill(0.3) } : gate) as LayerSpec, 2);
      const model = loadModelSync(spec);
      const x = inputsFor(spec, 1, 4, 3)[0];
      expect(sumCheck(explainSync(model, x, { semantics: 'linear' })), JSON.stringify(gate)).toBeLessThanOrEqual(1e-4);
      model.dispose();
    }
  });
});
