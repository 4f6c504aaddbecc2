/**
 * Adversarial training (Madry et al., ICLR 2018): min_theta E[ max_{||d|| <= eps} CE(f(x + d), y) ].
 * The inner maximisation is the attacker (default: untargeted PGD-7, eps 8/255, step 2/255, random
 * start, BN in inference mode); the update trains on the adversarial images only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { defineTrainingMode } from './training-mode.js';

export const adversarial = defineTrainingMode({
  name: 'adversarial',
  description: 'Madry et al. 2018: train on PGD adversarial examples only',
  batchNorm: 'plain',
  attacker: { name: 'pgd', options: { epsilon: '8/255', stepSize: '2/255', steps: 7, randomStart: true, targeted: 'none' } },
  step: ({ x, y, size }, { attack, forward, crossEntropy }) => {
    const xAdv = attack(x, y); // max_d CE(f(x + d), y)
    return {
      adversarialExamples: size,
      loss(metrics) {
        const logits = forward.main(xAdv);
        metrics.accuracy(logits, y);
        return tf.mean(crossEntropy(logits, y)) as tf.Scalar; // min_theta CE(f(x_adv), y)
      },
    };
  },
});
