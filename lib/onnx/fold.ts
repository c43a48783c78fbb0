/**
 * Constant folding: the small evaluator that computes, at load, the constant sub-graphs exporters
 * emit around shapes (e.g. Shape → Gather → Unsqueeze → Concat → Reshape for
 * `x.view(x.size(0), -1)`). It works on int64 values, where the batch dimension stays a symbol,
 * and on float values. One handler per op; the op table (ops/table.ts) says when each runs.
 */
import { create } from '@bufbuild/protobuf';
import { DataType, TensorProtoSchema, badModel, unsupported, type PathwiseError, type TensorProto } from './deps.js';
import type { NodeContext } from './context.js';
import { dataTypeName } from './decode.js';
import { product, stridesOf } from './numbers.js';
import { axesOf, normAxes, resolveReshape, unsqueezeDims } from './shapes.js';
import { BATCH, MAX_FOLDED_ELEMENTS, foldedOf, noBatch, take, type Folded, type IntElem } from './values.js';

/** Computes a node's output from constant inputs. */
export type FoldHandler = (n: NodeContext) => Folded;

/** Constant input `pos` in the folder's form. */
function constIn(n: NodeContext, pos: number, what: string): Folded {
  return foldedOf(n.constAt(pos, what), `${what} of ${n.where}`);
}

/** Constant input `pos` as integers that do not depend on the batch size. */
function intsIn(n: NodeContext, pos: number, what: string): number[] {
  return noBatch(n.intsAt(pos, what).data, `${what} of ${n.where}`);
}

function tooBig(n: NodeContext): PathwiseError {
  return unsupported(`${n.where} computes a constant of more than 2^24 elements; pathwise folds only small constant sub-graphs`);
}

/** Rejects a folded result too large to be a shape computation. */
export function checkFoldedSize(n: NodeContext, r: Folded): Folded {
  if (r.data.length > MAX_FOLDED_ELEMENTS) throw tooBig(n);
  return r;
}

