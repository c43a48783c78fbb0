/**
 * ONNX metadata_props (ModelProto field 14, a list of StringStringEntryProto { key = 1, value = 2 }),
 * read and appended by hand: the loader's generated decoder (lib/gen) does not include the field, and
 * a model's normalisation is all the CLI needs from it. `pathwise.mean` / `pathwise.std` hold the
 * input normalisation x = (p − mean) / std of pixels p in [0, 1], one value or one per channel,
 * comma-separated.
 */

const METADATA_PROPS = 14;

function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0, scale = 1, i = at;
  for (;;) {
    if (i >= bytes.length) throw new RangeError('ONNX: truncated varint');
    const b = bytes[i++];
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [value, i];
    scale *= 128;
    if (scale > 2 ** 63) throw new RangeError('ONNX: varint too long');
  }
}

function writeVarint(value: number, out: number[]): void {
  let v = value;
  while (v >= 0x80) { out.push((v % 128) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
}

/** The length-delimited fields of a message, as [field number, payload] pairs (others skipped). */
function lengthFields(bytes: Uint8Array): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  let i = 0;
  while (i < bytes.length) {
    const [tag, next] = readVarint(bytes, i);
    i = next;
    const field = Math.floor(tag / 8), wire = tag % 8;
    if (wire === 0) i = readVarint(bytes, i)[1];
    else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else if (wire === 2) {
      const [len, start] = readVarint(bytes, i);
      if (start + len > bytes.length) throw new RangeError('ONNX: truncated field');
      out.push([field, bytes.subarray(start, start + len)]);
      i = start + len;
    } else throw new RangeError(`ONNX: unsupported wire type ${wire}`);
  }
  return out;
}

/** The model's metadata_props as a key → value map (empty when it has none). */
export function readOnnxMetadata(model: Uint8Array): Map<string, string> {
  const text = new TextDecoder();
  const props = new Map<string, string>();
  for (const [field, entry] of lengthFields(model)) {
    if (field !== METADATA_PROPS) continue;
    let key = '', value = '';
    for (const [f, payload] of lengthFields(entry)) {
      if (f === 1) key = text.decode(payload);
      else if (f === 2) value = text.decode(payload);
    }
    props.set(key, value);
  }
  return props;
}

/** The model bytes with these metadata_props appended (a repeated field: appending adds entries). */
export function withOnnxMetadata(model: Uint8Array, props: Record<string, string>): Uint8Array {
  const enc = new TextEncoder();
  const tail: number[] = [];
  for (const [key, value] of Object.entries(props)) {
    const entry: number[] = [];
    for (const [f, s] of [[1, key], [2, value]] as const) {
      const b = enc.encode(s);
      entry.push(f * 8 + 2);
      writeVarint(b.length, entry);
      entry.push(...b);
    }
    tail.push(METADATA_PROPS * 8 + 2);
    writeVarint(entry.length, tail);
    tail.push(...entry);
  }
  const out = new Uint8Array(model.length + tail.length);
  out.set(model);
  out.set(tail, model.length);
  return out;
}

/** An input normalisation x = (p − mean) / std, per channel (one value applies to every channel). */
export interface InputNormalisation {
  mean: number[];
  std: number[];
}

function numbers(text: string, key: string): number[] {
  const values = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
    throw new RangeError(`model metadata ${key} must be comma-separated numbers, got ${JSON.stringify(text)}`);
  return values;
}

/**
 * The normalisation a model declares in `pathwise.mean` / `pathwise.std`, or undefined if it
 * declares none. One key without the other, or a non-positive std, is an error.
 */
export function metadataNormalisation(props: ReadonlyMap<string, string>): InputNormalisation | undefined {
  const mean = props.get('pathwise.mean'), std = props.get('pathwise.std');
  if (mean === undefined && std === undefined) return undefined;
  if (mean === undefined || std === undefined)
    throw new RangeError('model metadata has one of pathwise.mean and pathwise.std without the other');
  const out = { mean: numbers(mean, 'pathwise.mean'), std: numbers(std, 'pathwise.std') };
  if (out.std.some((s) => !(s > 0))) throw new RangeError(`model metadata pathwise.std must be positive, got ${JSON.stringify(std)}`);
  return out;
}
