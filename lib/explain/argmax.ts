/** The argmax rule of the engine and the authors' reference: the largest value, lowest index on ties. */

/** Index (relative to `offset`) of the largest of values[offset … offset + count − 1], lowest on ties. */
export function argmaxFirst(values: ArrayLike<number>, offset = 0, count = values.length - offset): number {
  let best = 0;
  for (let j = 1; j < count; j++) if (values[offset + j] > values[offset + best]) best = j;
  return best;
}
