import { describe, expect, it } from 'vitest';
import { SeededRandom, hashString } from './random.js';

describe('SeededRandom', () => {
  it('repeats exactly for the same seed and differs for another', () => {
    const a = new SeededRandom(42);
    const b = new SeededRandom(42);
    const c = new SeededRandom(43);
    const seqA = Array.from({ length: 20 }, () => a.nextUint32());
    const seqB = Array.from({ length: 20 }, () => b.nextUint32());
    const seqC = Array.from({ length: 20 }, () => c.nextUint32());
    expect(seqA).toEqual(seqB);
    expect(seqA).not.toEqual(seqC);
  });

  it('resumes from a saved state, Box-Muller spare included', () => {
    const a = new SeededRandom(7);
    a.normal();
    const state = JSON.parse(JSON.stringify(a.getState()));
    const expected = [a.normal(), a.float(), a.int(10)];
    const b = new SeededRandom(0);
    b.setState(state);
    expect([b.normal(), b.float(), b.int(10)]).toEqual(expected);
  });

  it('draws unbiased integers and floats in range', () => {
    const r = new SeededRandom(1);
    const counts = new Array(5).fill(0);
    for (let i = 0; i < 50_000; i++) counts[r.int(5)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const f = r.float();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
    }
  });

  it('fills arrays with the same draws as float(), leaving the stream where the calls would', () => {
    const one = new SeededRandom(9);
    const bulk = new SeededRandom(9);
    one.nextUint32();
    bulk.nextUint32();
    const expected = Array.from({ length: 1000 }, () => one.float());
    const out = new Float64Array(1004).fill(-1);
    bulk.floats(out, 2, 1002);
    expect(Array.from(out.subarray(2, 1002))).toEqual(expected);
    expect([out[0], out[1], out[1002], out[1003]]).toEqual([-1, -1, -1, -1]);
    expect(bulk.getState()).toEqual(one.getState());
    expect(bulk.nextUint32()).toBe(one.nextUint32());
    const f32 = new Float32Array(3);
    bulk.floats(f32);
    expect(Array.from(f32)).toEqual([one.float(), one.float(), one.float()].map(Math.fround));
    expect(() => bulk.floats(out, 5, 2000)).toThrow('floats: range [5, 2000) does not fit an array of 1004');
  });

  it('gives normal samples with mean 0 and variance 1', () => {
    const r = new SeededRandom(3);
    const n = 40_000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const v = r.normal();
      sum += v;
      sq += v * v;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.03);
    expect(Math.abs(sq / n - 1)).toBeLessThan(0.05);
  });

  it('shuffles into a permutation, deterministically', () => {
    const p1 = new SeededRandom(5).permutation(100);
    const p2 = new SeededRandom(5).permutation(100);
    expect([...p1]).toEqual([...p2]);
    expect([...p1].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect([...p1]).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('forks independent children without advancing the parent', () => {
    const r = new SeededRandom(9);
    const before = r.getState();
    const a = r.fork('a');
    const b = r.fork('b');
    expect(r.getState()).toEqual(before);
    expect(a.nextUint32()).not.toEqual(b.nextUint32());
    expect(r.fork('a').nextUint32()).toEqual(new SeededRandom(9).fork('a').nextUint32());
  });

  it('rejects bad seeds, bounds and states', () => {
    expect(() => new SeededRandom(Number.NaN)).toThrow(/finite/);
    expect(() => new SeededRandom(1).int(0)).toThrow(RangeError);
    expect(() => new SeededRandom(1).setState({ s: [1, 2, 3] as never })).toThrow(/four uint32/);
    expect(hashString('abc')).toBe(hashString('abc'));
    expect(hashString('abc')).not.toBe(hashString('abd'));
  });
});
