import * as tf from '@tensorflow/tfjs-core';
import { expectNoTensorLeak, SeededRandom, getRoute, type Attacker } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advprop, apgd, apgdT, bim, diFgsm, fab, fgm, fgsm, miFgsm, pgd, pgdL2, square } from './index.js';
import { linearModel, routedModel, smallNet, uniformBatch, useCpu, weightValues } from './__fixtures__/models.js';

beforeAll(useCpu);

type Factory = (epsilon: number | string, random: SeededRandom) => Attacker;

// Every attack and norm, with the options that change its code path.
const cases: { name: string; norm: 'linf' | 'l2'; eps: number; make: Factory; deterministic: boolean }[] = [
  { name: 'fgsm', norm: 'linf', eps: 0.1, make: (e, r) => fgsm({ epsilon: e }, r), deterministic: true },
  { name: 'fgm', norm: 'l2', eps: 0.5, make: (e, r) => fgm({ epsilon: e }, r), deterministic: true },
  { name: 'bim', norm: 'linf', eps: 0.1, make: (e, r) => bim({ epsilon: e, steps: 4 }, r), deterministic: true },
  { name: 'bim l2', norm: 'l2', eps: 0.5, make: (e, r) => bim({ epsilon: e, steps: 4, norm: 'l2' }, r), deterministic: true },
  { name: 'pgd', norm: 'linf', eps: 0.1, make: (e, r) => pgd({ epsilon: e, steps: 4 }, r), deterministic: false },
  { name: 'pgd restarts', norm: 'linf', eps: 0.1, make: (e, r) => pgd({ epsilon: e, steps: 3, restarts: 3 }, r), deterministic: false },
  { name: 'pgd-l2', norm: 'l2', eps: 0.5, make: (e, r) => pgdL2({ epsilon: e, steps: 4, restarts: 2 }, r), deterministic: false },
  { name: 'pgd cw', norm: 'linf', eps: 0.1, make: (e, r) => pgd({ epsilon: e, steps: 4, loss: 'cw', randomStart: false }, r), deterministic: true },
  { name: 'pgd least-likely', norm: 'linf', eps: 0.1, make: (e, r) => pgd({ epsilon: e, steps: 4, targeted: 'least-likely', randomStart: false }, r), deterministic: true },
  { name: 'pgd random target', norm: 'linf', eps: 0.1, make: (e, r) => pgd({ epsilon: e, steps: 4, targeted: 'random' }, r), deterministic: false },
  { name: 'mi-fgsm', norm: 'linf', eps: 0.1, make: (e, r) => miFgsm({ epsilon: e, steps: 4 }, r), deterministic: true },
  { name: 'mi-fgsm l2', norm: 'l2', eps: 0.5, make: (e, r) => miFgsm({ epsilon: e, steps: 4, norm: 'l2' }, r), deterministic: true },
  { name: 'di-fgsm', norm: 'linf', eps: 0.1, make: (e, r) => diFgsm({ epsilon: e, steps: 4, diversity: { probability: 1, resizeRate: 0.8 } }, r), deterministic: false },
  { name: 'di-fgsm grow', norm: 'linf', eps: 0.1, make: (e, r) => diFgsm({ epsilon: e, steps: 3, diversity: { probability: 1, resizeRate: 1.3 } }, r), deterministic: false },
  { name: 'advprop', norm: 'linf', eps: 3 / 255, make: (e, r) => (e === 0 ? fgsm({ epsilon: 0 }, r) : advprop({ epsilon: '3/255' }, r)), deterministic: false },
  // the AutoAttack family
  { name: 'apgd ce', norm: 'linf', eps: 0.1, make: (e, r) => apgd({ epsilon: e, steps: 6 }, r), deterministic: false },
  { name: 'apgd dlr l2 restarts', norm: 'l2', eps: 0.5, make: (e, r) => apgd({ epsilon: e, steps: 5, norm: 'l2', loss: 'dlr', restarts: 2 }, r), deterministic: false },
  { name: 'apgd-t', norm: 'linf', eps: 0.1, make: (e, r) => apgdT({ epsilon: e, steps: 4, targetClasses: 2 }, r), deterministic: false },
  { name: 'apgd eot', norm: 'linf', eps: 0.1, make: (e, r) => apgd({ epsilon: e, steps: 3, eot: 2 }, r), deterministic: false },
  // FAB's perturbations are minimal, so a smaller eps keeps the 'it does move' check meaningful
  { name: 'fab', norm: 'linf', eps: 0.05, make: (e, r) => fab({ epsilon: e, steps: 6 }, r), deterministic: false },
  { name: 'fab-t l2 restarts', norm: 'l2', eps: 0.3, make: (e, r) => fab({ epsilon: e, steps: 5, norm: 'l2', targeted: true, targetClasses: 2, restarts: 2 }, r), deterministic: false },
  { name: 'square', norm: 'linf', eps: 0.1, make: (e, r) => square({ epsilon: e, queries: 40 }, r), deterministic: false },
  { name: 'square l2', norm: 'l2', eps: 0.5, make: (e, r) => square({ epsilon: e, norm: 'l2', queries: 40 }, r), deterministic: false },
];

