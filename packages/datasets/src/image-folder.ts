/**
 * One folder per class of PNG / JPEG (and anything else sharp decodes: WebP, GIF, TIFF, AVIF)
 * images, decoded with sharp (an optional peer dependency) and resized to a fixed size.
 *
 * Layouts: `dir/train/<class>/*` and `dir/test/<class>/*` when both exist, else `dir/<class>/*` with a
 * deterministic, stratified hold-out (the last `testFraction` of each class's files in name order).
 * Class indices follow the sorted class folder names.
 */
import { readdir } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { ConfigError, DataFormatError, type SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';
import { isDirectory } from './files.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.webp', '.gif', '.tif', '.tiff', '.avif', '.bmp'] as const;

export const SHARP_INSTALL_HINT = 'Decoding image folders needs the optional "sharp" package: run `npm install sharp`.';

interface SharpInstance {
  resize(width: number, height: number, options: { fit: string; kernel?: string }): SharpInstance;
  removeAlpha(): SharpInstance;
  toColourspace(space: string): SharpInstance;
  raw(): SharpInstance;
  toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }>;
}
type SharpFactory = (input: string | Buffer, options?: { failOn?: string }) => SharpInstance;

async function loadSharp(): Promise<SharpFactory> {
  try {
    const specifier = 'sharp'; // a variable, so bundlers and tsc leave the optional peer alone
    const mod = (await import(specifier)) as { default?: SharpFactory };
    return (mod.default ?? mod) as SharpFactory;
  } catch (error) {
    throw new ConfigError(`${SHARP_INSTALL_HINT} (${(error as Error).message})`, [{ path: 'sharp', message: 'package not installed' }]);
  }
}

export interface ImageFolderOptions {
  /** Output size: one number for square images or [height, width]. */
  readonly size: number | readonly [number, number];
  /** 3 for RGB (default), 1 for grayscale. */
  readonly channels?: 1 | 3;
  /** How images are fitted to the size (sharp's `fit`): fill (stretch, default), cover, contain. */
  readonly fit?: 'fill' | 'cover' | 'contain';
  /** Images decoded at once (default 4). */
  readonly concurrency?: number;
  /** Class folder names in label order; default: the sorted sub-folders of `dir`. */
  readonly classNames?: readonly string[];
}

export interface ImageFolderData {
  /** NHWC uint8. */
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly classNames: readonly string[];
  /** The file of each image, in order. */
  readonly files: readonly string[];
  readonly imageShape: [number, number, number];
}

async function listDir(dir: string): Promise<import('node:fs').Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataFormatError(`image folder ${code === 'ENOENT' ? 'does not exist' : `cannot be read (${code})`}`, { file: dir });
  }
}

function sizeOf(size: ImageFolderOptions['size']): [number, number] {
  const [h, w] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 1 || w < 1) {
    throw new ConfigError(`image folder size must be a positive integer or [height, width], got ${JSON.stringify(size)}`, [
      { path: 'size', message: 'must be a positive integer or [height, width]' },
    ]);
  }
  return [h, w];
}

