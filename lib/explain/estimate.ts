/**
 * estimate(model, options): what one explain call will cost before it runs — FLOPs (cost.ts), the
 * core's working-memory plan, and a predicted time on this machine from a rate measured once per
 * process by explaining a small fixed CNN.
 */
import { Model } from '../model/model.js';
import type { LayerSpec } from '../model/layers.js';
import type { Depth, ExplainBatchOptions } from './types.js';
import { explainFlopsFromMacs } from './cost.js';
import { explainSync, normaliseOptions } from './explain.js';
import { fromNative } from '../errors.js';
import { positiveInteger } from '../validate.js';
import { nativeAddon, type EngineLayer, type NativeEstimate, type NativeExplainOptions } from '../addon/native.js';

export interface EstimateOptions extends Omit<ExplainBatchOptions, 'signal' | 'onProgress'> {
  /** Inputs explained in the call (default 1). */
  batch?: number;
  target?: number;
}

export interface Estimate {
  /** Floating-point operations of the call (docs/method.md §11.1: forward, C-row sweeps above the lowest path layer, masked forward, final VJP). */
  flops: number;
  /** Working memory the engine plans for the call, in bytes (one chunk of examples; what maxMemoryBytes bounds). */
  workingBytes: number;
  /**
   * The call's predicted time: its cost (`flops`, with the C-row sweeps counted as the engine runs
   * them: sparse rows below a path layer scatter only the kept units, and class chunks re-sweep
   * from their checkpoint) over this machine's rate.
   */
  predictedSeconds: number;
  /** The explanation rate this process measured (FLOP/s of the same cost count), once, on its first estimate. */
  machineFlopsPerSecond: number;
  /** Working memory per example and the fixed part, in bytes. */
  bytesPerExample: number;
  /** Classes whose Jacobian rows one step holds (numClasses unless memory-bound). */
  classChunk: number;
  /** False when one input does not fit maxMemoryBytes even one class at a time (the call would fail with PATHWISE_MEMORY_LIMIT). */
  fits: boolean;
  /** The `total` an onProgress callback of this call would see. */
  progressSteps: number;
  batch: number;
}

let measuredRate: number | undefined;

// The cost model of predictedSeconds, in FLOP-equivalents: the dense products as `flops` counts
// them, except the C-row sweeps above the lowest path layer, counted per row as the engine runs
// them (vjp.cc): a conv or dense layer whose cotangent comes through a path layer keeping at most
// 1/32 of its units scatters only those (SCATTER FLOP-equivalents per multiply-accumulate: scalar
// and strided, against the GEMM's vector FMAs), and every layer's row costs PASS per value (zeroing
// it, the gate, the sparse scan, the score: memory passes, not products). Class chunks add one
// sweep from the checkpoint (or the logits) down to each chunked path layer. SCATTER and PASS were
// fitted on resnet18 with 1000 classes against the probe below in the same process: predicted over
// measured 1.05 at width 64 depth 5 and 1.5 at width 16 depth 'all' (measured as CPU time / 1.7 on
// a shared 2-core machine; bench/large/resnet-classes.mjs), where counting every C-row product as
// dense gave 10× and 4×; 2.9 on the VGG16-shaped network at width 64 depth 5 (10 classes: its large
// forward GEMMs outrun the probe).
const SCATTER = 8;
const PASS = 24;
const SPARSE_DIVISOR = 32; // ops::kSparseDivisor

function keptUnits(native: NativeExplainOptions, units: number): number {
  if (native.widthMode === 'count') return Math.min(units, native.widthValue ?? units);
  if (native.widthMode === 'percent') return Math.min(units, Math.max(1, Math.round((units / 100) * (native.widthValue ?? 100))));
  return units;
}

/** FLOP-equivalents of explaining `batch` examples (the cost predictedSeconds divides by the rate). */
function sweepCost(est: NativeEstimate, layers: EngineLayer[], native: NativeExplainOptions, batch: number, numClasses: number): number {
  const gates = est.gatePositions, count = layers.length;
  const depth = native.depth === 0 ? gates.length : Math.min(native.depth, gates.length);
  const first = gates.length - depth, lowest = gates[first];
  const size = (i: number) => layers[i].shape[0] * layers[i].shape[1] * layers[i].shape[2];
  let all = 0, above = 0;
  for (let i = 0; i < count; i++) {
    all += est.layerMacs[i];
    if (i > lowest) above += est.layerMacs[i];
  }
  // One C-row visit of layer i: its product (sparse when the next gate above keeps few units) and passes.
  const rowCost = (i: number): number => {
    let cost = PASS * size(i);
    const macs = est.layerMacs[i];
    if (macs > 0) {
      const o = gates.findIndex((g) => g > i);
      const units = o >= 0 ? size(gates[o]) : 0, kept = o >= 0 ? keptUnits(native, units) : 0;
      cost += o >= 0 && kept * SPARSE_DIVISOR <= units ? 2 * SCATTER * kept * (macs / size(i)) : 2 * macs;
    }
    return cost;
  };
  // Steps swept with all C classes continue one sweep down from the top; class chunks (the steps
  // below fullClassesFrom) sweep every class again from the checkpoint (or the logits) each.
  const chunked = est.classChunk < numClasses;
  const full = chunked ? est.fullClassesFrom : first;
  const hi = full < gates.length ? gates[full] + 1 : count;
  let sweep = 0;
  for (let o = first; o < gates.length; o++) sweep += PASS * size(gates[o]); // scores
  for (let i = hi; i < count; i++) sweep += rowCost(i);
  for (let o = first; o < full; o++) for (let i = gates[o] + 1; i < hi; i++) sweep += rowCost(i);
  return batch * (2 * (all + above + all) + numClasses * sweep);
}