describe('invariants of every attack and norm', () => {
  const model = smallNet(5);
  const x = uniformBatch([5, 8, 8, 1], 7);
  // pixels at the range bounds, where clipping matters
  const xEdge = tf.tidy(() => tf.round(x));
  const labels = tf.tensor1d([0, 1, 2, 3, 4], 'int32') as tf.Tensor1D;
  afterAll(() => {
    tf.dispose([x, xEdge, labels]);
    model.dispose();
  });

  function norms(adv: tf.Tensor, clean: tf.Tensor): { linf: number[]; l2: number[]; min: number; max: number } {
    return tf.tidy(() => {
      const d = tf.reshape(tf.sub(adv, clean), [clean.shape[0] as number, -1]);
      return {
        linf: Array.from(tf.max(tf.abs(d), 1).dataSync()),
        l2: Array.from(tf.sqrt(tf.sum(tf.square(d), 1)).dataSync()),
        min: tf.min(adv).dataSync()[0] as number,
        max: tf.max(adv).dataSync()[0] as number,
      };
    });
  }

  for (const c of cases) {
    it(`${c.name}: within eps and range, x and weights untouched, no leak, seeded`, async () => {
      const weightsBefore = weightValues(model);
      for (const clean of [x, xEdge]) {
        const xBefore = Float32Array.from(clean.dataSync());
        const attacker = c.make(c.eps, new SeededRandom(42));
        const adv = await expectNoTensorLeak(() => attacker.attack({ model, x: clean, labels }), { label: c.name });
        expect(adv.shape).toEqual(clean.shape);
        const n = norms(adv, clean);
        const bound = c.norm === 'linf' ? n.linf : n.l2;
        for (const v of bound) expect(v).toBeLessThanOrEqual(c.eps * (1 + 1e-5) + 1e-6);
        expect(Math.max(...bound)).toBeGreaterThan(c.eps * 0.2); // it does move
        expect(n.min).toBeGreaterThanOrEqual(0);
        expect(n.max).toBeLessThanOrEqual(1);
        expect(Array.from(clean.dataSync())).toEqual(Array.from(xBefore));
        // same seed, same result
        const again = c.make(c.eps, new SeededRandom(42)).attack({ model, x: clean, labels });
        expect(Array.from(again.dataSync())).toEqual(Array.from(adv.dataSync()));
        tf.dispose([adv, again]);
      }
      const weightsAfter = weightValues(model);
      weightsAfter.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(weightsBefore[i] as Float32Array)));
      // eps = 0 returns x
      const zero = c.make(0, new SeededRandom(1)).attack({ model, x, labels });
      expect(Array.from(zero.dataSync())).toEqual(Array.from(x.dataSync()));
      zero.dispose();
    });
  }

  // all of them, random ones included (per-sample streams; see batch-consistency.test.ts)
  for (const c of cases) {
    it(`${c.name}: attacking a batch equals attacking each sample alone`, () => {
      const attacker = c.make(c.eps, new SeededRandom(3));
      const whole = attacker.attack({ model, x, labels, random: new SeededRandom(c.deterministic ? 1 : 4) });
      for (let i = 0; i < 5; i++) {
        const xi = tf.slice(x, [i, 0, 0, 0], [1, 8, 8, 1]);
        const li = tf.slice(labels, [i], [1]) as tf.Tensor1D;
        const alone = attacker.attack({ model, x: xi, labels: li, random: new SeededRandom(c.deterministic ? 2 : 4) });
        const part = tf.slice(whole, [i, 0, 0, 0], [1, 8, 8, 1]);
        const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(alone, part))).dataSync()[0] as number);
        expect(diff).toBeLessThan(1e-5);
        tf.dispose([xi, li, alone, part]);
      }
      whole.dispose();
    });
  }

  it('training: true attacks with batch statistics but leaves the BN running statistics as they were', () => {
    const before = weightValues(model);
    const a = pgd({ epsilon: 0.1, steps: 2, randomStart: false, training: true }).attack({ model, x, labels });
    const b = pgd({ epsilon: 0.1, steps: 2, randomStart: false }).attack({ model, x, labels });
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(b.dataSync()));
    weightValues(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(before[i] as Float32Array)));
    tf.dispose([a, b]);
  });
});

describe('BN route', () => {
  it('attacks through the requested route and restores the previous one', () => {
    const main = linearModel(6, 3, 1);
    const aux = linearModel(6, 3, 2);
    const routed = routedModel(main, aux);
    const x = uniformBatch([4, 6], 9, 0.2, 0.8);
    const labels = tf.tensor1d([0, 1, 2, 0], 'int32') as tf.Tensor1D;
    const attacker: Attacker = fgsm({ epsilon: 0.1 });
    const viaAux = attacker.attack({ model: routed, x, labels, route: 'aux' });
    expect(routed.seen.length).toBeGreaterThan(0);
    expect(new Set(routed.seen)).toEqual(new Set(['aux']));
    expect(getRoute(routed)).toBe('main');
    const direct = attacker.attack({ model: aux.forward, x, labels });
    expect(Array.from(viaAux.dataSync())).toEqual(Array.from(direct.dataSync()));
    const viaMain = attacker.attack({ model: routed, x, labels, route: 'main' });
    expect(Array.from(viaMain.dataSync())).not.toEqual(Array.from(viaAux.dataSync()));
    // the advprop preset defaults to the auxiliary BN; a request's route overrides it
    routed.seen.length = 0;
    const pre = advprop({ epsilon: '1/255' });
    tf.dispose(pre.attack({ model: routed, x, labels }));
    expect(new Set(routed.seen)).toEqual(new Set(['aux']));
    routed.seen.length = 0;
    tf.dispose(pre.attack({ model: routed, x, labels, route: 'main' }));
    expect(new Set(routed.seen)).toEqual(new Set(['main']));
    expect(getRoute(routed)).toBe('main');
    tf.dispose([viaAux, direct, viaMain, x, labels]);
    main.dispose();
    aux.dispose();
  });
});
