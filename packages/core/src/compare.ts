/** max |actual - expected| / max |expected|: an array's error relative to its own scale (NaN propagates). */
export function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != ${expected.length}`);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    const err = Math.abs(actual[i]! - expected[i]!);
    if (!(err <= worst)) worst = err; // NaN propagates
  }
  return scale === 0 ? worst : worst / scale;
}
