/**
 * Pad (mode constant) of the H and W of a 4-D activation → 'pad', or absorbed by the Conv or pool
 * that reads it: a 0 pad into a Conv's pads; a 0 pad into an AveragePool's pads with
 * count_include_pad = 1 (exactly equal when the pool has no padding of its own, or counts its
 * padding too: every window then divides by the full kernel, padded zeros included); a −∞ pad
 * into a MaxPool's pads. ceil_mode pools are not absorbed: their last window may end in the
 * padding differently.
 */
import { badModel, unsupported } from '../deps.js';
import type { NodeContext } from '../context.js';
import type { PendingPad } from '../values.js';

/** Pads as an attribute (opset < 11) or input 1, value as an attribute or input 2 (default 0), axes as input 3 (opset 18). */
export function pad(n: NodeContext): void {
  const x = n.act(0);
  const mode = n.stringAttr('mode', 'constant');
  if (mode !== 'constant') {
    throw unsupported(`${n.where} has mode "${mode}"; pathwise supports constant padding`);
  }
  const rank = x.shape.length + 1;
  let given: number[];
  if (n.node.input[1]) given = n.intsAt(1, 'pads').data.map((v) => (typeof v === 'number' ? v : NaN));
  else given = n.intsAttr('pads') ?? [];
  const axes = n.node.input[3] ? (n.intsAt(3, 'axes').data as number[]) : [...Array(rank).keys()];
  if (given.length !== 2 * axes.length || given.some((v) => !Number.isInteger(v))) {
    throw badModel(`${n.where} has pads [${given}] for ${axes.length} axes`);
  }
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a0, j) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (a < 0 || a >= rank) throw badModel(`${n.where}: axis ${a0} is out of range for rank ${rank}`);
    pads[a] = given[j];
    pads[rank + a] = given[axes.length + j];
  });
  const value = n.node.input[2] ? scalarAt(n) : n.floatAttr('value', 0);
  if (pads.every((p) => p === 0)) {
    n.setOutput({ layer: x.layer, shape: x.shape });
    return;
  }
  if (rank !== 4 || pads[0] !== 0 || pads[1] !== 0 || pads[4] !== 0 || pads[5] !== 0) {
    throw unsupported(
      `${n.where} pads [${pads}] on [batch, ${x.shape}]; pathwise supports padding of H and W of a 4-D NCHW ` +
        'activation (batch and channel pads 0)',
    );
  }
  const hw: [number, number, number, number] = [pads[2], pads[3], pads[6], pads[7]];
  const [c, h, w] = x.shape;
  const shape = [c, h + hw[0] + hw[2], w + hw[1] + hw[3]];
  if (shape[1] < 1 || shape[2] < 1) throw badModel(`${n.where} crops [batch, ${x.shape}] to nothing (pads [${pads}])`);
  const pending: PendingPad = { pads: hw, value, src: x, name: n.name, label: n.label };
  // A single reader may absorb it; otherwise (or when that reader cannot) NodeContext emits it.
  n.setOutput({ layer: x.layer, shape, pad: pending });
  if (!n.singleUse) n.operand(n.out);
}

function scalarAt(n: NodeContext): number {
  const t = n.floatAt(2, 'constant_value');
  if (t.data.length !== 1) throw badModel(`${n.where}: constant_value has shape [${t.dims}]; expected a scalar`);
  return t.data[0];
}

/** What a Conv or pool with these attributes may absorb from a pending pad before it. */
export interface PadReader {
  op: 'Conv' | 'MaxPool' | 'AveragePool';
  ceilMode: boolean;
  kernel: [number, number];
  ownPads: [number, number, number, number];
  countIncludePad: boolean;
}

/** Whether the reader computes the same with `p` added to its own pads (see the file comment). */
export function absorbs(p: PendingPad, r: PadReader): boolean {
  if (p.pads.some((v) => v < 0)) return false;
  if (r.op === 'Conv') return p.value === 0;
  // Beyond the kernel a window could lie entirely in the padding, which the pool check refuses.
  const fits = p.pads.every((v, i) => v + r.ownPads[i] < r.kernel[i % 2]);
  if (r.ceilMode || !fits) return false;
  if (r.op === 'MaxPool') return p.value === -Infinity;
  return p.value === 0 && (r.countIncludePad || r.ownPads.every((v) => v === 0));
}
