/**
 * The exact identities every explanation keeps (docs/method.md §5.2, §6), as test assertions:
 * completeness Σ attribution + bias = pathLogit, and the decomposition's Σ contributions + biasAbove
 * = pathLogit, both within 1e-4 of Σ |attribution| + |bias|.
 */
import { expect } from 'vitest';
import type { Explanation } from '../../lib/index.js';

const sum = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += a[i]; return s; };
const sumAbs = (a: ArrayLike<number>) => { let s = 0; for (let i = 0; i < a.length; i++) s += Math.abs(a[i]); return s; };

/** Completeness, and the decomposition sum when the explanation has one. */
export function expectExactSums(ex: Explanation): void {
  const scale = sumAbs(ex.attribution) + Math.abs(ex.bias) + 1e-6;
  expect(Math.abs(sum(ex.attribution) + ex.bias - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
  const dec = ex.decomposition;
  if (!dec) return;
  const contributions = dec.components.reduce((a, c) => a + c.contribution, 0);
  expect(Math.abs(contributions + dec.biasAbove - ex.pathLogit)).toBeLessThanOrEqual(1e-4 * scale);
}
