/**
 * Per-sample attack objectives. Each returns one value per sample that the attack *ascends*;
 * attacks sum them (never average), so a sample's gradient does not depend on its batch.
 */
import * as tf from '@tensorflow/tfjs-core';

export type AttackLoss = 'ce' | 'cw';

export interface ObjectiveOptions {
  readonly loss: AttackLoss;
  /** Targeted: `classes` are targets to reach; untargeted: true labels to move away from. */
  readonly targeted: boolean;
  /** CW only: cap on the margin (kappa); absent means no cap. */
  readonly confidence?: number | undefined;
}

/** Per-sample cross-entropy of `logits` [N, K] against `classes` [N]. */
export function perSampleCrossEntropy(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const oneHot = tf.cast(tf.oneHot(tf.cast(classes, 'int32'), k), 'float32');
    return tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
  });
}

/** Per-sample margin `z[c] - max_{j != c} z[j]` (Carlini-Wagner's f without the clamp). */
export function perSampleMargin(logits: tf.Tensor2D, classes: tf.Tensor1D): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const mask = tf.cast(tf.oneHot(tf.cast(classes, 'int32'), k), 'bool');
    const own = tf.sum(tf.mul(tf.cast(mask, 'float32'), logits), 1);
    const others = tf.max(tf.where(mask, tf.fill(logits.shape, -Infinity), logits), 1);
    return tf.sub(own, others) as tf.Tensor1D;
  });
}

/** The per-sample objective an attack ascends. */
export function attackObjective(logits: tf.Tensor2D, classes: tf.Tensor1D, options: ObjectiveOptions): tf.Tensor1D {
  return tf.tidy(() => {
    let value: tf.Tensor1D;
    if (options.loss === 'ce') {
      const ce = perSampleCrossEntropy(logits, classes);
      value = options.targeted ? (tf.neg(ce) as tf.Tensor1D) : ce;
    } else {
      const margin = perSampleMargin(logits, classes);
      // untargeted: push the best other class above the true one; targeted: the target above the rest
      value = options.targeted ? margin : (tf.neg(margin) as tf.Tensor1D);
      if (options.confidence !== undefined) value = tf.minimum(value, options.confidence) as tf.Tensor1D;
    }
    return value;
  });
}

/** Per-sample success: untargeted, prediction != label; targeted, prediction == target. */
export function attackSucceeded(logits: tf.Tensor2D, classes: tf.Tensor1D, targeted: boolean): tf.Tensor1D {
  return tf.tidy(() => {
    const predicted = tf.argMax(logits, 1);
    const same = tf.equal(predicted, tf.cast(classes, 'int32'));
    return (targeted ? same : tf.logicalNot(same)) as tf.Tensor1D;
  });
}
