/**
 * ONNX loader: decodes a ModelProto with the generated subset schema (proto/onnx_subset.proto)
 * and turns the graph into a NetworkSpec (lib/layers.ts). It reads dense and convolutional ReLU
 * networks as PyTorch exports them, residual connections included.
 *
 * Values. Every ONNX value is either an activation (the graph input, or the output of a layer)
 * or a constant (an initializer, a Constant node, or the result of a small constant sub-graph
 * folded at load). Shape of an activation is static apart from the batch dimension, which the
 * folder carries as a symbol; so the Shape → Gather → Unsqueeze → Concat → Reshape pattern that
 * exporters emit for `x.view(x.size(0), -1)` becomes a constant shape whose first entry is the
 * batch. Folded ops: Constant, Shape, Gather, Unsqueeze, Squeeze, Concat, Slice, Cast,
 * ConstantOfShape, Identity.
 *
 * Layers. Gemm and MatMul → dense; Conv → conv (2-D only); Relu; MaxPool → maxpool;
 * AveragePool → avgpool; GlobalAveragePool → globalavgpool; BatchNormalization → batchnorm
 * (kept as is: folding into the conv or dense layer before it is the engine lowering's job);
 * Add of two activations of the same shape → add; Flatten → flatten; Reshape, and Squeeze /
 * Unsqueeze of an activation → reshape; Identity and Dropout → identity. An Add of a constant
 * right after a dense or conv layer (shape-only layers may sit between) folds into that layer's
 * bias, per output channel for conv.
 *
 * Graph. Only the nodes the graph output depends on are read: dead nodes are dropped whatever
 * their op, and so are layers whose output only feeds Shape nodes. Nodes are visited in file
 * order when it is topological (ONNX requires it), otherwise in a stable topological order; a
 * cycle, a value produced twice, or an input nothing produces is PATHWISE_BAD_MODEL. A layer
 * lists its producers in `inputs` only when it does not consume the layer just before it in the
 * array; add layers always list both. A chain therefore carries no `inputs` at all.
 *
 * Shapes ([C, H, W] or [F], batch dropped) are tracked through the graph and checked: dims that
 * do not chain, weight sizes, groups, strides, pads, windows that lie entirely in the padding and
 * activations above 2^31 elements are PATHWISE_BAD_MODEL naming the node. Anything pathwise
 * cannot represent is PATHWISE_UNSUPPORTED_OP naming the op and the node.
 *
 * Weights are converted in float64 (transposition, alpha/beta scaling, folded Adds) and rounded
 * to float32 once at the end.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import {
  AttributeProto_AttributeType as AttrType,
  ModelProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation as DataLocation,
  TensorProto_DataType as DataType,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from '../gen/onnx_subset_pb.js';
import { PathwiseError, badModel, unsupported } from '../errors.js';
import type {
  AvgPoolLayerSpec,
  BatchNormLayerSpec,
  ConvLayerSpec,
  DenseLayerSpec,
  LayerSpec,
  MaxPoolLayerSpec,
  NetworkSpec,
} from '../model/layers.js';

const SUPPORTED_OPS = [
  'Gemm',
  'MatMul',
  'Conv',
  'Relu',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'BatchNormalization',
  'Add',
  'Flatten',
  'Reshape',
  'Squeeze',
  'Unsqueeze',
  'Identity',
  'Dropout',
  'Constant',
  'Shape',
  'Gather',
  'Concat',
  'Slice',
  'Cast',
  'ConstantOfShape',
] as const;
const SUPPORTED_SET: ReadonlySet<string> = new Set(SUPPORTED_OPS);

/** Ops that only ever compute constants here (an activation input is unsupported). */
const CONSTANT_ONLY_OPS: ReadonlySet<string> = new Set(['Shape', 'Gather', 'Concat', 'Slice', 'Cast', 'ConstantOfShape']);
/** Ops that act on activations as layers and are folded when all their inputs are constants. */
const FOLDABLE_OPS: ReadonlySet<string> = new Set(['Identity', 'Squeeze', 'Unsqueeze', 'Reshape']);

/** Activations and tensors above this many elements are rejected as absurd. */
const MAX_ELEMENTS = 2 ** 31;
/** Folded constants are small shape computations; larger results are not folded. */
const MAX_FOLDED_ELEMENTS = 2 ** 24;
/** Largest kernel, stride, dilation or pad the engine accepts (native/core/ir/network.cc). */
const MAX_WINDOW = 2 ** 16;

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The batch dimension inside folded integer constants (e.g. entry 0 of Shape of an activation). */
const BATCH: unique symbol = Symbol('batch');
type IntElem = number | typeof BATCH;

/** A constant computed at load. */
type Folded = { kind: 'float'; dims: number[]; data: Float64Array } | { kind: 'int'; dims: number[]; data: IntElem[] };

/** A constant value: a TensorProto (decoded when used) or a folded result. */
type Const = { proto: TensorProto } | { folded: Folded };

/** An activation: the output of layer `layer` (-1 = the graph input). */
interface Act {
  layer: number;
  /** Shape without the batch dimension. */
  shape: number[];
  /**
   * The dense or conv layer a constant Add may fold into: set when this value is that layer's
   * output, possibly through shape-only layers, and every value on the way has a single consumer
   * (folding changes the layer's output for all of them).
   */
  fold?: PendingBias;
}

/** A dense or conv layer whose bias stays float64 until every folded Add is in. */
interface PendingBias {
  spec: DenseLayerSpec | ConvLayerSpec;
  bias: Float64Array | undefined;
  channels: number;
  /** Values per channel in the layer's output: 1 for dense, H × W for conv. */
  spatial: number;
}

/** A layer as emitted, with explicit producers (-1 = the network input). */
interface Emitted {
  spec: LayerSpec;
  srcs: number[];
}

/** A float tensor decoded to float64. */
interface FloatTensor {
  dims: number[];
  data: Float64Array;
}

/**
 * Parses an ONNX model (the bytes of a .onnx file) of a ReLU network into a NetworkSpec.
 *
 * @throws TypeError if `bytes` is not a Uint8Array.
 * @throws PathwiseError `PATHWISE_BAD_MODEL` if the bytes are not a valid model of this kind
 *   (undecodable, no float input, cycles or dangling inputs, shapes that do not chain, wrong
 *   tensor sizes, external data, last layer not a dense layer with at least 2 outputs).
 * @throws PathwiseError `PATHWISE_UNSUPPORTED_OP` for ops, domains, attributes or graph structures
 *   that pathwise does not handle; the message names the op and the node.
 */
export function parseOnnx(bytes: Uint8Array): NetworkSpec {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`parseOnnx expects the model bytes as a Uint8Array or Buffer, got ${describe(bytes)}`);
  }
  let model: ModelProto;
  try {
    // Unknown fields (everything the subset schema leaves out) are skipped, not kept.
    model = fromBinary(ModelProtoSchema, bytes, { readUnknownFields: false });
  } catch (err) {
    throw new PathwiseError(
      'PATHWISE_BAD_MODEL',
      `Cannot decode the ONNX model (${bytes.length} bytes): ${err instanceof Error ? err.message : String(err)}. ` +
        'Is this a complete .onnx file?',
      { cause: err },
    );
  }
  const graph = model.graph;
  if (!graph) {
    throw badModel(`The ONNX model (${bytes.length} bytes) has no graph: is this a .onnx file?`);
  }

  const consts = new Map<string, Const>();
  for (const t of graph.initializer) consts.set(t.name, { proto: t });

  const input = graphInput(graph.input, consts);
  const { inputShape, batchIsOne } = inputShapeOf(input);

  if (graph.output.length === 0) throw badModel('The ONNX graph has no output');
  if (graph.output.length > 1) {
    throw unsupported(
      `The ONNX graph has ${graph.output.length} outputs (${graph.output.map((o) => `"${o.name}"`).join(', ')}); ` +
        'pathwise supports models with a single output (the logits)',
    );
  }
  const outputName = graph.output[0].name;

  const { order, uses } = liveNodeOrder(graph.node, (name) => name === input.name || consts.has(name), outputName);
  const reader = new GraphReader(consts, uses, batchIsOne);
  reader.acts.set(input.name, { layer: -1, shape: inputShape });
  for (const index of order) reader.visit(graph.node[index], index);

  const out = reader.acts.get(outputName);
  if (!out) {
    throw badModel(`The ONNX graph output "${outputName}" is a constant: it does not depend on the input "${input.name}"`);
  }
  return reader.finish(out, inputShape);
}

// ---------------------------------------------------------------------------------------------
// Graph input

function graphInput(inputs: ValueInfoProto[], consts: Map<string, Const>): ValueInfoProto {
  // Before IR 4 initializers were also listed as graph inputs; those are weights, not the input.
  const real = inputs.filter((v) => !consts.has(v.name));
  if (real.length === 0) throw badModel('The ONNX graph has no input (every graph input is an initializer)');
  if (real.length > 1) {
    throw unsupported(
      `The ONNX graph has ${real.length} inputs (${real.map((v) => `"${v.name}"`).join(', ')}); pathwise ` +
        'supports models with a single input tensor',
    );
  }
  return real[0];
}

