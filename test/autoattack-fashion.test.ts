/**
 * AutoAttack on a small CNN trained here on Fashion-MNIST (Debian's dataset-fashion-mnist through
 * @advprop/datasets' fashion-mnist adapter), wasm backend: AutoAttack's robust accuracy must be at
 * most PGD-100's on the same examples, example by example, and AutoAttack's checks stay silent on
 * this plain model.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { useBackend } from '@advprop/backends';
import { autoAttack, pgd } from '@advprop/attacks';
import { createRegistry, SeededRandom } from '@advprop/core';
import { fashionMnistPlugin } from '@advprop/datasets/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const TRAIN = 4000;
const TEST = 100;
const EPSILON = 0.04;

describe('AutoAttack vs PGD-100 on a Fashion-MNIST CNN', () => {
  let model: tfl.Sequential;
  let x: tf.Tensor4D;
  let y: tf.Tensor1D;

  beforeAll(async () => {
    await useBackend('wasm');
    const registry = createRegistry({ seed: 1 }).use([fashionMnistPlugin]);
    const data = await registry.resolve('dataset', 'fashion-mnist', {});
    const train = data.read('train', Int32Array.from({ length: TRAIN }, (_, i) => i));
    const test = data.read('test', Int32Array.from({ length: TEST }, (_, i) => i));
    const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
    model = tfl.sequential({
      layers: [
        tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
        tfl.layers.maxPooling2d({ poolSize: 2 }),
        tfl.layers.flatten(),
        tfl.layers.dense({ units: 10, kernelInitializer: init(3) }),
      ],
    });
    model.compile({ optimizer: tf.train.adam(0.003), loss: (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits) });
    const xs = tf.tensor4d(train.images, [TRAIN, 28, 28, 1]);
    const ys = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10);
    await model.fit(xs, ys, { epochs: 4, batchSize: 64, shuffle: false, verbose: 0 });
    tf.dispose([xs, ys]);
    x = tf.tensor4d(test.images, [TEST, 28, 28, 1]);
    y = tf.tensor1d(test.labels, 'int32') as tf.Tensor1D;
  });
  afterAll(() => {
    tf.dispose([x, y]);
    model?.dispose();
  });

  it('AutoAttack standard <= PGD-100, example by example; the checks are silent', () => {
    const correct = (t: tf.Tensor) => tf.tidy(() => Array.from(tf.equal(tf.argMax(model.predict(t) as tf.Tensor, 1), y).dataSync()));
    const clean = correct(x);
    const cleanAccuracy = clean.reduce((a, v) => a + v, 0) / TEST;
    expect(cleanAccuracy).toBeGreaterThan(0.6);

    const pgdAdv = pgd({ epsilon: EPSILON, steps: 100, randomStart: true }).attack({ model, x, labels: y, random: new SeededRandom(1) });
    const pgdRobust = correct(pgdAdv);
    pgdAdv.dispose();
    const pgdAccuracy = pgdRobust.reduce((a, v) => a + v, 0) / TEST;

    const result = autoAttack({ model, x, labels: y, norm: 'linf', epsilon: EPSILON, version: 'standard' });
    const aaRobust = correct(result.adversarial);
    result.adversarial.dispose();
    console.log(
      `Fashion-MNIST CNN, ${TEST} test images, Linf eps ${EPSILON}: clean ${cleanAccuracy.toFixed(3)}, PGD-100 ${pgdAccuracy.toFixed(3)}, ` +
        `AutoAttack ${result.robustAccuracy.toFixed(3)} (${result.attacks.map((a) => `${a.name} ${a.robustAccuracy.toFixed(3)} in ${a.seconds.toFixed(1)} s`).join(', ')})`,
    );
    console.log(JSON.stringify(result.attacks));
    expect(Array.from(result.robust)).toEqual(aaRobust);
    for (let i = 0; i < TEST; i++) expect(result.robust[i] as number, `example ${i}`).toBeLessThanOrEqual(pgdRobust[i] as number);
    expect(result.robustAccuracy).toBeLessThanOrEqual(pgdAccuracy);
    expect(result.robustAccuracy).toBeGreaterThan(0); // eps chosen so that something is left to compare
    expect(result.warnings).toEqual([]);
  });
});
