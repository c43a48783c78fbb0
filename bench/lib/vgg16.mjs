// The VGG16-shaped network of test/helpers/shaped-models.ts (`vgg16Spec`), ported to plain .mjs so
// the bench runs on dist/ without the TypeScript test helpers: the same seeded generator, the same
// draw order, so the same layer spec and weights (13 conv 3×3 pad 1 + ReLU, 5 max-pools 2×2, the
// paper's 25088-256-64-10 head, He initialisation). Keep it in step with the test helper.
//
// specToOnnx() writes a sequential spec of this kind (conv with pads, relu, maxpool, flatten,
// dense, identity) as ONNX bytes (Conv, Relu, MaxPool, Flatten, Gemm transB=1) with the generated
// ONNX subset schema, so onnxruntime-node can run the very same network.
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType as AttrType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType as DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
} from '../../dist/gen/onnx_subset_pb.js';

export function seededNormal(seed) {
  let s = seed >>> 0;
  const uniform = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
}

function filled(count, scale, rand) {
  const a = new Float32Array(count);
  for (let i = 0; i < count; i++) a[i] = rand() * scale;
  return a;
}

export function vgg16Spec(seed = 1, size = 224) {
  const rand = seededNormal(seed);
  const layers = [];
  let channels = 3, hw = size;
  const cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
  for (const c of cfg) {
    if (c === 'M') {
      layers.push({ type: 'maxpool', kernel: [2, 2], stride: [2, 2] });
      hw /= 2;
      continue;
    }
    layers.push({
      type: 'conv', inChannels: channels, outChannels: c, kernel: [3, 3], pads: [1, 1, 1, 1],
      weights: filled(c * channels * 9, Math.sqrt(2 / (channels * 9)), rand), bias: filled(c, 0.01, rand),
    });
    layers.push({ type: 'relu' });
    channels = c;
  }
  layers.push({ type: 'flatten' });
  const dense = (inn, out) => ({
    type: 'dense', in: inn, out, weights: filled(inn * out, Math.sqrt(2 / inn), rand), bias: filled(out, 0.01, rand),
  });
  layers.push(dense(channels * hw * hw, 256), { type: 'relu' }, { type: 'identity' }, dense(256, 64), { type: 'relu' }, { type: 'identity' }, dense(64, 10));
  return { inputShape: [3, size, size], layers };
}

/** Multiply-accumulates per layer of one forward pass of a sequential conv/pool/dense spec (per example). */
export function layerMacs(spec) {
  let [, h, w] = spec.inputShape;
  return spec.layers.map((l) => {
    if (l.type === 'conv' || l.type === 'maxpool') {
      const [kh, kw] = l.kernel, [sh, sw] = l.stride ?? (l.type === 'conv' ? [1, 1] : l.kernel), p = l.pads ?? [0, 0, 0, 0];
      h = Math.floor((h + p[0] + p[2] - kh) / sh) + 1;
      w = Math.floor((w + p[1] + p[3] - kw) / sw) + 1;
      return l.type === 'conv' ? l.outChannels * h * w * (l.inChannels / (l.groups ?? 1)) * kh * kw : 0;
    }
    return l.type === 'dense' ? l.in * l.out : 0;
  });
}

export const forwardMacs = (spec) => layerMacs(spec).reduce((a, b) => a + b, 0);

/**
 * FLOPs (2 × MACs) of one explain call on a sequential conv/dense spec, counted like explainFlops
 * in drivers.mjs for dense chains: the original forward (every layer), the Jacobian block of C rows
 * per example pulled down through every weighted layer above the lowest path ReLU, the masked
 * forward from that ReLU up, and the final VJP of one row per example through every layer (an
 * input-gradient VJP costs the forward's MACs). Pooling, ReLU masks, selection and softmax are
 * O(activations) and not counted.
 */
export function explainFlopsSpec(spec, batch, depth, numClasses = 10) {
  const macs = layerMacs(spec);
  const relus = spec.layers.map((l, i) => (l.type === 'relu' ? i : -1)).filter((i) => i >= 0);
  const d = depth === 'all' ? relus.length : Math.min(depth, relus.length);
  const lowest = relus[relus.length - d];
  const all = macs.reduce((a, b) => a + b, 0);
  const above = macs.filter((_, i) => i > lowest).reduce((a, b) => a + b, 0);
  return 2 * batch * (all + numClasses * above + above + all);
}

