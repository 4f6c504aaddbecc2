import '@tensorflow/tfjs-backend-cpu';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, createRegistry, expectNoTensorLeak } from '@advprop/core';
import { datasets } from './plugins.js';
import { DEBIAN_FASHION_MNIST_DIR, encodeIdx, FASHION_MNIST_CLASSES, loadIdxDataset, parseIdx, readIdx, readIdxPair } from './idx.js';
import type { InMemoryDataset } from './base.js';
import { bytes, formatError, tempDir } from './__fixtures__/helpers.js';

const haveFashion = existsSync(join(DEBIAN_FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));

// CI installs Debian's dataset-fashion-mnist; elsewhere the real-data tests run when it is present.
describe.skipIf(!haveFashion && !process.env.CI)('Fashion-MNIST from the real IDX files', () => {
  let ds: InMemoryDataset;
  beforeAll(async () => {
    ds = (await createRegistry().use(datasets).resolve('dataset', 'fashion-mnist', {})) as InMemoryDataset;
  });

  it('has 60000 train and 10000 test 28x28x1 images, 10 named classes', () => {
    expect(ds.info.name).toBe('fashion-mnist');
    expect(ds.info.splits).toEqual({ train: 60000, test: 10000 });
    expect(ds.info.imageShape).toEqual([28, 28, 1]);
    expect(ds.info.classNames).toEqual(FASHION_MNIST_CLASSES);
    expect(ds.size('train')).toBe(60000);
    expect(ds.size('test')).toBe(10000);
  });

  it('has 6000 train and 1000 test images per class', () => {
    for (const [split, per] of [
      ['train', 6000],
      ['test', 1000],
    ] as const) {
      const hist = new Array(10).fill(0);
      for (const l of ds.labels(split)) hist[l]++;
      expect(hist).toEqual(new Array(10).fill(per));
    }
  });

  it('matches known images (labels, pixel sums, single pixels; values in [0, 1])', () => {
    // Reference values computed with an independent Python reader of the same files.
    const known = [
      { split: 'train', i: 0, label: 9, sum: 76247, center: 217, firstNz: [96, 1] },
      { split: 'train', i: 1, label: 0, sum: 84598, center: 204, firstNz: [5, 1] },
      { split: 'train', i: 59999, label: 5, sum: 16684, center: 0, firstNz: [236, 1] },
      { split: 'test', i: 0, label: 9, sum: 33456, center: 110, firstNz: [215, 3] },
      { split: 'test', i: 1, label: 2, sum: 100994, center: 234, firstNz: [10, 13] },
      { split: 'test', i: 9999, label: 5, sum: 24390, center: 132, firstNz: [176, 1] },
    ] as const;
    for (const k of known) {
      const ex = ds.read(k.split, [k.i]);
      expect(ex.labels[0]).toBe(k.label);
      const bytes = Array.from(ex.images, (v) => Math.round(v * 255));
      expect(bytes.reduce((a, b) => a + b, 0)).toBe(k.sum);
      expect(bytes[14 * 28 + 14]).toBe(k.center);
      expect(bytes.findIndex((v) => v > 0)).toBe(k.firstNz[0]);
      expect(ex.images[k.firstNz[0]]).toBeCloseTo(k.firstNz[1] / 255, 7);
      expect(Math.min(...ex.images)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...ex.images)).toBeLessThanOrEqual(1);
    }
  });

  it('iterates a full test epoch without leaking tensors', async () => {
    await expectNoTensorLeak(async () => {
      let seen = 0;
      for await (const b of ds.batches({ split: 'test', batchSize: 256 })) {
        expect(b.x.shape.slice(1)).toEqual([28, 28, 1]);
        expect(b.y.dtype).toBe('int32');
        seen += b.x.shape[0];
        b.x.dispose();
        b.y.dispose();
      }
      expect(seen).toBe(10000);
    });
  });
});