function inputShapeOf(input: ValueInfoProto): { inputShape: number[]; batchIsOne: boolean } {
  const label = `The ONNX graph input "${input.name}"`;
  const typeValue = input.type?.value;
  if (!typeValue || typeValue.case !== 'tensorType') throw badModel(`${label} has no tensor type`);
  const tensorType = typeValue.value;
  if (tensorType.elemType !== DataType.FLOAT) {
    throw badModel(`${label} has element type ${dataTypeName(tensorType.elemType)}; pathwise needs a float32 input`);
  }
  const dims = tensorType.shape?.dim;
  if (!dims) throw badModel(`${label} has no shape`);
  if (dims.length < 2) {
    throw badModel(`${label} has rank ${dims.length}; pathwise needs a batch dimension followed by the sample's dimensions`);
  }
  const batch = dims[0].value;
  if (batch.case === 'dimValue' && batch.value !== 1n) {
    throw badModel(`${label} has a fixed batch size of ${batch.value}; pathwise needs a symbolic batch dimension or 1`);
  }
  const inputShape = dims.slice(1).map((d, i) => {
    if (d.value.case !== 'dimValue') {
      const what = d.value.case === 'dimParam' ? `symbolic ("${d.value.value}")` : 'unknown';
      throw badModel(`${label}: dimension ${i + 1} is ${what}; pathwise needs fixed sizes apart from the batch dimension`);
    }
    const n = d.value.value;
    if (n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw badModel(`${label}: dimension ${i + 1} has size ${n}`);
    return Number(n);
  });
  if (product(inputShape) > MAX_ELEMENTS) {
    throw badModel(`${label} has shape [batch, ${inputShape}]: more than 2^31 values per example`);
  }
  return { inputShape, batchIsOne: batch.case === 'dimValue' };
}

// ---------------------------------------------------------------------------------------------
// Graph structure

/**
 * The nodes the graph output depends on, in a topological order (file order when that is one,
 * as ONNX requires; otherwise Kahn's algorithm, lowest file index first), and the number of
 * consumers of every value (the graph output counts as one).
 */
function liveNodeOrder(
  nodes: NodeProto[],
  isSource: (name: string) => boolean,
  outputName: string,
): { order: number[]; uses: Map<string, number> } {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) {
      if (!o) continue;
      const other = producer.get(o);
      if (other !== undefined) {
        throw badModel(`The ONNX value "${o}" is produced twice, by nodes ${nodeLabel(nodes[other], other)} and ${nodeLabel(n, i)}`);
      }
      if (isSource(o)) {
        throw badModel(`ONNX node ${nodeLabel(n, i)} writes "${o}", which is already the graph input or an initializer`);
      }
      producer.set(o, i);
    }
  });

  const live = new Uint8Array(nodes.length);
  const stack: number[] = [];
  const need = (name: string, by: string): void => {
    if (!name || isSource(name)) return;
    const p = producer.get(name);
    if (p === undefined) {
      throw badModel(`${by} uses "${name}", which is neither the graph input, an initializer nor the output of a node`);
    }
    if (!live[p]) {
      live[p] = 1;
      stack.push(p);
    }
  };
  if (!isSource(outputName) && !producer.has(outputName)) {
    throw badModel(`The ONNX graph output "${outputName}" is not produced by any node`);
  }
  need(outputName, 'The ONNX graph output');
  while (stack.length > 0) {
    const i = stack.pop()!;
    for (const name of nodes[i].input) need(name, `ONNX node ${nodeLabel(nodes[i], i)}`);
  }

  const uses = new Map<string, number>();
  const use = (name: string): void => {
    if (name) uses.set(name, (uses.get(name) ?? 0) + 1);
  };
  use(outputName);
  const liveIdx: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    if (!live[i]) continue;
    liveIdx.push(i);
    for (const name of nodes[i].input) use(name);
  }

  // File order is topological when every input is a source or comes from an earlier node.
  if (liveIdx.every((i) => nodes[i].input.every((name) => !name || isSource(name) || producer.get(name)! < i))) {
    return { order: liveIdx, uses };
  }

  const indegree = new Map<number, number>();
  const consumers = new Map<number, number[]>();
  for (const i of liveIdx) {
    let d = 0;
    for (const name of nodes[i].input) {
      if (!name || isSource(name)) continue;
      const p = producer.get(name)!;
      d++;
      if (!consumers.has(p)) consumers.set(p, []);
      consumers.get(p)!.push(i);
    }
    indegree.set(i, d);
  }
  const heap = new MinHeap();
  for (const i of liveIdx) if (indegree.get(i) === 0) heap.push(i);
  const order: number[] = [];
  while (heap.size > 0) {
    const i = heap.pop();
    order.push(i);
    for (const c of consumers.get(i) ?? []) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0) heap.push(c);
    }
  }
  if (order.length < liveIdx.length) {
    // Walk back from a node that never became ready along unready producers: that loops.
    let at = liveIdx.find((i) => indegree.get(i)! > 0)!;
    const seen = new Set<number>();
    while (!seen.has(at)) {
      seen.add(at);
      at = nodes[at].input.map((name) => producer.get(name)).find((p) => p !== undefined && indegree.get(p)! > 0)!;
    }
    throw badModel(`The ONNX graph has a cycle through node ${nodeLabel(nodes[at], at)}, which depends on its own output`);
  }
  return { order, uses };
}

/** A binary min-heap of node indices (stable topological order). */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

// ---------------------------------------------------------------------------------------------
// Nodes

class GraphReader {
  readonly acts = new Map<string, Act>();
  private readonly emitted: Emitted[] = [];
  private readonly pendings: PendingBias[] = [];
  /** Value name → label of the node that produced it (for messages about unread outputs). */
  private readonly producedBy = new Map<string, string>();

  constructor(
    private readonly consts: Map<string, Const>,
    private readonly uses: Map<string, number>,
    private readonly batchIsOne: boolean,
  ) {}

  visit(node: NodeProto, index: number): void {
    const label = nodeLabel(node, index);
    const op = node.opType;
    if (node.domain !== '' && node.domain !== 'ai.onnx') {
      throw unsupported(
        `Unsupported ONNX op "${op}" from domain "${node.domain}" at node ${label} ` +
          `(pathwise supports only the default ONNX domain: ${SUPPORTED_OPS.join(', ')})`,
      );
    }
    if (!SUPPORTED_SET.has(op)) {
      throw unsupported(`Unsupported ONNX op "${op}" at node ${label} (supported: ${SUPPORTED_OPS.join(', ')})`);
    }
    const out = node.output[0];
    if (!out) throw badModel(`ONNX node ${label} (${op}) has no output`);
    for (const o of node.output) if (o) this.producedBy.set(o, label);

    if (op === 'Constant') {
      this.consts.set(out, { proto: constantNodeValue(node, label) });
      return;
    }
    // Constant inputs only (Shape of an activation is static too): fold.
    const actInputs = node.input.filter((name) => name && this.acts.has(name));
    if (CONSTANT_ONLY_OPS.has(op) || (actInputs.length === 0 && FOLDABLE_OPS.has(op))) {
      for (const name of node.input) if (name) this.operand(name, node, label);
      if (actInputs.length > 0 && op !== 'Shape') {
        throw unsupported(
          `${op} at node ${label} operates on the activation "${actInputs[0]}"; pathwise reads ${op} only in ` +
            'constant (shape) computations, which it folds at load',
        );
      }
      this.consts.set(out, { folded: this.fold(node, label) });
      return;
    }

    // Layers carry the ONNX node name; unnamed nodes get no name key.
    const name = node.name || undefined;
    switch (op) {
      case 'Gemm':
        return this.gemm(node, label, name);
      case 'MatMul':
        return this.matmul(node, label, name);
      case 'Conv':
        return this.conv(node, label, name);
      case 'Relu': {
        const x = this.act(node, 0, label);
        this.emitAct(out, { type: 'relu' }, [x.layer], x.shape, name);
        return;
      }
      case 'MaxPool':
      case 'AveragePool':
        return this.pool(node, label, name);
      case 'GlobalAveragePool': {
        const x = this.act(node, 0, label);
        if (x.shape.length !== 3) {
          throw unsupported(
            `GlobalAveragePool at node ${label} on an input of shape [batch, ${x.shape}]; pathwise supports 2-D ` +
              'pooling only (4-D NCHW tensors)',
          );
        }
        this.emitAct(out, { type: 'globalavgpool' }, [x.layer], [x.shape[0], 1, 1], name);
        return;
      }
      case 'BatchNormalization':
        return this.batchNorm(node, label, name);
      case 'Add':
        return this.add(node, label, name);
      case 'Identity': {
        const x = this.act(node, 0, label);
        this.emitAct(out, { type: 'identity' }, [x.layer], x.shape, name, this.passFold(x, out));
        return;
      }
      case 'Dropout': {
        const x = this.act(node, 0, label);
        this.checkDropoutInference(node, label);
        this.emitAct(out, { type: 'identity' }, [x.layer], x.shape, name, this.passFold(x, out));
        return;
      }
      case 'Flatten':
        return this.flatten(node, label, name);
      case 'Reshape':
        return this.reshape(node, label, name);
      case 'Squeeze':
      case 'Unsqueeze':
        return this.squeezeAct(node, label, name);
    }
    throw new Error(`internal: op ${op} is listed as supported but has no handler`);
  }

