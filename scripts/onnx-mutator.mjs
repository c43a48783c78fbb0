// A seeded, structure-aware mutator of ONNX (protobuf) bytes, shared by the vitest smoke
// (test/fuzz-onnx.test.ts) and the long run (scripts/fuzz-onnx.mjs). It needs no schema: the
// protobuf wire format is walked generically (a length-delimited field whose payload parses
// completely as fields is treated as a sub-message), so mutations reach dims, attributes, node
// inputs and outputs, op types, data types and tensor payloads, and the result is re-encoded with
// consistent lengths. Byte-level mutations (bit flips, truncation, insertion, splicing) are applied
// on top, so malformed encodings are covered too.

/** mulberry32: a small seeded PRNG; returns a function giving floats in [0, 1). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rand, n) => Math.floor(rand() * n);
const pick = (rand, xs) => xs[int(rand, xs.length)];

// ---------------------------------------------------------------------------------------------
// Wire format: a message is an array of fields { no, wt, v } where v is a bigint (varint, wt 0),
// a Uint8Array (fixed64 wt 1, fixed32 wt 5, bytes wt 2) or a message (wt 2, `msg: true`).

function readVarint(buf, pos) {
  let result = 0n, shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) return null;
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
  return null;
}

/** Parses bytes as a message; null if they are not a complete, valid field sequence. */
export function parseMessage(buf, depth = 0) {
  const fields = [];
  let pos = 0;
  while (pos < buf.length) {
    const tag = readVarint(buf, pos);
    if (!tag) return null;
    pos = tag[1];
    const no = Number(tag[0] >> 3n), wt = Number(tag[0] & 7n);
    if (no === 0) return null;
    if (wt === 0) {
      const v = readVarint(buf, pos);
      if (!v) return null;
      fields.push({ no, wt, v: v[0] });
      pos = v[1];
    } else if (wt === 1 || wt === 5) {
      const n = wt === 1 ? 8 : 4;
      if (pos + n > buf.length) return null;
      fields.push({ no, wt, v: buf.subarray(pos, pos + n) });
      pos += n;
    } else if (wt === 2) {
      const len = readVarint(buf, pos);
      if (!len || len[0] > BigInt(buf.length - len[1])) return null;
      const start = len[1], end = start + Number(len[0]);
      const payload = buf.subarray(start, end);
      // Small payloads that parse completely are sub-messages (tensor payloads are large or fail).
      const sub = depth < 8 && payload.length > 0 && payload.length < 1 << 16 ? parseMessage(payload, depth + 1) : null;
      fields.push(sub ? { no, wt, v: sub, msg: true } : { no, wt, v: payload });
      pos = end;
    } else {
      return null;
    }
  }
  return fields;
}

function varintBytes(v) {
  let x = BigInt.asUintN(64, v);
  const out = [];
  do {
    let b = Number(x & 0x7fn);
    x >>= 7n;
    if (x) b |= 0x80;
    out.push(b);
  } while (x);
  return out;
}

