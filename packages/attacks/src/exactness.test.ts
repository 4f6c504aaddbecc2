import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { fgm, fgsm, pgd, bim } from './index.js';
import { linearCeGradient, linearModel, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

// A linear classifier z = xW + b has the input gradient of the CE loss W (softmax(z) - onehot(y)),
// so the attacks' perturbations are known in closed form. x lies in [0.3, 0.7] and eps = 0.05,
// so no clipping to [0, 1] happens.
describe('exactness on a linear classifier', () => {
  const d = 24;
  const k = 5;
  const eps = 0.05;

  function setup() {
    const m = linearModel(d, k, 11);
    const x = uniformBatch([6, d], 5, 0.3, 0.7);
    const labelArray = [0, 1, 2, 3, 4, 2];
    const labels = tf.tensor1d(labelArray, 'int32');
    const xv = x.dataSync() as Float32Array;
    const grad = linearCeGradient(m, xv, labelArray);
    return { m, x, labels, labelArray, xv, grad, dispose: () => (m.dispose(), tf.dispose([x, labels])) };
  }

  it('FGSM perturbation is eps * sign(gradient)', () => {
    const s = setup();
    const adv = fgsm({ epsilon: eps }).attack({ model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D });
    const av = adv.dataSync();
    for (let i = 0; i < av.length; i++) {
      expect((av[i] as number) - (s.xv[i] as number)).toBeCloseTo(eps * Math.sign(s.grad[i] as number), 6);
    }
    adv.dispose();
    s.dispose();
  });

  it('targeted FGSM steps down the gradient of the CE to the target', () => {
    const s = setup();
    const targetArray = [1, 2, 3, 4, 0, 0];
    const targets = tf.tensor1d(targetArray, 'int32') as tf.Tensor1D;
    const adv = fgsm({ epsilon: eps, targeted: 'given' }).attack({ model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D, targets });
    const g = linearCeGradient(s.m, s.xv, targetArray);
    const av = adv.dataSync();
    for (let i = 0; i < av.length; i++) expect((av[i] as number) - (s.xv[i] as number)).toBeCloseTo(-eps * Math.sign(g[i] as number), 6);
    tf.dispose([adv, targets]);
    s.dispose();
  });

  it('FGSM with the CW margin loss follows sign(W[:, best other] - W[:, y])', () => {
    const s = setup();
    const adv = fgsm({ epsilon: eps, loss: 'cw' }).attack({ model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D });
    const logits = s.m.forward(s.x);
    const z = logits.dataSync();
    const av = adv.dataSync();
    for (let i = 0; i < 6; i++) {
      const y = s.labelArray[i] as number;
      let best = -1;
      for (let c = 0; c < k; c++) if (c !== y && (best < 0 || (z[i * k + c] as number) > (z[i * k + best] as number))) best = c;
      for (let j = 0; j < d; j++) {
        const g = (s.m.w[j * k + best] as number) - (s.m.w[j * k + y] as number);
        expect((av[i * d + j] as number) - (s.xv[i * d + j] as number)).toBeCloseTo(eps * Math.sign(g), 6);
      }
    }
    tf.dispose([adv, logits]);
    s.dispose();
  });

  it('FGM (L2) perturbation is eps * gradient / ||gradient||_2 per sample', () => {
    const s = setup();
    const adv = fgm({ epsilon: 0.2 }).attack({ model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D });
    const av = adv.dataSync();
    for (let i = 0; i < 6; i++) {
      let norm = 0;
      for (let j = 0; j < d; j++) norm += (s.grad[i * d + j] as number) ** 2;
      norm = Math.sqrt(norm);
      for (let j = 0; j < d; j++) {
        const idx = i * d + j;
        expect((av[idx] as number) - (s.xv[idx] as number)).toBeCloseTo((0.2 * (s.grad[idx] as number)) / norm, 5);
      }
    }
    adv.dispose();
    s.dispose();
  });

  it('PGD with one step of size eps and no random start equals FGSM (Linf and L2 vs FGM)', () => {
    const s = setup();
    const req = { model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D };
    const a = fgsm({ epsilon: eps }).attack(req);
    const b = pgd({ epsilon: eps, stepSize: eps, steps: 1, randomStart: false }).attack(req);
    const c = bim({ epsilon: eps, stepSize: eps, steps: 1 }).attack(req);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(c.dataSync())).toEqual(Array.from(a.dataSync()));
    const l2a = fgm({ epsilon: 0.2 }).attack(req);
    const l2b = pgd({ norm: 'l2', epsilon: 0.2, stepSize: 0.2, steps: 1, randomStart: false }).attack(req);
    const av = l2a.dataSync();
    const bv = l2b.dataSync();
    for (let i = 0; i < av.length; i++) expect(bv[i]).toBeCloseTo(av[i] as number, 6);
    tf.dispose([a, b, c, l2a, l2b]);
    s.dispose();
  });

  it('eps in pixel units and as a string resolve to the same attack', () => {
    const s = setup();
    const req = { model: s.m.forward, x: s.x, labels: s.labels as tf.Tensor1D };
    const a = fgsm({ epsilon: 8 / 255 }).attack(req);
    const b = fgsm({ epsilon: '8/255' }).attack(req);
    const c = fgsm({ epsilon: '8/255' }).attack(req);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(c.dataSync())).toEqual(Array.from(a.dataSync()));
    // range [-1, 1]: a fraction of the range is twice as large in input units
    const x2 = tf.tidy(() => tf.sub(tf.mul(s.x, 2), 1));
    const d2 = fgsm({ epsilon: '8/255', range: [-1, 1] }).attack({ model: (x) => s.m.forward(tf.div(tf.add(x, 1), 2)), x: x2, labels: s.labels as tf.Tensor1D });
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(d2, x2))).dataSync()[0] as number);
    expect(diff).toBeCloseTo(16 / 255, 5);
    tf.dispose([a, b, c, x2, d2]);
    s.dispose();
  });
});
