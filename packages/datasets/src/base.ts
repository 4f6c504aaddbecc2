/**
 * The shared machinery of every adapter: index selection (limit, indices, seeded shuffle),
 * batching and prefetching. An adapter only has to say how to read examples by index; this file
 * turns that into core's `DatasetAdapter.batches()`.
 *
 * Prefetching: the typed arrays of the next `prefetch` batches are prepared on later turns of the
 * event loop (setImmediate), so they are decoded while the consumer awaits its training step.
 * Tensors are created only when a batch is handed out, so an iterator abandoned half-way (break,
 * return, throw) leaves no tensor behind.
 */
import { tensor1d, tensor4d } from '@tensorflow/tfjs-core';
import {
  ConfigError,
  SeededRandom,
  ShapeError,
  type Batch,
  type BatchIteratorOptions,
  type DatasetAdapter,
  type DatasetInfo,
  type ExampleArrays,
  type Split,
} from '@advprop/core';

export const SPLITS: readonly Split[] = ['train', 'test'];

/** Uint8 -> float32 in [0, 1] lookup (exact v / 255). */
const BYTE_TO_UNIT = new Float32Array(256);
for (let i = 0; i < 256; i++) BYTE_TO_UNIT[i] = i / 255;

export function bytesToUnit(src: Uint8Array, srcOffset: number, dst: Float32Array, dstOffset: number, length: number): void {
  for (let i = 0; i < length; i++) dst[dstOffset + i] = BYTE_TO_UNIT[src[srcOffset + i] as number] as number;
}

export function imageSizeOf(info: DatasetInfo): number {
  const [h, w, c] = info.imageShape;
  return h * w * c;
}

/** Checks that every index is an integer in [0, size); names the split and the index at fault. */
export function checkIndices(indices: ArrayLike<number>, size: number, where: string): void {
  for (let i = 0; i < indices.length; i++) {
    const v = indices[i] as number;
    if (!Number.isInteger(v) || v < 0 || v >= size) {
      throw new RangeError(`${where}: index ${v} (position ${i}) is outside [0, ${size})`);
    }
  }
}

/** The example order of one pass over a split, from the iterator options. */
export function selectOrder(
  adapter: Pick<DatasetAdapter, 'size'>,
  options: BatchIteratorOptions,
  fallbackRandom: SeededRandom,
  where: string,
): Int32Array {
  const size = adapter.size(options.split);
  let order: Int32Array;
  if (options.indices !== undefined) {
    checkIndices(options.indices, size, `${where} ${options.split} split`);
    order = Int32Array.from(options.indices);
  } else {
    order = new Int32Array(size);
    for (let i = 0; i < size; i++) order[i] = i;
  }
  if (options.limit !== undefined) {
    if (!Number.isInteger(options.limit) || options.limit < 0) {
      throw new ConfigError(`${where}: limit must be a non-negative integer, got ${options.limit}`, [
        { path: 'limit', message: 'must be a non-negative integer' },
      ]);
    }
    order = order.subarray(0, Math.min(options.limit, order.length));
  }
  const shuffle = options.shuffle ?? options.split === 'train';
  if (shuffle) {
    const random = options.random ?? fallbackRandom;
    const perm = random.permutation(order.length);
    const shuffled = new Int32Array(order.length);
    for (let i = 0; i < order.length; i++) shuffled[i] = order[perm[i] as number] as number;
    order = shuffled;
  }
  return order;
}

interface Prepared {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly indices: Int32Array;
  readonly count: number;
}

const defer: (fn: () => void) => void =
  typeof setImmediate === 'function' ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

/**
 * A batch iterator over any adapter's `read()`. Used by every adapter of this package; custom
 * adapters can call it from their own `batches()`.
 */
