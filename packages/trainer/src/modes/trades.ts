/**
 * TRADES (Zhang et al., ICML 2019), per step:
 *   1. x_adv = argmax_{||x' - x||_inf <= eps} KL(f(x) || f(x')), by PGD on the KL from
 *      x + 0.001 * N(0, I), BN in inference mode (the `trades-kl` attacker below);
 *   2. L = CE(f(x), y) + beta * KL(f(x) || f(x_adv)), the KL summed over classes and averaged
 *      over the batch, gradients through both forward passes (as the authors' code).
 * Defaults are the paper's CIFAR-10 setting: beta 6, eps 8/255, step 2/255, 10 steps.
 */
import * as tf from '@tensorflow/tfjs-core';
import { z } from '@advprop/core';
import { defineAttacker, epsilonSchema, stepSizeSchema } from '@advprop/attacks';
import { defineTrainingMode } from './training-mode.js';

/** KL(p || q) per example, from logits: sum_k p_k (log p_k - log q_k). */
function klDivergence(pLogits: tf.Tensor, qLogits: tf.Tensor): tf.Tensor1D {
  const logP = tf.logSoftmax(pLogits as tf.Tensor2D);
  return tf.sum(tf.mul(tf.exp(logP), tf.sub(logP, tf.logSoftmax(qLogits as tf.Tensor2D))), -1) as tf.Tensor1D;
}

/** TRADES' inner maximisation as an attacker: PGD (Linf) ascending KL(f(x) || f(x')). */
export const tradesKl = defineAttacker({
  name: 'trades-kl',
  description: "TRADES' attack (Zhang et al. 2019): Linf PGD on KL(f(x) || f(x')) from x + 0.001 N(0, I)",
  options: z
    .object({
      epsilon: epsilonSchema.default(8 / 255),
      stepSize: stepSizeSchema.default(2 / 255),
      steps: z.number().int().min(1).default(10),
    })
    .strict(),
  attack({ x, forward, random, project, range }, o) {
    const span = range[1] - range[0];
    const cleanLogits = tf.keep(forward(x)); // the fixed reference distribution f(x)
    const klTo = (candidate: tf.Tensor) => tf.sum(klDivergence(cleanLogits, forward(candidate)));
    let xAdv = tf.keep(tf.add(x, tf.mul(tf.randomNormal(x.shape, 0, 1, 'float32', random.tfSeed()), 0.001)));
    for (let k = 0; k < o.steps; k++) {
      const next = tf.tidy(() => {
        const g = tf.grad(klTo)(xAdv);
        return project(tf.add(xAdv, tf.mul(tf.sign(g), o.stepSize * span)), { norm: 'linf', epsilon: o.epsilon * span });
      });
      xAdv.dispose();
      xAdv = tf.keep(next);
    }
    cleanLogits.dispose();
    return xAdv;
  },
});

export const tradesOptions = z
  .object({
    /** beta, the weight of the robustness (KL) term. Paper: 6 on CIFAR-10, 1 to 6 on MNIST. */
    beta: z.number().min(0).default(6),
  })
  .strict();

export const trades = defineTrainingMode({
  name: 'trades',
  description: 'Zhang et al. 2019: CE(f(x), y) + beta * KL(f(x) || f(x_adv)), x_adv maximising the KL',
  batchNorm: 'plain',
  attacker: { name: 'trades-kl', options: { epsilon: '8/255', stepSize: '2/255', steps: 10 } },
  options: tradesOptions,
  step: ({ x, y, size }, { attack, forward, crossEntropy }, o) => {
    const xAdv = attack(x, y); // 1. (BN in inference mode)
    return {
      adversarialExamples: size,
      loss(metrics) {
        const logits = forward.main(x);
        metrics.accuracy(logits, y);
        const natural = tf.mean(crossEntropy(logits, y));
        const robust = tf.mean(klDivergence(logits, forward.main(xAdv)));
        metrics.scalar('clean_loss', natural);
        metrics.scalar('adv_loss', robust);
        return tf.add(natural, tf.mul(robust, o.beta)) as tf.Scalar; // 2.
      },
    };
  },
});
