/**
 * Datasets derived from another adapter: a subset (what a sampler chose) and a corrupted copy (a
 * CIFAR-10-C-style test set, or a training set with a share of its images corrupted).
 * Both read through the wrapped adapter; neither owns it (disposing them does not dispose it).
 */
import { ConfigError, SeededRandom, type DatasetAdapter, type DatasetInfo, type ExampleArrays, type Split } from '@advprop/core';
import { BaseDataset, checkIndices } from './base.js';
import { CORRUPTIONS, corrupt, type CorruptionType } from './corruptions.js';

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
  /** A corruption, or 'mixed': each corrupted example gets one drawn uniformly from CORRUPTIONS. */
  readonly type: CorruptionType | 'mixed';
  /** 0-5, or 'mixed': each corrupted example gets a severity drawn uniformly from 1..5. */
  readonly severity: number | 'mixed';
  /** Fraction of the examples corrupted, chosen per example by the seed (default 1: all). */
  readonly share?: number;
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
    // Validates type and severity (a mixed one is checked by its fixed counterpart).
    corrupt(new Float32Array(0), [0, 1, 1, 1], {
      type: options.type === 'mixed' ? CORRUPTIONS[0] : options.type,
      severity: options.severity === 'mixed' ? 1 : options.severity,
    });
    const share = options.share ?? 1;
    if (!(share > 0 && share <= 1)) {
      throw new ConfigError(`corruptedDataset: share must be in (0, 1], got ${share}`, [{ path: 'share', message: 'must be in (0, 1]' }]);
    }
    this.root = new SeededRandom(options.seed ?? 0);
    this.corrupted = new Set(options.splits ?? ['test']);
    const what = `${options.type}-${options.severity}${share < 1 ? `-share-${share}` : ''}`;
    this.info = Object.freeze({ ...base.info, name: `${base.info.name}-${what}` });
  }

  size(split: Split): number {
    return this.base.size(split);
  }

  labels(split: Split): Int32Array {
    return this.base.labels(split);
  }

  read(split: Split, indices: ArrayLike<number>): ExampleArrays {
    const clean = this.base.read(split, indices);
    const { type, severity, share = 1 } = this.options;
    if (!this.corrupted.has(split) || severity === 0) return clean;
    const [h, w, c] = this.info.imageShape;
    const size = h * w * c;
    const images = new Float32Array(clean.images.length);
    for (let i = 0; i < clean.count; i++) {
      // One stream per example, so the corruption of an example does not depend on its batch.
      const random = this.root.fork(`${split}:${indices[i] as number}`);
      const image = clean.images.subarray(i * size, (i + 1) * size);
      // The draws come from the example's own stream, before its noise, and only when asked for,
      // so a fixed corruption of every example corrupts exactly as it always has.
      if (share < 1 && random.float() >= share) {
        images.set(image, i * size);
        continue;
      }
      const one = corrupt(image, [h, w, c], {
        type: type === 'mixed' ? (CORRUPTIONS[random.int(CORRUPTIONS.length)] as CorruptionType) : type,
        severity: severity === 'mixed' ? 1 + random.int(5) : severity,
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
