/**
 * Argument and option checks for the whole public API: small predicates, and one way to build the
 * error of a bad argument (TypeError for the wrong type, RangeError for a bad value; see the error
 * policy in DEVELOPERS.md), always naming the option and showing the value it got.
 */

/** A short description of a value for an error message ("the number 3", "a Float32Array", "null"). */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  return typeof v;
}

export function isPositiveInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v > 0;
}

export function isObject(v: unknown): v is object {
  return v !== null && typeof v === 'object';
}

/** `${what} must be ${expected}, got <the value described>`, as a TypeError. */
export function wrongType(what: string, expected: string, value: unknown): TypeError {
  return new TypeError(`${what} must be ${expected}, got ${describe(value)}`);
}

/**
 * `${what} must be ${expected}, got <value>`, as a RangeError. A number is shown as itself (the
 * type is not in question), anything else described.
 */
export function badValue(what: string, expected: string, value: unknown): RangeError {
  return new RangeError(`${what} must be ${expected}, got ${typeof value === 'number' ? value : describe(value)}`);
}

/** A number that is a safe integer in [1, max] (no upper bound when max is omitted). */
export function positiveInteger(value: unknown, what: string, max?: number): number {
  if (typeof value !== 'number') throw wrongType(what, 'a number', value);
  if (!Number.isSafeInteger(value) || value < 1 || (max !== undefined && value > max))
    throw badValue(what, max === undefined ? 'a positive integer' : `an integer in [1, ${max}]`, value);
  return value;
}

export function boolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw wrongType(what, 'a boolean', value);
  return value;
}

/** One of a few string values: "`what` must be 'a', 'b' or 'c', got …" otherwise. */
export function oneOf<T extends string>(value: unknown, allowed: readonly T[], what: string): T {
  if (typeof value !== 'string') throw wrongType(what, 'a string', value);
  if (!allowed.includes(value as T)) {
    const quoted = allowed.map((a) => `'${a}'`);
    const list = quoted.length > 1 ? `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}` : quoted[0];
    throw new RangeError(`${what} must be ${list}, got ${describe(value)}`);
  }
  return value as T;
}

/** An options argument: an object whose keys are all known option names. */
export function checkOptions(options: unknown, known: ReadonlySet<string>): asserts options is object {
  if (!isObject(options)) throw wrongType('options', 'an object', options);
  for (const key of Object.keys(options))
    if (!known.has(key)) throw new RangeError(`unknown option ${JSON.stringify(key)} (known: ${[...known].join(', ')})`);
}

/** A class index in [0, classes). */
export function checkTarget(target: unknown, classes: number, what: string): number {
  if (typeof target !== 'number') throw wrongType(what, 'a class index', target);
  if (!Number.isInteger(target) || target < 0 || target >= classes) throw badValue(what, `an integer in [0, ${classes})`, target);
  return target;
}

/**
 * Per-input classes from a `target` (one class for all n inputs) or `targets` (one per input)
 * option, or undefined when neither is given (the engine then takes the predicted classes).
 */
export function checkTargets(options: { target?: unknown; targets?: unknown }, classes: number, n: number): Int32Array | undefined {
  if (options.target !== undefined) return new Int32Array(n).fill(checkTarget(options.target, classes, 'target'));
  if (options.targets === undefined) return undefined;
  const ts = options.targets as ArrayLike<unknown>;
  if (!isObject(ts) || typeof ts.length !== 'number') throw wrongType('targets', 'an array of class indices', ts);
  if (ts.length !== n) throw new RangeError(`targets has ${ts.length} entries for ${n} inputs`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = checkTarget(ts[i], classes, `targets[${i}]`);
  return out;
}

/** Every value finite (no NaN or ±Infinity); `origin` names where the values came from. */
export function checkFinite(values: ArrayLike<number>, origin: string): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i])) throw new RangeError(`${origin}: value ${i} is not finite (${values[i]})`);
}

/** What the input checks need to know of a model (a Model has them). */
export interface InputShaped {
  inputSize: number;
  inputShape: readonly number[];
}

/**
 * The input of a one-input call (explain, attribute, unwrap, insertionDeletion) as float32:
 * exactly inputSize values, else a RangeError that points at the batch form.
 */
export function singleInput(model: InputShaped, input: unknown, batchForm: string): Float32Array {
  const x = toFloat32(input, 'input');
  if (x.length !== model.inputSize)
    throw new RangeError(
      `input has ${x.length} values, expected ${model.inputSize} (shape [${model.inputShape.join(', ')}]); use ${batchForm} for several inputs`,
    );
  return x;
}

/**
 * Reads a numeric array argument as float32. A Float32Array is used as is (no copy); any other
 * typed array or array of numbers is converted.
 */
export function toFloat32(value: unknown, what: string): Float32Array {
  if (value instanceof Float32Array) return value;
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const view = value as ArrayBufferView & ArrayLike<number | bigint>;
    if (typeof view[0] === 'bigint') throw new TypeError(`${what} must hold numbers, got ${describe(value)}`);
    return Float32Array.from(view as ArrayLike<number>);
  }
  if (Array.isArray(value)) {
    const out = new Float32Array(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      if (typeof v !== 'number') throw wrongType(`${what}[${i}]`, 'a number', v);
      out[i] = v;
    }
    return out;
  }
  throw wrongType(what, 'a Float32Array (or another numeric array)', value);
}
