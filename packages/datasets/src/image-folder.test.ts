import '@tensorflow/tfjs-backend-cpu';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRegistry } from '@advprop/core';
import { datasets } from './plugins.js';
import { loadImageFolder } from './image-folder.js';
import { formatError, tempDir } from './__fixtures__/helpers.js';

const COLOURS: Record<string, [number, number, number]> = { cat: [200, 30, 40], dog: [20, 180, 60], emu: [10, 20, 230] };

/** 8x8 RGB image: the class colour with a per-image brightness offset. */
function pixels(colour: [number, number, number], k: number): Buffer {
  const b = Buffer.alloc(8 * 8 * 3);
  for (let p = 0; p < 64; p++) for (let c = 0; c < 3; c++) b[p * 3 + c] = Math.min(255, colour[c]! + 5 * k);
  return b;
}

async function writeImage(file: string, raw: Buffer, format: 'png' | 'jpeg'): Promise<void> {
  const img = sharp(raw, { raw: { width: 8, height: 8, channels: 3 } });
  await (format === 'png' ? img.png() : img.jpeg({ quality: 95 })).toFile(file);
}

describe('image-folder adapter (sharp)', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(async () => {
    ({ dir, cleanup } = tempDir());
    for (const [name, colour] of Object.entries(COLOURS)) {
      mkdirSync(join(dir, 'flat', name), { recursive: true });
      for (let k = 0; k < 5; k++) await writeImage(join(dir, 'flat', name, `img${k}.${k % 2 ? 'jpg' : 'png'}`), pixels(colour, k), k % 2 ? 'jpeg' : 'png');
      writeFileSync(join(dir, 'flat', name, 'notes.txt'), 'ignored');
      for (const split of ['train', 'test']) {
        mkdirSync(join(dir, 'split', split, name), { recursive: true });
        await writeImage(join(dir, 'split', split, name, 'a.png'), pixels(colour, split === 'train' ? 1 : 2), 'png');
      }
    }
  });
  afterAll(() => cleanup());

  it('decodes PNG exactly and JPEG closely, labels from sorted folder names', async () => {
    const data = await loadImageFolder(join(dir, 'flat'), { size: 8 });
    expect(data.classNames).toEqual(['cat', 'dog', 'emu']);
    expect(data.imageShape).toEqual([8, 8, 3]);
    expect(data.files).toHaveLength(15);
    expect(Array.from(data.labels)).toEqual([0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2]);
    for (let i = 0; i < 15; i++) {
      const k = i % 5;
      const expected = pixels(Object.values(COLOURS)[Math.floor(i / 5)] as [number, number, number], k);
      const got = data.images.subarray(i * 192, (i + 1) * 192);
      const maxErr = Math.max(...Array.from(got, (v, j) => Math.abs(v - (expected[j] as number))));
      if (data.files[i]!.endsWith('.png')) expect(maxErr, data.files[i]).toBe(0);
      else expect(maxErr, data.files[i]).toBeLessThanOrEqual(8);
    }
  });

  it('resizes and converts to grayscale', async () => {
    const data = await loadImageFolder(join(dir, 'flat'), { size: [4, 6], channels: 1 });
    expect(data.imageShape).toEqual([4, 6, 1]);
    expect(data.images.length).toBe(15 * 24);
    // Solid images stay solid after resizing; grey of pure-ish red < grey of green.
    expect(new Set(data.images.subarray(0, 24)).size).toBe(1);
    expect(data.images[0]!).toBeLessThan(data.images[5 * 24]!);
  });

  it('uses train/ and test/ when present, else a stratified hold-out', async () => {
    const reg = createRegistry().use(datasets);
    const split = await reg.resolve('dataset', 'image-folder', { dir: join(dir, 'split'), size: 8 });
    expect(split.info.splits).toEqual({ train: 3, test: 3 });
    expect(Math.round(split.read('test', [1]).images[1]! * 255)).toBe(180 + 10);
    const flat = await reg.resolve('dataset', 'image-folder', { dir: join(dir, 'flat'), size: 8, testFraction: 0.4 });
    expect(flat.info.splits).toEqual({ train: 9, test: 6 });
    expect(Array.from(flat.labels('test'))).toEqual([0, 0, 1, 1, 2, 2]);
    expect(flat.info.classNames).toEqual(['cat', 'dog', 'emu']);
  });

  it('reports undecodable images, empty class folders and missing folders by name', async () => {
    const bad = join(dir, 'bad');
    mkdirSync(join(bad, 'x'), { recursive: true });
    writeFileSync(join(bad, 'x', 'broken.png'), Buffer.from('not a png at all'));
    const e = await formatError(loadImageFolder(bad, { size: 8 }));
    expect(e.file).toBe(join(bad, 'x', 'broken.png'));
    const truncated = join(dir, 'trunc');
    mkdirSync(join(truncated, 'y'), { recursive: true });
    const png = await sharp(pixels([1, 2, 3], 0), { raw: { width: 8, height: 8, channels: 3 } }).png().toBuffer();
    writeFileSync(join(truncated, 'y', 't.png'), png.subarray(0, png.length - 30));
    expect((await formatError(loadImageFolder(truncated, { size: 8 }))).file).toBe(join(truncated, 'y', 't.png'));
    mkdirSync(join(dir, 'empty', 'z'), { recursive: true });
    expect((await formatError(loadImageFolder(join(dir, 'empty'), { size: 8 }))).message).toMatch(/"z" has no images/);
    expect((await formatError(loadImageFolder(join(dir, 'nowhere'), { size: 8 }))).message).toMatch(/does not exist/);
    await expect(createRegistry().use(datasets).resolveDynamic('dataset', 'image-folder', { dir })).rejects.toThrow(/size/);
  });
});