/** Shapes only (no weights) of test/fixtures/models/fashion_cnn.onnx, for its FLOP count. */
export const fashionCnnShape = {
  inputShape: [1, 28, 28],
  layers: [
    { type: 'conv', inChannels: 1, outChannels: 16, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'conv', inChannels: 16, outChannels: 32, kernel: [3, 3] }, { type: 'relu' }, { type: 'maxpool', kernel: [2, 2], stride: [2, 2] },
    { type: 'flatten' }, { type: 'dense', in: 800, out: 128 }, { type: 'relu' }, { type: 'dense', in: 128, out: 10 },
  ],
};

const ints = (name, values) => create(AttributeProtoSchema, { name, type: AttrType.INTS, ints: values.map(BigInt) });
const int = (name, value) => create(AttributeProtoSchema, { name, type: AttrType.INT, i: BigInt(value) });

function valueInfo(name, dims) {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType: DataType.FLOAT,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) => create(TensorShapeProto_DimensionSchema,
              typeof d === 'string' ? { value: { case: 'dimParam', value: d } } : { value: { case: 'dimValue', value: BigInt(d) } })),
          }),
        }),
      },
    }),
  });
}

function tensor(name, dims, values) {
  return create(TensorProtoSchema, {
    name, dims: dims.map(BigInt), dataType: DataType.FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  });
}

/** ONNX bytes (opset 13, dynamic batch) of a sequential spec: conv, relu, maxpool, flatten, dense, identity. */
export function specToOnnx(spec, numClasses = 10) {
  const nodes = [], initializer = [];
  let x = 'input';
  spec.layers.forEach((l, i) => {
    const y = `t${i}`;
    switch (l.type) {
      case 'conv': {
        const [kh, kw] = l.kernel, ic = l.inChannels / (l.groups ?? 1);
        initializer.push(tensor(`w${i}`, [l.outChannels, ic, kh, kw], l.weights));
        const inputs = [x, `w${i}`];
        if (l.bias) { initializer.push(tensor(`b${i}`, [l.outChannels], l.bias)); inputs.push(`b${i}`); }
        nodes.push(create(NodeProtoSchema, {
          opType: 'Conv', input: inputs, output: [y], name: `conv${i}`,
          attribute: [ints('kernel_shape', l.kernel), ints('pads', l.pads ?? [0, 0, 0, 0]), ints('strides', l.stride ?? [1, 1]),
            ints('dilations', l.dilation ?? [1, 1]), int('group', l.groups ?? 1)],
        }));
        break;
      }
      case 'relu':
        nodes.push(create(NodeProtoSchema, { opType: 'Relu', input: [x], output: [y], name: `relu${i}` }));
        break;
      case 'maxpool':
        nodes.push(create(NodeProtoSchema, {
          opType: 'MaxPool', input: [x], output: [y], name: `pool${i}`,
          attribute: [ints('kernel_shape', l.kernel), ints('strides', l.stride ?? l.kernel), ints('pads', l.pads ?? [0, 0, 0, 0])],
        }));
        break;
      case 'flatten':
        nodes.push(create(NodeProtoSchema, { opType: 'Flatten', input: [x], output: [y], name: `flatten${i}`, attribute: [int('axis', 1)] }));
        break;
      case 'dense': {
        // pathwise dense weights are row-major out × in: Gemm with transB = 1.
        initializer.push(tensor(`w${i}`, [l.out, l.in], l.weights));
        initializer.push(tensor(`b${i}`, [l.out], l.bias ?? new Float32Array(l.out)));
        nodes.push(create(NodeProtoSchema, {
          opType: 'Gemm', input: [x, `w${i}`, `b${i}`], output: [y], name: `gemm${i}`, attribute: [int('transB', 1)],
        }));
        break;
      }
      case 'identity':
        return; // no node: the next layer reads x
      default:
        throw new Error(`specToOnnx: layer type ${l.type} is not supported`);
    }
    x = y;
  });
  nodes[nodes.length - 1].output = ['logits'];
  const graph = create(GraphProtoSchema, {
    name: 'vgg16_shaped', node: nodes, initializer,
    input: [valueInfo('input', ['N', ...spec.inputShape])],
    output: [valueInfo('logits', ['N', numClasses])],
  });
  return toBinary(ModelProtoSchema, create(ModelProtoSchema, {
    irVersion: 8n, producerName: 'pathwise-bench', graph,
    opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 13n })],
  }));
}
