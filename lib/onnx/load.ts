/**
 * ONNX loader for dense ReLU networks: decodes a ModelProto with the generated subset schema
 * (proto/onnx_subset.proto) and turns the graph into a NetworkSpec (lib/layers.ts).
 *
 * The graph must be a single chain from the one graph input to the one graph output: every
 * supported node takes the current activation, constants come from initializers or Constant
 * nodes. Supported: Gemm, MatMul (+ Add of a constant, folded into the bias), Relu, Flatten,
 * Reshape, Identity, Dropout, Constant. Anything else is a PATHWISE_UNSUPPORTED_OP naming the op
 * and the node; a model that is malformed (undecodable, inconsistent shapes, wrong element
 * counts) is a PATHWISE_BAD_MODEL.
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
import type { DenseLayerSpec, LayerSpec, NetworkSpec } from '../layers.js';

const SUPPORTED_OPS = [
  'Gemm',
  'MatMul',
  'Add',
  'Relu',
  'Flatten',
  'Reshape',
  'Identity',
  'Dropout',
  'Constant',
] as const;
const SUPPORTED_SET: ReadonlySet<string> = new Set(SUPPORTED_OPS);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A dense layer under construction: the bias stays float64 until every folded Add is in. */
interface PendingDense {
  spec: DenseLayerSpec;
  bias: Float64Array | undefined;
}

/** A float tensor decoded to float64. */
interface FloatTensor {
  dims: number[];
  data: Float64Array;
}

