/**
 * 2-D window ops on NCHW activations: Conv, MaxPool, AveragePool and GlobalAveragePool, with the
 * window geometry they share (pads and auto_pad, strides, dilations, output sizes). A Conv or
 * pool absorbs a Pad right before it into its pads where that is exact (ops/pad.ts).
 */
import { badModel, unsupported, type AvgPoolLayerSpec, type ConvLayerSpec, type MaxPoolLayerSpec } from '../deps.js';
import type { NodeContext } from '../context.js';
import type { PendingPad } from '../values.js';
import { absorbs, type PadReader } from './pad.js';

/** Largest kernel, stride, dilation or pad the engine accepts (native/core/ir/network.cc). */
const MAX_WINDOW = 2 ** 16;

export function conv(n: NodeContext): void {
  const { node, label } = n;
  const absorbed = absorbedPad(n);
  const x = absorbed ? absorbed.src : n.act(0);
  require2d(x.shape, n, 'convolution');
  const [inC, inH, inW] = x.shape;
  const w = n.floatAt(1, 'weight W');
  if (w.dims.length !== 4) {
    throw badModel(
      `Conv at node ${label}: weight W has shape [${w.dims}]; a 2-D convolution needs a 4-D weight ` +
        '[out channels, in channels / group, kernel height, kernel width]',
    );
  }
  const [outC, inPerGroup, kh, kw] = w.dims;
  const groups = n.intAttr('group', 1);
  if (groups < 1) throw badModel(`Conv at node ${label} has group=${groups} (must be ≥ 1)`);
  if (inC % groups !== 0 || outC % groups !== 0) {
    throw badModel(
      `Conv at node ${label}: group=${groups} does not divide the ${inC} input channels and the ${outC} output ` +
        'channels',
    );
  }
  if (inPerGroup !== inC / groups) {
    throw badModel(
      `Conv at node ${label}: weight W has shape [${w.dims}], but an input of ${inC} channels in ${groups} ` +
        `group(s) needs [${[outC, inC / groups, kh, kw]}]: the layer shapes do not chain`,
    );
  }
  if (outC < 1 || kh < 1 || kw < 1) throw badModel(`Conv at node ${label}: weight W has an empty shape [${w.dims}]`);
  const kernel: [number, number] = [kh, kw];
  const ks = n.intsAttr('kernel_shape');
  if (ks && (ks.length !== 2 || ks[0] !== kh || ks[1] !== kw)) {
    throw badModel(`Conv at node ${label}: kernel_shape [${ks}] does not match the weight's shape [${w.dims}]`);
  }
  const stride = pairAttr(n, 'strides');
  const dilation = pairAttr(n, 'dilations');
  const pads = withPad(padsOf(n, [inH, inW], kernel, stride, dilation), absorbed);
  const outH = convOut(inH, kh, stride[0], dilation[0], pads[0], pads[2]);
  const outW = convOut(inW, kw, stride[1], dilation[1], pads[1], pads[3]);
  if (outH < 1 || outW < 1) {
    throw badModel(
      `Conv at node ${label}: the ${kh}×${kw} kernel (dilation [${dilation}]) does not fit the padded ${inH}×${inW} ` +
        `input (pads [${pads}])`,
    );
  }
  let bias: Float64Array | undefined;
  if (node.input[2]) {
    const b = n.floatAt(2, 'bias B');
    if (b.dims.length !== 1 || b.dims[0] !== outC) {
      throw badModel(`Conv at node ${label}: bias B has shape [${b.dims}], expected [${outC}]`);
    }
    bias = Float64Array.from(b.data);
  }
  const spec: ConvLayerSpec = {
    type: 'conv',
    weights: Float32Array.from(w.data),
    inChannels: inC,
    outChannels: outC,
    kernel,
    stride,
    pads,
    dilation,
    groups,
  };
  n.emitBiased(spec, bias, x.layer, [outC, outH, outW]);
}

