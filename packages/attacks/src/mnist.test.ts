/**
 * Effectiveness on real data: a dense net trained here on MNIST digits from the `mnist` package
 * (a dense net, not a CNN: the stock cpu backend's conv filter gradient is too slow to train a
 * convnet within a test), then attacked at eps = 0.3.
 *
 * Measured on the cpu backend (6000 training digits, 3 epochs, 500 held-out digits):
 *   training 12-21 s; clean accuracy 0.91 (asserted > 0.88)
 *   eps 0.3 (Linf): FGSM 0.00 (asserted < 0.15), PGD-10 0.00 (< 0.02, and <= FGSM), MI-FGSM-10 0.00 (< 0.10)
 *   PGD-L2 eps 3 (of 28, the L2 diameter of the image box): 0.00 (< 0.20)
 *   targeted PGD-10 at eps 0.3: random wrong-class targets reached 0.993 (> 0.90; per-sample target streams), least-likely 0.990 (> 0.80);
 *     one-step targeted FGSM reaches 0.86-0.88, asserted below PGD's rate
 *   eps 0.1 (where the attacks differ): FGSM 0.130, BIM-10 0.093, PGD-10 0.093-0.097 (both asserted <= FGSM),
 *     firstSuccess(FGSM, BIM) 0.093 (asserted <= min of the two)
 */
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { SeededRandom } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bim, chooseTargets, fgsm, firstSuccess, miFgsm, pgd, pgdL2, SampleRandom, type GradientAttack } from './index.js';
import { useCpu } from './__fixtures__/models.js';

interface MnistDigit {
  readonly raw: number[];
  readonly length: number;
}
const digits = createRequire(import.meta.url)('mnist') as MnistDigit[];

function load(from: number, to: number, shuffle?: SeededRandom): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const images: number[] = [];
  const labels: number[] = [];
  for (let d = 0; d < 10; d++) {
    const digit = digits[d] as MnistDigit;
    for (let i = from; i < to; i++) {
      for (let j = 0; j < 784; j++) images.push(digit.raw[i * 784 + j] as number);
      labels.push(d);
    }
  }
  const n = labels.length;
  const order = shuffle ? shuffle.permutation(n) : Int32Array.from({ length: n }, (_, i) => i);
  const xs = new Float32Array(n * 784);
  const ys = new Int32Array(n);
  order.forEach((src, dst) => {
    xs.set(images.slice(src * 784, src * 784 + 784), dst * 784);
    ys[dst] = labels[src] as number;
  });
  return { x: tf.tensor4d(xs, [n, 28, 28, 1]), y: tf.tensor1d(ys, 'int32') as tf.Tensor1D };
}