/** Encodes a message; the chunks are concatenated once at the end. */
export function encodeMessage(fields) {
  const chunks = [];
  let size = 0;
  const put = (c) => { chunks.push(c); size += c.length; };
  const walk = (fs) => {
    for (const f of fs) {
      put(Uint8Array.from(varintBytes((BigInt(f.no) << 3n) | BigInt(f.wt))));
      if (f.wt === 0) put(Uint8Array.from(varintBytes(f.v)));
      else if (f.wt === 1 || f.wt === 5) put(f.v);
      else {
        const payload = f.msg ? encodeMessage(f.v) : f.v;
        put(Uint8Array.from(varintBytes(BigInt(payload.length))));
        put(payload);
      }
    }
  };
  walk(fields);
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutations

// Values that stress dims, attributes, indices, data types and enum fields.
const INTERESTING = [0n, 1n, 2n, 3n, 4n, 7n, 8n, 16n, 31n, 32n, 63n, 64n, 127n, 128n, 255n, 256n, 1023n, 1024n, 65535n,
  65536n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 64n - 1n /* -1 */,
  2n ** 64n - 2n /* -2 */, 2n ** 63n /* INT64_MIN */];
const OPS = ['Conv', 'Relu', 'Gemm', 'MatMul', 'Add', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'BatchNormalization',
  'Flatten', 'Reshape', 'Identity', 'Dropout', 'Shape', 'Gather', 'Unsqueeze', 'Concat', 'Slice', 'Squeeze', 'Cast',
  'Constant', 'ConstantOfShape', 'Softmax', 'Sigmoid', 'Loop', 'If', ''];
const ATTRS = ['kernel_shape', 'strides', 'pads', 'dilations', 'group', 'auto_pad', 'ceil_mode', 'count_include_pad',
  'transA', 'transB', 'alpha', 'beta', 'axis', 'axes', 'epsilon', 'value', 'to', 'allowzero', 'training_mode', 'starts', 'ends'];

/** Every (container, index) of a field in the tree, for picking a mutation site. */
function sites(fields, out = []) {
  for (let i = 0; i < fields.length; i++) {
    out.push([fields, i]);
    if (fields[i].msg) sites(fields[i].v, out);
  }
  return out;
}

/** Deep-copies the spine of a message tree (payload bytes are shared, never written in place). */
function clone(fields) {
  return fields.map((f) => (f.msg ? { ...f, v: clone(f.v) } : { ...f }));
}

const utf8 = new TextEncoder();

function mutateTree(tree, rand, donors) {
  const all = sites(tree);
  if (all.length === 0) return;
  const [container, i] = pick(rand, all);
  const f = container[i];
  switch (int(rand, 10)) {
    case 0: // delete the field
      container.splice(i, 1);
      return;
    case 1: // duplicate it (repeated fields grow, singular fields are overridden)
      container.splice(i + int(rand, 2), 0, f.msg ? { ...f, v: clone(f.v) } : { ...f });
      return;
    case 2: { // swap with another field of the same message
      const j = int(rand, container.length);
      [container[i], container[j]] = [container[j], container[i]];
      return;
    }
    case 3: // renumber it (a field read as another)
      container[i] = { ...f, no: rand() < 0.5 ? f.no + 1 : Math.max(1, f.no - 1 - int(rand, 3)) };
      return;
    case 4: // graft a field from another model's tree
      if (donors.length) {
        const [dc, di] = pick(rand, pick(rand, donors));
        container.splice(i, 0, dc[di].msg ? { ...dc[di], v: clone(dc[di].v) } : { ...dc[di] });
      }
      return;
    default:
      break;
  }
  // Change the value in place.
  if (f.wt === 0) {
    const r = int(rand, 4);
    f.v = r === 0 ? pick(rand, INTERESTING) : r === 1 ? f.v + BigInt(int(rand, 5) - 2) : r === 2 ? f.v ^ (1n << BigInt(int(rand, 64))) : BigInt(int(rand, 20));
    f.v = BigInt.asUintN(64, f.v);
  } else if (f.wt === 1 || f.wt === 5) {
    const b = f.v.slice();
    const r = int(rand, 3);
    if (r === 0) b[int(rand, b.length)] ^= 1 << int(rand, 8);
    else if (r === 1) new DataView(b.buffer).setFloat32(0, pick(rand, [NaN, Infinity, -Infinity, 0, -0, 1e38, 1e-45, 3]), true);
    else b.fill(0xff);
    f.v = b;
  } else if (f.msg) {
    f.v.splice(int(rand, f.v.length + 1), 0, { no: 1 + int(rand, 16), wt: 0, v: pick(rand, INTERESTING) });
  } else {
    const bytes = f.v;
    const r = int(rand, 7);
    if (r === 0) f.v = utf8.encode(pick(rand, OPS));
    else if (r === 1) f.v = utf8.encode(pick(rand, ATTRS));
    else if (r === 2) f.v = bytes.subarray(0, int(rand, bytes.length + 1)); // truncate a payload or name
    else if (r === 3 && bytes.length) { // flip bits in place, on a copy
      const b = bytes.slice();
      for (let k = 0, n = 1 + int(rand, 8); k < n; k++) b[int(rand, b.length)] ^= 1 << int(rand, 8);
      f.v = b;
    } else if (r === 4 && bytes.length >= 4) { // a non-finite or huge float32 in a payload
      const b = bytes.slice();
      new DataView(b.buffer).setFloat32(4 * int(rand, b.length >> 2), pick(rand, [NaN, Infinity, -Infinity, 3e38, -3e38]), true);
      f.v = b;
    } else if (r === 5) f.v = utf8.encode(pick(rand, ['x', 'input', 'output', '', 'onnx::Gemm_0', '/fc1/Gemm_output_0', 'ai.onnx.ml', 'com.microsoft']));
    else f.v = concat(bytes, bytes.subarray(0, int(rand, Math.min(64, bytes.length + 1))));
  }
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function mutateBytes(bytes, rand, seeds) {
  const r = int(rand, 6);
  if (r === 0) return bytes.subarray(0, int(rand, bytes.length + 1)); // truncation
  const b = bytes.slice();
  if (r === 1) {
    for (let k = 0, n = 1 + int(rand, 16); k < n && b.length; k++) b[int(rand, b.length)] ^= 1 << int(rand, 8);
    return b;
  }
  if (r === 2) {
    for (let k = 0, n = 1 + int(rand, 4); k < n && b.length; k++) b[int(rand, b.length)] = pick(rand, [0, 0x7f, 0x80, 0xff, 0x08, 0x12]);
    return b;
  }
  if (r === 3) { // insert random bytes
    const at = int(rand, b.length + 1), ins = Uint8Array.from({ length: 1 + int(rand, 16) }, () => int(rand, 256));
    return concat(b.subarray(0, at), ins, b.subarray(at));
  }
  if (r === 4) { // splice: a prefix of this model and a suffix of another
    const other = pick(rand, seeds);
    return concat(b.subarray(0, int(rand, b.length + 1)), other.subarray(int(rand, other.length + 1)));
  }
  // erase a range
  const at = int(rand, b.length + 1), len = int(rand, 64);
  return concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + len)));
}

