/**
 * Lowering of the gate layer specs ('relu', 'gate', 'clip', 'leakyrelu', 'prelu') to the engine's one
 * gate layer (docs/semantics.md "Gates beyond ReLU"): validates the parameters and fills in the
 * defaults. clip, leakyrelu and prelu are sugar for particular gate parameters.
 */
import type { ClipLayerSpec, GateLayerSpec, LeakyReluLayerSpec, PReluLayerSpec, ReluLayerSpec } from './layers.js';
import type { GateKind } from '../explain/types.js';
import { describe, wrongType } from '../validate.js';

export type GateSpec = ReluLayerSpec | GateLayerSpec | ClipLayerSpec | LeakyReluLayerSpec | PReluLayerSpec;

/** The engine's gate parameters (native/core/ir/network.h GateParams); absent fields are ReLU's. */
export interface GateParams {
  lower?: number;
  upper?: number;
  lowerValue?: number;
  slope?: Float32Array;
}

/** The largest finite float32: the engine stores gate parameters as float32, where a larger finite
 * number would silently become ±Infinity (a slope of 1e39 an infinite slope). */
const FLOAT32_MAX = 3.4028234663852886e38;

function checkFloat32Range(v: number, what: string): void {
  if (Number.isFinite(v) && Math.abs(v) > FLOAT32_MAX)
    throw new RangeError(`${what} must be within float32 range (|value| ≤ 3.4028235e38), got ${v}`);
}

function optionalNumber(v: unknown, what: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number') throw wrongType(what, 'a number', v);
  if (Number.isNaN(v)) throw new RangeError(`${what} must not be NaN`);
  checkFloat32Range(v, what);
  return v;
}

function finiteNumber(v: unknown, what: string): number {
  if (typeof v !== 'number') throw wrongType(what, 'a number', v);
  if (!Number.isFinite(v)) throw new RangeError(`${what} must be finite, got ${v}`);
  checkFloat32Range(v, what);
  return v;
}

/** A slope of one number or one per channel, all finite. */
function slopeArray(v: unknown, what: string, channels: number): Float32Array {
  if (typeof v === 'number') return Float32Array.of(finiteNumber(v, what));
  if (!(v instanceof Float32Array)) throw wrongType(what, 'a number or a Float32Array', v);
  if (v.length !== 1 && v.length !== channels)
    throw new RangeError(`${what} has ${v.length} values, expected 1 or ${channels} (one per channel)`);
  for (const s of v) if (!Number.isFinite(s)) throw new RangeError(`${what} must hold finite numbers, got ${s}`);
  return Float32Array.from(v);
}

/** Bounds lower ≤ upper with lower < Infinity and upper > -Infinity. */
function checkBounds(lower: number, upper: number, where: string, names: [string, string]): void {
  if (lower === Infinity) throw new RangeError(`${where}.${names[0]} must be below Infinity`);
  if (upper === -Infinity) throw new RangeError(`${where}.${names[1]} must be above -Infinity`);
  if (!(lower <= upper)) throw new RangeError(`${where}: ${names[0]} (${lower}) must not exceed ${names[1]} (${upper})`);
}

/** The gate parameters of a gate spec whose output has `channels` channels (NCHW axis 1). */
export function lowerGate(layer: GateSpec, channels: number, where: string): { kind: GateKind; params: GateParams } {
  switch (layer.type) {
    case 'relu':
      return { kind: 'relu', params: {} };
    case 'gate': {
      const lower = optionalNumber(layer.lower, `${where}.lower`, 0);
      const upper = optionalNumber(layer.upper, `${where}.upper`, Infinity);
      checkBounds(lower, upper, where, ['lower', 'upper']);
      const slope = slopeArray(layer.slope ?? 0, `${where}.slope`, channels);
      const lowerValue = layer.lowerValue === undefined ? (lower === -Infinity ? 0 : lower) : finiteNumber(layer.lowerValue, `${where}.lowerValue`);
      return { kind: 'gate', params: { lower, upper, lowerValue, slope } };
    }
    case 'clip': {
      const min = optionalNumber(layer.min, `${where}.min`, -Infinity);
      const max = optionalNumber(layer.max, `${where}.max`, Infinity);
      checkBounds(min, max, where, ['min', 'max']);
      return { kind: 'clip', params: { lower: min, upper: max, lowerValue: min === -Infinity ? 0 : min, slope: Float32Array.of(0) } };
    }
    case 'leakyrelu':
      return { kind: 'leakyrelu', params: { slope: Float32Array.of(finiteNumber(layer.alpha, `${where}.alpha`)) } };
    case 'prelu':
      if (layer.slope === undefined) throw new TypeError(`${where}.slope must be a Float32Array, got ${describe(layer.slope)}`);
      return { kind: 'prelu', params: { slope: slopeArray(layer.slope, `${where}.slope`, channels) } };
  }
}