/**
 * Parses an ONNX model (the bytes of a .onnx file) of a dense ReLU network into a NetworkSpec.
 *
 * @throws TypeError if `bytes` is not a Uint8Array.
 * @throws PathwiseError `PATHWISE_BAD_MODEL` if the bytes are not a valid model of this kind
 *   (undecodable, no float input, shapes that do not chain, wrong tensor sizes, external data,
 *   last layer not a dense layer with at least 2 outputs).
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

  // Constants by value name: initializers first, Constant nodes as the walk meets them.
  const consts = new Map<string, TensorProto>();
  for (const t of graph.initializer) consts.set(t.name, t);

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

  const layers: LayerSpec[] = [];
  const denses: PendingDense[] = [];
  /** The dense layer a constant Add folds into: set by a dense layer, kept by shape-only layers. */
  let foldTarget: PendingDense | undefined;
  let current = input.name;
  let shape = inputShape.slice();

  graph.node.forEach((node, index) => {
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
    const out0 = node.output[0];
    if (!out0) throw badModel(`ONNX node ${label} (${op}) has no output`);

    if (op === 'Constant') {
      consts.set(out0, constantNodeValue(node, label));
      return;
    }

    const actPos = node.input.indexOf(current);
    if (actPos < 0) {
      // Identity of a constant (exporters emit these for tied weights) is still a constant.
      if (op === 'Identity' && consts.has(node.input[0])) {
        consts.set(out0, consts.get(node.input[0])!);
        return;
      }
      throw unsupported(
        `ONNX node ${label} (${op}) does not take the current activation "${current}" as input: ` +
          'pathwise supports a single chain of layers from the graph input to the output',
      );
    }
    // Layers carry the ONNX node name; unnamed nodes get no name key.
    const name = node.name || undefined;

    switch (op) {
      case 'Gemm': {
        if (actPos !== 0) {
          throw unsupported(
            `Gemm at node ${label} takes the activation as input ${actPos === 1 ? 'B' : 'C'}; pathwise needs it ` +
              'as input A (a dense layer A·B + C with constant B and C)',
          );
        }
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
        requireVector(shape, op, label);
        const b = floatTensor(constOperand(consts, node, 1, 'weight B', label), `input B of Gemm at node ${label}`);
        if (b.dims.length !== 2) {
          throw badModel(`Gemm at node ${label}: weight B has shape [${b.dims}], expected a 2-D matrix`);
        }
        const inSize = transB ? b.dims[1] : b.dims[0];
        const outSize = transB ? b.dims[0] : b.dims[1];
        checkInSize(inSize, shape, op, label);
        const w = new Float32Array(outSize * inSize);
        for (let o = 0; o < outSize; o++) {
          for (let k = 0; k < inSize; k++) {
            const v = transB ? b.data[o * inSize + k] : b.data[k * outSize + o];
            w[o * inSize + k] = alpha * v;
          }
        }
        let bias: Float64Array | undefined;
        const cName = node.input[2];
        if (cName) {
          const c = floatTensor(constOperand(consts, node, 2, 'bias C', label), `input C of Gemm at node ${label}`);
          const cb = broadcastTo(c, [1, outSize]);
          if (cb === 'incompatible' || cb === 'expands') {
            throw badModel(
              `Gemm at node ${label}: bias C of shape [${c.dims}] does not broadcast to [batch, ${outSize}] ` +
                '(supported: [out], [1, out], [1] or a scalar)',
            );
          }
          bias = cb.map((v) => beta * v);
        }
        foldTarget = pushDense(layers, denses, w, bias, inSize, outSize, name);
        shape = [outSize];
        break;
      }
      case 'MatMul': {
        if (actPos !== 0) {
          throw unsupported(
            `MatMul at node ${label} takes the activation as its right operand; pathwise supports ` +
              'activation · W with a constant matrix W',
          );
        }
        if (shape.length !== 1) {
          throw unsupported(
            `MatMul at node ${label} multiplies an activation of shape [batch, ${shape}]: MatMul acts on the last ` +
              'axis only, which is not a dense layer; pathwise supports MatMul on [batch, features] (add a Flatten)',
          );
        }
        const b = floatTensor(constOperand(consts, node, 1, 'weight', label), `right operand of MatMul at node ${label}`);
        if (b.dims.length !== 2) {
          throw unsupported(
            `MatMul at node ${label}: the constant right operand has shape [${b.dims}]; pathwise supports a 2-D ` +
              '[in, out] matrix',
          );
        }
        const [inSize, outSize] = b.dims;
        checkInSize(inSize, shape, op, label);
        const w = new Float32Array(outSize * inSize);
        for (let o = 0; o < outSize; o++) {
          for (let k = 0; k < inSize; k++) w[o * inSize + k] = b.data[k * outSize + o];
        }
        foldTarget = pushDense(layers, denses, w, undefined, inSize, outSize, name);
        shape = [outSize];
        break;
      }
      case 'Add': {
        const otherName = node.input[actPos === 0 ? 1 : 0];
        if (!otherName || otherName === current || !consts.has(otherName)) {
          throw unsupported(
            `Add at node ${label} adds a non-constant operand "${otherName ?? ''}"; pathwise supports Add only ` +
              "with a constant, folded into the preceding dense layer's bias",
          );
        }
        if (!foldTarget) {
          throw unsupported(
            `Add at node ${label} adds a constant that does not follow a dense layer; pathwise supports a constant ` +
              "Add only after a dense layer (with at most shape-only layers between), where it folds into the layer's bias",
          );
        }
        const c = floatTensor(consts.get(otherName)!, `constant operand of Add at node ${label}`);
        const cb = broadcastTo(c, [1, ...shape]);
        if (cb === 'incompatible') {
          throw badModel(`Add at node ${label}: constant of shape [${c.dims}] does not broadcast with the activation [batch, ${shape}]`);
        }
        if (cb === 'expands') {
          throw unsupported(
            `Add at node ${label}: constant of shape [${c.dims}] would expand the activation [batch, ${shape}]; ` +
              'pathwise supports a constant that broadcasts to the activation shape (a bias)',
          );
        }
        const target = foldTarget;
        if (!target.bias) target.bias = new Float64Array(target.spec.out);
        for (let j = 0; j < cb.length; j++) target.bias[j] += cb[j];
        break;
      }
      case 'Relu':
        requireFirstInput(actPos, op, label);
        layers.push(named({ type: 'relu' }, name));
        foldTarget = undefined;
        break;
      case 'Identity':
        layers.push(named({ type: 'identity' }, name));
        break;
      case 'Dropout': {
        requireFirstInput(actPos, op, label);
        checkDropoutInference(node, consts, label);
        layers.push(named({ type: 'identity' }, name));
        break;
      }
      case 'Flatten': {
        requireFirstInput(actPos, op, label);
        const rank = shape.length + 1;
        let axis = intAttr(node, 'axis', 1, label);
        if (axis < 0) axis += rank;
        if (axis < 0 || axis > rank) {
          throw badModel(`Flatten at node ${label}: axis ${intAttr(node, 'axis', 1, label)} is out of range for rank ${rank}`);
        }
        // Same result as axis 1 (batch kept, the rest merged)? axis 0 only with a fixed batch of 1;
        // axis k > 1 when the dimensions it keeps beside the batch are all 1.
        const noOp = axis === 1 || (axis === 0 ? batchIsOne : product(shape.slice(0, axis - 1)) === 1);
        if (!noOp) {
          throw unsupported(
            `Flatten at node ${label} with axis=${axis} on [batch, ${shape}] does not keep the batch dimension ` +
              'separate; pathwise supports Flatten with axis=1',
          );
        }
        layers.push(named({ type: 'flatten' }, name));
        shape = [product(shape)];
        break;
      }
      case 'Reshape': {
        requireFirstInput(actPos, op, label);
        const target = reshapeTarget(node, consts, label);
        const resolved = resolveReshape([1, ...shape], target, intAttr(node, 'allowzero', 0, label), label);
        if (resolved[0] !== 1) {
          throw unsupported(
            `Reshape at node ${label} to [${target}] does not keep the batch dimension first (from [batch, ${shape}]); ` +
              'pathwise needs the first dimension of the new shape to be the batch (0, -1 or 1)',
          );
        }
        shape = resolved.slice(1);
        layers.push(named({ type: 'reshape', shape: shape.slice() }, name));
        break;
      }
    }
    current = out0;
  });

  if (current !== outputName) {
    throw badModel(
      `The ONNX graph output "${outputName}" is not the end of the layer chain from the input "${input.name}" ` +
        `(the chain ends at "${current}")`,
    );
  }

  for (const d of denses) {
    if (d.bias) d.spec.bias = Float32Array.from(d.bias);
  }

  let last: LayerSpec | undefined;
  for (let i = layers.length - 1; i >= 0 && !last; i--) {
    const t = layers[i].type;
    if (t === 'dense' || t === 'relu') last = layers[i];
  }
  if (!last || last.type !== 'dense') {
    throw badModel(
      last
        ? 'The last layer of the ONNX model is a Relu; pathwise needs the logits of a final dense layer (Gemm or MatMul)'
        : 'The ONNX model has no dense layer (Gemm or MatMul)',
    );
  }
  if (last.out < 2) {
    throw badModel(
      `The last dense layer${last.name ? ` "${last.name}"` : ''} has ${last.out} output; pathwise explains ` +
        'classifiers with at least 2 outputs (logits)',
    );
  }
  if (shape.length !== 1 || shape[0] !== last.out) {
    throw badModel(`The ONNX model's output has shape [batch, ${shape}]; pathwise needs [batch, ${last.out}] (the logits)`);
  }
  return { inputShape, layers };
}

