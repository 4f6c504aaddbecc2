/**
 * Datasets derived from another adapter: a subset (what a sampler chose) and a corrupted test set.
 * Both read through the wrapped adapter; neither owns it (disposing them does not dispose it).
 */
import { SeededRandom, type DatasetAdapter, type DatasetInfo, type ExampleArrays, type Split } from '@advprop/core';
import { BaseDataset, checkIndices } from './base.js';
import { corrupt, type CorruptionType } from './corruptions.js';

export interface SubsetOptions {
  /** Indices into the wrapped train split; absent keeps the whole split. */
  readonly train?: ArrayLike<number>;
  /** Indices into the wrapped test split; absent keeps the whole split. */
  readonly test?: ArrayLike<number>;
  readonly name?: string;
  readonly seed?: number;
}

class SubsetDataset extends BaseDataset {
  readonly info: DatasetInfo;
  private readonly maps: Partial<Record<Split, Int32Array>> = {};

  constructor(
    private readonly base: DatasetAdapter,
    options: SubsetOptions,
  ) {
    super(options.seed ?? 0);
    const splits: Partial<Record<Split, number>> = { ...base.info.splits };
    for (const split of ['train', 'test'] as const) {
      const idx = options[split];
      if (idx === undefined) continue;
      checkIndices(idx, base.size(split), `subset of dataset "${base.info.name}" ${split} split`);
      this.maps[split] = Int32Array.from(idx);
      splits[split] = idx.length;
    }
    this.info = Object.freeze({ ...base.info, name: options.name ?? `${base.info.name}-subset`, splits: Object.freeze(splits) });
  }

  private map(split: Split, indices: ArrayLike<number>): ArrayLike<number> {
    const m = this.maps[split];
    if (!m) return indices;
    checkIndices(indices, m.length, `dataset "${this.info.name}" ${split} split`);
    return Int32Array.from(indices, (i) => m[i] as number);
  }

  size(split: Split): number {
    return this.maps[split]?.length ?? this.base.size(split);
  }

  labels(split: Split): Int32Array {
    const all = this.base.labels(split);
    const m = this.maps[split];
    return m ? Int32Array.from(m, (i) => all[i] as number) : all;
  }

  read(split: Split, indices: ArrayLike<number>): ExampleArrays {
    return this.base.read(split, this.map(split, indices));
  }
}

/**
 * A view of `adapter` restricted to the given indices of each split (for example the output of
 * `imbalancedIndices`). Index i of the subset is `indices[i]` of the wrapped split.
 */
export function subsetDataset(adapter: DatasetAdapter, options: SubsetOptions): DatasetAdapter {
  return new SubsetDataset(adapter, options);
}

export interface CorruptedDatasetOptions {
  readonly type: CorruptionType;
  readonly severity: number;
  /** Seed of the corruption noise; example i always gets the same corruption. */
  readonly seed?: number;
  /** Splits to corrupt (default: test only). */
  readonly splits?: readonly Split[];
}

class CorruptedDataset extends BaseDataset {
  readonly info: DatasetInfo;
  private readonly root: SeededRandom;
  private readonly corrupted: ReadonlySet<Split>;

  constructor(
    private readonly base: DatasetAdapter,
    private readonly options: CorruptedDatasetOptions,
  ) {
    super(options.seed ?? 0);
    corrupt(new Float32Array(0), [0, 1, 1, 1], { type: options.type, severity: options.severity }); // validates type and severity
    this.root = new SeededRandom(options.seed ?? 0);
    this.corrupted = new Set(options.splits ?? ['test']);
    this.info = Object.freeze({ ...base.info, name: `${base.info.name}-${options.type}-${options.severity}` });
  }

  size(split: Split): number {
    return this.base.size(split);
  }

  labels(split: Split): Int32Array {
    return this.base.labels(split);
  }

  read(split: Split, indices: ArrayLike<number>): ExampleArrays {
    const clean = this.base.read(split, indices);
    if (!this.corrupted.has(split) || this.options.severity === 0) return clean;
    const [h, w, c] = this.info.imageShape;
    const size = h * w * c;
    const images = new Float32Array(clean.images.length);
    for (let i = 0; i < clean.count; i++) {
      // One stream per example, so the corruption of an example does not depend on its batch.
      const random = this.root.fork(`${split}:${indices[i] as number}`);
      const one = corrupt(clean.images.subarray(i * size, (i + 1) * size), [h, w, c], {
        type: this.options.type,
        severity: this.options.severity,
        random,
      });
      images.set(one, i * size);
    }
    return { images, labels: clean.labels, count: clean.count };
  }
}

/** `adapter` with its test split (or the given splits) corrupted: a CIFAR-10-C-style test set. */
export function corruptedDataset(adapter: DatasetAdapter, options: CorruptedDatasetOptions): DatasetAdapter {
  return new CorruptedDataset(adapter, options);
}