/** An axis attribute normalised against `rank` (PATHWISE_BAD_MODEL when out of range). */
function axisIn(n: NodeContext, rank: number): number {
  const axis = n.intAttr('axis', 0);
  if (axis < -rank || axis >= rank) throw badModel(`${n.where}: axis ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** The value of a Constant node, as a TensorProto (decoded when used). */
export function constantValue(n: NodeContext): TensorProto {
  const { node, label } = n;
  const a = node.attribute[0];
  if (node.attribute.length !== 1 || !a) {
    throw badModel(`Constant at node ${label} must have exactly one attribute, has ${node.attribute.length}`);
  }
  switch (a.name) {
    case 'value':
      if (!a.t) throw badModel(`Constant at node ${label}: attribute "value" holds no tensor`);
      return a.t;
    case 'value_float':
      return create(TensorProtoSchema, { dataType: DataType.FLOAT, floatData: [a.f] });
    case 'value_floats':
      return create(TensorProtoSchema, { dataType: DataType.FLOAT, dims: [BigInt(a.floats.length)], floatData: a.floats });
    case 'value_int':
      return create(TensorProtoSchema, { dataType: DataType.INT64, int64Data: [a.i] });
    case 'value_ints':
      return create(TensorProtoSchema, { dataType: DataType.INT64, dims: [BigInt(a.ints.length)], int64Data: a.ints });
    default:
      throw unsupported(
        `Constant at node ${label} uses attribute "${a.name}"; pathwise supports value, value_float(s) and value_int(s)`,
      );
  }
}

export const foldIdentity: FoldHandler = (n) => constIn(n, 0, 'input');

/** Shape of an activation (static but for the batch symbol) or of a constant. */
export const foldShape: FoldHandler = (n) => {
  const name = n.node.input[0];
  if (!name) throw badModel(`${n.where} has no input`);
  const v = n.operand(name);
  const dims: IntElem[] = 'act' in v ? [n.batchIsOne ? 1 : BATCH, ...v.act.shape] : foldedOf(v.c, `input of ${n.where}`).dims;
  const rank = dims.length;
  const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
  const start = clampAxis(n.intAttr('start', 0));
  const end = clampAxis(n.intAttr('end', rank));
  const data = dims.slice(start, Math.max(start, end));
  return { kind: 'int', dims: [data.length], data };
};

export const foldGather: FoldHandler = (n) => {
  const data = constIn(n, 0, 'data');
  const idx = intsIn(n, 1, 'indices');
  const idxDims = constIn(n, 1, 'indices').dims;
  const rank = data.dims.length;
  if (rank === 0) throw badModel(`${n.where}: cannot gather from a scalar`);
  const axis = axisIn(n, rank);
  const size = data.dims[axis];
  const outer = product(data.dims.slice(0, axis));
  const inner = product(data.dims.slice(axis + 1));
  const src: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let i of idx) {
      if (i < -size || i >= size) throw badModel(`${n.where}: index ${i} is out of range for a dimension of size ${size}`);
      if (i < 0) i += size;
      for (let k = 0; k < inner; k++) src.push((o * size + i) * inner + k);
    }
  }
  return take(data, [...data.dims.slice(0, axis), ...idxDims, ...data.dims.slice(axis + 1)], src);
};

export const foldUnsqueeze: FoldHandler = (n) => {
  const data = constIn(n, 0, 'data');
  const axes = axesOf(n);
  if (!axes) throw badModel(`${n.where} has no axes`);
  const outRank = data.dims.length + axes.length;
  const dims = unsqueezeDims(data.dims, normAxes(axes, outRank, n.op, n.label));
  return { ...data, dims } as Folded;
};

export const foldSqueeze: FoldHandler = (n) => {
  const data = constIn(n, 0, 'data');
  const axes = axesOf(n);
  const rank = data.dims.length;
  const norm = axes ? normAxes(axes, rank, n.op, n.label) : data.dims.flatMap((d, i) => (d === 1 ? [i] : []));
  for (const a of norm) {
    if (data.dims[a] !== 1) throw badModel(`${n.where}: axis ${a} of [${data.dims}] has size ${data.dims[a]}, not 1`);
  }
  return { ...data, dims: data.dims.filter((_, i) => !norm.includes(i)) } as Folded;
};

export const foldReshape: FoldHandler = (n) => {
  const data = constIn(n, 0, 'data');
  const target = n.node.input[1] ? intsIn(n, 1, 'shape') : (n.intsAttr('shape') ?? []);
  const dims = resolveReshape(data.dims, target, n.intAttr('allowzero', 0), n.label);
  return { ...data, dims } as Folded;
};

export const foldConcat: FoldHandler = (n) => {
  const { where } = n;
  const parts = n.node.input.filter((name) => name).map((_, i) => constIn(n, i, `input ${i}`));
  if (parts.length === 0) throw badModel(`${where} has no inputs`);
  const rank = parts[0].dims.length;
  if (!n.attr('axis')) throw badModel(`${where} has no axis`);
  const axis = axisIn(n, rank);
  for (const p of parts) {
    if (p.kind !== parts[0].kind) throw badModel(`${where} concatenates integer and float tensors`);
    if (p.dims.length !== rank || p.dims.some((d, i) => i !== axis && d !== parts[0].dims[i])) {
      throw badModel(`${where}: inputs of shapes ${parts.map((q) => `[${q.dims}]`).join(', ')} do not concatenate on axis ${axis}`);
    }
  }
  const outer = product(parts[0].dims.slice(0, axis));
  const inner = product(parts[0].dims.slice(axis + 1));
  const dims = parts[0].dims.slice();
  dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
  const values: (IntElem | number)[] = [];
  for (let o = 0; o < outer; o++) {
    for (const p of parts) {
      const len = p.dims[axis] * inner;
      for (let k = 0; k < len; k++) values.push(p.data[o * len + k]);
    }
  }
  return parts[0].kind === 'float'
    ? { kind: 'float', dims, data: Float64Array.from(values as number[]) }
    : { kind: 'int', dims, data: values };
};

/** Slice's starts, ends, axes and steps: inputs from opset 10, attributes before. */
export function sliceParams(n: NodeContext): { starts: number[]; ends: number[]; axes: number[]; steps: number[] } {
  let starts: number[];
  let ends: number[];
  let axes: number[] | undefined;
  let steps: number[] | undefined;
  if (n.node.input[1]) {
    starts = intsIn(n, 1, 'starts');
    ends = intsIn(n, 2, 'ends');
    axes = n.node.input[3] ? intsIn(n, 3, 'axes') : undefined;
    steps = n.node.input[4] ? intsIn(n, 4, 'steps') : undefined;
  } else {
    // Opset 1-9: attributes.
    starts = n.intsAttr('starts') ?? [];
    ends = n.intsAttr('ends') ?? [];
    axes = n.intsAttr('axes');
  }
  axes ??= starts.map((_, i) => i);
  steps ??= starts.map(() => 1);
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    throw badModel(`${n.where}: starts, ends, axes and steps differ in length`);
  }
  return { starts, ends, axes, steps };
}

/** ONNX's clamping of one Slice range on a dimension of `size`: first index and element count. */
export function sliceRange(size: number, start: number, end: number, step: number): { first: number; count: number } {
  let b = start < 0 ? start + size : start;
  let e = end < 0 ? end + size : end;
  if (step > 0) {
    b = Math.min(Math.max(b, 0), size);
    e = Math.min(Math.max(e, 0), size);
  } else {
    b = Math.min(Math.max(b, 0), size - 1);
    e = Math.min(Math.max(e, -1), size - 1);
  }
  return { first: b, count: Math.max(0, Math.ceil((e - b) / step)) };
}

export const foldSlice: FoldHandler = (n) => {
  const { where } = n;
  const data = constIn(n, 0, 'data');
  const rank = data.dims.length;
  const { starts, ends, axes, steps } = sliceParams(n);
  const lo = data.dims.map(() => 0);
  const step = data.dims.map(() => 1);
  const count = data.dims.slice();
  const seen = new Set<number>();
  axes.forEach((a0, j) => {
    const a = a0 < 0 ? a0 + rank : a0;
    if (a < 0 || a >= rank || seen.has(a)) throw badModel(`${where}: axis ${a0} is out of range or repeated (rank ${rank})`);
    seen.add(a);
    const s = steps[j];
    if (s === 0) throw badModel(`${where}: step 0`);
    const r = sliceRange(data.dims[a], starts[j], ends[j], s);
    lo[a] = r.first;
    step[a] = s;
    count[a] = r.count;
  });
  const strides = stridesOf(data.dims);
  const src: number[] = [];
  const total = product(count);
  const idx = count.map(() => 0);
  for (let f = 0; f < total; f++) {
    let off = 0;
    for (let a = 0; a < rank; a++) off += (lo[a] + idx[a] * step[a]) * strides[a];
    src.push(off);
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < count[a]) break;
      idx[a] = 0;
    }
  }
  return take(data, count, src);
};

export const foldCast: FoldHandler = (n) => {
  const { where } = n;
  const data = constIn(n, 0, 'input');
  const to = n.intAttr('to', -1);
  if (to === DataType.FLOAT || to === DataType.DOUBLE) {
    const vals = data.kind === 'float' ? data.data : Float64Array.from(noBatch(data.data, `input of ${where}`));
    return { kind: 'float', dims: data.dims, data: to === DataType.FLOAT ? vals.map(Math.fround) : Float64Array.from(vals) };
  }
  if (to === DataType.INT64 || to === DataType.INT32 || to === DataType.BOOL) {
    const vals: IntElem[] = Array.from(data.data as ArrayLike<IntElem>, (v) => {
      if (v === BATCH) return to === DataType.BOOL ? 1 : v;
      if (!Number.isFinite(v)) throw badModel(`${where}: cannot cast ${v} to an integer`);
      return to === DataType.BOOL ? (v !== 0 ? 1 : 0) : Math.trunc(v);
    });
    return { kind: 'int', dims: data.dims, data: vals };
  }
  throw unsupported(`${where} casts to ${dataTypeName(to)}; pathwise folds casts to float, double, int64, int32 and bool`);
};

export const foldConstantOfShape: FoldHandler = (n) => {
  const { where } = n;
  const shapeT = n.intsAt(0, 'shape');
  if (shapeT.data.includes(BATCH)) {
    throw unsupported(`${where} makes a tensor whose shape depends on the batch size; pathwise folds only batch-independent constants`);
  }
  const dims = shapeT.data as number[];
  if (dims.some((d) => d < 0)) throw badModel(`${where}: negative dimension in [${dims}]`);
  const size = product(dims);
  if (size > MAX_FOLDED_ELEMENTS) throw tooBig(n);
  const a = n.attr('value');
  let v: Folded = { kind: 'float', dims: [1], data: new Float64Array(1) };
  if (a) {
    if (!a.t) throw badModel(`${where}: attribute "value" holds no tensor`);
    v = foldedOf({ proto: a.t }, `value of ${where}`);
    if (v.data.length !== 1) throw badModel(`${where}: value must hold one element, holds ${v.data.length}`);
  }
  return take(v, dims, new Array<number>(size).fill(0));
};

/**
 * Add, Sub, Mul and Div of constants (the integer arithmetic exporters emit around shapes, e.g.
 * ShuffleNet's split point C / 2); integer Div truncates as onnxruntime does. Broadcasting is
 * NumPy's, for shapes of equal rank or a single-element operand.
 */
export const foldArith: FoldHandler = (n) => {
  const { where, op } = n;
  const a = constIn(n, 0, 'A');
  const b = constIn(n, 1, 'B');
  const dims = broadcastDims(a.dims, b.dims, where);
  const size = product(dims);
  if (size > MAX_FOLDED_ELEMENTS) throw tooBig(n);
  const at = (t: Folded, j: number): number => {
    const v = t.data[t.data.length === 1 ? 0 : broadcastIndex(t.dims, dims, j)];
    if (v === BATCH) throw unsupported(`The operands of ${where} depend on the batch size; pathwise folds only batch-independent values there`);
    return v;
  };
  const isInt = a.kind === 'int' && b.kind === 'int';
  const values = Array.from({ length: size }, (_, j) => {
    const x = at(a, j);
    const y = at(b, j);
    switch (op) {
      case 'Add': return x + y;
      case 'Sub': return x - y;
      case 'Mul': return x * y;
      default:
        if (isInt && y === 0) throw badModel(`${where}: integer division by zero`);
        return isInt ? Math.trunc(x / y) : x / y;
    }
  });
  return isInt ? { kind: 'int', dims, data: values } : { kind: 'float', dims, data: Float64Array.from(values) };
};

function broadcastDims(a: number[], b: number[], where: string): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const x = a[a.length - rank + i] ?? 1;
    const y = b[b.length - rank + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw badModel(`${where}: shapes [${a}] and [${b}] do not broadcast`);
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Index into a tensor of shape `dims` of element j of its broadcast to `to`. */
function broadcastIndex(dims: number[], to: number[], j: number): number {
  let idx = 0;
  let stride = 1;
  for (let i = to.length - 1, k = dims.length - 1; i >= 0; i--, k--) {
    const coord = j % to[i];
    j = Math.floor(j / to[i]);
    if (k >= 0) {
      if (dims[k] !== 1) idx += coord * stride;
      stride *= dims[k];
    }
  }
  return idx;
}
