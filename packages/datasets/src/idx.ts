/**
 * IDX files (the format of MNIST, Fashion-MNIST, KMNIST), plain or gzipped.
 *
 * Layout: two zero bytes, a type byte (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32, 0x0D float32,
 * 0x0E float64), a byte with the number of dimensions, then each dimension as a big-endian uint32,
 * then the values, big-endian, row-major.
 */
import { join } from 'node:path';
import { ConfigError, DataFormatError, type SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';
import { isFile, readMaybeGzip } from './files.js';

export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  readonly file: string;
  /** The IDX type byte (0x08 for unsigned bytes). */
  readonly type: number;
  readonly dims: readonly number[];
  readonly data: IdxData;
}

const TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'ubyte', bytes: 1 },
  0x09: { name: 'byte', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

/** Parse an (already gunzipped) IDX buffer; `file` names it in errors. */
export function parseIdx(buffer: Uint8Array, file: string): IdxArray {
  if (buffer.length < 4) {
    throw new DataFormatError(`IDX file is truncated: ${buffer.length} bytes, the header needs at least 4`, {
      file,
      offset: buffer.length,
    });
  }
  const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
  if (buffer[0] !== 0 || buffer[1] !== 0) {
    throw new DataFormatError(
      `not an IDX file: magic number starts with ${hex(buffer[0] as number)} ${hex(buffer[1] as number)}, expected 0x00 0x00`,
      { file, offset: 0 },
    );
  }
  const type = buffer[2] as number;
  const info = TYPES[type];
  if (!info) {
    throw new DataFormatError(`not an IDX file: unknown data type byte ${hex(type)} in the magic number`, { file, offset: 2 });
  }
  const ndims = buffer[3] as number;
  if (ndims < 1) throw new DataFormatError('IDX file declares 0 dimensions', { file, offset: 3 });
  const headerEnd = 4 + 4 * ndims;
  if (buffer.length < headerEnd) {
    throw new DataFormatError(`IDX file is truncated inside its header (${ndims} dimensions need ${headerEnd} bytes, got ${buffer.length})`, {
      file,
      offset: buffer.length,
    });
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const expected = headerEnd + count * info.bytes;
  if (buffer.length < expected) {
    throw new DataFormatError(
      `IDX file is truncated: dimensions [${dims.join(', ')}] of ${info.name} need ${expected} bytes, the file has ${buffer.length}`,
      { file, offset: buffer.length },
    );
  }
  if (buffer.length > expected) {
    throw new DataFormatError(
      `IDX file has ${buffer.length - expected} unexpected trailing bytes after dimensions [${dims.join(', ')}] of ${info.name}`,
      { file, offset: expected },
    );
  }
  let data: IdxData;
  if (type === 0x08) data = buffer.slice(headerEnd, expected);
  else if (type === 0x09) data = new Int8Array(buffer.slice(headerEnd, expected).buffer);
  else {
    const Ctor = { 0x0b: Int16Array, 0x0c: Int32Array, 0x0d: Float32Array, 0x0e: Float64Array }[type as 0x0b | 0x0c | 0x0d | 0x0e];
    const out = new Ctor(count);
    for (let i = 0; i < count; i++) {
      const o = headerEnd + i * info.bytes;
      out[i] =
        type === 0x0b
          ? view.getInt16(o, false)
          : type === 0x0c
            ? view.getInt32(o, false)
            : type === 0x0d
              ? view.getFloat32(o, false)
              : view.getFloat64(o, false);
    }
    data = out;
  }
  return { file, type, dims, data };
}

/** Read an IDX file, plain or gzipped (detected from its first bytes). */
export async function readIdx(file: string): Promise<IdxArray> {
  return parseIdx(await readMaybeGzip(file, 'IDX file'), file);
}

/** Encode an IDX ubyte file (used by tests and tools; the inverse of `parseIdx` for uint8 data). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(out.buffer);
  out[2] = 0x08;
  out[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

export interface IdxImagesAndLabels {
  readonly images: Uint8Array;
  readonly labels: Int32Array;
  readonly imageShape: [number, number, number];
}

/** Read a pair of IDX image and label files and check they agree. */
export async function readIdxPair(imagesFile: string, labelsFile: string, numClasses?: number): Promise<IdxImagesAndLabels> {
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  if (images.type !== 0x08) {
    throw new DataFormatError(`IDX image file must hold unsigned bytes (type 0x08), found type 0x${images.type.toString(16)}`, {
      file: imagesFile,
      offset: 2,
    });
  }
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new DataFormatError(
      `IDX image file must have 3 dimensions [count, height, width] or 4 [count, height, width, channels], found [${images.dims.join(', ')}]`,
      { file: imagesFile, offset: 3 },
    );
  }
  if (labels.type !== 0x08 || labels.dims.length !== 1) {
    throw new DataFormatError(
      `IDX label file must be one dimension of unsigned bytes, found type 0x${labels.type.toString(16)} with dimensions [${labels.dims.join(', ')}]`,
      { file: labelsFile, offset: 2 },
    );
  }
  const n = images.dims[0] as number;
  if (labels.dims[0] !== n) {
    throw new DataFormatError(
      `label/image count mismatch: ${labels.dims[0]} labels in ${labelsFile} (count at byte offset 4) but ${n} images in ${imagesFile} (count at byte offset 4)`,
      { file: labelsFile, offset: 4 },
    );
  }
  const labelData = labels.data as Uint8Array;
  const out = new Int32Array(n);
  const headerEnd = 8;
  for (let i = 0; i < n; i++) {
    const l = labelData[i] as number;
    if (numClasses !== undefined && l >= numClasses) {
      throw new DataFormatError(`label ${l} of example ${i} is out of range for ${numClasses} classes`, {
        file: labelsFile,
        offset: headerEnd + i,
      });
    }
    out[i] = l;
  }
  const imageShape: [number, number, number] = [images.dims[1] as number, images.dims[2] as number, (images.dims[3] ?? 1) as number];
  return { images: images.data as Uint8Array, labels: out, imageShape };
}

export { FASHION_MNIST_CLASSES, MNIST_CLASSES, KMNIST_CLASSES } from './class-names.js';

/** Where Debian's `dataset-fashion-mnist` package installs the files. */
export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export interface IdxDatasetOptions {
  readonly dir: string;
  readonly name?: string;
  readonly classNames?: readonly string[];
  /**
   * Number of classes, when there are no class names. One of the two is required: the count is
   * never inferred from the largest label, and a label outside it is an error naming file and example.
   */
  readonly numClasses?: number;
  /** File names inside `dir` (without or with `.gz`); the standard MNIST names by default. */
  readonly files?: Partial<Record<keyof typeof IDX_FILES, string>>;
  /** Seed (or stream) of the default shuffles. */
  readonly seed?: number | SeededRandom;
  /** Extra text for the missing-file error (for example how to install a package that provides them). */
  readonly installHint?: string;
}

async function locate(dir: string, base: string, hint: string | undefined): Promise<string> {
  const candidates = base.endsWith('.gz') ? [base] : [`${base}.gz`, base];
  for (const name of candidates) {
    const path = join(dir, name);
    if (await isFile(path)) return path;
  }
  throw new DataFormatError(
    `IDX file not found: looked for ${candidates.map((c) => join(dir, c)).join(' and ')}${hint ? `. ${hint}` : ''}`,
    { file: join(dir, candidates[0] as string) },
  );
}

/** Load an IDX dataset directory (train + test pairs) into memory. */
export async function loadIdxDataset(options: IdxDatasetOptions): Promise<InMemoryDataset> {
  const names = { ...IDX_FILES, ...options.files };
  const hint = options.installHint;
  const [trImg, trLab, teImg, teLab] = await Promise.all([
    locate(options.dir, names.trainImages, hint),
    locate(options.dir, names.trainLabels, hint),
    locate(options.dir, names.testImages, hint),
    locate(options.dir, names.testLabels, hint),
  ]);
  const numClasses = options.classNames?.length ?? options.numClasses;
  if (numClasses === undefined) {
    throw new ConfigError(
      `IDX dataset in ${options.dir}: the number of classes is not declared; give numClasses, classNames or a preset (mnist, fashion-mnist, kmnist). ` +
        'It is not inferred from the largest label, where one stray label (12, 255) would silently add classes.',
      [{ path: 'dataset.options.numClasses', message: 'required without classNames or preset' }],
    );
  }
  if (options.classNames && options.numClasses !== undefined && options.numClasses !== options.classNames.length) {
    throw new ConfigError(`IDX dataset in ${options.dir}: numClasses ${options.numClasses} but ${options.classNames.length} class names`, [
      { path: 'dataset.options.numClasses', message: 'differs from classNames' },
    ]);
  }
  const [train, test] = await Promise.all([readIdxPair(trImg, trLab, numClasses), readIdxPair(teImg, teLab, numClasses)]);
  if (train.imageShape.join('x') !== test.imageShape.join('x')) {
    throw new DataFormatError(
      `train images are ${train.imageShape.join('x')} but test images are ${test.imageShape.join('x')}`,
      { file: teImg, offset: 8 },
    );
  }
  return new InMemoryDataset({
    name: options.name ?? 'idx',
    imageShape: train.imageShape,
    ...(options.classNames ? { classNames: options.classNames } : {}),
    numClasses,
    train: { images: train.images, labels: train.labels },
    test: { images: test.images, labels: test.labels },
    seed: options.seed ?? 0,
  });
}
