/**
 * Evaluation: clean accuracy through the main BN, auxiliary-BN accuracy (a sanity figure for dual
 * models), robust accuracy under an attack suite (attacks run through the main BN, BN in inference
 * mode), accuracy on corrupted test images, and per-class clean accuracy.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  ConfigError,
  SeededRandom,
  routableLayers,
  toForward,
  type Attacker,
  type Batch,
  type DatasetAdapter,
  type EvaluationProgress,
  type Split,
} from '@advprop/core';
import { countCorrect } from './losses.js';

export interface CorruptionSpec {
  readonly type: string;
  readonly severity: number;
}

/** Corrupts a batch of images (NHWC float32 in [0, 1]); returns a new array. */
export type CorruptFn = (images: Float32Array, shape: readonly number[], options: { type: string; severity: number; random: SeededRandom }) => Float32Array;

export interface EvaluateOptions {
  readonly attacks?: readonly { readonly name: string; readonly attacker: Attacker }[];
  /** Evaluate on a fixed seeded random subset of this many test examples (the split may be ordered by class). */
  readonly limit?: number;
  /** Explicit example indices (overrides limit). */
  readonly indices?: ArrayLike<number>;
  /**
   * Attacks and corruptions run on a seeded subset of this many of the evaluated examples (all of
   * them by default): they cost many forwards per example, clean accuracy costs one.
   */
  readonly robustLimit?: number;
  readonly batchSize?: number;
  readonly corruptions?: readonly CorruptionSpec[];
  /** Needed when `corruptions` is non-empty (the trainer passes @advprop/datasets' `corrupt`). */
  readonly corrupt?: CorruptFn;
  readonly random?: SeededRandom;
  readonly split?: Split;
  /** Called after each batch with the number of examples done (progress). */
  readonly onBatch?: (done: number, total: number) => void;
  /** Called after each stage (clean, aux, each attack) of each batch, with its running accuracy. */
  readonly onProgress?: (progress: EvaluationProgress) => void | Promise<void>;
}

export interface EvaluationResult {
  /** Examples evaluated. */
  readonly count: number;
  /** Examples the attacks and corruptions ran on (`robustLimit` of `count`). */
  readonly robust_count: number;
  readonly clean_accuracy: number;
  /** Accuracy through the auxiliary BN; null for a model without dual BN. */
  readonly aux_accuracy: number | null;
  readonly robust_accuracy: Record<string, number>;
  readonly corrupted_accuracy: Record<string, number>;
  /** Clean accuracy per class; null for a class without test examples. */
  readonly per_class_accuracy: (number | null)[];
  readonly clean_loss: number;
  /** Clean-forward throughput. */
  readonly images_per_second: number;
  readonly seconds: number;
}

/** The fixed evaluation subset: all indices, or `limit` of them drawn once from a seeded stream. */
export function evaluationIndices(size: number, limit: number | undefined, random: SeededRandom): Int32Array {
  if (limit === undefined || limit >= size) return Int32Array.from({ length: size }, (_, i) => i);
  const perm = random.fork('evaluation-subset').permutation(size);
  return perm.slice(0, limit).sort();
}

/** Correct predictions of `forward(x)`; disposes everything it creates. */
function correctOf(forward: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, labels: tf.Tensor): number {
  return tf.tidy(() => countCorrect(forward(x), labels));
}

/**
 * The scoring loop shared by `evaluate` and the CLI's attack command: the dataset's own batches
 * (`batches()`) in the fixed order of `indices`, each handed to `score` with its index, its
 * tensors disposed afterwards, timers and I/O let run between batches. Resolves to the number of
 * examples scored.
 */
export async function scoreBatches(
  dataset: DatasetAdapter,
  options: { readonly split: Split; readonly batchSize: number; readonly indices: ArrayLike<number> },
  score: (batch: Batch, index: number) => void | Promise<void>,
): Promise<number> {
  let done = 0;
  let index = 0;
  for await (const batch of dataset.batches({ split: options.split, batchSize: options.batchSize, indices: options.indices, shuffle: false })) {
    try {
      await score(batch, index++);
      done += batch.y.shape[0];
    } finally {
      batch.x.dispose();
      batch.y.dispose();
    }
    // (setImmediate is Node's; a browser has setTimeout.)
    await new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
  }
  return done;
}