  /** Prunes layers that do not reach the output, sets `inputs`, writes biases, checks the end. */
  finish(out: Act, inputShape: number[]): NetworkSpec {
    if (out.layer < 0) throw badModel('The ONNX graph output is the graph input itself: the model has no layers');
    for (const p of this.pendings) if (p.bias) p.spec.bias = Float32Array.from(p.bias);

    // Layers whose output only fed Shape nodes do not reach the output: drop them.
    const live = new Uint8Array(this.emitted.length);
    live[out.layer] = 1;
    for (let i = out.layer; i >= 0; i--) {
      if (live[i]) for (const s of this.emitted[i].srcs) if (s >= 0) live[s] = 1;
    }
    const remap = new Int32Array(this.emitted.length).fill(-1);
    const layers: LayerSpec[] = [];
    this.emitted.forEach((e, i) => {
      if (!live[i]) return;
      const srcs = e.srcs.map((s) => (s < 0 ? -1 : remap[s]));
      const at = layers.length;
      if (e.spec.type === 'add') e.spec.inputs = [srcs[0], srcs[1]];
      else if (srcs[0] !== at - 1) e.spec.inputs = srcs;
      remap[i] = at;
      layers.push(e.spec);
    });

    // The logits: a dense layer, possibly followed by shape-only layers.
    let last: LayerSpec | undefined;
    for (let i = layers.length - 1; i >= 0 && !last; i--) {
      const t = layers[i].type;
      if (t !== 'identity' && t !== 'flatten' && t !== 'reshape') last = layers[i];
    }
    if (!last || last.type !== 'dense') {
      throw badModel(
        last
          ? `The last layer of the ONNX model is a ${OP_OF_TYPE[last.type]}${last.name ? ` (node "${last.name}")` : ''}; ` +
              'pathwise needs the logits of a final dense layer (Gemm or MatMul)'
          : 'The ONNX model has no dense layer (Gemm or MatMul)',
      );
    }
    if (last.out < 2) {
      throw badModel(
        `The last dense layer${last.name ? ` "${last.name}"` : ''} has ${last.out} output; pathwise explains ` +
          'classifiers with at least 2 outputs (logits)',
      );
    }
    if (out.shape.length !== 1 || out.shape[0] !== last.out) {
      throw badModel(`The ONNX model's output has shape [batch, ${out.shape}]; pathwise needs [batch, ${last.out}] (the logits)`);
    }
    return { inputShape, layers };
  }

  // -------------------------------------------------------------------------------------------
  // Operands

  /** An input of a node: an activation or a constant. */
  private operand(name: string, node: NodeProto, label: string): { act: Act } | { c: Const } {
    const act = this.acts.get(name);
    if (act) return { act };
    const c = this.consts.get(name);
    if (c) return { c };
    const by = this.producedBy.get(name);
    throw unsupported(
      `${node.opType} at node ${label} uses "${name}"${by ? `, an output of node ${by}` : ''} that pathwise does not ` +
        "model (such as Dropout's mask or MaxPool's Indices)",
    );
  }

  /** Input `pos`, which must be an activation. */
  private act(node: NodeProto, pos: number, label: string): Act {
    const name = node.input[pos];
    if (!name) throw badModel(`${node.opType} at node ${label} has no input ${pos}`);
    const v = this.operand(name, node, label);
    if ('act' in v) return v.act;
    throw unsupported(
      `${node.opType} at node ${label} takes the constant "${name}" as input ${pos} where pathwise expects the ` +
        'activation (a layer applied to constants is not folded)',
    );
  }

  /** Input `pos`, which must be a constant. */
  private constAt(node: NodeProto, pos: number, what: string, label: string): Const {
    const name = node.input[pos];
    if (!name) throw badModel(`${node.opType} at node ${label} has no ${what} (input ${pos})`);
    const v = this.operand(name, node, label);
    if ('c' in v) return v.c;
    throw unsupported(
      `${node.opType} at node ${label}: ${what} "${name}" is not a constant (initializer, Constant node or a ` +
        'foldable constant sub-graph); pathwise needs constant weights',
    );
  }

  private floatAt(node: NodeProto, pos: number, what: string, label: string): FloatTensor {
    return floatOf(this.constAt(node, pos, what, label), `${what} of ${node.opType} at node ${label}`);
  }

  // -------------------------------------------------------------------------------------------
  // Emitting

  private emit(spec: LayerSpec, srcs: number[], name: string | undefined): number {
    if (name !== undefined) spec.name = name;
    this.emitted.push({ spec, srcs });
    return this.emitted.length - 1;
  }

  /** Emits a layer and registers its output value. */
  private emitAct(
    out: string,
    spec: LayerSpec,
    srcs: number[],
    shape: number[],
    name: string | undefined,
    fold?: PendingBias,
  ): void {
    const size = product(shape);
    if (size > MAX_ELEMENTS) {
      throw badModel(`${OP_OF_TYPE[spec.type]} at node ${name ? `"${name}"` : `writing "${out}"`} would output [batch, ${shape}]: more than 2^31 values per example`);
    }
    const layer = this.emit(spec, srcs, name);
    this.acts.set(out, { layer, shape, fold });
  }

  /** The fold target passes through a shape-only node if its output has a single consumer. */
  private passFold(x: Act, out: string): PendingBias | undefined {
    return x.fold && this.uses.get(out) === 1 ? x.fold : undefined;
  }

