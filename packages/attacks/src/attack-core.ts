/**
 * Pieces the AutoAttack family (APGD, FAB, Square, autoAttack) shares: the DLR losses, counted
 * model passes, per-sample row bookkeeping on the CPU, class rankings, and the schema fields.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom, z, type AttackRequest, type BnRoute } from '@advprop/core';
import { perSampleMargin } from './losses.js';
import { checkEpsilonFraction } from './model-wrapper.js';
import { runPrepared, type PreparedRequest } from './request.js';
import { rangeSchema } from './units.js';

export type Norm = 'linf' | 'l2';

/** Model passes of an attack, counted in examples (a pass over a batch of 10 counts 10). */
export interface PassCounts {
  forward: number;
  backward: number;
}

/** The model as the attack algorithms see it: routed logits, with passes counted. */
export interface AttackTarget {
  /** Logits [N, K] of images in the attack's range. */
  readonly forward: (x: tf.Tensor) => tf.Tensor;
  readonly counts: PassCounts;
}

/** Per-sample random stream for a purpose (sample index is the index in the attacked subset's parent batch). */
export type StreamFor = (sample: number, purpose: number) => SeededRandom;

export function countingTarget(forward: (x: tf.Tensor) => tf.Tensor, counts: PassCounts = { forward: 0, backward: 0 }): AttackTarget {
  return {
    counts,
    forward: (x) => {
      counts.forward += x.shape[0] as number;
      return forward(x);
    },
  };
}

/** The `count` largest logits of each row, largest first, differentiable (max and masking, no TopK gradient needed). */
function largest(logits: tf.Tensor2D, count: number): tf.Tensor1D[] {
  const k = logits.shape[1];
  const out: tf.Tensor1D[] = [];
  let rest: tf.Tensor2D = logits;
  for (let r = 0; r < count; r++) {
    out.push(tf.max(rest, 1) as tf.Tensor1D);
    if (r < count - 1) {
      const mask = tf.cast(tf.oneHot(tf.argMax(rest, 1), k), 'bool');
      rest = tf.where(mask, tf.fill(rest.shape, -Infinity), rest) as tf.Tensor2D;
    }
  }
  return out;
}

function pick(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.sum(tf.mul(tf.oneHot(tf.cast(classes, 'int32'), logits.shape[1]), logits), 1) as tf.Tensor1D;
}

/**
 * Difference of logits ratio (Croce & Hein, 2020), to ascend:
 * -(z_y - max_{i != y} z_i) / (z_pi1 - z_pi3), pi sorting the logits in decreasing order. It does
 * not change when the logits are shifted or scaled. With 2 classes there is no third logit and the
 * denominator is 1 (the loss is the margin).
 */
export function dlrLoss(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const margin = perSampleMargin(logits, labels);
    if (k < 3) return tf.neg(margin) as tf.Tensor1D;
    const [first, , third] = largest(logits, 3) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
    return tf.div(tf.neg(margin), tf.add(tf.sub(first, third), 1e-12)) as tf.Tensor1D;
  });
}

/**
 * Targeted DLR, to ascend: -(z_y - z_t) / (z_pi1 - (z_pi3 + z_pi4) / 2). With 3 classes the
 * denominator is z_pi1 - z_pi3, with 2 it is 1.
 */
export function dlrTargetedLoss(logits: tf.Tensor2D, labels: tf.Tensor1D, targets: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const numerator = tf.sub(pick(logits, labels), pick(logits, targets));
    if (k < 3) return tf.neg(numerator) as tf.Tensor1D;
    const top = largest(logits, Math.min(4, k));
    const first = top[0] as tf.Tensor1D;
    const low = k >= 4 ? tf.mul(tf.add(top[2] as tf.Tensor, top[3] as tf.Tensor), 0.5) : (top[2] as tf.Tensor);
    return tf.div(tf.neg(numerator), tf.add(tf.sub(first, low), 1e-12)) as tf.Tensor1D;
  });
}

/** Classes of each row ordered by decreasing logit: `ranked[i][0]` is the predicted class. */
export function rankClasses(values: ArrayLike<number>, n: number, k: number): Int32Array[] {
  const out: Int32Array[] = [];
  for (let i = 0; i < n; i++) {
    const order = Int32Array.from({ length: k }, (_, j) => j);
    order.sort((a, b) => (values[i * k + b] as number) - (values[i * k + a] as number) || a - b);
    out.push(order);
  }
  return out;
}

export function argmaxRows(values: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if ((values[i * k + j] as number) > (values[i * k + best] as number)) best = j;
    out[i] = best;
  }
  return out;
}

/** Rows `indices` of `values` (n rows of `size`), as a tensor shaped [indices.length, ...rowShape]. */
export function rowsTensor(values: Float32Array, size: number, indices: ArrayLike<number>, rowShape: readonly number[]): tf.Tensor {
  const out = new Float32Array(indices.length * size);
  for (let j = 0; j < indices.length; j++) out.set(values.subarray((indices[j] as number) * size, ((indices[j] as number) + 1) * size), j * size);
  return tf.tensor(out, [indices.length, ...rowShape], 'float32');
}

/** Per-sample norm of rows of `a - b` (flat, `size` values per row). */
export function rowNorm(a: ArrayLike<number>, b: ArrayLike<number>, offsetA: number, offsetB: number, size: number, norm: Norm): number {
  let acc = 0;
  for (let j = 0; j < size; j++) {
    const d = (a[offsetA + j] as number) - (b[offsetB + j] as number);
    acc = norm === 'linf' ? Math.max(acc, Math.abs(d)) : acc + d * d;
  }
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** Options the AutoAttack-family attacks share with the gradient attacks. */
export const sharedShape = {
  range: rangeSchema.default([0, 1]),
  route: z.enum(['main', 'aux']).optional(),
  training: z.boolean().default(false),
  checkLogits: z.boolean().default(true),
};

/** Stream purposes of the AutoAttack family (distinct from SAMPLE_STREAM's). */
export const FAMILY_STREAM = { apgd: 0x1000, fab: 0x2000, square: 0x3000 } as const;

/** The options every attack of the family shares: the budget as a fraction of the range, and how the model is run. */
export interface BudgetedOptions {
  readonly epsilon: number;
  readonly norm: Norm;
  readonly range: readonly number[];
  readonly route?: BnRoute | undefined;
  readonly training?: boolean | undefined;
  readonly checkLogits?: boolean | undefined;
}

/**
 * Run one attack of the family on a request: check epsilon against the declared range (before
 * and, with the image size known, after preparing the request), scale it to input units, and hand
 * the prepared request and the settings in input units to `body`.
 */
export function runBudgetedAttack<O extends BudgetedOptions>(
  name: string,
  o: O,
  random: SeededRandom | undefined,
  request: AttackRequest,
  body: (p: PreparedRequest, settings: O & { epsilon: number; range: [number, number] }, where: string) => tf.Tensor,
): tf.Tensor {
  const where = `attacker "${name}"`;
  checkEpsilonFraction(o.epsilon, o.norm, undefined, where, request?.model);
  const range: [number, number] = [o.range[0] as number, o.range[1] as number];
  const settings = { ...o, epsilon: o.epsilon * (range[1] - range[0]), range };
  return runPrepared(
    request,
    { where, range, route: o.route, training: o.training, checkLogits: o.checkLogits, random: random ?? new SeededRandom(0) },
    (p) => {
      checkEpsilonFraction(o.epsilon, o.norm, p.x.size / Math.max(p.n, 1), where, request.model);
      return body(p, settings, where);
    },
  );
}