describe('effectiveness on MNIST', () => {
  let model: tfl.Sequential;
  let test: { x: tf.Tensor4D; y: tf.Tensor1D };
  const measured: Record<string, number> = {};

  beforeAll(async () => {
    await useCpu();
    const train = load(0, 600, new SeededRandom(1));
    test = load(800, 830);
    model = tfl.sequential({
      layers: [
        tfl.layers.flatten({ inputShape: [28, 28, 1] }),
        tfl.layers.dense({ units: 128, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
        tfl.layers.dense({ units: 10, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
      ],
    });
    const optimizer = tf.train.adam(1e-3);
    const n = train.y.shape[0];
    const batch = 64;
    const started = Date.now();
    for (let epoch = 0; epoch < 3; epoch++) {
      for (let start = 0; start + batch <= n; start += batch) {
        tf.tidy(() => {
          const xb = tf.slice(train.x, [start, 0, 0, 0], [batch, 28, 28, 1]);
          const yb = tf.oneHot(tf.slice(train.y, [start], [batch]), 10);
          optimizer.minimize(() => tf.losses.softmaxCrossEntropy(yb, model.apply(xb, { training: true }) as tf.Tensor) as tf.Scalar);
        });
      }
    }
    measured.trainSeconds = (Date.now() - started) / 1000;
    optimizer.dispose();
    tf.dispose([train.x, train.y]);
  });

  afterAll(() => {
    console.log('MNIST measurements', JSON.stringify(measured));
    tf.dispose([test.x, test.y]);
    model.dispose();
  });

  const accuracy = (x: tf.Tensor, classes: tf.Tensor1D = test.y): number =>
    tf.tidy(() => tf.mean(tf.cast(tf.equal(tf.argMax(model.predict(x) as tf.Tensor, 1), classes), 'float32')).dataSync()[0] as number);
  const attacked = (attacker: GradientAttack | ReturnType<typeof firstSuccess>, targets?: tf.Tensor1D): tf.Tensor =>
    attacker.attack({ model, x: test.x, labels: test.y, ...(targets ? { targets } : {}), random: new SeededRandom(9) });

  it('untargeted FGSM and PGD at eps 0.3 drive accuracy far below clean, PGD at least as strong', () => {
    measured.clean = accuracy(test.x);
    const a = attacked(fgsm({ epsilon: 0.3 }));
    const b = attacked(pgd({ epsilon: 0.3, steps: 10 }));
    const c = attacked(miFgsm({ epsilon: 0.3, steps: 10 }));
    const d = attacked(pgdL2({ epsilon: 3, steps: 10 }));
    measured.fgsm = accuracy(a);
    measured.pgd = accuracy(b);
    measured.miFgsm = accuracy(c);
    measured.pgdL2eps3 = accuracy(d);
    tf.dispose([a, b, c, d]);
    expect(measured.clean).toBeGreaterThan(0.88);
    expect(measured.fgsm).toBeLessThan(0.15);
    expect(measured.pgd).toBeLessThan(0.02);
    expect(measured.pgd).toBeLessThanOrEqual(measured.fgsm);
    expect(measured.miFgsm).toBeLessThan(0.1);
    expect(measured.pgdL2eps3).toBeLessThan(0.2);
  });

  it('targeted PGD reaches its targets most of the time', () => {
    // The attacker draws its random targets from per-sample streams keyed by the call's first words of its stream: the same seed gives them back.
    const labels = test.y.dataSync();
    const targets = tf.tensor1d(SampleRandom.fromBatch(new SeededRandom(4), test.x, labels).randomTargets(labels, 10), 'int32') as tf.Tensor1D;
    const randomAdv = pgd({ epsilon: 0.3, steps: 10, targeted: 'random' }, new SeededRandom(4)).attack({ model, x: test.x, labels: test.y });
    measured.randomTargetSuccess = accuracy(randomAdv, targets);
    const ll = tf.tensor1d(chooseTargets('least-likely', { labels, numClasses: 10, logits: tf.tidy(() => (model.predict(test.x) as tf.Tensor).dataSync()) }), 'int32') as tf.Tensor1D;
    const leastLikely = attacked(pgd({ epsilon: 0.3, steps: 10, targeted: 'least-likely' }));
    measured.leastLikelySuccess = accuracy(leastLikely, ll);
    const fgsmTargeted = attacked(fgsm({ epsilon: 0.3, targeted: 'given' }), targets);
    measured.fgsmTargetedSuccess = accuracy(fgsmTargeted, targets);
    tf.dispose([targets, ll, randomAdv, leastLikely, fgsmTargeted]);
    expect(measured.randomTargetSuccess).toBeGreaterThan(0.9);
    expect(measured.leastLikelySuccess).toBeGreaterThan(0.8);
    // one step reaches a chosen target far less often than PGD
    expect(measured.fgsmTargetedSuccess).toBeLessThan(measured.randomTargetSuccess as number);
  });

  it('firstSuccess robust accuracy is at most that of each attack', () => {
    // deterministic attacks (no random start): per-sample results do not depend on the batch, so
    // the combination's robust accuracy is exactly bounded by each attack's
    const combined = firstSuccess([fgsm({ epsilon: 0.1 }), bim({ epsilon: 0.1, steps: 10 })]);
    const a = attacked(fgsm({ epsilon: 0.1 }));
    const b = attacked(bim({ epsilon: 0.1, steps: 10 }));
    const c = attacked(combined);
    const d = attacked(pgd({ epsilon: 0.1, steps: 10 }));
    measured.pgdEps01 = accuracy(d);
    d.dispose();
    measured.fgsmEps01 = accuracy(a);
    measured.bimEps01 = accuracy(b);
    measured.firstSuccessEps01 = accuracy(c);
    tf.dispose([a, b, c]);
    expect(measured.bimEps01).toBeLessThanOrEqual(measured.fgsmEps01 as number);
    expect(measured.pgdEps01).toBeLessThanOrEqual(measured.fgsmEps01 as number);
    expect(measured.firstSuccessEps01).toBeLessThanOrEqual(Math.min(measured.fgsmEps01, measured.bimEps01));
    expect(measured.firstSuccessEps01).toBeLessThan(measured.clean as number);
  });
});