/** MaxPool and AveragePool. */
export function pool(n: NodeContext): void {
  const { node, label, op } = n;
  const absorbed = absorbedPad(n);
  const x = absorbed ? absorbed.src : n.act(0);
  require2d(x.shape, n, 'pooling');
  if (op === 'MaxPool' && node.output[1]) {
    throw unsupported(
      `MaxPool at node ${label} also outputs the Indices "${node.output[1]}"; pathwise supports MaxPool with ` +
        'its values output only',
    );
  }
  const [c, inH, inW] = x.shape;
  const ks = n.intsAttr('kernel_shape');
  if (!ks) throw badModel(`${n.where} has no kernel_shape`);
  if (ks.length !== 2) {
    throw unsupported(`${n.where} has kernel_shape [${ks}]; pathwise supports 2-D pooling only`);
  }
  if (ks[0] < 1 || ks[1] < 1) throw badModel(`${n.where} has kernel_shape [${ks}] (must be ≥ 1)`);
  const kernel: [number, number] = [ks[0], ks[1]];
  const stride = pairAttr(n, 'strides');
  const dilation = pairAttr(n, 'dilations');
  const ceilMode = n.intAttr('ceil_mode', 0);
  if (ceilMode !== 0 && ceilMode !== 1) throw badModel(`${n.where} has ceil_mode=${ceilMode} (must be 0 or 1)`);
  const pads = withPad(padsOf(n, [inH, inW], kernel, stride, dilation), absorbed);
  // The engine's window limit (native/core/ir/network.cc), checked here because a pool has no
  // weights to bound its kernel: the sweep below is linear in the output size.
  if ([...kernel, ...stride, ...dilation, ...pads].some((v) => v > MAX_WINDOW)) {
    throw badModel(`${n.where}: window geometry out of range (kernel [${kernel}], strides [${stride}], ` +
      `dilations [${dilation}], pads [${pads}]; each must be at most ${MAX_WINDOW})`);
  }
  const outH = poolOut(inH, kernel[0], stride[0], dilation[0], pads[0], pads[2], ceilMode === 1);
  const outW = poolOut(inW, kernel[1], stride[1], dilation[1], pads[1], pads[3], ceilMode === 1);
  if (outH < 1 || outW < 1) {
    throw badModel(`${n.where}: the ${kernel[0]}×${kernel[1]} window does not fit the padded ${inH}×${inW} input (pads [${pads}])`);
  }
  // Every window must see the input: a window entirely in the padding has no maximum (and no
  // average without count_include_pad). PyTorch forbids it (pad ≤ half the kernel).
  for (let axis = 0; axis < 2; axis++) {
    const size = axis === 0 ? inH : inW;
    const outN = axis === 0 ? outH : outW;
    for (let o = 0; o < outN; o++) {
      const start = o * stride[axis] - pads[axis];
      // The first tap at or after the input's start: the window sees the input iff it exists and
      // lies before the input's end (O(1), not a loop over the kernel).
      const first = start >= 0 ? 0 : Math.ceil(-start / dilation[axis]);
      const sees = first < kernel[axis] && start + first * dilation[axis] < size;
      if (!sees) {
        throw badModel(
          `${n.where}: output ${axis === 0 ? 'row' : 'column'} ${o} pools a window that lies entirely ` +
            `in the padding (kernel [${kernel}], strides [${stride}], dilations [${dilation}], pads [${pads}])`,
        );
      }
    }
  }
  let spec: MaxPoolLayerSpec | AvgPoolLayerSpec;
  if (op === 'MaxPool') {
    const storageOrder = n.intAttr('storage_order', 0);
    if (storageOrder !== 0 && storageOrder !== 1) throw badModel(`MaxPool at node ${label} has storage_order=${storageOrder}`);
    spec = { type: 'maxpool', kernel, stride, pads, dilation, ceilMode: ceilMode === 1 };
  } else {
    if (dilation[0] !== 1 || dilation[1] !== 1) {
      throw unsupported(`AveragePool at node ${label} has dilations [${dilation}]; pathwise supports average pooling without dilation`);
    }
    const cip = n.intAttr('count_include_pad', 0);
    if (cip !== 0 && cip !== 1) throw badModel(`AveragePool at node ${label} has count_include_pad=${cip} (must be 0 or 1)`);
    // An absorbed zero pad is counted: it was part of the input (see ops/pad.ts).
    spec = { type: 'avgpool', kernel, stride, pads, ceilMode: ceilMode === 1, countIncludePad: cip === 1 || !!absorbed };
  }
  n.emit(spec, [x.layer], [c, outH, outW]);
}

export function globalAveragePool(n: NodeContext): void {
  const x = n.act(0);
  if (x.shape.length !== 3) {
    throw unsupported(
      `GlobalAveragePool at node ${n.label} on an input of shape [batch, ${x.shape}]; pathwise supports 2-D ` +
        'pooling only (4-D NCHW tensors)',
    );
  }
  n.emit({ type: 'globalavgpool' }, [x.layer], [x.shape[0], 1, 1]);
}