export async function* iterateBatches(
  adapter: Pick<DatasetAdapter, 'info' | 'size' | 'read'>,
  options: BatchIteratorOptions,
  fallbackRandom: SeededRandom,
): AsyncIterableIterator<Batch> {
  const where = `dataset "${adapter.info.name}"`;
  if (options.split !== 'train' && options.split !== 'test') {
    throw new ConfigError(`${where}: split must be "train" or "test", got ${String(options.split)}`, [
      { path: 'split', message: 'must be train or test' },
    ]);
  }
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new ConfigError(`${where}: batchSize must be a positive integer, got ${options.batchSize}`, [
      { path: 'batchSize', message: 'must be a positive integer' },
    ]);
  }
  const prefetch = options.prefetch ?? 1;
  if (!Number.isInteger(prefetch) || prefetch < 0) {
    throw new ConfigError(`${where}: prefetch must be a non-negative integer, got ${prefetch}`, [
      { path: 'prefetch', message: 'must be a non-negative integer' },
    ]);
  }
  const order = selectOrder(adapter, options, fallbackRandom, where);
  const [h, w, c] = adapter.info.imageShape;
  const batchSize = options.batchSize;
  const full = Math.floor(order.length / batchSize);
  const total = options.dropRemainder || order.length % batchSize === 0 ? full : full + 1;

  const prepare = (b: number): Prepared => {
    const indices = order.slice(b * batchSize, Math.min(order.length, (b + 1) * batchSize));
    const ex: ExampleArrays = adapter.read(options.split, indices);
    return { images: ex.images, labels: ex.labels, indices, count: ex.count };
  };
  const schedule = (b: number): Promise<Prepared> => {
    const p = new Promise<Prepared>((resolve, reject) =>
      defer(() => {
        try {
          resolve(prepare(b));
        } catch (error) {
          reject(error);
        }
      }),
    );
    p.catch(() => {}); // surfaced when awaited; never an unhandled rejection if abandoned
    return p;
  };

  const queue: Promise<Prepared>[] = [];
  let next = 0;
  const fill = () => {
    while (next < total && queue.length < prefetch) queue.push(schedule(next++));
  };
  for (let b = 0; b < total; b++) {
    let prepared: Prepared;
    if (queue.length > 0) {
      prepared = await (queue.shift() as Promise<Prepared>);
      next = Math.max(next, b + 1);
    } else {
      prepared = prepare(b);
      next = b + 1;
    }
    fill();
    const n = prepared.count;
    if (prepared.images.length !== n * h * w * c) {
      throw new ShapeError(
        `${where}: read() returned ${prepared.images.length} values for ${n} images of shape [${h}, ${w}, ${c}]`,
      );
    }
    yield {
      x: tensor4d(prepared.images, [n, h, w, c], 'float32'),
      y: tensor1d(prepared.labels, 'int32'),
      indices: prepared.indices,
    };
  }
}

/**
 * Base class for adapters: implement `info`, `size`, `labels` and `read`; batching, shuffling and
 * prefetching come from here.
 */
export abstract class BaseDataset implements DatasetAdapter {
  abstract readonly info: DatasetInfo;
  protected readonly random: SeededRandom;

  constructor(seed: number | SeededRandom = 0) {
    this.random = typeof seed === 'number' ? new SeededRandom(seed) : seed;
  }

  abstract size(split: Split): number;
  abstract labels(split: Split): Int32Array;
  abstract read(split: Split, indices: ArrayLike<number>): ExampleArrays;

  batches(options: BatchIteratorOptions): AsyncIterableIterator<Batch> {
    return iterateBatches(this, options, this.random);
  }
}

/** One split held in memory: uint8 (0..255) or float32 ([0, 1]) images, NHWC, and int32 labels. */
export interface SplitArrays {
  readonly images: Uint8Array | Float32Array;
  readonly labels: Int32Array | Uint8Array | ArrayLike<number>;
}

export interface InMemoryDatasetOptions {
  readonly name: string;
  readonly imageShape: readonly [number, number, number];
  readonly classNames?: readonly string[];
  /** Number of classes; defaults to classNames.length, else 1 + the largest label. */
  readonly numClasses?: number;
  readonly train?: SplitArrays;
  readonly test?: SplitArrays;
  /** Seed (or stream) for shuffles when the iterator is given no `random`. */
  readonly seed?: number | SeededRandom;
}

