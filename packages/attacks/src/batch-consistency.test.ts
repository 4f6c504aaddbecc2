import * as tf from '@tensorflow/tfjs-core';
import { expectNoTensorLeak, SeededRandom, type Attacker } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advprop, apgd, apgdT, bim, diFgsm, fab, square, diverseInputs, diverseInputsPerSample, firstSuccess, miFgsm, pgd, pgdL2, SampleRandom, sampleKeys } from './index.js';
import { smallNet, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

// Attacks whose random draws (start, restarts, targets, DI transforms) come from per-sample streams:
// with a fixed request stream, a sample's result is the same alone, in a batch, or at another position.
const cases: { name: string; norm: 'linf' | 'l2'; eps: number; make: () => Attacker }[] = [
  { name: 'pgd random start', norm: 'linf', eps: 0.1, make: () => pgd({ epsilon: 0.1, steps: 3 }) },
  { name: 'pgd restarts', norm: 'linf', eps: 0.1, make: () => pgd({ epsilon: 0.1, steps: 2, restarts: 3 }) },
  { name: 'pgd-l2 random start + restarts', norm: 'l2', eps: 0.5, make: () => pgdL2({ epsilon: 0.5, steps: 3, restarts: 2 }) },
  { name: 'pgd random targets, cw', norm: 'linf', eps: 0.1, make: () => pgd({ epsilon: 0.1, steps: 3, targeted: 'random', loss: 'cw' }) },
  { name: 'advprop preset', norm: 'linf', eps: 3 / 255, make: () => advprop({ epsilon: '3/255' }) },
  { name: 'di-fgsm', norm: 'linf', eps: 0.1, make: () => diFgsm({ epsilon: 0.1, steps: 3, diversity: { probability: 0.5, resizeRate: 0.8 } }) },
  { name: 'm-di2-fgsm grow', norm: 'linf', eps: 0.1, make: () => diFgsm({ epsilon: 0.1, steps: 3, momentum: 1, diversity: { probability: 0.7, resizeRate: 1.3 } }) },
  { name: 'bim', norm: 'linf', eps: 0.1, make: () => bim({ epsilon: 0.1, steps: 3 }) },
  { name: 'mi-fgsm l2', norm: 'l2', eps: 0.5, make: () => miFgsm({ epsilon: 0.5, steps: 3, norm: 'l2' }) },
  { name: 'first-success', norm: 'linf', eps: 0.1, make: () => firstSuccess([pgd({ epsilon: 0.05, steps: 1 }), pgd({ epsilon: 0.1, steps: 2 })]) },
  { name: 'apgd ce', norm: 'linf', eps: 0.1, make: () => apgd({ epsilon: 0.1, steps: 6 }) },
  { name: 'apgd dlr l2 restarts', norm: 'l2', eps: 0.5, make: () => apgd({ epsilon: 0.5, steps: 5, norm: 'l2', loss: 'dlr', restarts: 2 }) },
  { name: 'apgd-t', norm: 'linf', eps: 0.1, make: () => apgdT({ epsilon: 0.1, steps: 4, targetClasses: 2 }) },
  { name: 'fab restarts', norm: 'linf', eps: 0.1, make: () => fab({ epsilon: 0.1, steps: 5, restarts: 2 }) },
  { name: 'fab-t l2', norm: 'l2', eps: 0.5, make: () => fab({ epsilon: 0.5, steps: 5, norm: 'l2', targeted: true, targetClasses: 2 }) },
  { name: 'square', norm: 'linf', eps: 0.1, make: () => square({ epsilon: 0.1, queries: 40 }) },
  { name: 'square l2', norm: 'l2', eps: 0.5, make: () => square({ epsilon: 0.5, norm: 'l2', queries: 40 }) },
];

describe('batch consistency of the random attacks', () => {
  const n = 6;
  const model = smallNet(5);
  const x = uniformBatch([n, 8, 8, 1], 21);
  const labelArray = [0, 1, 2, 3, 4, 1];
  const labels = tf.tensor1d(labelArray, 'int32') as tf.Tensor1D;
  const order = [5, 4, 3, 2, 1, 0];
  const xReversed = tf.gather(x, tf.tensor1d(order, 'int32'));
  const labelsReversed = tf.tensor1d(order.map((i) => labelArray[i] as number), 'int32') as tf.Tensor1D;
  afterAll(() => {
    tf.dispose([x, labels, xReversed, labelsReversed]);
    model.dispose();
  });

  const sample = (t: tf.Tensor, i: number): Float32Array => {
    const size = t.size / (t.shape[0] as number);
    return (t.dataSync() as Float32Array).slice(i * size, (i + 1) * size);
  };
  const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, j) => Math.max(m, Math.abs(v - (b[j] as number))), 0);

  for (const c of cases) {
    it(`${c.name}: each sample alone = in the batch = in the reversed batch; bounds, seeded, no leak`, async () => {
      const attacker = c.make();
      const attack = (xs: tf.Tensor, ys: tf.Tensor1D, seed = 11) => attacker.attack({ model, x: xs, labels: ys, random: new SeededRandom(seed) });
      const whole = await expectNoTensorLeak(() => attack(x, labels), { label: c.name });
      const reversed = attack(xReversed, labelsReversed);
      for (let i = 0; i < n; i++) {
        const xi = tf.slice(x, [i, 0, 0, 0], [1, 8, 8, 1]);
        const li = tf.slice(labels, [i], [1]) as tf.Tensor1D;
        const alone = attack(xi, li);
        expect(maxDiff(sample(alone, 0), sample(whole, i)), `${c.name}: sample ${i} alone`).toBeLessThan(1e-5);
        expect(maxDiff(sample(reversed, order.indexOf(i)), sample(whole, i)), `${c.name}: sample ${i} reversed`).toBeLessThan(1e-5);
        tf.dispose([xi, li, alone]);
      }
      // bounds and range
      const clean = x.dataSync();
      const adv = whole.dataSync();
      const size = 64;
      for (let i = 0; i < n; i++) {
        let linf = 0;
        let l2 = 0;
        for (let j = i * size; j < (i + 1) * size; j++) {
          const d = (adv[j] as number) - (clean[j] as number);
          linf = Math.max(linf, Math.abs(d));
          l2 += d * d;
          expect(adv[j]).toBeGreaterThanOrEqual(0);
          expect(adv[j]).toBeLessThanOrEqual(1);
        }
        expect(c.norm === 'linf' ? linf : Math.sqrt(l2)).toBeLessThanOrEqual(c.eps * (1 + 1e-5) + 1e-6);
      }
      // same stream state, same output, exactly
      const again = attack(x, labels);
      expect(Array.from(again.dataSync())).toEqual(Array.from(adv));
      tf.dispose([whole, reversed, again]);
    });
  }

  it('the draws are random: another seed moves the samples elsewhere, and samples get different noise', () => {
    const attacker = pgd({ epsilon: 0.1, steps: 1, stepSize: 1e-6 }); // ~ the random start itself
    const a = attacker.attack({ model, x, labels, random: new SeededRandom(1) });
    const b = attacker.attack({ model, x, labels, random: new SeededRandom(2) });
    expect(maxDiff(a.dataSync() as Float32Array, b.dataSync() as Float32Array)).toBeGreaterThan(0.05);
    // two copies of one image with different labels get different noise; with the same label, the same
    const twice = tf.concat([tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 1]), tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 1]), tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 1])]);
    const twiceLabels = tf.tensor1d([0, 0, 1], 'int32') as tf.Tensor1D;
    const noisy = attacker.attack({ model, x: twice, labels: twiceLabels, random: new SeededRandom(1) });
    const delta = (i: number) => sample(noisy, i).map((v, j) => v - (sample(twice, i)[j] as number));
    expect(maxDiff(delta(0), delta(1))).toBe(0);
    expect(maxDiff(delta(0), delta(2))).toBeGreaterThan(0.05);
    tf.dispose([a, b, twice, twiceLabels, noisy]);
  });

  it('the request stream advances by the same amount for any batch size', () => {
    const one = new SeededRandom(5);
    const six = new SeededRandom(5);
    const xi = tf.slice(x, [0, 0, 0, 0], [1, 8, 8, 1]);
    const li = tf.slice(labels, [0], [1]) as tf.Tensor1D;
    const attacker = pgd({ epsilon: 0.1, steps: 2, restarts: 2, targeted: 'random' });
    tf.dispose([attacker.attack({ model, x: xi, labels: li, random: one }), attacker.attack({ model, x, labels, random: six })]);
    expect(one.getState()).toEqual(six.getState());
    tf.dispose([xi, li]);
  });

  it('random targets and starts from the per-sample streams have the right distribution', () => {
    const k = 5;
    const big = 2000;
    const source = new SeededRandom(8);
    const values = Float32Array.from({ length: big * 3 }, () => source.float());
    const labelsBig = Int32Array.from({ length: big }, (_, i) => i % k);
    const keys = sampleKeys(values, big, labelsBig);
    expect(new Set(keys).size).toBeGreaterThan(big - 2); // distinct samples, distinct keys
    const xBig = tf.tensor2d(values, [big, 3]);
    const sr = SampleRandom.fromBatch(new SeededRandom(3), xBig, labelsBig);
    xBig.dispose();
    const targets = sr.randomTargets(labelsBig, k);
    const offsets = new Array(k).fill(0);
    targets.forEach((t, i) => offsets[(t - (labelsBig[i] as number) + k) % k]++);
    expect(offsets[0]).toBe(0); // never the true class
    for (let o = 1; o < k; o++) expect(Math.abs(offsets[o] - big / (k - 1))).toBeLessThan(0.1 * (big / (k - 1)));
    const linf = sr.startNoise('linf', 0.2, 3, 0);
    expect(Math.max(...linf.map(Math.abs))).toBeLessThanOrEqual(0.2);
    expect(Math.abs(linf.reduce((a, v) => a + v, 0) / linf.length)).toBeLessThan(0.01);
    const l2 = sr.startNoise('l2', 0.5, 3, 0);
    const radii = Array.from({ length: big }, (_, i) => Math.hypot(l2[3 * i] as number, l2[3 * i + 1] as number, l2[3 * i + 2] as number));
    expect(Math.max(...radii)).toBeLessThanOrEqual(0.5 + 1e-6);
    expect(Math.abs(radii.reduce((a, v) => a + v, 0) / big - 0.25)).toBeLessThan(0.02); // radius ~ U(0, 1) * eps
    // restarts draw different noise
    expect(Array.from(sr.startNoise('linf', 0.2, 3, 1))).not.toEqual(Array.from(linf));
  });

  it('no clean forward pass unless least-likely targets need one', () => {
    for (const [make, passes] of [
      [() => pgd({ epsilon: 0.1, steps: 3 }), 3],
      [() => pgd({ epsilon: 0.1, steps: 3, targeted: 'random' }), 3],
      [() => pgd({ epsilon: 0.1, steps: 3, restarts: 2 }), 2 * 3 + 2],
      [() => pgd({ epsilon: 0.1, steps: 3, targeted: 'least-likely' }), 4],
    ] as const) {
      let calls = 0;
      const counted = (t: tf.Tensor) => (calls++, model.apply(t) as tf.Tensor);
      tf.dispose(make().attack({ model: counted, x, labels, random: new SeededRandom(1) }));
      expect(calls).toBe(passes);
    }
  });

  it('DI transforms: the forward pass equals the tf.image resizes + pad, and the input gradient is finite and per sample', () => {
    const xs = uniformBatch([3, 9, 7, 2], 4);
    for (const resizeRate of [0.6, 1.4]) {
      // reference: the same draws, with tf.image.resizeNearestNeighbor
      const r = new SeededRandom(6);
      const y = diverseInputs(xs, { probability: 1, resizeRate }, new SeededRandom(6));
      r.float();
      const other = Math.floor(9 * resizeRate);
      const [low, high] = [Math.min(9, other), Math.max(9, other)];
      const size = low + r.int(high - low);
      const sizeW = Math.round((size * 7) / 9);
      const highW = Math.max(sizeW, Math.round((high * 7) / 9));
      const top = r.int(high - size + 1);
      const left = r.int(highW - sizeW + 1);
      const reference = tf.tidy(() => {
        const padded = tf.pad(tf.image.resizeNearestNeighbor(xs as tf.Tensor4D, [size, sizeW]), [[0, 0], [top, high - size - top], [left, highW - sizeW - left], [0, 0]]);
        return high === 9 && highW === 7 ? padded : tf.image.resizeBilinear(padded, [9, 7]);
      });
      expect(maxDiff(y.dataSync() as Float32Array, reference.dataSync() as Float32Array)).toBeLessThan(1e-6);
      tf.dispose([y, reference]);
      // per-sample transforms: finite gradients equal to each sample's own
      const weights = uniformBatch([9, 7, 2], 5, -1, 1);
      const streams = (i: number) => new SeededRandom(100 + i);
      const f = (s: SeededRandom[]) => (xa: tf.Tensor) => tf.sum(tf.mul(tf.square(diverseInputsPerSample(xa, { probability: 0.7, resizeRate }, s)), weights));
      const g = tf.grad(f([0, 1, 2].map(streams)))(xs);
      const gv = g.dataSync() as Float32Array;
      expect(gv.every(Number.isFinite)).toBe(true);
      for (let i = 0; i < 3; i++) {
        const xi = tf.slice(xs, [i, 0, 0, 0], [1, 9, 7, 2]);
        const gi = tf.grad(f([streams(i)]))(xi);
        expect(maxDiff(gi.dataSync() as Float32Array, sample(g, i))).toBeLessThan(1e-6);
        tf.dispose([xi, gi]);
      }
      tf.dispose([weights, g]);
    }
    xs.dispose();
  });
});