/** Decode every image of a one-folder-per-class directory. */
export async function loadImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolderData> {
  const [h, w] = sizeOf(options.size);
  const channels = options.channels ?? 3;
  if (channels !== 1 && channels !== 3) {
    throw new ConfigError(`image folder channels must be 1 or 3, got ${channels}`, [{ path: 'channels', message: 'must be 1 or 3' }]);
  }
  const entries = await listDir(dir);
  const classNames = options.classNames ?? entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classNames.length === 0) {
    throw new DataFormatError('image folder has no class sub-folders (expected one folder of images per class)', { file: dir });
  }
  const files: string[] = [];
  const labelList: number[] = [];
  for (const [label, name] of classNames.entries()) {
    const classDir = join(dir, name);
    const inClass = (await listDir(classDir))
      .filter((e) => e.isFile() && (IMAGE_EXTENSIONS as readonly string[]).includes(extname(e.name).toLowerCase()))
      .map((e) => e.name)
      .sort();
    if (inClass.length === 0) throw new DataFormatError(`class folder "${name}" has no images (${IMAGE_EXTENSIONS.join(', ')})`, { file: classDir });
    for (const f of inClass) {
      files.push(join(classDir, f));
      labelList.push(label);
    }
  }
  const sharp = await loadSharp();
  const size = h * w * channels;
  const images = new Uint8Array(files.length * size);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const i = next++;
      const file = files[i] as string;
      let result: Awaited<ReturnType<SharpInstance['toBuffer']>>;
      try {
        let pipeline = sharp(file, { failOn: 'error' }).resize(w, h, { fit: options.fit ?? 'fill' }).removeAlpha();
        pipeline = pipeline.toColourspace(channels === 1 ? 'b-w' : 'srgb');
        result = await pipeline.raw().toBuffer({ resolveWithObject: true });
      } catch (error) {
        throw new DataFormatError(`cannot decode image: ${(error as Error).message}`, { file });
      }
      if (result.info.channels !== channels || result.data.length !== size) {
        throw new DataFormatError(
          `decoded image has ${result.info.width}x${result.info.height}x${result.info.channels}, expected ${w}x${h}x${channels}`,
          { file },
        );
      }
      images.set(result.data, i * size);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, files.length) }, worker));
  return { images, labels: Int32Array.from(labelList), classNames, files, imageShape: [h, w, channels] };
}

export interface ImageFolderDatasetOptions extends ImageFolderOptions {
  readonly dir: string;
  /** Hold-out fraction per class when `dir` has no train/ and test/ sub-folders (default 0.2). */
  readonly testFraction?: number;
  readonly name?: string;
  /** Seed (or stream) of the default shuffles. */
  readonly seed?: number | SeededRandom;
}

/** An image-folder dataset adapter (see the file comment for the layouts). */
export async function loadImageFolderDataset(options: ImageFolderDatasetOptions): Promise<InMemoryDataset> {
  const trainDir = join(options.dir, 'train');
  const testDir = join(options.dir, 'test');
  const name = options.name ?? 'image-folder';
  if ((await isDirectory(trainDir)) && (await isDirectory(testDir))) {
    const train = await loadImageFolder(trainDir, options);
    const test = await loadImageFolder(testDir, { ...options, classNames: train.classNames });
    return new InMemoryDataset({
      name,
      imageShape: train.imageShape,
      classNames: train.classNames,
      train: { images: train.images, labels: train.labels },
      test: { images: test.images, labels: test.labels },
      seed: options.seed ?? 0,
    });
  }
  const all = await loadImageFolder(options.dir, options);
  const fraction = options.testFraction ?? 0.2;
  if (!(fraction >= 0 && fraction < 1)) {
    throw new ConfigError(`image folder testFraction must be in [0, 1), got ${fraction}`, [{ path: 'testFraction', message: 'must be in [0, 1)' }]);
  }
  const size = all.imageShape[0] * all.imageShape[1] * all.imageShape[2];
  const byClass = new Map<number, number[]>();
  all.labels.forEach((l, i) => {
    const list = byClass.get(l) ?? [];
    list.push(i);
    byClass.set(l, list);
  });
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (const list of byClass.values()) {
    const nTest = Math.round(list.length * fraction);
    trainIdx.push(...list.slice(0, list.length - nTest));
    testIdx.push(...list.slice(list.length - nTest));
  }
  const take = (idx: number[]) => {
    const images = new Uint8Array(idx.length * size);
    idx.forEach((k, i) => images.set(all.images.subarray(k * size, (k + 1) * size), i * size));
    return { images, labels: Int32Array.from(idx, (k) => all.labels[k] as number) };
  };
  return new InMemoryDataset({
    name,
    imageShape: all.imageShape,
    classNames: all.classNames,
    train: take(trainIdx),
    ...(testIdx.length > 0 ? { test: take(testIdx) } : {}),
    seed: options.seed ?? 0,
  });
}
