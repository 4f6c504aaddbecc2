import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { createRegistry, expectFlatTensorCount, expectNoTensorLeak, SeededRandom, type Batch, type DatasetAdapter } from '@advprop/core';
import { BaseDataset, InMemoryDataset } from './base.js';
import { memoryDataset } from './memory.js';
import { subsetDataset } from './derived.js';
import { datasets } from './plugins.js';

function toy(n = 50, seed = 3): InMemoryDataset {
  const images = new Uint8Array(n * 2 * 2 * 1);
  for (let i = 0; i < n; i++) images.fill(i, i * 4, i * 4 + 4); // image i is filled with the value i
  return new InMemoryDataset({
    name: 'toy',
    imageShape: [2, 2, 1],
    train: { images, labels: Int32Array.from({ length: n }, (_, i) => i % 5) },
    test: { images: images.slice(0, 20 * 4), labels: Int32Array.from({ length: 20 }, (_, i) => i % 5) },
    seed,
  });
}

async function collect(ds: DatasetAdapter, options: Parameters<DatasetAdapter['batches']>[0]): Promise<{ idx: number[]; sizes: number[] }> {
  const idx: number[] = [];
  const sizes: number[] = [];
  for await (const b of ds.batches(options)) {
    const x = b.x.dataSync();
    const y = b.y.dataSync();
    sizes.push(b.x.shape[0]);
    b.indices.forEach((k, j) => {
      expect(Math.round((x[j * 4] as number) * 255)).toBe(k); // the image belongs to the index
      expect(y[j]).toBe(k % 5);
    });
    idx.push(...b.indices);
    b.x.dispose();
    b.y.dispose();
  }
  return { idx, sizes };
}

