/**
 * Parsers of command-line option values. Each throws a UsageError (exit code 2) naming the option
 * and quoting the text it got.
 */
import type { Depth, ExplainBatchOptions, Width } from '../explain/types.js';
import { UsageError } from './program.js';

export function numberList(what: string) {
  return (text: string): number[] => {
    const values = text.split(/[,\s]+/).filter(Boolean).map(Number);
    if (values.length === 0 || values.some((v) => !Number.isFinite(v)))
      throw new UsageError(`--${what} must be a comma-separated list of numbers, got ${JSON.stringify(text)}`);
    return values;
  };
}

/** A width (k, P% or all) given to the option `--${what}`. */
export function widthOf(text: string, what: string): Width {
  const t = text.trim();
  if (t === 'all') return 'all';
  if (t.endsWith('%')) return t as `${number}%`;
  const n = Number(t);
  if (!Number.isInteger(n)) throw new UsageError(`--${what} must be an integer, a percentage such as 10% or all; got ${JSON.stringify(text)}`);
  return n;
}

/** A depth (d or all) given to the option `--${what}`. */
export function depthOf(text: string, what: string): Depth {
  if (text.trim() === 'all') return 'all';
  const n = Number(text);
  if (!Number.isInteger(n)) throw new UsageError(`--${what} must be an integer or all; got ${JSON.stringify(text)}`);
  return n;
}

export const parseWidth = (text: string): Width => widthOf(text, 'width');
export const parseDepth = (text: string): Depth => depthOf(text, 'depth');

export function parseNumber(what: string) {
  return (text: string): number => {
    const n = Number(text);
    if (text.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${what} must be a number, got ${JSON.stringify(text)}`);
    return n;
  };
}

export function parseDecompose(text: string): NonNullable<ExplainBatchOptions['decompose']> {
  const t = text.trim();
  if (t === 'unit' || t === 'channel') return { by: t };
  const m = /^top:(\d+)$/.exec(t);
  if (m) return { by: { top: Number(m[1]) } };
  throw new UsageError(`--decompose must be unit, channel or top:N, got ${JSON.stringify(text)}`);
}

export function parseInteger(what: string) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isInteger(n)) throw new UsageError(`--${what} must be an integer, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** A comma-separated list of non-empty items. */
export function textList(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean);
}
