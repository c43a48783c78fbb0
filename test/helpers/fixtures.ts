/** Reads a reference fixture folder (inputs, logits, targets and per-setting outputs as .npy files under test/fixtures). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from './npy.js';
import type { Depth, Width } from '../../lib/explain/types.js';

export interface FixtureLayer {
  ordinal: number;
  units: Int32Array;
  scores: Float32Array;
  fallback: boolean;
  boundaryTie: boolean;
  minSelected: number;
  bestRejected: number;
  /** The reference found the Jacobian from reuse would not be bit-exact here (DAG/CNN fixtures). */
  recomputeNeeded?: boolean;
}

export interface FixtureCase {
  input: Float32Array;
  target: number;
  maskedLogits: Float32Array;
  attribution: Float32Array;
  /** Top-down, as in index.json. */
  layers: FixtureLayer[];
}

export interface FixtureConfig {
  name: string;
  width: Width;
  depth: Depth;
  /** Explicit target override, when the config is not the predicted class. */
  targetOverride?: number;
  cases: FixtureCase[];
}

export interface FixtureSet {
  dir: string;
  inputs: Float32Array;
  inputSize: number;
  count: number;
  classes: number;
  logits: Float32Array;
  targets: number[];
  configs: FixtureConfig[];
}

export function fixtureDir(name: string): string {
  return join(import.meta.dirname, '..', 'fixtures', name);
}

export function loadFixtureSet(dir: string): FixtureSet {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const inputs = readNpy(join(dir, 'inputs.npy'));
  const count: number = index.n_inputs;
  const classes: number = index.n_classes;
  const inputSize = inputs.data.length / count;
  const logits = readNpy(join(dir, 'logits.npy')).data as Float32Array;
  const targets = Array.from(readNpy(join(dir, 'targets.npy')).data as BigInt64Array, Number);
  const configs: FixtureConfig[] = [];
  for (const [name, cfg] of Object.entries<any>(index.pathwise)) {
    const units = readNpy(join(dir, `pathwise_${name}_units.npy`)).data as Int32Array;
    const scores = readNpy(join(dir, `pathwise_${name}_unit_scores.npy`)).data as Float32Array;
    const attr = readNpy(join(dir, `pathwise_${name}_attr.npy`)).data as Float32Array;
    const masked = readNpy(join(dir, `pathwise_${name}_masked_logits.npy`)).data as Float32Array;
    const width: Width = typeof cfg.width === 'number' ? cfg.width : cfg.width;
    const depth: Depth = cfg.depth === 'all' ? 'all' : Number(cfg.depth);
    const cases: FixtureCase[] = cfg.inputs.map((inp: any, j: number) => ({
      input: (inputs.data as Float32Array).slice(j * inputSize, (j + 1) * inputSize),
      target: inp.target,
      maskedLogits: masked.slice(j * classes, (j + 1) * classes),
      attribution: attr.slice(j * inputSize, (j + 1) * inputSize),
      layers: inp.layers.map((l: any) => ({
        ordinal: l.relu_ordinal,
        units: units.slice(l.offset, l.offset + l.n_selected),
        scores: scores.slice(l.offset, l.offset + l.n_selected),
        fallback: l.fallback,
        boundaryTie: l.boundary_tie,
        minSelected: l.min_selected_score,
        bestRejected: l.best_rejected_score,
        recomputeNeeded: l.recompute_needed,
      })),
    }));
    const targetOverride = cfg.target !== undefined && cfg.target !== 'predicted' ? Number(cfg.target) : undefined;
    configs.push({ name, width, depth, targetOverride, cases });
  }
  return { dir, inputs: inputs.data as Float32Array, inputSize, count, classes, logits, targets, configs };
}

/** max |a − b| / max |b| (0 when both are zero). */
export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0, scale = 0;
  for (let i = 0; i < b.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return scale === 0 ? diff : diff / scale;
}

/**
 * A layer decision is ambiguous when a score sits within `eps` of the 1/C threshold: float32
 * rounding of a different accumulation order may flip it (fixture README, "Tolerances").
 */
export function nearThreshold(layer: FixtureLayer, classes: number, eps = 1e-6): boolean {
  const thr = Math.fround(1 / classes);
  return (
    Math.abs(layer.minSelected - thr) <= eps ||
    (layer.bestRejected >= 0 && Math.abs(layer.bestRejected - thr) <= eps) ||
    (layer.bestRejected >= 0 && Math.abs(layer.minSelected - layer.bestRejected) <= eps) ||
    layer.boundaryTie
  );
}
