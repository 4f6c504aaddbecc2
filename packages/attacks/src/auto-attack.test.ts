/**
 * autoAttack's bookkeeping and AutoAttack's checks: each fires on a model built to trigger it and
 * stays silent on a plain model (the trained Fashion-MNIST CNN is checked in fashion-cnn.test.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { expectNoTensorLeak } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoAttack, autoAttackPlan, runAutoAttackSuite, type AutoAttackProgress } from './index.js';
import type { DatasetAdapter } from '@advprop/core';
import { smallNet, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

describe('autoAttack', () => {
  const model = smallNet(5);
  const x = uniformBatch([12, 8, 8, 1], 31);
  const forward = (t: tf.Tensor) => model.apply(t) as tf.Tensor;
  // labels = the model's own predictions, so every example is attacked
  const labels = tf.tidy(() => tf.cast(tf.argMax(forward(x), 1), 'int32')) as tf.Tensor1D;
  afterAll(() => {
    tf.dispose([x, labels]);
    model.dispose();
  });
  const quick = { steps: 10, squareQueries: 100 } as const;

  it('versions run their attack lists', () => {
    expect(autoAttackPlan('standard').map((a) => a.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(autoAttackPlan('plus').map((a) => `${a.name}x${a.restarts}`)).toEqual(['apgd-cex5', 'apgd-dlrx5', 'fabx5', 'squarex1', 'apgd-tx1', 'fab-tx1']);
    expect(autoAttackPlan('rand').map((a) => a.name)).toEqual(['apgd-ce', 'apgd-dlr']);
  });

  it('plus runs its six attacks, L2 too, without leaks', async () => {
    for (const norm of ['linf', 'l2'] as const) {
      const adv = await expectNoTensorLeak(() => {
        const r = autoAttack({ model, x, labels, norm, epsilon: norm === 'linf' ? 0.02 : 0.2, version: 'plus', steps: 3, squareQueries: 20 });
        expect(r.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-dlr', 'fab', 'square', 'apgd-t', 'fab-t']);
        const delta = tf.tidy(() => {
          const d = tf.reshape(tf.sub(r.adversarial, x), [12, -1]);
          return (norm === 'linf' ? tf.max(tf.abs(d), 1) : tf.sqrt(tf.sum(tf.square(d), 1))).dataSync();
        });
        for (const v of delta) expect(v).toBeLessThanOrEqual((norm === 'linf' ? 0.02 : 0.2) * (1 + 1e-5) + 1e-6);
        return r.adversarial;
      }, { label: `plus ${norm}` });
      adv.dispose();
    }
  });

  it('per-example worst case, breakdown, progress, no leaks, seeded', async () => {
    const events: AutoAttackProgress[] = [];
    const result = await expectNoTensorLeak(
      () => {
        const r = autoAttack({ model, x, labels, epsilon: 0.03, ...quick, onProgress: (e) => events.push(e) });
        return r.adversarial;
      },
      { label: 'autoAttack' },
    );
    result.dispose();
    const r = autoAttack({ model, x, labels, epsilon: 0.03, ...quick, onProgress: (e) => events.push(e) });
    expect(r.cleanAccuracy).toBe(1);
    expect(r.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    // robust accuracy never increases along the attacks; fooled counts add up
    let previous = r.cleanAccuracy;
    for (const a of r.attacks) {
      expect(a.robustAccuracy).toBeLessThanOrEqual(previous);
      expect(a.fooled).toBe(Math.round((previous - a.robustAccuracy) * 12));
      previous = a.robustAccuracy;
      expect(a.seconds).toBeGreaterThanOrEqual(0);
      if (a.attacked > 0) expect(a.forwardPasses).toBeGreaterThan(0);
    }
    expect(r.robustAccuracy).toBe(previous);
    expect(r.attacks[0]?.backwardPasses).toBeGreaterThan(0);
    expect(r.attacks[3]?.backwardPasses).toBe(0); // square is black-box
    // the adversarial examples are misclassified exactly where fooledBy says so, within eps
    const predicted = tf.tidy(() => tf.argMax(forward(r.adversarial), 1).dataSync());
    const delta = tf.tidy(() => tf.max(tf.abs(tf.reshape(tf.sub(r.adversarial, x), [12, -1])), 1).dataSync());
    for (let i = 0; i < 12; i++) {
      expect(predicted[i] !== labels.dataSync()[i]).toBe(r.robust[i] === 0);
      expect(r.fooledBy[i] === null).toBe(r.robust[i] === 1);
      expect(delta[i] as number).toBeLessThanOrEqual(0.03 + 1e-6);
    }
    expect(r.warnings).toEqual([]);
    expect(r.log.at(-1)).toMatch(/robust accuracy/);
    expect(events.map((e) => e.attack).slice(-5)).toEqual(['clean', 'apgd-ce', 'apgd-t', 'fab-t', 'square']);
    // same seed, same result
    const again = autoAttack({ model, x, labels, epsilon: 0.03, ...quick });
    expect(Array.from(again.adversarial.dataSync())).toEqual(Array.from(r.adversarial.dataSync()));
    tf.dispose([r.adversarial, again.adversarial]);
  });

  it('check: probability outputs', () => {
    const softmaxModel = (t: tf.Tensor) => tf.softmax(forward(t));
    const r = autoAttack({ model: softmaxModel, x, labels, epsilon: 0.03, ...quick, attacks: ['apgd-ce'] });
    expect(r.warnings.map((w) => w.check)).toContain('probabilities');
    expect(r.warnings.find((w) => w.check === 'probabilities')?.reason).toMatch(/remove the final softmax/);
    r.adversarial.dispose();
  });

  it('check: a randomised model (and version "rand" runs EOT instead of warning)', () => {
    const noisy = (t: tf.Tensor) => forward(tf.add(t, tf.randomNormal(t.shape, 0, 0.05)));
    const r = autoAttack({ model: noisy, x, labels, epsilon: 0.03, ...quick, attacks: ['apgd-ce'] });
    expect(r.warnings.map((w) => w.check)).toContain('randomized');
    expect(r.warnings.find((w) => w.check === 'randomized')?.reason).toMatch(/version: "rand"/);
    r.adversarial.dispose();
    const rand = autoAttack({ model: noisy, x, labels, epsilon: 0.03, version: 'rand', steps: 3 });
    expect(rand.warnings.map((w) => w.check)).not.toContain('randomized');
    expect(rand.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-dlr']);
    // 20 EOT gradient passes per step: (1 + steps) * 20 per attacked example
    expect(rand.attacks[0]?.backwardPasses).toBe((rand.attacks[0]?.attacked ?? 0) * (1 + 3) * 20);
    rand.adversarial.dispose();
  });

  it('checks: a non-differentiable step gives zero gradients, and Square then succeeds where the white-box attacks failed', () => {
    const quantised = (t: tf.Tensor) => forward(tf.div(tf.round(tf.mul(t, 4)), 4));
    const qLabels = tf.tidy(() => tf.cast(tf.argMax(quantised(x), 1), 'int32')) as tf.Tensor1D;
    const r = autoAttack({ model: quantised, x, labels: qLabels, epsilon: 0.2, steps: 10, squareQueries: 300 });
    const checks = r.warnings.map((w) => w.check);
    expect(checks).toContain('zero-gradients');
    expect(r.warnings.find((w) => w.check === 'zero-gradients')?.reason).toMatch(/12 of 12 correctly classified inputs have an all-zero input gradient/);
    expect(checks).toContain('square-after-white-box');
    expect(r.attacks.find((a) => a.name === 'square')?.fooled).toBeGreaterThan(0);
    tf.dispose([r.adversarial, qLabels]);
  });

  it('errors: unknown version, attack or norm', () => {
    expect(() => autoAttack({ model, x, labels, version: 'fast' as never })).toThrow(/version/);
    expect(() => autoAttack({ model, x, labels, attacks: ['pgd' as never] })).toThrow(/unknown attack "pgd"/);
    expect(() => autoAttack({ model, x, labels, norm: 'l1' as never })).toThrow(/norm/);
    expect(() => autoAttack({ model, x, labels, steps: 0 })).toThrow(/steps/);
  });

  it('runAutoAttackSuite: the first `limit` test examples of a dataset, a JSON-ready summary', () => {
    const values = x.dataSync() as Float32Array;
    const labelValues = labels.dataSync() as Int32Array;
    const dataset = {
      info: { name: 'tiny', imageShape: [8, 8, 1], numClasses: 5, classNames: ['a', 'b', 'c', 'd', 'e'], splits: { test: 12 } },
      size: () => 12,
      labels: () => Int32Array.from(labelValues),
      read: (_split: string, indices: ArrayLike<number>) => ({
        images: Float32Array.from(Array.from(indices).flatMap((i) => Array.from(values.subarray(i * 64, (i + 1) * 64)))),
        labels: Int32Array.from(Array.from(indices).map((i) => labelValues[i] as number)),
        count: indices.length,
      }),
      batches: () => {
        throw new Error('not used');
      },
    } as unknown as DatasetAdapter;
    const summary = runAutoAttackSuite(model, dataset, { epsilon: '8/255', limit: 10, version: 'rand' });
    expect(summary).toMatchObject({ suite: 'autoattack', version: 'rand', norm: 'linf', epsilon: 8 / 255, examples: 10, cleanAccuracy: 1 });
    expect(summary.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-dlr']);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
    expect(() => runAutoAttackSuite(model, dataset, { norm: 'l1' as never })).toThrow(/norm/);
  });
});