export async function evaluate(model: LayersModel, dataset: DatasetAdapter, options: EvaluateOptions = {}): Promise<EvaluationResult> {
  const split = options.split ?? 'test';
  const random = options.random ?? new SeededRandom(0);
  const batchSize = options.batchSize ?? 100;
  const attacks = options.attacks ?? [];
  const corruptions = options.corruptions ?? [];
  if (corruptions.length > 0 && !options.corrupt) {
    throw new ConfigError('evaluate: corruptions were asked for but no corrupt function was given', [
      { path: 'corruptions', message: 'needs a corrupt function' },
    ]);
  }
  const names = new Set<string>();
  for (const a of attacks) {
    if (names.has(a.name)) throw new ConfigError(`evaluate: two attacks are labelled "${a.name}"; give each a distinct label`);
    names.add(a.name);
  }
  const size = dataset.size(split);
  const indices = options.indices ? Int32Array.from(options.indices) : evaluationIndices(size, options.limit, random);
  if (indices.length === 0) throw new ConfigError(`evaluate: dataset "${dataset.info.name}" has no ${split} examples to evaluate`);
  const [h, w, c] = dataset.info.imageShape;
  const numClasses = dataset.info.numClasses;
  // Positions (into `indices`) of the examples that attacks and corruptions see.
  const robustPositions = evaluationIndices(indices.length, options.robustLimit, random.fork('robust-subset'));
  const inRobust = new Uint8Array(indices.length);
  for (const p of robustPositions) inRobust[p] = 1;
  const robustCount = robustPositions.length;
  const dual = routableLayers(model).length > 0;
  const main = toForward(model, { route: 'main', training: false });
  const aux = toForward(model, { route: 'aux', training: false });

  let clean = 0;
  let auxCorrect = 0;
  let lossSum = 0;
  let forwardSeconds = 0;
  const robust = new Map<string, number>(attacks.map((a) => [a.name, 0]));
  const corruptedKey = (s: CorruptionSpec) => `${s.type}-${s.severity}`;
  const corrupted = new Map<string, number>(corruptions.map((s) => [corruptedKey(s), 0]));
  const perClassTotal = new Array<number>(numClasses).fill(0);
  const perClassCorrect = new Array<number>(numClasses).fill(0);
  const started = performance.now();
  const stages = ['clean', ...(dual ? ['aux'] : []), ...attacks.map((a) => a.name)];
  const onProgress = options.onProgress;
  const progress = onProgress
    ? (stage: string, done: number, correct: number, total = indices.length) => onProgress({ stage, done, total, accuracy: done > 0 ? correct / done : 0, stages })
    : undefined;

  let done = 0;
  let robustDone = 0;
  await scoreBatches(dataset, { split, batchSize, indices }, async ({ x, y }, b) => {
    const n = y.shape[0];
    const labels = y.dataSync() as Int32Array;
    const t0 = performance.now();
    const [correctT, lossT] = tf.tidy(() => {
      const logits = main(x);
      const ok = tf.cast(tf.equal(tf.argMax(logits, -1), y), 'int32');
      const ce = tf.sum(tf.losses.softmaxCrossEntropy(tf.oneHot(y, numClasses), logits, undefined, 0, tf.Reduction.NONE));
      return [ok, ce];
    });
    const correct = correctT.dataSync() as Int32Array;
    const loss = lossT.dataSync()[0] as number;
    correctT.dispose();
    lossT.dispose();
    forwardSeconds += (performance.now() - t0) / 1000;
    lossSum += loss;
    for (let i = 0; i < n; i++) {
      const label = labels[i] as number;
      perClassTotal[label] = (perClassTotal[label] ?? 0) + 1;
      if (correct[i]) {
        clean++;
        perClassCorrect[label] = (perClassCorrect[label] ?? 0) + 1;
      }
    }
    // Progress per stage (clean, aux, each attack): the examples this batch brings it to.
    const upTo = done + n;
    await progress?.('clean', upTo, clean);
    if (dual) {
      auxCorrect += correctOf(aux, x, y);
      await progress?.('aux', upTo, auxCorrect);
    }
    await scoreRobust(x, y, done, n, b);
    done += n;
    options.onBatch?.(done, indices.length);
  });
  const count = indices.length;
  return {
    count,
    robust_count: robustCount,
    clean_accuracy: clean / count,
    aux_accuracy: dual ? auxCorrect / count : null,
    robust_accuracy: Object.fromEntries([...robust].map(([k, v]) => [k, v / robustCount])),
    corrupted_accuracy: Object.fromEntries([...corrupted].map(([k, v]) => [k, v / robustCount])),
    per_class_accuracy: perClassTotal.map((t, i) => (t > 0 ? (perClassCorrect[i] as number) / t : null)),
    clean_loss: lossSum / count,
    images_per_second: forwardSeconds > 0 ? count / forwardSeconds : 0,
    seconds: (performance.now() - started) / 1000,
  };

  /** Attacks and corruptions on the batch's examples that belong to the robust subset. */
  async function scoreRobust(xAll: tf.Tensor4D, yAll: tf.Tensor1D, offset: number, n: number, b: number): Promise<void> {
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (inRobust[offset + i]) keep.push(i);
    if (keep.length === 0 || (attacks.length === 0 && corruptions.length === 0)) return;
    const whole = keep.length === n;
    const x: tf.Tensor4D = whole ? xAll : tf.tidy(() => tf.gather(xAll, keep));
    const y: tf.Tensor1D = whole ? yAll : tf.tidy(() => tf.gather(yAll, keep));
    const m = keep.length;
    robustDone += m;
    try {
      for (const { name, attacker } of attacks) {
        const adv = attacker.attack({ model, x, labels: y, route: 'main', training: false, random: random.fork(`attack:${name}:${b}`) });
        try {
          robust.set(name, (robust.get(name) ?? 0) + correctOf(main, adv, y));
        } finally {
          adv.dispose();
        }
        await progress?.(name, robustDone, robust.get(name) ?? 0, robustCount);
      }
      if (corruptions.length > 0) {
        const cleanImages = x.dataSync() as Float32Array;
        for (const spec of corruptions) {
          const images = (options.corrupt as CorruptFn)(cleanImages, [m, h, w, c], {
            type: spec.type,
            severity: spec.severity,
            random: random.fork(`corruption:${corruptedKey(spec)}:${b}`),
          });
          const xc = tf.tensor4d(images, [m, h, w, c]);
          let ok: number;
          try {
            ok = correctOf(main, xc, y);
          } finally {
            xc.dispose();
          }
          const key = corruptedKey(spec);
          corrupted.set(key, (corrupted.get(key) ?? 0) + ok);
        }
      }
    } finally {
      if (!whole) tf.dispose([x, y]);
    }
  }
}