// A seeded CNN (3×32×32, two 3×3 convs, a 4×4 pool, a dense head): 0.5 GFLOP per explanation at
// depth 'all', ~15 ms here. Its products straddle the size where the core's GEMMs go parallel
// (32 MFLOP) and its C-row sweeps run through a conv, so its rate sits between a large model's
// forward-heavy shallow explanations and its sweep-heavy deep ones (the VGG16-shaped network:
// 2× slower than predicted at depth 5, 3× faster at depth 'all', where 'official' recomputes).
function probeSpec(): { inputShape: number[]; layers: LayerSpec[] } {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) - 0.5;
  const weights = (n: number, fanIn: number) => Float32Array.from({ length: n }, () => rand() * Math.sqrt(24 / fanIn));
  const conv = (cin: number, cout: number): LayerSpec => ({
    type: 'conv', inChannels: cin, outChannels: cout, kernel: [3, 3], pads: [1, 1, 1, 1], weights: weights(cout * cin * 9, cin * 9),
  });
  return {
    inputShape: [3, 32, 32],
    layers: [
      conv(3, 32), { type: 'relu' }, conv(32, 64), { type: 'relu' }, { type: 'maxpool', kernel: [4, 4] }, { type: 'flatten' },
      { type: 'dense', in: 64 * 8 * 8, out: 64, weights: weights(64 * 64 * 64, 64 * 64) }, { type: 'relu' },
      { type: 'dense', in: 64, out: 10, weights: weights(640, 64) },
    ],
  };
}

/**
 * The machine's explanation rate in FLOP/s: the best of a few timed explanations of the probe
 * model (about 50 ms in all, on the calling thread), measured once and cached for the process.
 */
export function machineRate(): number {
  if (measuredRate !== undefined) return measuredRate;
  const model = new Model(probeSpec());
  try {
    const input = Float32Array.from({ length: 3 * 32 * 32 }, (_, i) => Math.sin(i * 0.37));
    const native = normaliseOptions(model, {}, 1);
    const flops = sweepCost(model.handle().estimate(1, native), nativeAddon().networkLayers(model.handle()), native, 1, model.numClasses);
    explainSync(model, input); // warm-up: pool threads, caches
    let best = Infinity, spent = 0;
    for (let i = 0; i < 6 && (i < 2 || spent < 0.03); i++) {
      const t0 = process.hrtime.bigint();
      explainSync(model, input);
      const s = Number(process.hrtime.bigint() - t0) * 1e-9;
      best = Math.min(best, s);
      spent += s;
    }
    measuredRate = flops / best;
  } finally {
    model.dispose();
  }
  return measuredRate;
}

/**
 * What explaining `batch` inputs (default 1) with these options will cost on this machine:
 * FLOPs, the engine's working memory, and a predicted time (FLOPs over a rate this process
 * measures once, on its first estimate, in about 50 ms). The same option checks as explain.
 */
export function estimate(model: Model, options: EstimateOptions = {}): Estimate {
  const { batch: batchOption, ...rest } = options ?? {};
  const batch = batchOption === undefined ? 1 : positiveInteger(batchOption, 'batch');
  const native = normaliseOptions(model, rest as ExplainBatchOptions, batch);
  delete native.targets;
  delete native.region;
  let est;
  try {
    est = model.handle().estimate(batch, native);
  } catch (e) {
    throw fromNative(e);
  }
  const depth: Depth = native.depth === 0 ? 'all' : native.depth;
  const flops = explainFlopsFromMacs(est.layerMacs, est.gatePositions, batch, depth, model.numClasses);
  const cost = sweepCost(est, nativeAddon().networkLayers(model.handle()), native, batch, model.numClasses);
  const rate = machineRate();
  return {
    flops, workingBytes: est.workingBytes, predictedSeconds: cost / rate, machineFlopsPerSecond: rate,
    bytesPerExample: est.bytesPerExample, classChunk: est.classChunk, fits: est.fits, progressSteps: est.progressSteps, batch,
  };
}