/**
 * A dataset held in memory, compactly (uint8 images are converted to float32 per batch). The base
 * of the file adapters, and the easy way to write a custom one: decode into a Uint8Array and hand
 * it here.
 */
export class InMemoryDataset extends BaseDataset {
  readonly info: DatasetInfo;
  private readonly data: Partial<Record<Split, { images: Uint8Array | Float32Array; labels: Int32Array }>> = {};
  private readonly imageSize: number;

  constructor(options: InMemoryDatasetOptions) {
    super(options.seed ?? 0);
    const [h, w, c] = options.imageShape;
    if (![h, w, c].every((v) => Number.isInteger(v) && v > 0)) {
      throw new ShapeError(`dataset "${options.name}": imageShape must be three positive integers, got [${options.imageShape.join(', ')}]`);
    }
    this.imageSize = h * w * c;
    let maxLabel = -1;
    const splits: Partial<Record<Split, number>> = {};
    for (const split of SPLITS) {
      const arrays = options[split];
      if (!arrays) continue;
      const count = arrays.labels.length;
      if (arrays.images.length !== count * this.imageSize) {
        throw new ShapeError(
          `dataset "${options.name}" ${split} split: ${arrays.images.length} image values for ${count} labels; ` +
            `expected ${count} x ${h}x${w}x${c} = ${count * this.imageSize}`,
        );
      }
      const labels = arrays.labels instanceof Int32Array ? arrays.labels : Int32Array.from(arrays.labels);
      for (let i = 0; i < labels.length; i++) {
        const l = labels[i] as number;
        if (!Number.isInteger(l) || l < 0) {
          throw new ShapeError(`dataset "${options.name}" ${split} split: label ${l} at index ${i} is not a non-negative integer`);
        }
        if (l > maxLabel) maxLabel = l;
      }
      this.data[split] = { images: arrays.images, labels };
      splits[split] = count;
    }
    const numClasses = options.numClasses ?? options.classNames?.length ?? maxLabel + 1;
    if (maxLabel >= numClasses) {
      throw new ShapeError(`dataset "${options.name}": label ${maxLabel} is out of range for ${numClasses} classes`);
    }
    const classNames = options.classNames ?? Array.from({ length: numClasses }, (_, i) => String(i));
    if (classNames.length !== numClasses) {
      throw new ShapeError(`dataset "${options.name}": ${classNames.length} class names for ${numClasses} classes`);
    }
    this.info = Object.freeze({
      name: options.name,
      imageShape: Object.freeze([h, w, c]) as readonly [number, number, number],
      numClasses,
      classNames: Object.freeze([...classNames]),
      splits: Object.freeze(splits),
    });
  }

  private get_(split: Split) {
    const d = this.data[split];
    if (!d) {
      const have = SPLITS.filter((s) => this.data[s]).join(', ') || 'none';
      throw new ConfigError(`dataset "${this.info.name}" has no ${split} split (splits: ${have})`, [
        { path: 'split', message: `no ${split} split` },
      ]);
    }
    return d;
  }

  size(split: Split): number {
    return this.data[split]?.labels.length ?? 0;
  }

  labels(split: Split): Int32Array {
    return this.get_(split).labels.slice();
  }

  read(split: Split, indices: ArrayLike<number>): ExampleArrays {
    const d = this.get_(split);
    const n = indices.length;
    checkIndices(indices, d.labels.length, `dataset "${this.info.name}" ${split} split`);
    const size = this.imageSize;
    const images = new Float32Array(n * size);
    const labels = new Int32Array(n);
    const src = d.images;
    for (let i = 0; i < n; i++) {
      const k = indices[i] as number;
      labels[i] = d.labels[k] as number;
      if (src instanceof Uint8Array) bytesToUnit(src, k * size, images, i * size, size);
      else images.set(src.subarray(k * size, (k + 1) * size), i * size);
    }
    return { images, labels, count: n };
  }

  /** The stored images of a split (uint8 or float32, as given), without copying. */
  rawImages(split: Split): Uint8Array | Float32Array {
    return this.get_(split).images;
  }

  dispose(): void {
    for (const split of SPLITS) delete this.data[split];
  }
}
