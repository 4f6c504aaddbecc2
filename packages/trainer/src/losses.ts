import * as tf from '@tensorflow/tfjs-core';

/**
 * Per-example softmax cross-entropy from logits and int labels, with label smoothing `eps`
 * (target = (1 - eps) * onehot + eps / K).
 */
export function crossEntropyPerExample(logits: tf.Tensor, labels: tf.Tensor, smoothing = 0): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[logits.shape.length - 1] as number;
    const logp = tf.logSoftmax(logits as tf.Tensor2D);
    let target: tf.Tensor = tf.oneHot(tf.cast(labels, 'int32') as tf.Tensor1D, k);
    if (smoothing > 0) target = tf.add(tf.mul(target, 1 - smoothing), smoothing / k);
    return tf.neg(tf.sum(tf.mul(target, logp), -1)) as tf.Tensor1D;
  });
}

export function crossEntropy(logits: tf.Tensor, labels: tf.Tensor, smoothing = 0): tf.Scalar {
  return tf.tidy(() => tf.mean(crossEntropyPerExample(logits, labels, smoothing)) as tf.Scalar);
}

/** Number of rows whose argmax equals the label, as an int32 scalar (usable inside a gradient tape). */
export function correctCount(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.cast(labels, 'int32')), 'int32')));
}

/** Number of rows whose argmax equals the label. */
export function countCorrect(logits: tf.Tensor, labels: tf.Tensor): number {
  const count = correctCount(logits, labels);
  try {
    return count.dataSync()[0] as number;
  } finally {
    count.dispose();
  }
}
