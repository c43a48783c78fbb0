/**
 * What an op handler sees: a NodeContext for the node being read, over the LoweringState shared
 * by the whole graph walk. It reads the node's inputs (activations or constants) and attributes,
 * and emits layers, so a handler in ops/ or fold.ts is a short function of one argument.
 */
import {
  badModel,
  unsupported,
  type AttributeProto,
  type ConvLayerSpec,
  type DenseLayerSpec,
  type LayerSpec,
  type NodeProto,
} from './deps.js';
import { findAttr, floatAttr, intAttr, intsAttr, stringAttr } from './attributes.js';
import type { FloatTensor } from './decode.js';
import { product } from './numbers.js';
import {
  MAX_ELEMENTS,
  floatOf,
  intsOf,
  type Act,
  type Const,
  type Emitted,
  type IntTensor,
  type PendingBias,
  type PendingPad,
} from './values.js';

/** Display name (ONNX op) of a layer type, for messages. */
export const OP_OF_TYPE: Record<LayerSpec['type'], string> = {
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

/** The state of one graph walk: values seen so far and layers emitted so far. */
export class LoweringState {
  readonly acts = new Map<string, Act>();
  readonly emitted: Emitted[] = [];
  readonly pendings: PendingBias[] = [];
  /** Value name → label of the node that produced it (for messages about unread outputs). */
  readonly producedBy = new Map<string, string>();

  constructor(
    readonly consts: Map<string, Const>,
    /** Value name → number of consumers (the graph output counts as one). */
    readonly uses: Map<string, number>,
    /** The graph input has a fixed batch of 1 (not a symbolic batch). */
    readonly batchIsOne: boolean,
  ) {}
}

/** One node being read: its inputs, attributes and the layers it emits. */
export class NodeContext {
  readonly op: string;
  /** The node's output (node.output[0], checked non-empty before a handler runs). */
  readonly out: string;
  /** The layer name: the ONNX node name; unnamed nodes get no name key. */
  readonly name: string | undefined;
  /** "<op> at node <label>", how messages name the node. */
  readonly where: string;

  constructor(
    private readonly state: LoweringState,
    readonly node: NodeProto,
    /** How messages name the node (see nodeLabel). */
    readonly label: string,
  ) {
    this.op = node.opType;
    this.out = node.output[0];
    this.name = node.name || undefined;
    this.where = `${this.op} at node ${label}`;
  }

  get batchIsOne(): boolean {
    return this.state.batchIsOne;
  }

  // -------------------------------------------------------------------------------------------
  // Inputs

  /** Whether input `pos` is present and an activation. */
  isAct(pos: number): boolean {
    const name = this.node.input[pos];
    return !!name && this.state.acts.has(name);
  }

  /** An input of the node, by value name: an activation or a constant. */
  operand(name: string): { act: Act } | { c: Const } {
    const act = this.state.acts.get(name);
    if (act?.shuffle && this.op !== 'Transpose' && this.op !== 'Reshape' && this.op !== 'Shape') {
      throw unsupported(
        `${this.where} reads the 5-D activation "${name}" ([batch, ${act.shape}]); pathwise reads 5-D activations ` +
          'only in the channel shuffle Reshape([1, g, C/g, H, W]) → Transpose([0, 2, 1, 3, 4]) → Reshape([1, -1, H, W])',
      );
    }
    if (act?.pad) return { act: this.emitPad(name, act.pad) };
    if (act) return { act };
    const c = this.state.consts.get(name);
    if (c) return { c };
    const by = this.state.producedBy.get(name);
    throw unsupported(
      `${this.op} at node ${this.label} uses "${name}"${by ? `, an output of node ${by}` : ''} that pathwise does not ` +
        "model (such as Dropout's mask or MaxPool's Indices)",
    );
  }

  /** Input `pos`, which must be an activation. */
  act(pos: number): Act {
    const name = this.node.input[pos];
    if (!name) throw badModel(`${this.op} at node ${this.label} has no input ${pos}`);
    const v = this.operand(name);
    if ('act' in v) return v.act;
    throw unsupported(
      `${this.op} at node ${this.label} takes the constant "${name}" as input ${pos} where pathwise expects the ` +
        'activation (a layer applied to constants is not folded)',
    );
  }

  /**
   * Input `pos` when it is a Pad not emitted yet, which this node may absorb into its own pads
   * (then it reads `pad.src`); undefined otherwise. Reading the input with act() emits the pad.
   */
  pendingPad(pos: number): PendingPad | undefined {
    const name = this.node.input[pos];
    return name ? this.state.acts.get(name)?.pad : undefined;
  }

  /** Emits a pending Pad as a 'pad' layer (its value must then be finite). */
  private emitPad(name: string, p: PendingPad): Act {
    if (!Number.isFinite(p.value)) {
      throw unsupported(
        `Pad at node ${p.label} pads with ${p.value} and is read by ${this.where}; pathwise folds a −∞ pad only ` +
          'into a MaxPool right after it (ceil_mode 0), and pads with finite values otherwise',
      );
    }
    const spec: LayerSpec = { type: 'pad', pads: p.pads };
    if (p.value !== 0) spec.value = p.value;
    if (p.name !== undefined) spec.name = p.name;
    const [c, h, w] = p.src.shape;
    const shape = [c, h + p.pads[0] + p.pads[2], w + p.pads[1] + p.pads[3]];
    const act: Act = { layer: this.push(spec, [p.src.layer], shape), shape };
    this.state.acts.set(name, act);
    return act;
  }

  /** Input `pos`, which must be a constant. */
  constAt(pos: number, what: string): Const {
    const name = this.node.input[pos];
    if (!name) throw badModel(`${this.op} at node ${this.label} has no ${what} (input ${pos})`);
    const v = this.operand(name);
    if ('c' in v) return v.c;
    throw unsupported(
      `${this.op} at node ${this.label}: ${what} "${name}" is not a constant (initializer, Constant node or a ` +
        'foldable constant sub-graph); pathwise needs constant weights',
    );
  }

  /** Constant input `pos` as float64 values. */
  floatAt(pos: number, what: string): FloatTensor {
    return floatOf(this.constAt(pos, what), `${what} of ${this.where}`);
  }

  /** Constant input `pos` as integers (which may hold the batch symbol). */
  intsAt(pos: number, what: string): IntTensor {
    return intsOf(this.constAt(pos, what), `${what} of ${this.where}`);
  }

  // -------------------------------------------------------------------------------------------
  // Attributes

  /** The attribute `name`, unchecked (undefined when absent). */
  attr(name: string): AttributeProto | undefined {
    return findAttr(this.node, name);
  }

  intAttr(name: string, dflt: number): number {
    return intAttr(this.node, name, dflt, this.label);
  }

  intsAttr(name: string): number[] | undefined {
    return intsAttr(this.node, name, this.label);
  }

  floatAttr(name: string, dflt: number): number {
    return floatAttr(this.node, name, dflt, this.label);
  }

  stringAttr(name: string, dflt: string): string {
    return stringAttr(this.node, name, dflt, this.label);
  }

  // -------------------------------------------------------------------------------------------
  // Emitting

  /** Emits a layer reading the layers `srcs` and registers its output value of `shape`. */
  emit(spec: LayerSpec, srcs: number[], shape: number[], fold?: PendingBias): void {
    this.emitAs(this.out, spec, srcs, shape, fold);
  }

  /** emit() for output `out` of the node (Split writes several). */
  emitAs(out: string, spec: LayerSpec, srcs: number[], shape: number[], fold?: PendingBias): void {
    const size = product(shape);
    if (size > MAX_ELEMENTS) {
      throw badModel(
        `${OP_OF_TYPE[spec.type]} at node ${this.name ? `"${this.name}"` : `writing "${this.out}"`} would output ` +
          `[batch, ${shape}]: more than 2^31 values per example`,
      );
    }
    if (this.name !== undefined) spec.name = this.name;
    this.state.acts.set(out, { layer: this.push(spec, srcs, shape), shape, fold });
  }

  /** Appends a layer; returns its index. */
  private push(spec: LayerSpec, srcs: number[], shape: number[]): number {
    this.state.emitted.push({ spec, srcs, shape });
    return this.state.emitted.length - 1;
  }

  /** Emits a dense or conv layer whose bias later constant Adds may still change. */
  emitBiased(spec: DenseLayerSpec | ConvLayerSpec, bias: Float64Array | undefined, src: number, shape: number[]): void {
    const channels = spec.type === 'dense' ? spec.out : spec.outChannels;
    const pending: PendingBias = { spec, bias, channels, spatial: product(shape) / channels };
    this.state.pendings.push(pending);
    this.emit(spec, [src], shape, this.state.uses.get(this.out) === 1 ? pending : undefined);
  }

  /** The fold target passes through a shape-only node if its output has a single consumer. */
  passFold(x: Act): PendingBias | undefined {
    return x.fold && this.state.uses.get(this.out) === 1 ? x.fold : undefined;
  }

  /** The node's output has exactly one reader (so a reader may absorb this node). */
  get singleUse(): boolean {
    return this.state.uses.get(this.out) === 1;
  }

  /** Registers the node's output as an activation without emitting a layer. */
  setOutput(value: Act): void {
    this.state.acts.set(this.out, value);
  }
}
