/**
 * CIFAR-10 and CIFAR-100, "binary version" (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * CIFAR-10: data_batch_1.bin .. data_batch_5.bin, test_batch.bin; each record is 1 label byte then
 * 3072 image bytes (1024 red, 1024 green, 1024 blue, each 32x32 row-major). batches.meta.txt holds
 * the class names.
 * CIFAR-100: train.bin, test.bin; each record is 1 coarse label byte, 1 fine label byte, 3072 image
 * bytes. fine_label_names.txt / coarse_label_names.txt hold the class names.
 *
 * Images are converted from channel-major to NHWC uint8 on load.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataFormatError, type SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';
import { CIFAR10_CLASSES } from './class-names.js';
import { isDirectory, isFile, readWhole } from './files.js';

export type CifarVariant = 'cifar10' | 'cifar100';

const PIXELS = 32 * 32;
const IMAGE_BYTES = 3 * PIXELS;

export { CIFAR10_CLASSES };

export const CIFAR_LAYOUT = {
  cifar10: {
    folder: 'cifar-10-batches-bin',
    train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
    test: ['test_batch.bin'],
    labelBytes: 1,
    numClasses: 10,
  },
  cifar100: {
    folder: 'cifar-100-binary',
    train: ['train.bin'],
    test: ['test.bin'],
    labelBytes: 2,
    numClasses: 100,
    numCoarse: 20,
  },
} as const;

export interface CifarSplit {
  /** NHWC uint8, 32x32x3 per image. */
  readonly images: Uint8Array;
  /** CIFAR-10 labels, or CIFAR-100 fine labels. */
  readonly labels: Int32Array;
  /** CIFAR-100 only: the 20 superclass labels. */
  readonly coarseLabels?: Int32Array;
}

export interface CifarData {
  readonly variant: CifarVariant;
  /** The directory the files were read from. */
  readonly dir: string;
  readonly train: CifarSplit;
  readonly test: CifarSplit;
  readonly classNames: readonly string[];
  /** CIFAR-100 only. */
  readonly coarseClassNames?: readonly string[];
}

/** Decode records from one CIFAR binary file (exported for custom layouts). */
export function parseCifarRecords(buffer: Uint8Array, file: string, variant: CifarVariant): CifarSplit {
  const layout = CIFAR_LAYOUT[variant];
  const record = layout.labelBytes + IMAGE_BYTES;
  if (buffer.length === 0) throw new DataFormatError(`CIFAR file is empty (records are ${record} bytes)`, { file, offset: 0 });
  if (buffer.length % record !== 0) {
    const whole = Math.floor(buffer.length / record);
    throw new DataFormatError(
      `CIFAR file size ${buffer.length} is not a multiple of the ${variant} record size ${record} ` +
        `(${whole} whole records, then ${buffer.length - whole * record} stray bytes: truncated, or not a ${variant} binary file)`,
      { file, offset: whole * record },
    );
  }
  const n = buffer.length / record;
  const images = new Uint8Array(n * IMAGE_BYTES);
  const labels = new Int32Array(n);
  const coarse = variant === 'cifar100' ? new Int32Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const o = i * record;
    if (coarse) {
      const c = buffer[o] as number;
      if (c >= 20) throw new DataFormatError(`coarse label ${c} of record ${i} is out of range [0, 20)`, { file, offset: o });
      coarse[i] = c;
    }
    const labelOffset = o + layout.labelBytes - 1;
    const l = buffer[labelOffset] as number;
    if (l >= layout.numClasses) {
      throw new DataFormatError(`label ${l} of record ${i} is out of range [0, ${layout.numClasses})`, { file, offset: labelOffset });
    }
    labels[i] = l;
    const src = o + layout.labelBytes;
    const dst = i * IMAGE_BYTES;
    for (let p = 0; p < PIXELS; p++) {
      images[dst + 3 * p] = buffer[src + p] as number;
      images[dst + 3 * p + 1] = buffer[src + PIXELS + p] as number;
      images[dst + 3 * p + 2] = buffer[src + 2 * PIXELS + p] as number;
    }
  }
  return coarse ? { images, labels, coarseLabels: coarse } : { images, labels };
}

/**
 * Encode NHWC uint8 images and labels in the official binary layout (for tests, tools and
 * converting other data to CIFAR files). For CIFAR-100 pass `coarseLabels` too.
 */
