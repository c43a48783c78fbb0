/**
 * Decoding: model bytes to a ModelProto, and TensorProtos to numbers. Float tensors (float32,
 * float64, float16, bfloat16) become float64, integer tensors (int64, int32, bool) plain numbers;
 * raw_data and the typed repeated fields are both read, external data is refused.
 */
import { fromBinary } from '@bufbuild/protobuf';
import {
  DataLocation,
  halfToFloat,
  DataType,
  ModelProtoSchema,
  PathwiseError,
  badModel,
  unsupported,
  type ModelProto,
  type TensorProto,
} from './deps.js';
import { bigToNumber, product, saturate } from './numbers.js';

/** A float tensor decoded to float64. */
export interface FloatTensor {
  dims: number[];
  data: Float64Array;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes the bytes of a .onnx file; anything undecodable is PATHWISE_BAD_MODEL. */
export function decodeModel(bytes: Uint8Array): ModelProto {
  try {
    // Unknown fields (everything the subset schema leaves out) are skipped, not kept.
    return fromBinary(ModelProtoSchema, bytes, { readUnknownFields: false });
  } catch (err) {
    throw new PathwiseError(
      'PATHWISE_BAD_MODEL',
      `Cannot decode the ONNX model (${bytes.length} bytes): ${err instanceof Error ? err.message : String(err)}. ` +
        'Is this a complete .onnx file?',
      { cause: err },
    );
  }
}

export function isFloatType(dt: number): boolean {
  return dt === DataType.FLOAT || dt === DataType.DOUBLE || dt === DataType.FLOAT16 || dt === DataType.BFLOAT16;
}

export function dataTypeName(code: number): string {
  const name = (DataType as unknown as Record<number, string | undefined>)[code];
  return name && code !== DataType.UNDEFINED ? name : `#${code}`;
}

export function tensorDims(t: TensorProto, where: string): number[] {
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
  // too, and Buffer#slice returns a view of the whole file's memory (DEVELOPERS.md "Toolchain notes").
  const copy = new Uint8Array(raw);
  return { n, buf: copy.buffer, view: new DataView(copy.buffer) };
}

/** raw_data of a float32 (4 bytes) or float64 (8 bytes) tensor as float64. */
function rawFloats(t: TensorProto, dims: number[], bytesPerValue: 4 | 8, where: string): Float64Array {
  const { n, buf, view } = rawCopy(t, dims, bytesPerValue, where);
  if (bytesPerValue === 4) {
    if (LITTLE_ENDIAN_HOST) return Float64Array.from(new Float32Array(buf, 0, n));
    return Float64Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
  }
  if (LITTLE_ENDIAN_HOST) return new Float64Array(buf, 0, n);
  return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
}

/** Reads a floating-point tensor (float32, float64, float16, bfloat16) as float64. */
export function floatTensor(t: TensorProto, where: string): FloatTensor {
  checkEmbedded(t, where);
  const dims = tensorDims(t, where);
  const hasRaw = t.rawData.length > 0;
  let data: Float64Array;
  switch (t.dataType) {
    case DataType.FLOAT:
    case DataType.DOUBLE: {
      const isFloat = t.dataType === DataType.FLOAT;
      if (hasRaw) {
        data = rawFloats(t, dims, isFloat ? 4 : 8, where);
      } else {
        const listed = isFloat ? t.floatData : t.doubleData;
        checkCount(t, dims, listed.length, where);
        data = Float64Array.from(listed);
      }
      break;
    }
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
export function intTensor(t: TensorProto, where: string): number[] {
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


const scratchU32 = new Uint32Array(1);
const scratchF32 = new Float32Array(scratchU32.buffer);

/** bfloat16 bits (the high half of a float32) to a number (exact). */
function bfloat16ToFloat(h: number): number {
  scratchU32[0] = h << 16;
  return scratchF32[0];
}
