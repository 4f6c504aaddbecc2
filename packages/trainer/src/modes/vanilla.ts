/** Standard training: minimise CE(f(x), y) over clean images through the one BN. */
import * as tf from '@tensorflow/tfjs-core';
import { defineTrainingMode } from './training-mode.js';

export const vanilla = defineTrainingMode({
  name: 'vanilla',
  description: 'standard training on clean images',
  batchNorm: 'plain',
  attacker: false,
  step: ({ x, y }, { forward, crossEntropy }) => ({
    adversarialExamples: 0,
    loss(metrics) {
      const logits = forward.main(x);
      metrics.accuracy(logits, y);
      return tf.mean(crossEntropy(logits, y)) as tf.Scalar;
    },
  }),
});
