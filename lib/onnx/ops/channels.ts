/**
 * Channel ops on activations: Concat along channels → 'concat'; Split and Slice of a channel range
 * → 'slice'; Transpose only inside ShuffleNet's channel shuffle (see layout.ts reshape), and the
 * global reductions ReduceMean / ReduceMax over H and W → 'globalavgpool' / 'globalmaxpool'.
 * Channels are NCHW axis 1 of a 4-D activation, or the features (axis 1) of a 2-D one.
 */
import { badModel, unsupported } from '../deps.js';
import type { NodeContext } from '../context.js';
import { sliceParams, sliceRange } from '../fold.js';
import { normAxes } from '../shapes.js';
import type { Act } from '../values.js';

/** The channel axis of an activation of `shape` (batch dropped), or a refusal. */
function channelAxis(n: NodeContext, shape: number[], given: number): void {
  const rank = shape.length + 1;
  const axis = given < 0 ? given + rank : given;
  if (axis < 0 || axis >= rank) throw badModel(`${n.where}: axis ${given} is out of range for rank ${rank}`);
  if (axis !== 1 || (rank !== 4 && rank !== 2)) {
    throw unsupported(
      `${n.where} works on axis ${given} of [batch, ${shape}]; pathwise supports it along the channels ` +
        '(axis 1 of a 4-D NCHW activation, or of a 2-D one)',
    );
  }
}

export function concat(n: NodeContext): void {
  const names = n.node.input.filter((name) => name);
  const parts: Act[] = names.map((name) => {
    const v = n.operand(name);
    if ('act' in v) return v.act;
    throw unsupported(
      `${n.where} concatenates the constant "${name}" with activations; pathwise concatenates activations only`,
    );
  });
  const first = parts[0].shape;
  if (!n.attr('axis')) throw badModel(`${n.where} has no axis`);
  channelAxis(n, first, n.intAttr('axis', 1));
  for (const p of parts) {
    if (p.shape.length !== first.length || p.shape.some((d, i) => i > 0 && d !== first[i])) {
      throw badModel(`${n.where}: inputs of shapes ${parts.map((q) => `[batch, ${q.shape}]`).join(', ')} do not concatenate on channels`);
    }
  }
  if (parts.length === 1) {
    n.emit({ type: 'identity' }, [parts[0].layer], first);
    return;
  }
  const layers = parts.map((p) => p.layer);
  const channels = parts.reduce((s, p) => s + p.shape[0], 0);
  n.emit({ type: 'concat', inputs: layers }, layers, [channels, ...first.slice(1)]);
}

/** Split into channel ranges: sizes from input 1 (opset 13), the `split` attribute, `num_outputs` (opset 18) or equal parts. */
export function split(n: NodeContext): void {
  const x = n.act(0);
  channelAxis(n, x.shape, n.intAttr('axis', 0));
  const total = x.shape[0];
  const outs = n.node.output;
  let sizes: number[];
  if (n.node.input[1]) sizes = n.intsAt(1, 'split').data.map((v) => (typeof v === 'number' ? v : NaN));
  else if (n.intsAttr('split')) sizes = n.intsAttr('split')!;
  else {
    const parts = n.intAttr('num_outputs', outs.length);
    const chunk = Math.ceil(total / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.max(0, Math.min(chunk, total - i * chunk)));
    if (!n.attr('num_outputs') && total % parts !== 0) {
      throw badModel(`${n.where}: ${total} channels do not split into ${parts} equal parts`);
    }
  }
  if (sizes.length !== outs.length || sizes.some((s) => !(s >= 0)) || sizes.reduce((a, b) => a + b, 0) !== total) {
    throw badModel(`${n.where}: split sizes [${sizes}] do not divide ${total} channels into ${outs.length} outputs`);
  }
  let at = 0;
  sizes.forEach((size, i) => {
    if (outs[i]) emitSlice(n, outs[i], x, at, at + size);
    at += size;
  });
}