export function encodeCifarRecords(
  variant: CifarVariant,
  images: Uint8Array,
  labels: ArrayLike<number>,
  coarseLabels?: ArrayLike<number>,
): Uint8Array {
  const layout = CIFAR_LAYOUT[variant];
  const n = labels.length;
  if (images.length !== n * IMAGE_BYTES) throw new RangeError(`${images.length} image bytes for ${n} labels; expected ${n * IMAGE_BYTES}`);
  if (variant === 'cifar100' && (!coarseLabels || coarseLabels.length !== n)) throw new RangeError('cifar100 needs one coarse label per image');
  const record = layout.labelBytes + IMAGE_BYTES;
  const out = new Uint8Array(n * record);
  for (let i = 0; i < n; i++) {
    const o = i * record;
    if (variant === 'cifar100') out[o] = (coarseLabels as ArrayLike<number>)[i] as number;
    out[o + layout.labelBytes - 1] = labels[i] as number;
    const dst = o + layout.labelBytes;
    const src = i * IMAGE_BYTES;
    for (let p = 0; p < PIXELS; p++) {
      out[dst + p] = images[src + 3 * p] as number;
      out[dst + PIXELS + p] = images[src + 3 * p + 1] as number;
      out[dst + 2 * PIXELS + p] = images[src + 3 * p + 2] as number;
    }
  }
  return out;
}

async function resolveDir(dir: string, variant: CifarVariant): Promise<string> {
  const layout = CIFAR_LAYOUT[variant];
  if (!(await isDirectory(dir))) {
    throw new DataFormatError(`${variant} directory does not exist or is not a directory`, { file: dir });
  }
  if (await isFile(join(dir, layout.test[0]))) return dir;
  const nested = join(dir, layout.folder);
  if (await isFile(join(nested, layout.test[0]))) return nested;
  return dir;
}

async function readNames(file: string, expected: number): Promise<string[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  const names = text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (names.length !== expected) {
    throw new DataFormatError(`class name file lists ${names.length} names, expected ${expected}`, { file });
  }
  return names;
}

function concat(parts: CifarSplit[]): CifarSplit {
  if (parts.length === 1) return parts[0] as CifarSplit;
  const n = parts.reduce((s, p) => s + p.labels.length, 0);
  const images = new Uint8Array(n * IMAGE_BYTES);
  const labels = new Int32Array(n);
  let k = 0;
  for (const p of parts) {
    images.set(p.images, k * IMAGE_BYTES);
    labels.set(p.labels, k);
    k += p.labels.length;
  }
  return { images, labels };
}

/**
 * Read CIFAR-10 or CIFAR-100 binary files from `dir` (the folder holding the .bin files, or its
 * parent holding cifar-10-batches-bin / cifar-100-binary).
 */
export async function readCifar(dir: string, variant: CifarVariant): Promise<CifarData> {
  const layout = CIFAR_LAYOUT[variant];
  if (!layout) throw new RangeError(`unknown CIFAR variant "${String(variant)}": use cifar10 or cifar100`);
  const root = await resolveDir(dir, variant);
  const expected = [...layout.train, ...layout.test];
  const missing: string[] = [];
  for (const name of expected) if (!(await isFile(join(root, name)))) missing.push(name);
  if (missing.length > 0) {
    throw new DataFormatError(
      `${variant} binary files missing in ${root}: ${missing.join(', ')} (expected ${expected.join(', ')}; ` +
        `download the "binary version" from https://www.cs.toronto.edu/~kriz/cifar.html and extract it)`,
      { file: join(root, missing[0] as string) },
    );
  }
  const readSplit = async (files: readonly string[]) =>
    concat(await Promise.all(files.map(async (f) => parseCifarRecords(await readWhole(join(root, f), `${variant} file`), join(root, f), variant))));
  const [train, test] = await Promise.all([readSplit(layout.train), readSplit(layout.test)]);
  if (variant === 'cifar10') {
    const names = (await readNames(join(root, 'batches.meta.txt'), 10)) ?? [...CIFAR10_CLASSES];
    return { variant, dir: root, train, test, classNames: names };
  }
  const fine = (await readNames(join(root, 'fine_label_names.txt'), 100)) ?? Array.from({ length: 100 }, (_, i) => `fine_${i}`);
  const coarse = (await readNames(join(root, 'coarse_label_names.txt'), 20)) ?? Array.from({ length: 20 }, (_, i) => `coarse_${i}`);
  return { variant, dir: root, train, test, classNames: fine, coarseClassNames: coarse };
}

export interface CifarDatasetOptions {
  readonly dir: string;
  /** CIFAR-100 only: train on the 100 fine labels (default) or the 20 coarse ones. */
  readonly labels?: 'fine' | 'coarse';
  /** Seed (or stream) of the default shuffles. */
  readonly seed?: number | SeededRandom;
}

/** Load CIFAR binary files as an in-memory dataset adapter. */
export async function loadCifarDataset(variant: CifarVariant, options: CifarDatasetOptions): Promise<InMemoryDataset> {
  const data = await readCifar(options.dir, variant);
  const coarse = variant === 'cifar100' && options.labels === 'coarse';
  const pick = (s: CifarSplit) => ({ images: s.images, labels: coarse ? (s.coarseLabels as Int32Array) : s.labels });
  return new InMemoryDataset({
    name: coarse ? 'cifar100-coarse' : variant,
    imageShape: [32, 32, 3],
    classNames: coarse ? (data.coarseClassNames as readonly string[]) : data.classNames,
    train: pick(data.train),
    test: pick(data.test),
    seed: options.seed ?? 0,
  });
}
