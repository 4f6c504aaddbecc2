/**
 * AdvProp (Xie et al., CVPR 2020), Algorithm 1, per step:
 *   1. x_adv = attack(x, y) through the auxiliary BNs;
 *   2. L = CE(f_main(x), y) + lambda * CE(f_aux(x_adv), y): clean images through the main BNs,
 *      adversarial images through the auxiliary BNs, conv/dense weights shared;
 *   3. one update of all weights on L.
 * Default attacker: the attacks package's `advprop` preset (PGD, eps 1/255, K = 1, step 1/255,
 * random start, random wrong-class target).
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from '@advprop/core';
import { defineTrainingMode } from './training-mode.js';

export const advpropOptions = z
  .object({
    /** lambda, the weight of the adversarial loss. Paper: 1. */
    lambda: z.number().min(0).default(1),
    /**
     * BN statistics of the auxiliary BNs while attacking: 'running' (inference mode, the attack
     * changes no statistics) or 'batch' (training-mode BN on the clean batch, as a training forward
     * pass would see it; running statistics are not updated). The paper says only "using the
     * auxiliary BNs"; default 'running'.
     */
    attackBnStatistics: z.enum(['running', 'batch']).default('running'),
    /**
     * Attack target: 'random' (a uniformly random wrong class, the paper's choice) or
     * 'untargeted'. Absent: as the attacker is configured (the default attacker targets a random
     * wrong class); present: it sets the attacker's `targeted` option.
     */
    attackTarget: z.enum(['random', 'untargeted']).optional(),
  })
  .strict();

export const advprop = defineTrainingMode({
  name: 'advprop',
  description: 'Xie et al. 2020: CE(clean, main BN) + lambda * CE(adversarial, auxiliary BN)',
  batchNorm: 'dual',
  attacker: { name: 'advprop', options: { epsilon: '1/255' } },
  options: advpropOptions,
  attackerOverrides: (o) => (o.attackTarget === undefined ? {} : { targeted: o.attackTarget === 'random' ? 'random' : 'none' }),
  step: ({ x, y, size }, { attack, forward, crossEntropy }, o) => {
    const xAdv = attack(x, y, { route: 'aux', training: o.attackBnStatistics === 'batch' }); // 1.
    return {
      adversarialExamples: size,
      loss(metrics) {
        const cleanLogits = forward.main(x);
        metrics.accuracy(cleanLogits, y);
        const clean = tf.mean(crossEntropy(cleanLogits, y));
        const adv = tf.mean(crossEntropy(forward.aux(xAdv), y));
        metrics.scalar('clean_loss', clean);
        metrics.scalar('adv_loss', adv);
        return tf.add(clean, tf.mul(adv, o.lambda)) as tf.Scalar; // 2.
      },
    };
  },
});
