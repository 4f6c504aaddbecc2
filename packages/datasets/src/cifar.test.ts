import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '@advprop/core';
import { datasets } from './plugins.js';
import { CIFAR10_CLASSES, encodeCifarRecords, readCifar } from './cifar.js';
import { bytes, formatError, tempDir } from './__fixtures__/helpers.js';

const IMG = 3072;

/** Writes records by hand in the official layout (independent of encodeCifarRecords). */
function officialRecords(labels: number[][], images: Uint8Array): Uint8Array {
  const lb = labels[0]?.length ?? 1;
  const out = new Uint8Array(labels.length * (lb + IMG));
  labels.forEach((ls, i) => {
    const o = i * (lb + IMG);
    ls.forEach((l, k) => (out[o + k] = l));
    out.set(images.subarray(i * IMG, (i + 1) * IMG), o + lb); // channel-major: 1024 R, 1024 G, 1024 B
  });
  return out;
}

describe('CIFAR binary reader', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = tempDir()));
  afterAll(() => cleanup());

  it('reads CIFAR-10 files exactly: labels, channel-major -> NHWC, all five batches in order', async () => {
    const root = join(dir, 'c10', 'cifar-10-batches-bin');
    mkdirSync(root, { recursive: true });
    const perFile = 3;
    const all: { labels: number[]; planes: Uint8Array }[] = [];
    for (const [f, name] of ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin'].entries()) {
      const labels = Array.from({ length: perFile }, (_, i) => (f * 3 + i) % 10);
      const planes = bytes(perFile * IMG, f + 1);
      writeFileSync(join(root, name), officialRecords(labels.map((l) => [l]), planes));
      all.push({ labels, planes });
    }
    // The parent directory works too (the reader finds cifar-10-batches-bin).
    const ds = await createRegistry().use(datasets).resolve('dataset', 'cifar10', { dir: join(dir, 'c10') });
    expect(ds.info.splits).toEqual({ train: 15, test: 3 });
    expect(ds.info.imageShape).toEqual([32, 32, 3]);
    expect(ds.info.classNames).toEqual(CIFAR10_CLASSES);
    expect(Array.from(ds.labels('train'))).toEqual(all.slice(0, 5).flatMap((a) => a.labels));
    // Pixel (y, x, c) of example i is byte c*1024 + y*32 + x of its record's image.
    for (const [split, i, file, k] of [
      ['train', 0, 0, 0],
      ['train', 7, 2, 1],
      ['train', 14, 4, 2],
      ['test', 2, 5, 2],
    ] as const) {
      const ex = ds.read(split, [i]);
      const planes = (all[file] as { planes: Uint8Array }).planes.subarray(k * IMG, (k + 1) * IMG);
      for (const [y, x, c] of [
        [0, 0, 0],
        [5, 17, 1],
        [31, 31, 2],
        [12, 3, 0],
      ] as const) {
        expect(Math.round((ex.images[(y * 32 + x) * 3 + c] as number) * 255)).toBe(planes[c * 1024 + y * 32 + x]);
      }
    }
  });

  it('round-trips exactly through encodeCifarRecords, and writes class names from batches.meta.txt', async () => {
    const root = join(dir, 'c10b');
    mkdirSync(root);
    const nhwc = bytes(4 * IMG, 99);
    const labels = [3, 1, 4, 1];
    const enc = encodeCifarRecords('cifar10', nhwc, labels);
    expect(Array.from(enc.subarray(0, 1 + IMG))).toEqual(Array.from(officialRecords([[3]], (() => {
      const planes = new Uint8Array(IMG);
      for (let p = 0; p < 1024; p++) for (let c = 0; c < 3; c++) planes[c * 1024 + p] = nhwc[p * 3 + c] as number;
      return planes;
    })())));
    for (let b = 1; b <= 5; b++) writeFileSync(join(root, `data_batch_${b}.bin`), enc);
    writeFileSync(join(root, 'test_batch.bin'), enc);
    writeFileSync(join(root, 'batches.meta.txt'), CIFAR10_CLASSES.map((c) => c.toUpperCase()).join('\n') + '\n\n');
    const data = await readCifar(root, 'cifar10');
    expect(Array.from(data.test.images)).toEqual(Array.from(nhwc));
    expect(Array.from(data.test.labels)).toEqual(labels);
    expect(data.train.labels.length).toBe(20);
    expect(data.classNames[0]).toBe('AIRPLANE');
  });

  it('reads CIFAR-100 fine and coarse labels', async () => {
    const root = join(dir, 'c100');
    mkdirSync(root);
    const nhwc = bytes(5 * IMG, 7);
    const fine = [0, 99, 42, 7, 55];
    const coarse = [4, 19, 0, 3, 11];
    writeFileSync(join(root, 'train.bin'), encodeCifarRecords('cifar100', nhwc, fine, coarse));
    writeFileSync(join(root, 'test.bin'), encodeCifarRecords('cifar100', nhwc.subarray(0, 2 * IMG), fine.slice(0, 2), coarse.slice(0, 2)));
    writeFileSync(join(root, 'coarse_label_names.txt'), Array.from({ length: 20 }, (_, i) => `super${i}`).join('\n'));
    const data = await readCifar(root, 'cifar100');
    expect(Array.from(data.train.labels)).toEqual(fine);
    expect(Array.from(data.train.coarseLabels ?? [])).toEqual(coarse);
    expect(Array.from(data.train.images)).toEqual(Array.from(nhwc));
    expect(data.coarseClassNames?.[19]).toBe('super19');
    // Record layout check by hand: coarse byte, fine byte, then red plane.
    const rec = encodeCifarRecords('cifar100', nhwc.subarray(0, IMG), [fine[1] as number], [coarse[1] as number]);
    expect([rec[0], rec[1], rec[2], rec[2 + 1024]]).toEqual([19, 99, nhwc[0], nhwc[1]]);

    const reg = createRegistry().use(datasets);
    const fineDs = await reg.resolve('dataset', 'cifar100', { dir: root });
    expect(fineDs.info.numClasses).toBe(100);
    expect(Array.from(fineDs.labels('test'))).toEqual([0, 99]);
    const coarseDs = await reg.resolve('dataset', 'cifar100', { dir: root, labels: 'coarse' });
    expect(coarseDs.info.numClasses).toBe(20);
    expect(coarseDs.info.classNames[0]).toBe('super0');
    expect(Array.from(coarseDs.labels('train'))).toEqual(coarse);
  });

  it('names missing files', async () => {
    const root = join(dir, 'missing');
    mkdirSync(root);
    writeFileSync(join(root, 'test_batch.bin'), encodeCifarRecords('cifar10', bytes(IMG), [1]));
    const e = await formatError(readCifar(root, 'cifar10'));
    expect(e.message).toMatch(/data_batch_1\.bin, data_batch_2\.bin/);
    expect(e.file).toBe(join(root, 'data_batch_1.bin'));
    const none = await formatError(readCifar(join(dir, 'no-such-dir'), 'cifar100'));
    expect(none.message).toMatch(/does not exist/);
  });

  it('names the file and byte offset when the size is not a multiple of the record size, or a label is out of range', async () => {
    const root = join(dir, 'bad');
    mkdirSync(root);
    const good = encodeCifarRecords('cifar10', bytes(2 * IMG), [1, 2]);
    for (let b = 1; b <= 5; b++) writeFileSync(join(root, `data_batch_${b}.bin`), good);
    writeFileSync(join(root, 'test_batch.bin'), good.subarray(0, 3073 + 100));
    const e = await formatError(readCifar(root, 'cifar10'));
    expect(e.file).toBe(join(root, 'test_batch.bin'));
    expect(e.offset).toBe(3073);
    expect(e.message).toMatch(/not a multiple of the cifar10 record size 3073/);

    // A CIFAR-10 file read as CIFAR-100 (3073 vs 3074-byte records).
    writeFileSync(join(root, 'train.bin'), good);
    writeFileSync(join(root, 'test.bin'), good);
    const v = await formatError(readCifar(root, 'cifar100'));
    expect(v.message).toMatch(/3074/);

    const bad = good.slice();
    bad[3073] = 10; // second record's label
    writeFileSync(join(root, 'test_batch.bin'), bad);
    const l = await formatError(readCifar(root, 'cifar10'));
    expect(l.offset).toBe(3073);
    expect(l.message).toMatch(/label 10 of record 1/);
  });
});
