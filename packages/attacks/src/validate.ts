/**
 * Checks on an attack request, with errors that name the field and shape at fault.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError } from '@advprop/core';
import type { InputRange } from './units.js';

/** Tolerance for `x` lying outside the input range (float noise from preprocessing). */
const RANGE_TOLERANCE = 1e-5;
/** Tolerance on the row sums when detecting probabilities instead of logits. */
const PROBABILITY_TOLERANCE = 1e-3;

/** Check `x` (float, rank >= 2, inside `range`) and labels/targets (rank 1, one per sample, integers). */
export function checkBatch(
  x: tf.Tensor,
  labels: tf.Tensor,
  targets: tf.Tensor | undefined,
  range: InputRange,
  where: string,
): { n: number; labels: Int32Array; targets: Int32Array | undefined } {
  if (!(x instanceof tf.Tensor)) throw new ShapeError(`${where}: x must be a tensor`);
  if (x.isDisposed) throw new ShapeError(`${where}: x has been disposed`);
  if (x.rank < 2) {
    throw new ShapeError(`${where}: x must be a batch [N, ...] of rank >= 2, got shape [${x.shape.join(', ')}]`);
  }
  if (x.dtype !== 'float32') throw new ShapeError(`${where}: x must be float32, got ${x.dtype}`);
  const n = x.shape[0] as number;
  const labelArray = readClasses(labels, n, 'labels', where, x.shape);
  const targetArray = targets === undefined ? undefined : readClasses(targets, n, 'targets', where, x.shape);
  if (n > 0) {
    const [lo, hi] = readValues(() => tf.stack([tf.min(x), tf.max(x)])) as [number, number];
    if (Number.isNaN(lo) || Number.isNaN(hi)) throw new ConfigError(`${where}: x contains NaN`, [{ path: 'x', message: 'NaN' }]);
    if (lo < range[0] - RANGE_TOLERANCE || hi > range[1] + RANGE_TOLERANCE) {
      throw new ConfigError(
        `${where}: x has values in [${lo}, ${hi}], outside the attacker's input range [${range[0]}, ${range[1]}]; ` +
          'scale the images (normalisation belongs inside the model) or set the `range` option',
        [{ path: 'x', message: 'outside the input range' }],
      );
    }
  }
  return { n, labels: labelArray, targets: targetArray };
}

function readClasses(t: tf.Tensor, n: number, field: string, where: string, xShape: readonly number[]): Int32Array {
  if (!(t instanceof tf.Tensor)) throw new ShapeError(`${where}: ${field} must be a tensor`);
  if (t.rank !== 1 || t.shape[0] !== n) {
    throw new ShapeError(
      `${where}: ${field} must have shape [${n}] (one class per sample of x [${xShape.join(', ')}]), got [${t.shape.join(', ')}]`,
    );
  }
  const values = t.dataSync();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    if (!Number.isInteger(v) || v < 0) {
      throw new ConfigError(`${where}: ${field}[${i}] = ${v} is not a class index (an integer >= 0)`, [
        { path: `${field}[${i}]`, message: 'not a class index' },
      ]);
    }
    out[i] = v;
  }
  return out;
}

/**
 * Check the clean logits: shape [N, K] with K >= 2, classes < K, and (when `detectProbabilities`)
 * that the model returns logits, not probabilities: rows all >= 0 and summing to 1 within 1e-3 are
 * rejected, because the attack losses apply their own softmax and a softmax output saturates
 * their gradients.
 */
export function checkLogits(
  logits: tf.Tensor,
  n: number,
  classes: { readonly labels: Int32Array; readonly targets: Int32Array | undefined },
  detectProbabilities: boolean,
  where: string,
): number {
  if (logits.rank !== 2 || logits.shape[0] !== n) {
    throw new ShapeError(`${where}: the model must return logits of shape [${n}, numClasses], got [${logits.shape.join(', ')}]`);
  }
  const k = logits.shape[1] as number;
  if (k < 2) throw new ShapeError(`${where}: the model returns ${k} class(es); an attack needs at least 2`);
  for (const field of ['labels', 'targets'] as const) {
    const values = classes[field];
    if (!values) continue;
    for (let i = 0; i < values.length; i++) {
      if ((values[i] as number) >= k) {
        throw new ConfigError(`${where}: ${field}[${i}] = ${values[i]} is out of range for a model with ${k} classes (0..${k - 1})`, [
          { path: `${field}[${i}]`, message: `out of range 0..${k - 1}` },
        ]);
      }
    }
  }
  if (detectProbabilities && n > 0 && looksLikeProbabilities(logits)) {
    throw new ConfigError(
      `${where}: the model's outputs look like probabilities (every row is non-negative and sums to 1), ` +
        'but attacks need logits: remove the final softmax from the model (or pass checkLogits: false)',
      [{ path: 'model', message: 'returns probabilities, expected logits' }],
    );
  }
  return k;
}

/** Whether every row of `out` [N, K] is non-negative and sums to 1 within 1e-3. */
export function looksLikeProbabilities(out: tf.Tensor): boolean {
  const [minValue, maxDeviation] = readValues(() => tf.stack([tf.min(out), tf.max(tf.abs(tf.sub(tf.sum(out, 1), 1)))])) as [
    number,
    number,
  ];
  return minValue >= 0 && maxDeviation <= PROBABILITY_TOLERANCE;
}

/** Values of a tensor computed by `fn`, which is disposed afterwards. */
export function readValues(fn: () => tf.Tensor): number[] {
  const t = tf.tidy(fn);
  try {
    return Array.from(t.dataSync());
  } finally {
    t.dispose();
  }
}
