import { describe, expect, it } from 'vitest';
import { SeededRandom } from '@advprop/core';
import { fewShotEpisode, imbalanceCounts, imbalancedIndices } from './samplers.js';

/** 10 classes, 100 examples each, interleaved. */
const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 10);
const histogram = (idx: Int32Array, ls: ArrayLike<number>, k = 10) => {
  const h = new Array(k).fill(0);
  for (const i of idx) h[ls[i] as number]++;
  return h;
};

describe('imbalancedIndices', () => {
  it('long-tail: n_c = floor(max * ratio^(-c/(C-1))), largest / smallest = ratio', () => {
    const idx = imbalancedIndices(labels, { ratio: 10, mode: 'long-tail', maxPerClass: 100 });
    const expected = Array.from({ length: 10 }, (_, c) => Math.floor(100 * Math.pow(0.1, c / 9) + 1e-9));
    expect(histogram(idx, labels)).toEqual(expected);
    expect(expected[0]).toBe(100);
    expect(expected[9]).toBe(10);
    expect(new Set(idx).size).toBe(idx.length);
    expect(Array.from(idx)).toEqual([...idx].sort((a, b) => a - b));
  });

  it('step: the last half of the classes get max / ratio', () => {
    const idx = imbalancedIndices(labels, { ratio: 5, mode: 'step', maxPerClass: 50 });
    expect(histogram(idx, labels)).toEqual([50, 50, 50, 50, 50, 10, 10, 10, 10, 10]);
    const few = imbalancedIndices(labels, { ratio: 4, mode: 'step', maxPerClass: 40, minorityFraction: 0.2, classOrder: [9, 8, 7, 6, 5, 4, 3, 2, 1, 0] });
    expect(histogram(few, labels)).toEqual([10, 10, 40, 40, 40, 40, 40, 40, 40, 40]);
  });

  it('defaults maxPerClass to the smallest class; picks at random when given a stream; counts helper agrees', () => {
    const skewed = Int32Array.from([...labels, 0, 0, 0]);
    const idx = imbalancedIndices(skewed, { ratio: 1, mode: 'long-tail' });
    expect(histogram(idx, skewed)).toEqual(new Array(10).fill(100));
    const a = imbalancedIndices(labels, { ratio: 2, mode: 'long-tail', maxPerClass: 20, random: new SeededRandom(1) });
    const b = imbalancedIndices(labels, { ratio: 2, mode: 'long-tail', maxPerClass: 20, random: new SeededRandom(1) });
    const first = imbalancedIndices(labels, { ratio: 2, mode: 'long-tail', maxPerClass: 20 });
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(first));
    expect(histogram(a, labels)).toEqual(histogram(first, labels));
    expect(imbalanceCounts(10, 20, { ratio: 2, mode: 'long-tail' })).toEqual(histogram(first, labels));
  });

  it('rejects impossible requests with the field named', () => {
    expect(() => imbalancedIndices(labels, { ratio: 0.5, mode: 'step' })).toThrow(/ratio/);
    expect(() => imbalancedIndices(labels, { ratio: 2, mode: 'zipf' as never })).toThrow(/mode/);
    expect(() => imbalancedIndices(labels, { ratio: 2, mode: 'step', maxPerClass: 101 })).toThrow(/class 0 has 100 examples/);
    expect(() => imbalancedIndices(labels, { ratio: 2, mode: 'step', classOrder: [0, 1] })).toThrow(/classOrder/);
  });
});

describe('fewShotEpisode', () => {
  it('has N classes, K support and Q query examples each, no overlap, labels 0..N-1', () => {
    const random = new SeededRandom(4);
    for (let e = 0; e < 20; e++) {
      const ep = fewShotEpisode(labels, { ways: 5, shots: 3, queries: 7, random });
      expect(new Set(ep.classes).size).toBe(5);
      expect(ep.support.length).toBe(15);
      expect(ep.query.length).toBe(35);
      const all = [...ep.support, ...ep.query];
      expect(new Set(all).size).toBe(all.length);
      for (let k = 0; k < 15; k++) expect(labels[ep.support[k] as number]).toBe(ep.classes[ep.supportLabels[k] as number]);
      for (let k = 0; k < 35; k++) expect(labels[ep.query[k] as number]).toBe(ep.classes[ep.queryLabels[k] as number]);
      expect(histogram(ep.supportLabels, Int32Array.from({ length: 15 }, (_, i) => i), 15).length).toBe(15);
      for (let w = 0; w < 5; w++) {
        expect(ep.supportLabels.filter((l) => l === w).length).toBe(3);
        expect(ep.queryLabels.filter((l) => l === w).length).toBe(7);
      }
    }
  });

  it('is seeded, respects a class pool, and says when classes are too small', () => {
    const a = fewShotEpisode(labels, { ways: 3, shots: 1, queries: 2, random: new SeededRandom(9) });
    const b = fewShotEpisode(labels, { ways: 3, shots: 1, queries: 2, random: new SeededRandom(9) });
    expect(a).toEqual(b);
    const pool = fewShotEpisode(labels, { ways: 2, shots: 1, queries: 1, random: new SeededRandom(1), classes: [7, 8] });
    expect([...pool.classes].sort()).toEqual([7, 8]);
    expect(() => fewShotEpisode(labels, { ways: 11, shots: 1, queries: 1, random: new SeededRandom(1) })).toThrow(/11 classes/);
    expect(() => fewShotEpisode(labels, { ways: 2, shots: 60, queries: 50, random: new SeededRandom(1) })).toThrow(/>= 110 examples/);
    expect(() => fewShotEpisode(labels, { ways: 2, shots: 0, queries: 1, random: new SeededRandom(1) })).toThrow(/shots/);
  });
});
