/**
 * Fast AdvProp (Mei et al., ICLR 2022), per step of n images:
 *   1. split: a random fraction pAdv of the batch (n_adv images) is attacked, the rest stays clean;
 *   2. x_adv = attack(adversarial part) through the auxiliary BNs (default PGD-1, random start,
 *      eps 1/255, step 1.25/255, random wrong-class target);
 *   3. shuffle the adversarial part (optional);
 *   4. L = (sum CE(f_main(x_clean)) + lambda * sum CE(f_aux(x_adv))) / n: the per-example mean
 *      over the whole batch, so the cost of a step stays that of one clean batch;
 *   5. re-scale the main / auxiliary BN parameter gradients by n / n_clean and n / n_adv, the
 *      share of the batch that reached them (optional).
 */
import * as tf from '@tensorflow/tfjs-core';
import { dualBnLayers } from '@advprop/dual-bn';
import { z } from '@advprop/core';
import { defineTrainingMode } from './training-mode.js';

export const fastAdvpropOptions = z
  .object({
    /** Fraction of every batch turned into adversarial examples. Paper: 0.2. */
    pAdv: z.number().gt(0).lt(1).default(0.2),
    /** Shuffle the adversarial part of the batch before the update. Paper: yes. */
    shuffle: z.boolean().default(true),
    /** Re-scale main/aux BN parameter gradients by the share of the batch that reached them. Paper: yes. */
    rescaleGradients: z.boolean().default(true),
    /** lambda, the weight of the adversarial loss. Paper: 1. */
    lambda: z.number().min(0).default(1),
  })
  .strict();

export const fastAdvprop = defineTrainingMode({
  name: 'fast-advprop',
  description: 'Mei et al. 2022: AdvProp on a fraction of each batch at the cost of one clean batch',
  batchNorm: 'dual',
  attacker: { name: 'pgd', options: { epsilon: '1/255', stepSize: '1.25/255', steps: 1, randomStart: true, targeted: 'random' } },
  options: fastAdvpropOptions,
  minBatchSize: 2, // a clean and an adversarial part
  step: ({ x, y, size: n }, { attack, forward, crossEntropy, random, own, model }, o) => {
    const nAdv = Math.min(n - 1, Math.max(1, Math.round(o.pAdv * n)));
    const split = random.fork('split').permutation(n); // 1.
    const advIdx = own(tf.tensor1d(split.slice(0, nAdv), 'int32'));
    const cleanIdx = own(tf.tensor1d(split.slice(nAdv), 'int32'));
    const xClean = own(tf.gather(x, cleanIdx));
    const yClean = own(tf.gather(y, cleanIdx));
    let yAdv = own(tf.gather(y, advIdx));
    let xAdv = attack(own(tf.gather(x, advIdx)), yAdv, { route: 'aux' }); // 2.
    if (o.shuffle) {
      const order = own(tf.tensor1d(random.fork('shuffle').permutation(nAdv), 'int32')); // 3.
      xAdv = own(tf.gather(xAdv, order));
      yAdv = own(tf.gather(yAdv, order));
    }
    const mainBn = new Set<string>();
    const auxBn = new Set<string>();
    if (o.rescaleGradients) {
      for (const layer of dualBnLayers(model)) {
        for (const v of [layer.main.gamma, layer.main.beta]) if (v) mainBn.add((v.read() as tf.Variable).name);
        for (const v of [layer.aux.gamma, layer.aux.beta]) if (v) auxBn.add((v.read() as tf.Variable).name);
      }
    }
    return {
      adversarialExamples: nAdv,
      loss(metrics) {
        const cleanLogits = forward.main(xClean);
        metrics.accuracy(cleanLogits, yClean);
        const clean = tf.sum(crossEntropy(cleanLogits, yClean));
        const adv = tf.sum(crossEntropy(forward.aux(xAdv), yAdv));
        metrics.scalar('clean_loss', tf.div(clean, n - nAdv));
        metrics.scalar('adv_loss', tf.div(adv, nAdv));
        return tf.div(tf.add(clean, tf.mul(adv, o.lambda)), n) as tf.Scalar; // 4.
      },
      gradientScale: (name) => (mainBn.has(name) ? n / (n - nAdv) : auxBn.has(name) ? n / nAdv : 1), // 5.
    };
  },
});