describe('IDX reader on generated files', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = tempDir()));
  afterAll(() => cleanup());

  const write = (name: string, data: Uint8Array) => {
    const file = join(dir, name);
    writeFileSync(file, data);
    return file;
  };

  it('reads plain and gzipped files identically, dims and bytes exact', async () => {
    const data = bytes(5 * 4 * 3);
    const plain = write('a-idx3-ubyte', encodeIdx([5, 4, 3], data));
    const gz = write('a-idx3-ubyte.gz', gzipSync(encodeIdx([5, 4, 3], data)));
    for (const f of [plain, gz]) {
      const idx = await readIdx(f);
      expect(idx.dims).toEqual([5, 4, 3]);
      expect(idx.type).toBe(0x08);
      expect(Array.from(idx.data)).toEqual(Array.from(data));
    }
  });

  it('parses other IDX value types big-endian', () => {
    const buf = new Uint8Array(4 + 4 + 8);
    const view = new DataView(buf.buffer);
    buf[2] = 0x0c;
    buf[3] = 1;
    view.setUint32(4, 2);
    view.setInt32(8, -5);
    view.setInt32(12, 70000);
    expect(Array.from(parseIdx(buf, 'mem').data)).toEqual([-5, 70000]);
  });

  it('names the file and offset for a wrong magic number', async () => {
    const f = write('bad-magic', Uint8Array.from([0x12, 0x34, 0x08, 0x01, 0, 0, 0, 0]));
    const e = await formatError(readIdx(f));
    expect(e.file).toBe(f);
    expect(e.offset).toBe(0);
    expect(e.message).toMatch(/magic number/);
    expect(e.message).toContain(f);
    const t = write('bad-type', Uint8Array.from([0, 0, 0x42, 0x01, 0, 0, 0, 0]));
    expect((await formatError(readIdx(t))).offset).toBe(2);
  });

  it('names the file and the byte offset for truncated files (header and data)', async () => {
    const full = encodeIdx([10, 28, 28], bytes(7840));
    const f = write('trunc', full.subarray(0, 5000));
    const e = await formatError(readIdx(f));
    expect(e.file).toBe(f);
    expect(e.offset).toBe(5000);
    expect(e.message).toMatch(/truncated.*7856 bytes.*5000/);
    const h = write('trunc-header', full.subarray(0, 9));
    expect((await formatError(readIdx(h))).message).toMatch(/header/);
    const gz = gzipSync(full);
    const g = write('trunc.gz', gz.subarray(0, gz.length - 100));
    expect((await formatError(readIdx(g))).message).toMatch(/gzip/);
    const tail = write('trailing', Uint8Array.from([...encodeIdx([2], Uint8Array.from([1, 2])), 9]));
    expect((await formatError(readIdx(tail))).offset).toBe(10);
  });

  it('reports a missing file by name', async () => {
    const f = join(dir, 'nope-idx1-ubyte');
    const e = await formatError(readIdx(f));
    expect(e.file).toBe(f);
    expect(e.message).toMatch(/does not exist/);
  });

  it('reports a label/image count mismatch, naming both files', async () => {
    const img = write('m-images', encodeIdx([3, 2, 2], bytes(12)));
    const lab = write('m-labels', encodeIdx([4], Uint8Array.from([0, 1, 2, 3])));
    const e = await formatError(readIdxPair(img, lab));
    expect(e.message).toMatch(/4 labels.*3 images/);
    expect(e.message).toContain(img);
    expect(e.file).toBe(lab);
    expect(e.offset).toBe(4);
  });

  it('reports labels out of range with their byte offset', async () => {
    const img = write('r-images', encodeIdx([3, 2, 2], bytes(12)));
    const lab = write('r-labels', encodeIdx([3], Uint8Array.from([0, 12, 1])));
    const e = await formatError(readIdxPair(img, lab, 10));
    expect(e.offset).toBe(9);
  });

  it('loads a directory of standard names through the idx plugin, with a clear error when files are missing', async () => {
    const sub = join(dir, 'mnistlike');
    (await import('node:fs')).mkdirSync(sub);
    const img = bytes(6 * 4 * 4);
    writeFileSync(join(sub, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([4, 4, 4], img.subarray(0, 64))));
    writeFileSync(join(sub, 'train-labels-idx1-ubyte'), encodeIdx([4], Uint8Array.from([0, 1, 2, 1])));
    writeFileSync(join(sub, 't10k-images-idx3-ubyte'), encodeIdx([2, 4, 4], img.subarray(64)));
    const reg = createRegistry().use(datasets);
    const missing = await formatError(reg.resolve('dataset', 'idx', { dir: sub }));
    expect(missing.message).toContain('t10k-labels-idx1-ubyte');
    writeFileSync(join(sub, 't10k-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.from([2, 0])));
    const ds = await reg.resolve('dataset', 'idx', { dir: sub, preset: 'mnist' });
    expect(ds.info.splits).toEqual({ train: 4, test: 2 });
    expect(ds.info.imageShape).toEqual([4, 4, 1]);
    expect(ds.info.classNames).toHaveLength(10);
    expect(Array.from(ds.labels('test'))).toEqual([2, 0]);
    const ex = ds.read('test', [1]);
    expect(Array.from(ex.images, (v) => Math.round(v * 255))).toEqual(Array.from(img.subarray(80, 96)));
    const direct = await loadIdxDataset({ dir: sub, numClasses: 3 });
    expect(direct.info.numClasses).toBe(3);
  });

  it('takes the class count from the declaration, never from the largest label', async () => {
    const sub = join(dir, 'undeclared');
    (await import('node:fs')).mkdirSync(sub);
    const img = bytes(6 * 4 * 4);
    writeFileSync(join(sub, 'train-images-idx3-ubyte'), encodeIdx([4, 4, 4], img.subarray(0, 64)));
    writeFileSync(join(sub, 'train-labels-idx1-ubyte'), encodeIdx([4], Uint8Array.from([0, 1, 12, 1])));
    writeFileSync(join(sub, 't10k-images-idx3-ubyte'), encodeIdx([2, 4, 4], img.subarray(64)));
    writeFileSync(join(sub, 't10k-labels-idx1-ubyte'), encodeIdx([2], Uint8Array.from([2, 0])));
    const reg = createRegistry().use(datasets);
    // Undeclared: an error naming the option, instead of a silent 13-class dataset.
    await expect(reg.resolve('dataset', 'idx', { dir: sub })).rejects.toThrow(ConfigError);
    await expect(reg.resolve('dataset', 'idx', { dir: sub })).rejects.toThrow(/number of classes is not declared; give numClasses/);
    // Declared (preset or numClasses): the stray label 12 is an error naming the file and the example.
    for (const options of [{ preset: 'mnist' as const }, { numClasses: 10 }]) {
      const e = await formatError(reg.resolve('dataset', 'idx', { dir: sub, ...options }));
      expect(e.message).toMatch(/label 12 of example 2 is out of range for 10 classes/);
      expect(e.file).toBe(join(sub, 'train-labels-idx1-ubyte'));
      expect(e.offset).toBe(10);
    }
    writeFileSync(join(sub, 'train-labels-idx1-ubyte'), encodeIdx([4], Uint8Array.from([0, 1, 2, 1])));
    const ok = await reg.resolve('dataset', 'idx', { dir: sub, numClasses: 5 });
    expect(ok.info.numClasses).toBe(5);
  });
});