// ---------------------------------------------------------------------------------------------
// Graph input

function graphInput(inputs: ValueInfoProto[], consts: Map<string, TensorProto>): ValueInfoProto {
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
  return { inputShape, batchIsOne: batch.case === 'dimValue' };
}

// ---------------------------------------------------------------------------------------------
// Nodes

function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? `"${node.name}"` : `#${index} (unnamed ${node.opType})`;
}

function requireFirstInput(actPos: number, op: string, label: string): void {
  if (actPos !== 0) {
    throw unsupported(`${op} at node ${label} takes the activation as input ${actPos}; pathwise needs it as input 0`);
  }
}

function requireVector(shape: number[], op: string, label: string): void {
  if (shape.length !== 1) {
    throw badModel(
      `${op} at node ${label} needs a 2-D input [batch, features], but the activation has shape [batch, ${shape}] ` +
        '(a Flatten is missing)',
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

function constOperand(consts: Map<string, TensorProto>, node: NodeProto, pos: number, what: string, label: string): TensorProto {
  const name = node.input[pos];
  if (!name) throw badModel(`${node.opType} at node ${label} has no ${what} (input ${pos})`);
  const t = consts.get(name);
  if (!t) {
    throw unsupported(
      `${node.opType} at node ${label}: ${what} "${name}" is not a constant (initializer or Constant node); ` +
        'pathwise needs constant weights',
    );
  }
  return t;
}

function pushDense(
  layers: LayerSpec[],
  denses: PendingDense[],
  weights: Float32Array,
  bias: Float64Array | undefined,
  inSize: number,
  outSize: number,
  name: string | undefined,
): PendingDense {
  const spec: DenseLayerSpec = named({ type: 'dense', weights, in: inSize, out: outSize }, name);
  const pending: PendingDense = { spec, bias };
  layers.push(spec);
  denses.push(pending);
  return pending;
}

function named<T extends LayerSpec>(layer: T, name: string | undefined): T {
  if (name !== undefined) layer.name = name;
  return layer;
}

function checkDropoutInference(node: NodeProto, consts: Map<string, TensorProto>, label: string): void {
  // Opset 12+: input 2 is training_mode. Only a constant false (or its absence) is inference.
  const tm = node.input[2];
  if (!tm) return;
  const t = consts.get(tm);
  if (!t) {
    throw unsupported(`Dropout at node ${label} has a non-constant training_mode "${tm}"; pathwise needs inference mode`);
  }
  const v = intTensor(t, `training_mode of Dropout at node ${label}`);
  if (v.some((x) => x !== 0)) {
    throw unsupported(`Dropout at node ${label} runs in training mode (training_mode = true); pathwise needs inference mode`);
  }
}

function reshapeTarget(node: NodeProto, consts: Map<string, TensorProto>, label: string): number[] {
  const shapeName = node.input[1];
  if (!shapeName) {
    // Opset 1-4 carried the shape as an attribute.
    const a = findAttr(node, 'shape');
    if (!a) throw badModel(`Reshape at node ${label} has no shape input`);
    return a.ints.map((v) => bigToNumber(v, `shape of Reshape at node ${label}`));
  }
  const t = consts.get(shapeName);
  if (!t) {
    throw unsupported(
      `Reshape at node ${label}: the shape "${shapeName}" is computed in the graph; pathwise supports Reshape ` +
        'with a constant shape (initializer or Constant node)',
    );
  }
  const dims = tensorDims(t, `shape of Reshape at node ${label}`);
  if (dims.length !== 1) throw badModel(`Reshape at node ${label}: the shape tensor has shape [${dims}], expected 1-D`);
  return intTensor(t, `shape of Reshape at node ${label}`);
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

function floatAttr(node: NodeProto, name: string, dflt: number, label: string): number {
  const a = findAttr(node, name);
  if (!a) return dflt;
  if (a.type !== AttrType.FLOAT && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be a float (type ${a.type})`);
  }
  return a.f;
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

/** Reads an integer tensor (int64, int32, bool) as numbers: Reshape shapes, Dropout's training_mode. */
function intTensor(t: TensorProto, where: string): number[] {
  checkEmbedded(t, where);
  const dims = tensorDims(t, where);
  const hasRaw = t.rawData.length > 0;
  switch (t.dataType) {
    case DataType.INT64:
      if (hasRaw) {
        const { n, view } = rawCopy(t, dims, 8, where);
        return Array.from({ length: n }, (_, i) => bigToNumber(view.getBigInt64(8 * i, true), where));
      }
      checkCount(t, dims, t.int64Data.length, where);
      return t.int64Data.map((v) => bigToNumber(v, where));
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
