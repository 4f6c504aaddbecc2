/**
 * Samplers over a split's labels: class-imbalanced subsets (long-tailed or step, as in Cao et al.
 * 2019 "LDAM" / Buda et al. 2018) and N-way K-shot episodes for few-shot evaluation.
 */
import { ConfigError, type SeededRandom } from '@advprop/core';

function byClass(labels: ArrayLike<number>, numClasses: number): number[][] {
  const lists: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i] as number;
    if (!Number.isInteger(l) || l < 0 || l >= numClasses) {
      throw new ConfigError(`label ${l} at index ${i} is outside [0, ${numClasses})`, [{ path: `labels[${i}]`, message: 'out of range' }]);
    }
    (lists[l] as number[]).push(i);
  }
  return lists;
}

function maxLabel(labels: ArrayLike<number>): number {
  let m = -1;
  for (let i = 0; i < labels.length; i++) m = Math.max(m, labels[i] as number);
  return m;
}

export interface ImbalanceOptions {
  /** Largest class size divided by smallest class size (>= 1). */
  readonly ratio: number;
  /** 'long-tail': sizes decay exponentially over the class order; 'step': majority and minority classes. */
  readonly mode: 'long-tail' | 'step';
  /** Size of the largest class; default: the size of the smallest class in `labels` (so every count is available). */
  readonly maxPerClass?: number;
  /** Step mode: fraction of classes that are minority classes (default 0.5, the last ones in class order). */
  readonly minorityFraction?: number;
  /** Class order from most to least frequent (default 0, 1, ..., C-1). */
  readonly classOrder?: readonly number[];
  /** Default: 1 + the largest label. */
  readonly numClasses?: number;
  /** Pick which examples of each class are kept at random; default: the first ones in index order. */
  readonly random?: SeededRandom;
}

/** Per-class counts of an imbalanced subset, indexed by class. */
export function imbalanceCounts(numClasses: number, maxPerClass: number, options: Omit<ImbalanceOptions, 'maxPerClass' | 'numClasses' | 'random'>): number[] {
  const { ratio, mode } = options;
  if (!(ratio >= 1) || !Number.isFinite(ratio)) {
    throw new ConfigError(`imbalance ratio must be a finite number >= 1, got ${ratio}`, [{ path: 'ratio', message: 'must be >= 1' }]);
  }
  if (mode !== 'long-tail' && mode !== 'step') {
    throw new ConfigError(`imbalance mode must be "long-tail" or "step", got ${String(mode)}`, [{ path: 'mode', message: 'unknown mode' }]);
  }
  const order = options.classOrder ?? Array.from({ length: numClasses }, (_, i) => i);
  if (order.length !== numClasses || new Set(order).size !== numClasses || order.some((c) => !Number.isInteger(c) || c < 0 || c >= numClasses)) {
    throw new ConfigError(`classOrder must be a permutation of 0..${numClasses - 1}`, [{ path: 'classOrder', message: 'not a permutation' }]);
  }
  const counts = new Array<number>(numClasses).fill(0);
  const minority = Math.round(numClasses * (options.minorityFraction ?? 0.5));
  order.forEach((cls, rank) => {
    let n: number;
    if (mode === 'long-tail') n = numClasses === 1 ? maxPerClass : maxPerClass * Math.pow(1 / ratio, rank / (numClasses - 1));
    else n = rank >= numClasses - minority ? maxPerClass / ratio : maxPerClass;
    counts[cls] = Math.max(1, Math.floor(n + 1e-9));
  });
  return counts;
}

/** Indices (ascending) of a class-imbalanced subset of a split with the given labels. */
export function imbalancedIndices(labels: ArrayLike<number>, options: ImbalanceOptions): Int32Array {
  const numClasses = options.numClasses ?? maxLabel(labels) + 1;
  const lists = byClass(labels, numClasses);
  const smallest = Math.min(...lists.map((l) => l.length));
  const maxPerClass = options.maxPerClass ?? smallest;
  if (!Number.isInteger(maxPerClass) || maxPerClass < 1) {
    throw new ConfigError(`maxPerClass must be a positive integer, got ${maxPerClass}`, [{ path: 'maxPerClass', message: 'must be a positive integer' }]);
  }
  const counts = imbalanceCounts(numClasses, maxPerClass, options);
  const chosen: number[] = [];
  counts.forEach((count, cls) => {
    const list = lists[cls] as number[];
    if (count > list.length) {
      throw new ConfigError(`class ${cls} has ${list.length} examples but the imbalanced subset needs ${count}; lower maxPerClass`, [
        { path: 'maxPerClass', message: `class ${cls} has only ${list.length} examples` },
      ]);
    }
    const pool = options.random ? options.random.shuffle(list.slice()) : list;
    chosen.push(...pool.slice(0, count));
  });
  return Int32Array.from(chosen).sort();
}

export interface FewShotOptions {
  /** N: classes per episode. */
  readonly ways: number;
  /** K: support examples per class. */
  readonly shots: number;
  /** Q: query examples per class. */
  readonly queries: number;
  readonly random: SeededRandom;
  /** Classes to draw from (default: all); only those with at least shots + queries examples are eligible. */
  readonly classes?: readonly number[];
  readonly numClasses?: number;
}

export interface FewShotEpisode {
  /** The N dataset classes of the episode; episode label i means classes[i]. */
  readonly classes: Int32Array;
  /** N*K dataset indices, class by class. */
  readonly support: Int32Array;
  /** Episode labels (0..N-1) of the support examples. */
  readonly supportLabels: Int32Array;
  /** N*Q dataset indices, class by class, disjoint from the support set. */
  readonly query: Int32Array;
  readonly queryLabels: Int32Array;
}

/** One N-way K-shot episode with Q queries per class, drawn without replacement. */
export function fewShotEpisode(labels: ArrayLike<number>, options: FewShotOptions): FewShotEpisode {
  const { ways, shots, queries, random } = options;
  for (const [name, v, min] of [
    ['ways', ways, 1],
    ['shots', shots, 1],
    ['queries', queries, 0],
  ] as const) {
    if (!Number.isInteger(v) || v < min) throw new ConfigError(`${name} must be an integer >= ${min}, got ${v}`, [{ path: name, message: `must be >= ${min}` }]);
  }
  const numClasses = options.numClasses ?? maxLabel(labels) + 1;
  const lists = byClass(labels, numClasses);
  const pool = options.classes ?? Array.from({ length: numClasses }, (_, i) => i);
  const need = shots + queries;
  const eligible = pool.filter((c) => (lists[c]?.length ?? 0) >= need);
  if (eligible.length < ways) {
    throw new ConfigError(
      `a ${ways}-way ${shots}-shot episode with ${queries} queries needs ${ways} classes with >= ${need} examples; only ${eligible.length} have that many`,
      [{ path: 'ways', message: 'not enough classes' }],
    );
  }
  const classes = random.shuffle(eligible.slice()).slice(0, ways);
  const support = new Int32Array(ways * shots);
  const query = new Int32Array(ways * queries);
  const supportLabels = new Int32Array(ways * shots);
  const queryLabels = new Int32Array(ways * queries);
  classes.forEach((cls, e) => {
    const picked = random.shuffle((lists[cls] as number[]).slice()).slice(0, need);
    for (let k = 0; k < shots; k++) {
      support[e * shots + k] = picked[k] as number;
      supportLabels[e * shots + k] = e;
    }
    for (let q = 0; q < queries; q++) {
      query[e * queries + q] = picked[shots + q] as number;
      queryLabels[e * queries + q] = e;
    }
  });
  return { classes: Int32Array.from(classes), support, supportLabels, query, queryLabels };
}
