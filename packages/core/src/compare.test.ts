import { describe, expect, it } from 'vitest';
import { maxRelativeError } from './compare.js';

describe('maxRelativeError', () => {
  it('is the largest absolute error over the largest expected magnitude', () => {
    expect(maxRelativeError([1, 2, 4.5], [1, 2, 4])).toBeCloseTo(0.5 / 4, 12);
    expect(maxRelativeError([-1, 0.1], [-2, 0])).toBeCloseTo(1 / 2, 12);
    expect(maxRelativeError([3, 4], [3, 4])).toBe(0);
  });
  it('falls back to the absolute error when everything expected is zero, and propagates NaN', () => {
    expect(maxRelativeError([0.25, 0], [0, 0])).toBe(0.25);
    expect(maxRelativeError([1, Number.NaN], [1, 1])).toBeNaN();
  });
  it('refuses arrays of different lengths', () => {
    expect(() => maxRelativeError([1], [1, 2])).toThrow('length 1 != 2');
  });
});