/** Slice of an activation: a channel range with step 1; other axes must be kept whole. */
export function slice(n: NodeContext): void {
  const x = n.act(0);
  const { starts, ends, axes, steps } = sliceParams(n);
  const rank = x.shape.length + 1;
  const dims = [1, ...x.shape];
  let range: [number, number] = [0, x.shape[0]];
  normAxes(axes, rank, n.op, n.label).forEach((a, j) => {
    if (steps[j] !== 1) {
      throw unsupported(`${n.where} has step ${steps[j]}; pathwise supports Slice of activations with step 1`);
    }
    const r = sliceRange(dims[a], starts[j], ends[j], 1);
    if (r.first === 0 && r.count === dims[a]) return;
    channelAxis(n, x.shape, a);
    range = [r.first, r.first + r.count];
  });
  if (range[1] <= range[0]) throw badModel(`${n.where} selects no channel of [batch, ${x.shape}]`);
  emitSlice(n, n.out, x, range[0], range[1]);
}

function emitSlice(n: NodeContext, out: string, x: Act, start: number, end: number): void {
  if (end <= start) throw badModel(`${n.where}: output "${out}" would hold no channel`);
  const shape = [end - start, ...x.shape.slice(1)];
  if (start === 0 && end === x.shape[0]) n.emitAs(out, { type: 'identity' }, [x.layer], shape);
  else n.emitAs(out, { type: 'slice', channels: [start, end] }, [x.layer], shape);
}

/** Transpose: only the middle step of the channel shuffle (perm [0, 2, 1, 3, 4] of a grouped Reshape). */
export function transpose(n: NodeContext): void {
  const name = n.node.input[0];
  const v = name ? n.operand(name) : undefined;
  const x = v && 'act' in v ? v.act : undefined;
  const perm = n.intsAttr('perm');
  const isShuffle = perm?.length === 5 && perm.every((p, i) => p === [0, 2, 1, 3, 4][i]);
  if (!x?.shuffle || x.shuffle.transposed || !isShuffle) {
    throw unsupported(
      `${n.where} (perm [${perm ?? 'reversed'}]) on [batch, ${x?.shape ?? '?'}]: pathwise reads Transpose only ` +
        'in the channel shuffle Reshape([1, g, C/g, H, W]) → Transpose([0, 2, 1, 3, 4]) → Reshape([1, -1, H, W])',
    );
  }
  const [g, cg, h, w] = x.shape;
  n.setOutput({ layer: x.layer, shape: [cg, g, h, w], shuffle: { ...x.shuffle, transposed: true } });
}

/** ReduceMean / ReduceMax over H and W (axes attribute, or input 1 from opset 18). */
export function reduce(n: NodeContext): void {
  const x = n.act(0);
  const axes = n.node.input[1] ? (n.intsAt(1, 'axes').data as number[]) : n.intsAttr('axes');
  const norm = axes && x.shape.length === 3 ? normAxes(axes, 4, n.op, n.label).sort() : undefined;
  if (!norm || norm.length !== 2 || norm[0] !== 2 || norm[1] !== 3) {
    throw unsupported(
      `${n.where} over axes [${axes ?? 'all'}] of [batch, ${x.shape}]; pathwise supports ${n.op} over H and W ` +
        '(axes [2, 3] of a 4-D NCHW activation), a global pooling',
    );
  }
  const c = x.shape[0];
  n.emit({ type: n.op === 'ReduceMax' ? 'globalmaxpool' : 'globalavgpool' }, [x.layer], [c, 1, 1]);
  if (n.intAttr('keepdims', 1) === 0) {
    // keepdims 0 drops H and W: a reshape after the pooling.
    const pooled = n.operand(n.out) as { act: Act };
    n.emit({ type: 'reshape', shape: [c] }, [pooled.act.layer], [c]);
  }
}