/**
 * A mutator over seed models (ONNX bytes). `next(rand)` returns one mutated model: 1–4 tree
 * mutations on a parsed seed, then (one time in three) a byte-level mutation of the encoding.
 */
export function createMutator(seedBytes, weights = seedBytes.map(() => 1)) {
  const total = weights.reduce((a, b) => a + b, 0);
  const choose = (rand) => {
    let r = rand() * total;
    for (let k = 0; k < weights.length; k++) if ((r -= weights[k]) < 0) return k;
    return weights.length - 1;
  };
  const trees = seedBytes.map((b) => {
    const t = parseMessage(b);
    if (!t) throw new Error('a seed model is not valid protobuf');
    return t;
  });
  const donorSites = trees.map((t) => sites(t));
  return {
    next(rand) {
      const k = choose(rand);
      let bytes;
      if (rand() < 0.85) {
        const tree = clone(trees[k]);
        for (let m = 0, n = 1 + int(rand, 4); m < n; m++) mutateTree(tree, rand, donorSites);
        bytes = encodeMessage(tree);
      } else {
        bytes = seedBytes[k];
      }
      if (bytes === seedBytes[k] || rand() < 0.33) bytes = mutateBytes(bytes, rand, seedBytes);
      return bytes;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Outcomes

// Messages of errors the JavaScript engine raises on its own: a TypeError or RangeError carrying one
// of these is a bug in the loader (a property of undefined, a size from untrusted numbers, runaway
// recursion), not a validation error, even though its class is on the allowed list.
const ENGINE_MESSAGES = /Cannot read properties|Cannot set properties|is not a function|is not iterable|is not a constructor|Invalid (typed )?array length|Invalid string length|Maximum call stack|allocation failed|out of memory|Cannot convert|Do not know how to serialize|BigInt/i;

function policyError(e, api, allowed) {
  if (e instanceof api.PathwiseError || (e && e.name === 'PathwiseError')) return allowed.includes(e.code) ? `rejected:${e.code}` : null;
  if ((e instanceof TypeError || e instanceof RangeError) && !ENGINE_MESSAGES.test(e.message)) return `rejected:${e.constructor.name}`;
  return null;
}

/**
 * Feeds one byte string to the ONNX loader and, when it yields a NetworkSpec, to loadModelSync and
 * (with `explainToo`) to forward and explainSync. Returns { outcome, error? }: `outcome` is
 * 'accepted', 'rejected:<code>' (parseOnnx rejected the bytes: only PathwiseError codes are
 * documented for bytes), 'rejected:<code or class> (at load)' (the engine refused the spec), or
 * 'finding:<stage>' for anything off-policy — another exception type, an engine-raised message
 * such as "Cannot read properties of undefined", a PATHWISE_NATIVE failure.
 *   api: { parseOnnx, loadModelSync, explainSync, PathwiseError }
 */
export function runOne(bytes, api, rand, explainToo) {
  let spec;
  try {
    spec = api.parseOnnx(bytes);
  } catch (e) {
    const r = policyError(e, api, ['PATHWISE_BAD_MODEL', 'PATHWISE_UNSUPPORTED_OP']);
    return r && !r.endsWith('TypeError') && !r.endsWith('RangeError') ? { outcome: r } : { outcome: 'finding:parse', error: e };
  }
  let model;
  try {
    model = api.loadModelSync(spec);
  } catch (e) {
    // A spec the loader produced and the engine refused (non-finite weights, which only the engine
    // checks) is a documented rejection; anything else is a finding.
    const r = policyError(e, api, ['PATHWISE_BAD_MODEL', 'PATHWISE_UNSUPPORTED_OP']);
    return r ? { outcome: `${r} (at load)`, error: e } : { outcome: 'finding:load', error: e };
  }
  try {
    if (explainToo && model.inputSize <= 1 << 20) {
      const x = new Float32Array(model.inputSize);
      for (let i = 0; i < x.length; i++) x[i] = rand() * 2 - 1;
      model.forward(x);
      const relus = model.reluLayers.length;
      const options = {
        width: pick(rand, ['all', 1, 3, '10%']),
        depth: rand() < 0.5 ? 'all' : 1 + int(rand, relus),
        semantics: rand() < 0.5 ? 'official' : 'linear',
        maxMemoryBytes: 1 << 27,
      };
      try {
        api.explainSync(model, x, options);
      } catch (e) {
        if (policyError(e, api, ['PATHWISE_MEMORY_LIMIT']) !== 'rejected:PATHWISE_MEMORY_LIMIT') return { outcome: 'finding:explain', error: e };
      }
    }
    return { outcome: 'accepted' };
  } catch (e) {
    return { outcome: 'finding:forward', error: e };
  } finally {
    model.dispose();
  }
}
