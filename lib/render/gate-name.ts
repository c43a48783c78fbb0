import type { GateKind, ReluLayerInfo } from '../explain/types.js';

const GATE_NAMES: Record<GateKind, string> = { relu: 'ReLU', gate: 'Gate', clip: 'Clip', leakyrelu: 'LeakyReLU', prelu: 'PReLU' };

/** The display name of a gate layer's kind: 'ReLU' when the info has no kind (a plain ReluLayerInfo). */
export function gateName(info: ReluLayerInfo | undefined): string {
  const kind = (info as { kind?: GateKind } | undefined)?.kind;
  return kind ? GATE_NAMES[kind] ?? 'Gate' : 'ReLU';
}