  private emitBiased(
    out: string,
    spec: DenseLayerSpec | ConvLayerSpec,
    bias: Float64Array | undefined,
    src: number,
    shape: number[],
    name: string | undefined,
  ): void {
    const channels = spec.type === 'dense' ? spec.out : spec.outChannels;
    const pending: PendingBias = { spec, bias, channels, spatial: product(shape) / channels };
    this.pendings.push(pending);
    this.emitAct(out, spec, [src], shape, name, this.uses.get(out) === 1 ? pending : undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Dense layers

  private gemm(node: NodeProto, label: string, name: string | undefined): void {
    const actPos = node.input.findIndex((n) => n && this.acts.has(n));
    if (actPos !== 0) {
      if (actPos > 0) {
        throw unsupported(
          `Gemm at node ${label} takes the activation as input ${actPos === 1 ? 'B' : 'C'}; pathwise needs it ` +
            'as input A (a dense layer A·B + C with constant B and C)',
        );
      }
      this.act(node, 0, label); // throws: a Gemm of constants
    }
    const x = this.act(node, 0, label);
    const transA = intAttr(node, 'transA', 0, label);
    if (transA !== 0) {
      throw unsupported(
        `Gemm at node ${label} has transA=${transA}: it transposes the activation, which is not a dense ` +
          'layer; pathwise supports Gemm with the activation as input A and transA=0',
      );
    }
    const transB = intAttr(node, 'transB', 0, label);
    if (transB !== 0 && transB !== 1) throw badModel(`Gemm at node ${label} has transB=${transB} (must be 0 or 1)`);
    const alpha = floatAttr(node, 'alpha', 1, label);
    const beta = floatAttr(node, 'beta', 1, label);
    requireVector(x.shape, 'Gemm', label);
    const b = this.floatAt(node, 1, 'weight B', label);
    if (b.dims.length !== 2) {
      throw badModel(`Gemm at node ${label}: weight B has shape [${b.dims}], expected a 2-D matrix`);
    }
    const inSize = transB ? b.dims[1] : b.dims[0];
    const outSize = transB ? b.dims[0] : b.dims[1];
    checkInSize(inSize, x.shape, 'Gemm', label);
    const w = new Float32Array(outSize * inSize);
    for (let o = 0; o < outSize; o++) {
      for (let k = 0; k < inSize; k++) {
        const v = transB ? b.data[o * inSize + k] : b.data[k * outSize + o];
        w[o * inSize + k] = alpha * v;
      }
    }
    let bias: Float64Array | undefined;
    if (node.input[2]) {
      const c = this.floatAt(node, 2, 'bias C', label);
      const cb = broadcastTo(c, [1, outSize]);
      if (cb === 'incompatible' || cb === 'expands') {
        throw badModel(
          `Gemm at node ${label}: bias C of shape [${c.dims}] does not broadcast to [batch, ${outSize}] ` +
            '(supported: [out], [1, out], [1] or a scalar)',
        );
      }
      bias = cb.map((v) => beta * v);
    }
    const spec: DenseLayerSpec = { type: 'dense', weights: w, in: inSize, out: outSize };
    this.emitBiased(node.output[0], spec, bias, x.layer, [outSize], name);
  }

  private matmul(node: NodeProto, label: string, name: string | undefined): void {
    if (!(node.input[0] && this.acts.has(node.input[0])) && node.input[1] && this.acts.has(node.input[1])) {
      throw unsupported(
        `MatMul at node ${label} takes the activation as its right operand; pathwise supports ` +
          'activation · W with a constant matrix W',
      );
    }
    const x = this.act(node, 0, label);
    if (x.shape.length !== 1) {
      throw unsupported(
        `MatMul at node ${label} multiplies an activation of shape [batch, ${x.shape}]: MatMul acts on the last ` +
          'axis only, which is not a dense layer; pathwise supports MatMul on [batch, features] (add a Flatten)',
      );
    }
    const b = this.floatAt(node, 1, 'weight', label);
    if (b.dims.length !== 2) {
      throw unsupported(
        `MatMul at node ${label}: the constant right operand has shape [${b.dims}]; pathwise supports a 2-D ` +
          '[in, out] matrix',
      );
    }
    const [inSize, outSize] = b.dims;
    checkInSize(inSize, x.shape, 'MatMul', label);
    const w = new Float32Array(outSize * inSize);
    for (let o = 0; o < outSize; o++) {
      for (let k = 0; k < inSize; k++) w[o * inSize + k] = b.data[k * outSize + o];
    }
    const spec: DenseLayerSpec = { type: 'dense', weights: w, in: inSize, out: outSize };
    this.emitBiased(node.output[0], spec, undefined, x.layer, [outSize], name);
  }

  // -------------------------------------------------------------------------------------------
  // Convolution and pooling

  private conv(node: NodeProto, label: string, name: string | undefined): void {
    const x = this.act(node, 0, label);
    require2d(x.shape, 'Conv', 'convolution', label);
    const [inC, inH, inW] = x.shape;
    const w = this.floatAt(node, 1, 'weight W', label);
    if (w.dims.length !== 4) {
      throw badModel(
        `Conv at node ${label}: weight W has shape [${w.dims}]; a 2-D convolution needs a 4-D weight ` +
          '[out channels, in channels / group, kernel height, kernel width]',
      );
    }
    const [outC, inPerGroup, kh, kw] = w.dims;
    const groups = intAttr(node, 'group', 1, label);
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
    const ks = intsAttr(node, 'kernel_shape', label);
    if (ks && (ks.length !== 2 || ks[0] !== kh || ks[1] !== kw)) {
      throw badModel(`Conv at node ${label}: kernel_shape [${ks}] does not match the weight's shape [${w.dims}]`);
    }
    const stride = pairAttr(node, 'strides', label);
    const dilation = pairAttr(node, 'dilations', label);
    const pads = padsOf(node, label, [inH, inW], kernel, stride, dilation);
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
      const b = this.floatAt(node, 2, 'bias B', label);
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
    this.emitBiased(node.output[0], spec, bias, x.layer, [outC, outH, outW], name);
  }

  private pool(node: NodeProto, label: string, name: string | undefined): void {
    const op = node.opType;
    const x = this.act(node, 0, label);
    require2d(x.shape, op, 'pooling', label);
    if (op === 'MaxPool' && node.output[1]) {
      throw unsupported(
        `MaxPool at node ${label} also outputs the Indices "${node.output[1]}"; pathwise supports MaxPool with ` +
          'its values output only',
      );
    }
    const [c, inH, inW] = x.shape;
    const ks = intsAttr(node, 'kernel_shape', label);
    if (!ks) throw badModel(`${op} at node ${label} has no kernel_shape`);
    if (ks.length !== 2) {
      throw unsupported(`${op} at node ${label} has kernel_shape [${ks}]; pathwise supports 2-D pooling only`);
    }
    if (ks[0] < 1 || ks[1] < 1) throw badModel(`${op} at node ${label} has kernel_shape [${ks}] (must be ≥ 1)`);
    const kernel: [number, number] = [ks[0], ks[1]];
    const stride = pairAttr(node, 'strides', label);
    const dilation = pairAttr(node, 'dilations', label);
    const ceilMode = intAttr(node, 'ceil_mode', 0, label);
    if (ceilMode !== 0 && ceilMode !== 1) throw badModel(`${op} at node ${label} has ceil_mode=${ceilMode} (must be 0 or 1)`);
    const pads = padsOf(node, label, [inH, inW], kernel, stride, dilation);
    // The engine's window limit (native/core/ir/network.cc), checked here because a pool has no
    // weights to bound its kernel: the sweep below is linear in the output size.
    if ([...kernel, ...stride, ...dilation, ...pads].some((v) => v > MAX_WINDOW)) {
      throw badModel(`${op} at node ${label}: window geometry out of range (kernel [${kernel}], strides [${stride}], ` +
        `dilations [${dilation}], pads [${pads}]; each must be at most ${MAX_WINDOW})`);
    }
    const outH = poolOut(inH, kernel[0], stride[0], dilation[0], pads[0], pads[2], ceilMode === 1);
    const outW = poolOut(inW, kernel[1], stride[1], dilation[1], pads[1], pads[3], ceilMode === 1);
    if (outH < 1 || outW < 1) {
      throw badModel(`${op} at node ${label}: the ${kernel[0]}×${kernel[1]} window does not fit the padded ${inH}×${inW} input (pads [${pads}])`);
    }
    // Every window must see the input: a window entirely in the padding has no maximum (and no
    // average without count_include_pad). PyTorch forbids it (pad ≤ half the kernel).
    for (let axis = 0; axis < 2; axis++) {
      const n = axis === 0 ? inH : inW;
      const outN = axis === 0 ? outH : outW;
      for (let o = 0; o < outN; o++) {
        const start = o * stride[axis] - pads[axis];
        // The first tap at or after the input's start: the window sees the input iff it exists and
        // lies before the input's end (O(1), not a loop over the kernel).
        const first = start >= 0 ? 0 : Math.ceil(-start / dilation[axis]);
        const sees = first < kernel[axis] && start + first * dilation[axis] < n;
        if (!sees) {
          throw badModel(
            `${op} at node ${label}: output ${axis === 0 ? 'row' : 'column'} ${o} pools a window that lies entirely ` +
              `in the padding (kernel [${kernel}], strides [${stride}], dilations [${dilation}], pads [${pads}])`,
          );
        }
      }
    }
    let spec: MaxPoolLayerSpec | AvgPoolLayerSpec;
    if (op === 'MaxPool') {
      const storageOrder = intAttr(node, 'storage_order', 0, label);
      if (storageOrder !== 0 && storageOrder !== 1) throw badModel(`MaxPool at node ${label} has storage_order=${storageOrder}`);
      spec = { type: 'maxpool', kernel, stride, pads, dilation, ceilMode: ceilMode === 1 };
    } else {
      if (dilation[0] !== 1 || dilation[1] !== 1) {
        throw unsupported(`AveragePool at node ${label} has dilations [${dilation}]; pathwise supports average pooling without dilation`);
      }
      const cip = intAttr(node, 'count_include_pad', 0, label);
      if (cip !== 0 && cip !== 1) throw badModel(`AveragePool at node ${label} has count_include_pad=${cip} (must be 0 or 1)`);
      spec = { type: 'avgpool', kernel, stride, pads, ceilMode: ceilMode === 1, countIncludePad: cip === 1 };
    }
    this.emitAct(node.output[0], spec, [x.layer], [c, outH, outW], name);
  }

  private batchNorm(node: NodeProto, label: string, name: string | undefined): void {
    const x = this.act(node, 0, label);
    if (intAttr(node, 'training_mode', 0, label) !== 0 || node.output.slice(1).some((o) => o)) {
      throw unsupported(
        `BatchNormalization at node ${label} runs in training mode (training_mode=1 or running statistics as ` +
          'outputs); pathwise needs inference mode (export the model in eval mode)',
      );
    }
    if (intAttr(node, 'spatial', 1, label) !== 1) {
      throw unsupported(`BatchNormalization at node ${label} has spatial=0 (per-position statistics); pathwise supports per-channel statistics`);
    }
    const channels = x.shape[0];
    const param = (pos: number, what: string): Float32Array => {
      const t = this.floatAt(node, pos, what, label);
      if (t.dims.length !== 1 || t.dims[0] !== channels) {
        throw badModel(
          `BatchNormalization at node ${label}: ${what} has shape [${t.dims}], but the input [batch, ${x.shape}] has ` +
            `${channels} channels`,
        );
      }
      return Float32Array.from(t.data);
    };
    // The default too is the float32 value (what an explicit attribute would hold).
    const epsilon = floatAttr(node, 'epsilon', Math.fround(1e-5), label);
    if (!(epsilon >= 0)) throw badModel(`BatchNormalization at node ${label} has epsilon ${epsilon} (must be ≥ 0)`);
    const spec: BatchNormLayerSpec = {
      type: 'batchnorm',
      scale: param(1, 'scale'),
      bias: param(2, 'bias B'),
      mean: param(3, 'mean'),
      variance: param(4, 'variance'),
      epsilon,
    };
    for (let ch = 0; ch < channels; ch++) {
      if (!(spec.variance[ch] + epsilon > 0)) {
        throw badModel(
          `BatchNormalization at node ${label}: variance + epsilon of channel ${ch} is ${spec.variance[ch] + epsilon} ` +
            '(must be > 0)',
        );
      }
    }
    this.emitAct(node.output[0], spec, [x.layer], x.shape, name);
  }

  // -------------------------------------------------------------------------------------------
  // Add

  private add(node: NodeProto, label: string, name: string | undefined): void {
    const [aName, bName] = node.input;
    if (!aName || !bName) throw badModel(`Add at node ${label} needs two inputs`);
    const a = this.operand(aName, node, label);
    const b = this.operand(bName, node, label);
    const out = node.output[0];
    if ('act' in a && 'act' in b) {
      if (!sameShape(a.act.shape, b.act.shape)) {
        throw unsupported(
          `Add at node ${label} adds activations of shapes [batch, ${a.act.shape}] and [batch, ${b.act.shape}]; ` +
            'pathwise supports the sum of two activations of the same shape (a residual connection), not broadcasting',
        );
      }
      this.emitAct(out, { type: 'add', inputs: [a.act.layer, b.act.layer] }, [a.act.layer, b.act.layer], a.act.shape, name);
      return;
    }
    if (!('act' in a) && !('act' in b)) {
      throw unsupported(`Add at node ${label} adds two constants; pathwise does not fold constant arithmetic`);
    }
    const [x, cName, c] = 'act' in a ? [a.act, bName, (b as { c: Const }).c] : [(b as { act: Act }).act, aName, a.c];
    if (!x.fold) {
      throw unsupported(
        `Add at node ${label} adds the constant "${cName}" to an activation that is not the output of a dense or ` +
          'conv layer; pathwise supports a constant Add only right after a dense or conv layer (with at most ' +
          "shape-only layers between, and no other consumer), where it folds into the layer's bias",
      );
    }
    const t = floatOf(c, `constant operand of Add at node ${label}`);
    const cb = broadcastTo(t, [1, ...x.shape]);
    if (cb === 'incompatible') {
      throw badModel(`Add at node ${label}: constant of shape [${t.dims}] does not broadcast with the activation [batch, ${x.shape}]`);
    }
    if (cb === 'expands') {
      throw unsupported(
        `Add at node ${label}: constant of shape [${t.dims}] would expand the activation [batch, ${x.shape}]; ` +
          'pathwise supports a constant that broadcasts to the activation shape (a bias)',
      );
    }
    const target = x.fold;
    const { channels, spatial } = target;
    for (let ch = 0; ch < channels; ch++) {
      const v = cb[ch * spatial];
      for (let s = 1; s < spatial; s++) {
        if (cb[ch * spatial + s] !== v) {
          throw unsupported(
            `Add at node ${label}: the constant of shape [${t.dims}] varies within an output channel of the conv ` +
              `layer it follows ([batch, ${x.shape}]); pathwise folds only a per-channel bias ([C, 1, 1], ` +
              '[1, C, 1, 1] or a scalar)',
          );
        }
      }
    }
    if (!target.bias) target.bias = new Float64Array(channels);
    for (let ch = 0; ch < channels; ch++) target.bias[ch] += cb[ch * spatial];
    // No layer: the sum is the (re-biased) layer's output.
    this.acts.set(out, { layer: x.layer, shape: x.shape, fold: this.passFold(x, out) });
  }

  // -------------------------------------------------------------------------------------------
  // Shape-only layers

  private flatten(node: NodeProto, label: string, name: string | undefined): void {
    const x = this.act(node, 0, label);
    const rank = x.shape.length + 1;
    let axis = intAttr(node, 'axis', 1, label);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis > rank) {
      throw badModel(`Flatten at node ${label}: axis ${intAttr(node, 'axis', 1, label)} is out of range for rank ${rank}`);
    }
    // Same result as axis 1 (batch kept, the rest merged)? axis 0 only with a fixed batch of 1;
    // axis k > 1 when the dimensions it keeps beside the batch are all 1.
    const noOp = axis === 1 || (axis === 0 ? this.batchIsOne : product(x.shape.slice(0, axis - 1)) === 1);
    if (!noOp) {
      throw unsupported(
        `Flatten at node ${label} with axis=${axis} on [batch, ${x.shape}] does not keep the batch dimension ` +
          'separate; pathwise supports Flatten with axis=1',
      );
    }
    const out = node.output[0];
    this.emitAct(out, { type: 'flatten' }, [x.layer], [product(x.shape)], name, this.passFold(x, out));
  }

  private reshape(node: NodeProto, label: string, name: string | undefined): void {
    const x = this.act(node, 0, label);
    const target = this.reshapeTarget(node, label);
    const resolved = resolveReshape([1, ...x.shape], target, intAttr(node, 'allowzero', 0, label), label);
    if (resolved[0] !== 1) {
      throw unsupported(
        `Reshape at node ${label} to [${target}] does not keep the batch dimension first (from [batch, ${x.shape}]); ` +
          'pathwise needs the first dimension of the new shape to be the batch (0, -1 or 1)',
      );
    }
    const shape = resolved.slice(1);
    const out = node.output[0];
    this.emitAct(out, { type: 'reshape', shape: shape.slice() }, [x.layer], shape, name, this.passFold(x, out));
  }

  private reshapeTarget(node: NodeProto, label: string): number[] {
    if (!node.input[1]) {
      // Opset 1-4 carried the shape as an attribute.
      const a = findAttr(node, 'shape');
      if (!a) throw badModel(`Reshape at node ${label} has no shape input`);
      return a.ints.map((v) => bigToNumber(v, `shape of Reshape at node ${label}`));
    }
    const name = node.input[1];
    const v = this.operand(name, node, label);
    if ('act' in v) {
      throw unsupported(
        `Reshape at node ${label}: the shape "${name}" is computed from activation values; pathwise supports ` +
          'Reshape with a constant shape (or one folded from static shapes)',
      );
    }
    const where = `shape of Reshape at node ${label}`;
    const t = 'proto' in v.c ? { dims: tensorDims(v.c.proto, where), data: intTensor(v.c.proto, where) as IntElem[] } : intsOfFolded(v.c.folded, where);
    if (t.dims.length !== 1) throw badModel(`Reshape at node ${label}: the shape tensor has shape [${t.dims}], expected 1-D`);
    return t.data.map((d, i) => {
      if (d !== BATCH) return d;
      // The batch dimension itself (x.view(x.size(0), -1)) is a batch-preserving entry at 0.
      if (i === 0) return 1;
      throw unsupported(
        `Reshape at node ${label} moves the batch dimension to position ${i} of the new shape; pathwise needs ` +
          'the batch first',
      );
    });
  }

  private squeezeAct(node: NodeProto, label: string, name: string | undefined): void {
    const op = node.opType;
    const x = this.act(node, 0, label);
    const axes = this.axesOf(node, label);
    const inRank = x.shape.length + 1;
    let shape: number[];
    if (op === 'Unsqueeze') {
      if (!axes) throw badModel(`Unsqueeze at node ${label} has no axes`);
      const outRank = inRank + axes.length;
      const norm = normAxes(axes, outRank, op, label);
      if (norm.includes(0)) {
        throw unsupported(`Unsqueeze at node ${label} inserts a dimension before the batch; pathwise needs the batch first`);
      }
      shape = [];
      let k = 1;
      for (let a = 1; a < outRank; a++) shape.push(norm.includes(a) ? 1 : x.shape[k++ - 1]);
    } else {
      if (!axes) {
        throw unsupported(
          `Squeeze at node ${label} has no axes: on an activation it would also drop a batch dimension of 1; ` +
            'pathwise supports Squeeze of activations with explicit axes',
        );
      }
      const norm = normAxes(axes, inRank, op, label);
      if (norm.includes(0)) throw unsupported(`Squeeze at node ${label} removes the batch dimension`);
      for (const a of norm) {
        if (x.shape[a - 1] !== 1) {
          throw badModel(`Squeeze at node ${label}: axis ${a} of [batch, ${x.shape}] has size ${x.shape[a - 1]}, not 1`);
        }
      }
      shape = x.shape.filter((_, i) => !norm.includes(i + 1));
    }
    const out = node.output[0];
    this.emitAct(out, { type: 'reshape', shape: shape.slice() }, [x.layer], shape, name, this.passFold(x, out));
  }

  /** Axes of Squeeze / Unsqueeze: input 1 (opset 13) or the attribute (earlier). */
  private axesOf(node: NodeProto, label: string): number[] | undefined {
    if (node.input[1]) {
      const t = intsOf(this.constAt(node, 1, 'axes', label), `axes of ${node.opType} at node ${label}`);
      return t.data.map((v) => {
        if (v === BATCH) throw unsupported(`${node.opType} at node ${label}: axes computed from the batch size`);
        return v;
      });
    }
    return intsAttr(node, 'axes', label);
  }

  private checkDropoutInference(node: NodeProto, label: string): void {
    // Opset 12+: input 2 is training_mode. Only a constant false (or its absence) is inference.
    const tm = node.input[2];
    if (!tm) return;
    const v = this.operand(tm, node, label);
    if ('act' in v) {
      throw unsupported(`Dropout at node ${label} has a non-constant training_mode "${tm}"; pathwise needs inference mode`);
    }
    const t = intsOf(v.c, `training_mode of Dropout at node ${label}`);
    if (t.data.some((x) => x !== 0)) {
      throw unsupported(`Dropout at node ${label} runs in training mode (training_mode = true); pathwise needs inference mode`);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Constant folding: a small evaluator over int64 (with a symbolic batch) and float constants

  private fold(node: NodeProto, label: string): Folded {
    const op = node.opType;
    const where = `${op} at node ${label}`;
    const inConst = (pos: number, what: string): Folded => foldedOf(this.constAt(node, pos, what, label), `${what} of ${where}`);
    const inInts = (pos: number, what: string): number[] =>
      noBatch(intsOf(this.constAt(node, pos, what, label), `${what} of ${where}`).data, `${what} of ${where}`);
    const tooBig = (): PathwiseError =>
      unsupported(`${where} computes a constant of more than 2^24 elements; pathwise folds only small constant sub-graphs`);
    let r: Folded;
    switch (op) {
      case 'Identity':
        r = inConst(0, 'input');
        break;
      case 'Shape': {
        const name = node.input[0];
        if (!name) throw badModel(`${where} has no input`);
        const v = this.operand(name, node, label);
        const dims: IntElem[] = 'act' in v ? [this.batchIsOne ? 1 : BATCH, ...v.act.shape] : foldedOf(v.c, `input of ${where}`).dims;
        const rank = dims.length;
        const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
        const start = clampAxis(intAttr(node, 'start', 0, label));
        const end = clampAxis(findAttr(node, 'end') ? intAttr(node, 'end', rank, label) : rank);
        const data = dims.slice(start, Math.max(start, end));
        r = { kind: 'int', dims: [data.length], data };
        break;
      }
      case 'Gather': {
        const data = inConst(0, 'data');
        const idx = inInts(1, 'indices');
        const idxDims = foldedOf(this.constAt(node, 1, 'indices', label), `indices of ${where}`).dims;
        const rank = data.dims.length;
        if (rank === 0) throw badModel(`${where}: cannot gather from a scalar`);
        let axis = intAttr(node, 'axis', 0, label);
        if (axis < -rank || axis >= rank) throw badModel(`${where}: axis ${axis} is out of range for rank ${rank}`);
        if (axis < 0) axis += rank;
        const n = data.dims[axis];
        const outer = product(data.dims.slice(0, axis));
        const inner = product(data.dims.slice(axis + 1));
        const src: number[] = [];
        for (let o = 0; o < outer; o++) {
          for (let i of idx) {
            if (i < -n || i >= n) throw badModel(`${where}: index ${i} is out of range for a dimension of size ${n}`);
            if (i < 0) i += n;
            for (let k = 0; k < inner; k++) src.push((o * n + i) * inner + k);
          }
        }
        r = take(data, [...data.dims.slice(0, axis), ...idxDims, ...data.dims.slice(axis + 1)], src);
        break;
      }
      case 'Unsqueeze': {
        const data = inConst(0, 'data');
        const axes = this.axesOf(node, label);
        if (!axes) throw badModel(`${where} has no axes`);
        const outRank = data.dims.length + axes.length;
        const norm = normAxes(axes, outRank, op, label);
        const dims: number[] = [];
        let k = 0;
        for (let a = 0; a < outRank; a++) dims.push(norm.includes(a) ? 1 : data.dims[k++]);
        r = { ...data, dims } as Folded;
        break;
      }
      case 'Squeeze': {
        const data = inConst(0, 'data');
        const axes = this.axesOf(node, label);
        const rank = data.dims.length;
        const norm = axes ? normAxes(axes, rank, op, label) : data.dims.flatMap((d, i) => (d === 1 ? [i] : []));
        for (const a of norm) {
          if (data.dims[a] !== 1) throw badModel(`${where}: axis ${a} of [${data.dims}] has size ${data.dims[a]}, not 1`);
        }
        r = { ...data, dims: data.dims.filter((_, i) => !norm.includes(i)) } as Folded;
        break;
      }
      case 'Reshape': {
        const data = inConst(0, 'data');
        const target = node.input[1] ? inInts(1, 'shape') : (intsAttr(node, 'shape', label) ?? []);
        const dims = resolveReshape(data.dims, target, intAttr(node, 'allowzero', 0, label), label);
        r = { ...data, dims } as Folded;
        break;
      }
      case 'Concat': {
        const parts = node.input.filter((n) => n).map((_, i) => inConst(i, `input ${i}`));
        if (parts.length === 0) throw badModel(`${where} has no inputs`);
        const rank = parts[0].dims.length;
        const aAttr = findAttr(node, 'axis');
        if (!aAttr) throw badModel(`${where} has no axis`);
        let axis = intAttr(node, 'axis', 0, label);
        if (axis < -rank || axis >= rank) throw badModel(`${where}: axis ${axis} is out of range for rank ${rank}`);
        if (axis < 0) axis += rank;
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
        r = parts[0].kind === 'float'
          ? { kind: 'float', dims, data: Float64Array.from(values as number[]) }
          : { kind: 'int', dims, data: values };
        break;
      }
      case 'Slice': {
        const data = inConst(0, 'data');
        const rank = data.dims.length;
        let starts: number[];
        let ends: number[];
        let axes: number[] | undefined;
        let steps: number[] | undefined;
        if (node.input[1]) {
          starts = inInts(1, 'starts');
          ends = inInts(2, 'ends');
          axes = node.input[3] ? inInts(3, 'axes') : undefined;
          steps = node.input[4] ? inInts(4, 'steps') : undefined;
        } else {
          // Opset 1-9: attributes.
          starts = intsAttr(node, 'starts', label) ?? [];
          ends = intsAttr(node, 'ends', label) ?? [];
          axes = intsAttr(node, 'axes', label);
        }
        axes ??= starts.map((_, i) => i);
        steps ??= starts.map(() => 1);
        if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
          throw badModel(`${where}: starts, ends, axes and steps differ in length`);
        }
        const lo = data.dims.map(() => 0);
        const step = data.dims.map(() => 1);
        const count = data.dims.slice();
        const seen = new Set<number>();
        axes.forEach((a0, j) => {
          const a = a0 < 0 ? a0 + rank : a0;
          if (a < 0 || a >= rank || seen.has(a)) throw badModel(`${where}: axis ${a0} is out of range or repeated (rank ${rank})`);
          seen.add(a);
          const n = data.dims[a];
          const s = steps![j];
          if (s === 0) throw badModel(`${where}: step 0`);
          let b = starts[j] < 0 ? starts[j] + n : starts[j];
          let e = ends[j] < 0 ? ends[j] + n : ends[j];
          if (s > 0) {
            b = Math.min(Math.max(b, 0), n);
            e = Math.min(Math.max(e, 0), n);
          } else {
            b = Math.min(Math.max(b, 0), n - 1);
            e = Math.min(Math.max(e, -1), n - 1);
          }
          lo[a] = b;
          step[a] = s;
          count[a] = Math.max(0, Math.ceil((e - b) / s));
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
        r = take(data, count, src);
        break;
      }
      case 'Cast': {
        const data = inConst(0, 'input');
        const to = intAttr(node, 'to', -1, label);
        if (to === DataType.FLOAT || to === DataType.DOUBLE) {
          const vals = data.kind === 'float' ? data.data : Float64Array.from(noBatch(data.data, `input of ${where}`));
          r = { kind: 'float', dims: data.dims, data: to === DataType.FLOAT ? vals.map(Math.fround) : Float64Array.from(vals) };
        } else if (to === DataType.INT64 || to === DataType.INT32 || to === DataType.BOOL) {
          const vals: IntElem[] = Array.from(data.data as ArrayLike<IntElem>, (v) => {
            if (v === BATCH) return to === DataType.BOOL ? 1 : v;
            if (!Number.isFinite(v)) throw badModel(`${where}: cannot cast ${v} to an integer`);
            return to === DataType.BOOL ? (v !== 0 ? 1 : 0) : Math.trunc(v);
          });
          r = { kind: 'int', dims: data.dims, data: vals };
        } else {
          throw unsupported(`${where} casts to ${dataTypeName(to)}; pathwise folds casts to float, double, int64, int32 and bool`);
        }
        break;
      }
      case 'ConstantOfShape': {
        const shapeT = intsOf(this.constAt(node, 0, 'shape', label), `shape of ${where}`);
        if (shapeT.data.includes(BATCH)) {
          throw unsupported(`${where} makes a tensor whose shape depends on the batch size; pathwise folds only batch-independent constants`);
        }
        const dims = shapeT.data as number[];
        if (dims.some((d) => d < 0)) throw badModel(`${where}: negative dimension in [${dims}]`);
        const n = product(dims);
        if (n > MAX_FOLDED_ELEMENTS) throw tooBig();
        const a = findAttr(node, 'value');
        let v: Folded = { kind: 'float', dims: [1], data: new Float64Array(1) };
        if (a) {
          if (!a.t) throw badModel(`${where}: attribute "value" holds no tensor`);
          v = foldedOf({ proto: a.t }, `value of ${where}`);
          if (v.data.length !== 1) throw badModel(`${where}: value must hold one element, holds ${v.data.length}`);
        }
        r = take(v, dims, new Array<number>(n).fill(0));
        break;
      }
      default:
        throw new Error(`internal: no folding rule for ${op}`);
    }
    if (r.data.length > MAX_FOLDED_ELEMENTS) throw tooBig();
    return r;
  }
}

/** Display name (ONNX op) of a layer type, for messages. */
const OP_OF_TYPE: Record<LayerSpec['type'], string> = {
  dense: 'Gemm',
  conv: 'Conv',
  relu: 'Relu',
  maxpool: 'MaxPool',
  avgpool: 'AveragePool',
  globalavgpool: 'GlobalAveragePool',
  batchnorm: 'BatchNormalization',
  affine: 'affine layer',
  add: 'Add',
  flatten: 'Flatten',
  identity: 'Identity',
  reshape: 'Reshape',
  gate: 'gate',
  clip: 'Clip',
  leakyrelu: 'LeakyRelu',
  prelu: 'PRelu',
  concat: 'Concat',
  slice: 'Slice',
  channelshuffle: 'channel shuffle',
  pad: 'Pad',
  globalmaxpool: 'GlobalMaxPool',
};

function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? `"${node.name}"` : `#${index} (unnamed ${node.opType})`;
}

function requireVector(shape: number[], op: string, label: string): void {
  if (shape.length !== 1) {
    throw badModel(
      `${op} at node ${label} needs a 2-D input [batch, features], but the activation has shape [batch, ${shape}] ` +
        '(a Flatten is missing)',
    );
  }
}

function require2d(shape: number[], op: string, what: string, label: string): void {
  if (shape.length !== 3) {
    throw unsupported(
      `${op} at node ${label} on an input of shape [batch, ${shape}] (${shape.length + 1}-D): pathwise supports ` +
        `2-D ${what} only (4-D NCHW tensors)`,
    );
  }
}

function checkInSize(inSize: number, shape: number[], op: string, label: string): void {
  const have = product(shape);
  if (inSize !== have) {
    throw badModel(
      `${op} at node ${label} expects ${inSize} input features, but the activation has shape [batch, ${shape}] ` +
        `(${have} features): the layer shapes do not chain`,
    );
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Normalises Squeeze / Unsqueeze axes against `rank`: in range, no repeats. */
function normAxes(axes: number[], rank: number, op: string, label: string): number[] {
  const norm = axes.map((a) => (a < 0 ? a + rank : a));
  if (norm.some((a) => a < 0 || a >= rank) || new Set(norm).size !== norm.length) {
    throw badModel(`${op} at node ${label}: axes [${axes}] are out of range or repeated for rank ${rank}`);
  }
  return norm;
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
  node: NodeProto,
  label: string,
  inHW: [number, number],
  kernel: [number, number],
  stride: [number, number],
  dilation: [number, number],
): [number, number, number, number] {
  const autoPad = stringAttr(node, 'auto_pad', 'NOTSET', label);
  switch (autoPad) {
    case 'NOTSET': {
      const p = intsAttr(node, 'pads', label) ?? [0, 0, 0, 0];
      if (p.length !== 4) throw badModel(`${node.opType} at node ${label} has pads [${p}]; a 2-D op needs 4 values`);
      if (p.some((v) => v < 0)) throw badModel(`${node.opType} at node ${label} has negative pads [${p}]`);
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
          `${node.opType} at node ${label} combines auto_pad ${autoPad} with dilations [${dilation}]; pathwise ` +
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
      throw badModel(`${node.opType} at node ${label} has auto_pad "${autoPad}" (expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)`);
  }
}

/** A 2-vector attribute of positive ints (strides, dilations), default [1, 1]. */
function pairAttr(node: NodeProto, name: string, label: string): [number, number] {
  const v = intsAttr(node, name, label) ?? [1, 1];
  if (v.length !== 2) throw badModel(`${node.opType} at node ${label} has ${name} [${v}]; a 2-D op needs 2 values`);
  if (v.some((x) => x < 1)) throw badModel(`${node.opType} at node ${label} has ${name} [${v}] (must be ≥ 1)`);
  return [v[0], v[1]];
}

// ---------------------------------------------------------------------------------------------
// Constants

function isFloatType(dt: number): boolean {
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16 || dt === DataType.BFLOAT16;
}

/** A constant as float64 values (weights, biases, Add operands). */
function floatOf(c: Const, where: string): FloatTensor {
  if ('proto' in c) return floatTensor(c.proto, where);
  const f = c.folded;
  if (f.kind === 'float') return { dims: f.dims, data: f.data };
  return { dims: f.dims, data: Float64Array.from(noBatch(f.data, where)) };
}

/** A constant as integers (shapes, axes, indices); int64 beyond ±2^53 saturates (Slice's INT64_MAX). */
function intsOf(c: Const, where: string): { dims: number[]; data: IntElem[] } {
  if ('proto' in c) return { dims: tensorDims(c.proto, where), data: intTensor(c.proto, where) };
  return intsOfFolded(c.folded, where);
}

function intsOfFolded(f: Folded, where: string): { dims: number[]; data: IntElem[] } {
  if (f.kind === 'int') return f;
  throw badModel(`The ${where} is a float tensor; expected integers`);
}

/** A constant in the folder's form. */
function foldedOf(c: Const, where: string): Folded {
  if ('folded' in c) return c.folded;
  const t = c.proto;
  if (isFloatType(t.dataType)) {
    const f = floatTensor(t, where);
    return { kind: 'float', dims: f.dims, data: f.data };
  }
  return { kind: 'int', dims: tensorDims(t, where), data: intTensor(t, where) };
}

function noBatch(data: IntElem[], where: string): number[] {
  return data.map((v) => {
    if (v === BATCH) {
      throw unsupported(`The ${where} depends on the batch size; pathwise folds only batch-independent values there`);
    }
    return v;
  });
}

/** A new constant of shape `dims` whose element j is element src[j] of `from`. */
function take(from: Folded, dims: number[], src: number[]): Folded {
  if (from.kind === 'float') return { kind: 'float', dims, data: Float64Array.from(src, (s) => from.data[s]) };
  return { kind: 'int', dims, data: src.map((s) => from.data[s]) };
}

function stridesOf(dims: number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let a = dims.length - 1; a >= 0; a--) {
    s[a] = acc;
    acc *= dims[a];
  }
  return s;
}

/** ONNX Reshape rules: 0 copies the input dimension (unless allowzero), one -1 is inferred. */
function resolveReshape(inDims: number[], target: number[], allowZero: number, label: string): number[] {
  const total = product(inDims);
  let inferAt = -1;
  const out = target.map((d, i) => {
    if (d === 0 && !allowZero) {
      if (i >= inDims.length) {
        throw badModel(`Reshape at node ${label}: shape [${target}] copies dimension ${i} (0), but the input has rank ${inDims.length}`);
      }
      return inDims[i];
    }
    if (d === -1) {
      if (inferAt >= 0) throw badModel(`Reshape at node ${label}: shape [${target}] has more than one -1`);
      inferAt = i;
      return -1;
    }
    if (d < 0) throw badModel(`Reshape at node ${label}: shape [${target}] has an invalid entry ${d}`);
    if (d === 0) throw badModel(`Reshape at node ${label}: shape [${target}] with allowzero=1 makes an empty tensor`);
    return d;
  });
  const known = product(out.filter((_, i) => i !== inferAt));
  if (inferAt >= 0) {
    if (known === 0 || total % known !== 0) {
      throw badModel(`Reshape at node ${label}: cannot reshape ${total} elements ([${inDims.slice(1)}] plus batch) to [${target}]`);
    }
    out[inferAt] = total / known;
  } else if (known !== total) {
    throw badModel(`Reshape at node ${label}: cannot reshape ${total} elements ([${inDims.slice(1)}] plus batch) to [${target}]`);
  }
  return out;
}

function constantNodeValue(node: NodeProto, label: string): TensorProto {
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

function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

function intAttr(node: NodeProto, name: string, dflt: number, label: string): number {
  const a = findAttr(node, name);
  if (!a) return dflt;
  if (a.type !== AttrType.INT && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be an int (type ${a.type})`);
  }
  return bigToNumber(a.i, `attribute "${name}" of node ${label}`);
}

function intsAttr(node: NodeProto, name: string, label: string): number[] | undefined {
  const a = findAttr(node, name);
  if (!a) return undefined;
  if (a.type !== AttrType.INTS && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be a list of ints (type ${a.type})`);
  }
  return a.ints.map((v) => bigToNumber(v, `attribute "${name}" of node ${label}`));
}

function floatAttr(node: NodeProto, name: string, dflt: number, label: string): number {
  const a = findAttr(node, name);
  if (!a) return dflt;
  if (a.type !== AttrType.FLOAT && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be a float (type ${a.type})`);
  }
  return a.f;
}

function stringAttr(node: NodeProto, name: string, dflt: string, label: string): string {
  const a = findAttr(node, name);
  if (!a) return dflt;
  if (a.type !== AttrType.STRING && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be a string (type ${a.type})`);
  }
  return new TextDecoder().decode(a.s);
}

// ---------------------------------------------------------------------------------------------
// Tensors

function tensorDims(t: TensorProto, where: string): number[] {
  return t.dims.map((d) => {
    if (d < 0n) throw badModel(`Tensor ${tensorLabel(t)} (${where}) has a negative dimension ${d}`);
    return bigToNumber(d, `dims of tensor ${tensorLabel(t)} (${where})`);
  });
}

function tensorLabel(t: TensorProto): string {
  return t.name ? `"${t.name}"` : '(unnamed)';
}

function checkEmbedded(t: TensorProto, where: string): void {
  if (t.dataLocation === DataLocation.EXTERNAL) {
    const file = t.externalData.find((e) => e.key === 'location')?.value;
    throw badModel(
      `Tensor ${tensorLabel(t)} (${where}) keeps its data in an external file${file ? ` ("${file}")` : ''} ` +
        '(data_location EXTERNAL); parseOnnx reads a model from bytes and cannot resolve external data. ' +
        'Save the model with all tensors embedded.',
    );
  }
}

/** Checks the stored element count against dims; returns the count. */
function checkCount(t: TensorProto, dims: number[], have: number, where: string): number {
  const n = product(dims);
  if (have !== n) {
    throw badModel(`Tensor ${tensorLabel(t)} (${where}) holds ${have} values, but its dims [${dims}] need ${n}`);
  }
  return n;
}

/** Copies raw little-endian bytes into an aligned buffer: ONNX raw_data views start at any offset. */
function rawCopy(t: TensorProto, dims: number[], bytesPerValue: number, where: string): { n: number; buf: ArrayBuffer; view: DataView } {
  const raw = t.rawData;
  if (raw.length % bytesPerValue !== 0) {
    throw badModel(`Tensor ${tensorLabel(t)} (${where}) has ${raw.length} raw bytes, not a multiple of ${bytesPerValue}`);
  }
  const n = checkCount(t, dims, raw.length / bytesPerValue, where);
  // Copy with the Uint8Array constructor: when the model bytes are a Buffer, rawData is a Buffer
  // too, and Buffer#slice returns a view of the whole file's memory (ECOSYSTEM §3 item 8).
  const copy = new Uint8Array(raw);
  return { n, buf: copy.buffer, view: new DataView(copy.buffer) };
}

/** Reads a floating-point tensor (float32, float64, float16, bfloat16) as float64. */
function floatTensor(t: TensorProto, where: string): FloatTensor {
  checkEmbedded(t, where);
  const dims = tensorDims(t, where);
  const hasRaw = t.rawData.length > 0;
  let data: Float64Array;
  switch (t.dataType) {
    case DataType.FLOAT:
      if (hasRaw) {
        const { n, buf, view } = rawCopy(t, dims, 4, where);
        if (LITTLE_ENDIAN_HOST) data = Float64Array.from(new Float32Array(buf, 0, n));
        else data = Float64Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
      } else {
        checkCount(t, dims, t.floatData.length, where);
        data = Float64Array.from(t.floatData);
      }
      break;
    case DataType.DOUBLE:
      if (hasRaw) {
        const { n, buf, view } = rawCopy(t, dims, 8, where);
        if (LITTLE_ENDIAN_HOST) data = new Float64Array(buf, 0, n);
        else data = Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
      } else {
        checkCount(t, dims, t.doubleData.length, where);
        data = Float64Array.from(t.doubleData);
      }
      break;
    case DataType.FLOAT16:
    case DataType.BFLOAT16: {
      // Without raw_data, 16-bit floats sit in the low half of int32_data entries.
      const conv = t.dataType === DataType.FLOAT16 ? halfToFloat : bfloat16ToFloat;
      if (hasRaw) {
        const { n, view } = rawCopy(t, dims, 2, where);
        data = Float64Array.from({ length: n }, (_, i) => conv(view.getUint16(2 * i, true)));
      } else {
        checkCount(t, dims, t.int32Data.length, where);
        data = Float64Array.from(t.int32Data, (v) => conv(v & 0xffff));
      }
      break;
    }
    default:
      throw unsupported(
        `Tensor ${tensorLabel(t)} (${where}) has data type ${dataTypeName(t.dataType)}; pathwise reads float32, ` +
          'float64, float16 and bfloat16 weights',
      );
  }
  return { dims, data };
}

/**
 * Reads an integer tensor (int64, int32, bool) as numbers: shapes, axes, indices, Dropout's
 * training_mode. int64 values beyond ±2^53 saturate: exporters write INT64_MAX for "to the end"
 * in Slice, and no real shape entry is that large.
 */
function intTensor(t: TensorProto, where: string): number[] {
  checkEmbedded(t, where);
  const dims = tensorDims(t, where);
  const hasRaw = t.rawData.length > 0;
  switch (t.dataType) {
    case DataType.INT64:
      if (hasRaw) {
        const { n, view } = rawCopy(t, dims, 8, where);
        return Array.from({ length: n }, (_, i) => saturate(view.getBigInt64(8 * i, true)));
      }
      checkCount(t, dims, t.int64Data.length, where);
      return t.int64Data.map(saturate);
    case DataType.INT32:
    case DataType.BOOL:
      if (hasRaw) {
        const size = t.dataType === DataType.INT32 ? 4 : 1;
        const { n, view } = rawCopy(t, dims, size, where);
        return Array.from({ length: n }, (_, i) => (size === 4 ? view.getInt32(4 * i, true) : view.getUint8(i)));
      }
      checkCount(t, dims, t.int32Data.length, where);
      return t.int32Data.slice();
    default:
      throw badModel(`Tensor ${tensorLabel(t)} (${where}) has data type ${dataTypeName(t.dataType)}; expected int64`);
  }
}

/**
 * Broadcasts a constant to `target` (the activation shape with a batch of 1), NumPy style, and
 * returns it flattened. 'expands' if the result would be larger than `target` (a constant that
 * changes the activation shape), 'incompatible' if the shapes do not broadcast at all.
 */
function broadcastTo(c: FloatTensor, target: number[]): Float64Array | 'incompatible' | 'expands' {
  const src = c.dims;
  // A constant of higher rank would raise the activation's rank, even with only 1s to spare.
  let expands = src.length > target.length;
  for (let i = 1; i <= Math.min(src.length, target.length); i++) {
    const s = src[src.length - i];
    const d = target[target.length - i];
    if (s === d || s === 1) continue;
    if (d === 1) expands = true;
    else return 'incompatible';
  }
  if (expands) return 'expands';
  // Source strides aligned to target axes; 0 where the source broadcasts.
  const rank = target.length;
  const strides = new Array<number>(rank).fill(0);
  let stride = 1;
  for (let i = 1; i <= src.length; i++) {
    const s = src[src.length - i];
    strides[rank - i] = s === 1 ? 0 : stride;
    stride *= s;
  }
  const n = product(target);
  const out = new Float64Array(n);
  const idx = new Array<number>(rank).fill(0);
  for (let j = 0; j < n; j++) {
    let off = 0;
    for (let a = 0; a < rank; a++) off += idx[a] * strides[a];
    out[j] = c.data[off];
    for (let a = rank - 1; a >= 0; a--) {
      if (++idx[a] < target[a]) break;
      idx[a] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** IEEE 754 binary16 bits to a number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

/** bfloat16 bits (the high half of a float32) to a number (exact). */
function bfloat16ToFloat(h: number): number {
  scratchU32[0] = h << 16;
  return scratchF32[0];
}

function product(dims: number[]): number {
  let p = 1;
  for (const d of dims) p *= d;
  return p;
}

function saturate(v: bigint): number {
  const max = BigInt(Number.MAX_SAFE_INTEGER);
  return Number(v > max ? max : v < -max ? -max : v);
}

function bigToNumber(v: bigint, where: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw badModel(`Integer ${v} in ${where} is out of range`);
  }
  return Number(v);
}

function dataTypeName(code: number): string {
  const name = (DataType as unknown as Record<number, string | undefined>)[code];
  return name && code !== DataType.UNDEFINED ? name : `#${code}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
