/**
 * Builders of ONNX model bytes (tensors, nodes, graphs, a sequential layer spec, a lone MatMul)
 * with the generated ONNX subset schema, shared by the tests (through onnx-build.ts) and the bench.
 *
 * Plain JavaScript (types in onnx-bytes.d.mts) so that plain Node runs it too. The schema module
 * is passed in rather than imported: vitest hands over lib/gen/onnx_subset_pb.ts, the bench
 * dist/gen/onnx_subset_pb.js (plain Node cannot load the TypeScript one), so the tests never
 * depend on a stale dist/.
 */
import { create, toBinary } from '@bufbuild/protobuf';

/** The builders, bound to one copy of the generated schema module. */
export function onnxBuilders(pb) {
  const DataType = pb.TensorProto_DataType, AttrType = pb.AttributeProto_AttributeType;

  // -------------------------------------------------------------------------------------------
  // Tensors ('raw': little-endian bytes in raw_data; 'typed': float_data / double_data / ...)

  const big = (dims) => dims.map(BigInt);
  function checkLength(name, dims, n) {
    const want = dims.reduce((a, b) => a * b, 1);
    if (want !== n) throw new Error(`tensor ${name}: ${n} values for dims [${dims}]`);
  }
  /** Little-endian bytes of a typed array (the test hosts are little-endian). */
  const bytesOf = (a) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
  const tensor = (name, dims, dataType, storage, values, rawValues, typedField, typedValues) => {
    checkLength(name, dims, values.length);
    return storage === 'raw'
      ? create(pb.TensorProtoSchema, { name, dims: big(dims), dataType, rawData: bytesOf(rawValues) })
      : create(pb.TensorProtoSchema, { name, dims: big(dims), dataType, [typedField]: typedValues });
  };

  const floatTensor = (name, dims, values, storage = 'raw') => {
    const f32 = Float32Array.from(values);
    return tensor(name, dims, DataType.FLOAT, storage, values, f32, 'floatData', Array.from(f32));
  };
  const doubleTensor = (name, dims, values, storage = 'raw') => {
    const f64 = Float64Array.from(values);
    return tensor(name, dims, DataType.DOUBLE, storage, values, f64, 'doubleData', Array.from(f64));
  };
  // float16 from raw binary16 bit patterns (typed storage puts them in int32_data).
  const float16Tensor = (name, dims, bits, storage = 'raw') => {
    const u16 = Uint16Array.from(bits);
    return tensor(name, dims, DataType.FLOAT16, storage, bits, u16, 'int32Data', Array.from(u16));
  };
  const int64Tensor = (name, values, storage = 'raw', dims = [values.length]) => {
    const i64 = BigInt64Array.from(values.map(BigInt));
    return storage === 'raw'
      ? create(pb.TensorProtoSchema, { name, dims: big(dims), dataType: DataType.INT64, rawData: bytesOf(i64) })
      : create(pb.TensorProtoSchema, { name, dims: big(dims), dataType: DataType.INT64, int64Data: Array.from(i64) });
  };
  const boolTensor = (name, value) =>
    create(pb.TensorProtoSchema, { name, dims: [], dataType: DataType.BOOL, rawData: new Uint8Array([value ? 1 : 0]) });

  // -------------------------------------------------------------------------------------------
  // Nodes and attributes

  function attribute(name, v) {
    if ('int' in v) return create(pb.AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(v.int) });
    if ('float' in v) return create(pb.AttributeProtoSchema, { name, type: AttrType.FLOAT, f: v.float });
    if ('ints' in v) return create(pb.AttributeProtoSchema, { name, type: AttrType.INTS, ints: v.ints.map(BigInt) });
    if ('floats' in v) return create(pb.AttributeProtoSchema, { name, type: AttrType.FLOATS, floats: v.floats });
    if ('string' in v) return create(pb.AttributeProtoSchema, { name, type: AttrType.STRING, s: new TextEncoder().encode(v.string) });
    return create(pb.AttributeProtoSchema, { name, type: AttrType.TENSOR, t: v.tensor });
  }

  const node = (opType, name, inputs, outputs, attrs = {}, domain = '') => create(pb.NodeProtoSchema, {
    opType, name, input: inputs, output: outputs, domain,
    attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
  });

  // Gemm(a, b[, c]); attributes are written only when given.
  function gemm(name, a, b, c, out, at = {}) {
    const attrs = {};
    if (at.alpha !== undefined) attrs.alpha = { float: at.alpha };
    if (at.beta !== undefined) attrs.beta = { float: at.beta };
    if (at.transA !== undefined) attrs.transA = { int: at.transA };
    if (at.transB !== undefined) attrs.transB = { int: at.transB };
    return node('Gemm', name, c === undefined ? [a, b] : [a, b, c], [out], attrs);
  }

  // Attributes of Conv and the pools; only the given ones are written.
  function windowAttrs(a) {
    const out = {};
    if (a.kernel) out.kernel_shape = { ints: a.kernel };
    if (a.strides) out.strides = { ints: a.strides };
    if (a.pads) out.pads = { ints: a.pads };
    if (a.dilations) out.dilations = { ints: a.dilations };
    if (a.autoPad) out.auto_pad = { string: a.autoPad };
    if (a.group !== undefined) out.group = { int: a.group };
    if (a.ceilMode !== undefined) out.ceil_mode = { int: a.ceilMode };
    if (a.countIncludePad !== undefined) out.count_include_pad = { int: a.countIncludePad };
    return out;
  }

  const ops = {
    matmul: (name, a, b, out) => node('MatMul', name, [a, b], [out]),
    add: (name, a, b, out) => node('Add', name, [a, b], [out]),
    relu: (name, x, out) => node('Relu', name, [x], [out]),
    identity: (name, x, out) => node('Identity', name, [x], [out]),
    flatten: (name, x, out, axis) => node('Flatten', name, [x], [out], axis === undefined ? {} : { axis: { int: axis } }),
    reshape: (name, x, shape, out) => node('Reshape', name, [x, shape], [out]),
    constant: (name, out, value) => node('Constant', name, [], [out], { value: { tensor: value } }),
    conv: (name, x, w, b, out, a = {}) => node('Conv', name, b === undefined ? [x, w] : [x, w, b], [out], windowAttrs(a)),
    maxPool: (name, x, out, a) => node('MaxPool', name, [x], [out], windowAttrs(a)),
    averagePool: (name, x, out, a) => node('AveragePool', name, [x], [out], windowAttrs(a)),
    globalAveragePool: (name, x, out) => node('GlobalAveragePool', name, [x], [out]),
    batchNorm: (name, x, params, out, epsilon) =>
      node('BatchNormalization', name, [x, ...params], [out], epsilon === undefined ? {} : { epsilon: { float: epsilon } }),
    shapeOf: (name, x, out) => node('Shape', name, [x], [out]),
    gather: (name, data, indices, out, axis) => node('Gather', name, [data, indices], [out], axis === undefined ? {} : { axis: { int: axis } }),
    unsqueeze: (name, x, axes, out) => node('Unsqueeze', name, [x, axes], [out]),
    squeeze: (name, x, axes, out) => node('Squeeze', name, [x, axes], [out]),
    concat: (name, inputs, out, axis) => node('Concat', name, inputs, [out], { axis: { int: axis } }),
    slice: (name, data, starts, ends, out, axes, steps) =>
      node('Slice', name, [data, starts, ends, ...(axes ? [axes] : steps ? [''] : []), ...(steps ? [steps] : [])], [out]),
    cast: (name, x, to, out) => node('Cast', name, [x], [out], { to: { int: to } }),
    dropout: (name, x, out, extraInputs = [], mask) => node('Dropout', name, [x, ...extraInputs], mask ? [out, mask] : [out]),
  };

  // -------------------------------------------------------------------------------------------
  // Models

  function valueInfo(name, shape, elemType = DataType.FLOAT) {
    const dims = shape?.map((d) => create(pb.TensorShapeProto_DimensionSchema, {
      value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
    }));
    return create(pb.ValueInfoProtoSchema, {
      name,
      type: create(pb.TypeProtoSchema, {
        value: {
          case: 'tensorType',
          value: create(pb.TypeProto_TensorSchema, { elemType, shape: dims ? create(pb.TensorShapeProtoSchema, { dim: dims }) : undefined }),
        },
      }),
    });
  }

  function buildModel(o) {
    const inputs = Array.isArray(o.input) ? o.input : [o.input];
    const graph = create(pb.GraphProtoSchema, {
      name: o.graphName ?? 'test',
      node: o.nodes,
      initializer: o.initializers ?? [],
      input: inputs.map((i) => valueInfo(i.name, i.shape, i.elemType)),
      output: [valueInfo(o.output.name, o.output.shape)],
    });
    return toBinary(pb.ModelProtoSchema, create(pb.ModelProtoSchema, {
      irVersion: BigInt(o.irVersion ?? 7),
      producerName: o.producerName ?? 'pathwise-tests',
      graph,
      opsetImport: [create(pb.OperatorSetIdProtoSchema, { domain: '', version: BigInt(o.opset ?? 13) })],
    }));
  }

  /**
   * ONNX bytes (opset 13, batch dimension 'N') of a sequential layer spec: conv, relu, maxpool,
   * flatten, dense (Gemm transB = 1: pathwise dense weights are out × in), identity (no node).
   */
  function specToOnnx(spec, numClasses = 10) {
    const nodes = [], initializers = [];
    let x = 'input';
    spec.layers.forEach((l, i) => {
      const y = `t${i}`;
      switch (l.type) {
        case 'conv': {
          const [kh, kw] = l.kernel;
          initializers.push(floatTensor(`w${i}`, [l.outChannels, l.inChannels / (l.groups ?? 1), kh, kw], l.weights));
          if (l.bias) initializers.push(floatTensor(`b${i}`, [l.outChannels], l.bias));
          nodes.push(ops.conv(`conv${i}`, x, `w${i}`, l.bias ? `b${i}` : undefined, y, {
            kernel: l.kernel, pads: l.pads ?? [0, 0, 0, 0], strides: l.stride ?? [1, 1], dilations: l.dilation ?? [1, 1], group: l.groups ?? 1,
          }));
          break;
        }
        case 'relu':
          nodes.push(ops.relu(`relu${i}`, x, y));
          break;
        case 'maxpool':
          nodes.push(ops.maxPool(`pool${i}`, x, y, { kernel: l.kernel, strides: l.stride ?? l.kernel, pads: l.pads ?? [0, 0, 0, 0] }));
          break;
        case 'flatten':
          nodes.push(ops.flatten(`flatten${i}`, x, y, 1));
          break;
        case 'dense':
          initializers.push(floatTensor(`w${i}`, [l.out, l.in], l.weights), floatTensor(`b${i}`, [l.out], l.bias ?? new Float32Array(l.out)));
          nodes.push(gemm(`gemm${i}`, x, `w${i}`, `b${i}`, y, { transB: 1 }));
          break;
        case 'identity':
          return; // no node: the next layer reads x
        default:
          throw new Error(`specToOnnx: layer type ${l.type} is not supported`);
      }
      x = y;
    });
    nodes[nodes.length - 1].output = ['logits'];
    return buildModel({
      input: { name: 'input', shape: ['N', ...spec.inputShape] }, output: { name: 'logits', shape: ['N', numClasses] },
      nodes, initializers, irVersion: 8, graphName: 'layer_spec', producerName: 'pathwise',
    });
  }

  /**
   * ONNX bytes of Y[m×n] = A[m×k] · B[k×n] (float32). Without bValues B is a second graph input
   * (onnxruntime packs it on every run); with them B is an initializer (packed once, at load).
   */
  function matmulModel(m, n, k, bValues) {
    return buildModel({
      input: bValues ? { name: 'A', shape: [m, k] } : [{ name: 'A', shape: [m, k] }, { name: 'B', shape: [k, n] }],
      output: { name: 'Y', shape: [m, n] },
      nodes: [ops.matmul('mm', 'A', 'B', 'Y')],
      initializers: bValues ? [floatTensor('B', [k, n], bValues)] : [],
      irVersion: 8, graphName: 'matmul', producerName: 'pathwise',
    });
  }

  return {
    floatTensor, doubleTensor, float16Tensor, int64Tensor, boolTensor,
    attribute, node, gemm, ...ops,
    valueInfo, buildModel, specToOnnx, matmulModel,
  };
}