describe('batch iterator', () => {
  it('covers the split once, in order for test and shuffled (seeded) for train', async () => {
    const ds = toy();
    const test = await collect(ds, { split: 'test', batchSize: 8 });
    expect(test.idx).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(test.sizes).toEqual([8, 8, 4]);
    const a = await collect(ds, { split: 'train', batchSize: 16, random: new SeededRandom(5) });
    const b = await collect(ds, { split: 'train', batchSize: 16, random: new SeededRandom(5) });
    const c = await collect(ds, { split: 'train', batchSize: 16, random: new SeededRandom(6) });
    expect(a.idx).toEqual(b.idx);
    expect(a.idx).not.toEqual(c.idx);
    expect([...a.idx].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    // Without a random, the adapter's own stream advances: epochs differ, but repeat for the same seed.
    const e1 = await collect(ds, { split: 'train', batchSize: 50 });
    const e2 = await collect(ds, { split: 'train', batchSize: 50 });
    expect(e1.idx).not.toEqual(e2.idx);
    expect((await collect(toy(), { split: 'train', batchSize: 50 })).idx).toEqual(e1.idx);
  });

  it('honours limit, indices, dropRemainder, shuffle and gives the same batches whatever the prefetch', async () => {
    const ds = toy();
    expect((await collect(ds, { split: 'train', batchSize: 4, limit: 10, shuffle: false })).idx).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const sel = await collect(ds, { split: 'train', batchSize: 3, indices: [40, 2, 7, 7, 33], shuffle: false });
    expect(sel.idx).toEqual([40, 2, 7, 7, 33]);
    const drop = await collect(ds, { split: 'train', batchSize: 16, dropRemainder: true });
    expect(drop.sizes).toEqual([16, 16, 16]);
    for (const prefetch of [0, 1, 3, 10]) {
      const r = await collect(ds, { split: 'train', batchSize: 7, random: new SeededRandom(1), prefetch });
      expect(r.idx).toEqual((await collect(ds, { split: 'train', batchSize: 7, random: new SeededRandom(1) })).idx);
      expect(r.sizes).toEqual([7, 7, 7, 7, 7, 7, 7, 1]);
    }
  });

  it('rejects bad options and out-of-range indices with a clear message', async () => {
    const ds = toy();
    const first = (o: Parameters<DatasetAdapter['batches']>[0]) => ds.batches(o).next();
    await expect(first({ split: 'train', batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(first({ split: 'validation' as never, batchSize: 2 })).rejects.toThrow(/split/);
    await expect(first({ split: 'train', batchSize: 2, indices: [1, 50] })).rejects.toThrow(/index 50 .*outside \[0, 50\)/);
    expect(() => ds.read('test', [20])).toThrow(/index 20/);
    const trainOnly = new InMemoryDataset({ name: 't', imageShape: [1, 1, 1], train: { images: new Uint8Array(2), labels: [0, 1] } });
    expect(() => trainOnly.read('test', [0])).toThrow(/no test split/);
    expect(() => new InMemoryDataset({ name: 'bad', imageShape: [2, 2, 1], train: { images: new Uint8Array(7), labels: [0, 1] } })).toThrow(
      /7 image values for 2 labels/,
    );
  });

  it('prefetches: the next batch is prepared while the consumer awaits', async () => {
    const ds = toy();
    let reads = 0;
    const spy = {
      info: ds.info,
      size: (s: 'train' | 'test') => ds.size(s),
      labels: (s: 'train' | 'test') => ds.labels(s),
      read: (s: 'train' | 'test', i: ArrayLike<number>) => {
        reads++;
        return ds.read(s, i);
      },
    };
    class Spy extends BaseDataset {
      info = spy.info;
      size = spy.size;
      labels = spy.labels;
      read = spy.read;
    }
    const it_ = new Spy().batches({ split: 'test', batchSize: 4, prefetch: 2 });
    const b0 = (await it_.next()).value as Batch;
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(reads).toBe(3); // batch 0 plus two prefetched while the consumer "trains"
    tf.dispose([b0.x, b0.y]);
    await it_.return?.(undefined);
  });

  it('leaks no tensors across full epochs, nor when a loop breaks early', async () => {
    const ds = toy(300);
    await expectFlatTensorCount(
      async () => {
        for await (const b of ds.batches({ split: 'train', batchSize: 32, prefetch: 2 })) tf.dispose([b.x, b.y]);
      },
      { times: 3, label: 'epoch' },
    );
    await expectNoTensorLeak(async () => {
      for await (const b of ds.batches({ split: 'train', batchSize: 32, prefetch: 3 })) {
        tf.dispose([b.x, b.y]);
        break;
      }
    });
  });
});

describe('memory adapter and subsets', () => {
  it('accepts tensors (copied, so the caller may dispose them) and float arrays', async () => {
    const x = tf.randomUniform([6, 3, 3, 2], 0, 1, 'float32', 1);
    const y = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const ds = await createRegistry().use(datasets).resolve('dataset', 'memory', { train: { images: x, labels: y }, classNames: ['a', 'b', 'c'] });
    const expected = x.dataSync().slice(18, 36);
    tf.dispose([x, y]);
    expect(ds.info.imageShape).toEqual([3, 3, 2]);
    expect(ds.info.splits).toEqual({ train: 6 });
    expect(Array.from(ds.read('train', [1]).images)).toEqual(Array.from(expected));
    expect(() => memoryDataset({ imageShape: [1, 1, 1], train: { images: [0.5, 1.5], labels: [0, 1] } })).toThrow(/1\.5 .*outside \[0, 1\]/);
    await expect(createRegistry().use(datasets).resolveDynamic('dataset', 'memory', { train: { images: 'x', labels: [] } })).rejects.toThrow(
      /train\.images/,
    );
  });

  it('subsetDataset maps indices and labels of the chosen split only', async () => {
    const ds = toy();
    const sub = subsetDataset(ds, { train: [10, 20, 30, 31] });
    expect(sub.info.splits).toEqual({ train: 4, test: 20 });
    expect(Array.from(sub.labels('train'))).toEqual([0, 0, 0, 1]);
    expect(sub.size('test')).toBe(20);
    expect(Math.round((sub.read('train', [3]).images[0] as number) * 255)).toBe(31);
    let n = 0;
    for await (const b of sub.batches({ split: 'train', batchSize: 3 })) {
      n += b.x.shape[0];
      tf.dispose([b.x, b.y]);
    }
    expect(n).toBe(4);
    expect(() => subsetDataset(ds, { test: [25] })).toThrow(/index 25/);
  });
});