/** The pending Pad before this Conv or pool if the node absorbs it into its pads (ops/pad.ts). */
function absorbedPad(n: NodeContext): PendingPad | undefined {
  const p = n.pendingPad(0);
  if (!p || n.stringAttr('auto_pad', 'NOTSET') !== 'NOTSET') return undefined;
  const own = n.intsAttr('pads') ?? [0, 0, 0, 0];
  const ks = n.op === 'Conv' ? [1, 1] : (n.intsAttr('kernel_shape') ?? []);
  if (own.length !== 4 || ks.length !== 2) return undefined;
  const reader: PadReader = {
    op: n.op as PadReader['op'],
    ceilMode: n.intAttr('ceil_mode', 0) !== 0,
    kernel: [ks[0], ks[1]],
    ownPads: [own[0], own[1], own[2], own[3]],
    countIncludePad: n.intAttr('count_include_pad', 0) === 1,
  };
  return absorbs(p, reader) ? p : undefined;
}

function withPad(pads: [number, number, number, number], p: PendingPad | undefined): [number, number, number, number] {
  return p ? [pads[0] + p.pads[0], pads[1] + p.pads[1], pads[2] + p.pads[2], pads[3] + p.pads[3]] : pads;
}

function require2d(shape: number[], n: NodeContext, what: string): void {
  if (shape.length !== 3) {
    throw unsupported(
      `${n.where} on an input of shape [batch, ${shape}] (${shape.length + 1}-D): pathwise supports ` +
        `2-D ${what} only (4-D NCHW tensors)`,
    );
  }
}

/** Output length of a convolution along one axis. */
function convOut(n: number, k: number, s: number, d: number, pb: number, pe: number): number {
  return Math.floor((n + pb + pe - (d * (k - 1) + 1)) / s) + 1;
}

/**
 * Output length of a pooling along one axis. With ceil_mode the last window must start inside
 * the input or its leading padding (PyTorch's rule, which onnxruntime 1.30 follows: a ceil-mode
 * MaxPool 2×2/2 with pads 1 on 5 values gives 3 outputs, not 4).
 */
function poolOut(n: number, k: number, s: number, d: number, pb: number, pe: number, ceil: boolean): number {
  const span = n + pb + pe - (d * (k - 1) + 1);
  if (span < 0) return 0;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  if (ceil && (out - 1) * s >= n + pb) out--;
  return out;
}

/** Explicit pads [top, left, bottom, right] from `pads` or `auto_pad`. */
function padsOf(
  n: NodeContext,
  inHW: [number, number],
  kernel: [number, number],
  stride: [number, number],
  dilation: [number, number],
): [number, number, number, number] {
  const autoPad = n.stringAttr('auto_pad', 'NOTSET');
  switch (autoPad) {
    case 'NOTSET': {
      const p = n.intsAttr('pads') ?? [0, 0, 0, 0];
      if (p.length !== 4) throw badModel(`${n.where} has pads [${p}]; a 2-D op needs 4 values`);
      if (p.some((v) => v < 0)) throw badModel(`${n.where} has negative pads [${p}]`);
      return [p[0], p[1], p[2], p[3]];
    }
    case 'VALID':
      return [0, 0, 0, 0];
    case 'SAME_UPPER':
    case 'SAME_LOWER': {
      if (dilation[0] !== 1 || dilation[1] !== 1) {
        // onnxruntime 1.30 rejects this for Conv and sizes pools with the undilated kernel, against
        // the ONNX formula below: no runtime to agree with.
        throw unsupported(
          `${n.where} combines auto_pad ${autoPad} with dilations [${dilation}]; pathwise ` +
            'supports auto_pad SAME_* without dilation (or explicit pads)',
        );
      }
      // Output ceil(n / stride); the extra pad goes at the end (UPPER) or the beginning (LOWER).
      const begin: number[] = [];
      const end: number[] = [];
      for (let a = 0; a < 2; a++) {
        const out = Math.ceil(inHW[a] / stride[a]);
        const total = Math.max(0, (out - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1 - inHW[a]);
        const small = Math.floor(total / 2);
        begin.push(autoPad === 'SAME_UPPER' ? small : total - small);
        end.push(autoPad === 'SAME_UPPER' ? total - small : small);
      }
      return [begin[0], begin[1], end[0], end[1]];
    }
    default:
      throw badModel(`${n.where} has auto_pad "${autoPad}" (expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)`);
  }
}

/** A 2-vector attribute of positive ints (strides, dilations), default [1, 1]. */
function pairAttr(n: NodeContext, name: string): [number, number] {
  const v = n.intsAttr(name) ?? [1, 1];
  if (v.length !== 2) throw badModel(`${n.where} has ${name} [${v}]; a 2-D op needs 2 values`);
  if (v.some((x) => x < 1)) throw badModel(`${n.where} has ${name} [${v}] (must be ≥ 1)`);
  return [v[0], v[1]];
}
