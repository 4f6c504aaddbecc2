/**
 * The benchmarks' training step on a fixed random batch, shared by advprop-step-main.ts and
 * elementwise-ab.ts: targeted PGD-K with random start through the aux BN in inference mode, then
 * one SGD momentum 0.9 update (the trainer's SGD) on CE(clean, main BN) + CE(adv, aux BN); with k = 0 the vanilla
 * step (CE on the clean batch, one update). Mirrors ../shared/bench/torch_advprop_step.py.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { pgd } from '@advprop/attacks';
import { SeededRandom, withRoute } from '@advprop/core';
import { SGD } from '@advprop/trainer';

export interface StepWorkload {
  /** One training step; returns its loss. */
  step(): number;
  /** The batch and the optimizer's state (not the model). */
  dispose(): void;
}

export function stepWorkload(options: {
  readonly model: tfl.LayersModel;
  readonly inputShape: readonly [number, number, number];
  readonly batch: number;
  readonly k: number;
  /** Attack budget as a fraction of [0, 1]. */
  readonly epsilon: number;
  readonly random: SeededRandom;
}): StepWorkload {
  const { model, inputShape, batch, k, epsilon, random } = options;
  const attacker =
    k === 0
      ? undefined
      : pgd({ epsilon, stepSize: 1 / 255, steps: k, randomStart: true, targeted: 'random', route: 'aux', training: false, checkLogits: false }, random.fork('attack'));
  // The trainer's SGD (PyTorch's convention, as the reference's torch.optim.SGD(lr=0.1, momentum=0.9)).
  const trainable = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = new SGD(trainable, { momentum: 0.9, nesterov: false, weightDecay: 0 });
  const x = tf.randomUniform([batch, ...inputShape], 0, 1, 'float32', random.tfSeed()) as tf.Tensor4D;
  const labelValues = new Int32Array(batch);
  for (let i = 0; i < batch; i++) labelValues[i] = random.int(10);
  const y = tf.tensor1d(labelValues, 'int32');
  const yOneHot = tf.oneHot(y, 10);
  const ce = (logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yOneHot, logits as tf.Tensor2D) as tf.Scalar;
  const minimize = (f: () => tf.Scalar): number => {
    const { value: loss, grads } = tf.variableGrads(f, trainable);
    try {
      optimizer.apply(
        trainable.map((v) => grads[v.name] ?? null),
        0.1,
      );
      return loss.dataSync()[0]!;
    } finally {
      tf.dispose([loss, ...Object.values(grads)]);
    }
  };
  return {
    step() {
      if (!attacker) return minimize(() => ce(model.apply(x, { training: true }) as tf.Tensor));
      const adv = attacker.attack({ model, x, labels: y, route: 'aux', training: false, random });
      try {
        return minimize(() => {
          const lc = withRoute(model, 'main', () => ce(model.apply(x, { training: true }) as tf.Tensor));
          const la = withRoute(model, 'aux', () => ce(model.apply(adv, { training: true }) as tf.Tensor));
          return tf.add(lc, la) as tf.Scalar;
        });
      } finally {
        adv.dispose();
      }
    },
    dispose() {
      tf.dispose([x, y, yOneHot]);
      optimizer.dispose();
    },
  };
}
