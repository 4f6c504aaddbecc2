import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, ShapeError, createRegistry, expectNoTensorLeak } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advpropPreset, attacks, fgsm, pgd, resolveEpsilon, amountToFraction, chooseTargets } from './index.js';
import { SeededRandom } from '@advprop/core';
import { linearModel, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

describe('units', () => {
  it('resolves numbers and fraction strings (the one epsilon vocabulary)', () => {
    expect(resolveEpsilon(0.03)).toBe(0.03);
    expect(resolveEpsilon('8/255')).toBeCloseTo(8 / 255, 12);
    expect(resolveEpsilon(' 0.5 ')).toBe(0.5);
    expect(resolveEpsilon('4/255', [-1, 1])).toBeCloseTo(8 / 255, 12);
    expect(() => amountToFraction({ pixels: 4 } as never)).toThrow(/expected a number or a string like "8\/255"/);
    expect(resolveEpsilon('1e-2')).toBe(0.01);
    expect(() => amountToFraction(-0.1)).toThrow(/epsilon: must be >= 0/);
    expect(() => amountToFraction('eight')).toThrow(ConfigError);
    expect(() => amountToFraction('4/0', 'stepSize')).toThrow(/stepSize: "4\/0" divides by zero/);
    expect(() => resolveEpsilon(0.1, [1, 0])).toThrow(/range/);
  });

  it('advpropPreset derives K and the step', () => {
    expect(advpropPreset('1/255')).toMatchObject({ epsilon: 1 / 255, steps: 1, stepSize: 1 / 255, targeted: 'random', route: 'aux' });
    expect(advpropPreset(2 / 255).steps).toBe(3);
    expect(advpropPreset('4/255')).toMatchObject({ epsilon: 4 / 255, steps: 5 });
    expect(() => advpropPreset('5/255')).toThrow(/1\.\.4/);
    expect(() => advpropPreset(0)).toThrow(ConfigError);
    expect(() => advpropPreset('1.5/255')).toThrow(ConfigError);
  });

  it('chooseTargets never picks the true class and covers the others', () => {
    const labels = new Int32Array(2000).map((_, i) => i % 10);
    const t = chooseTargets('random', { labels, numClasses: 10, random: new SeededRandom(1) });
    const offsets = new Set<number>();
    t.forEach((v, i) => {
      expect(v).not.toBe(labels[i]);
      offsets.add((v - (labels[i] as number) + 10) % 10);
    });
    expect([...offsets].sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(Array.from(chooseTargets('least-likely', { labels: [0, 1], numClasses: 3, logits: [1, -2, 0, 5, 4, 3] }))).toEqual([1, 2]);
    expect(() => chooseTargets('given', { labels: [0], numClasses: 3 })).toThrow(/targets/);
  });
});

describe('bad input', () => {
  const m = linearModel(8, 4, 3);
  const x = uniformBatch([3, 8], 2);
  const labels = tf.tensor1d([0, 1, 2], 'int32') as tf.Tensor1D;
  afterAll(() => {
    tf.dispose([x, labels]);
    m.dispose();
  });

  it('rejects bad options with the field named, from factories and the registry', async () => {
    expect(() => fgsm({ epsilon: -0.1 })).toThrow(ConfigError);
    expect(() => fgsm({ epsilon: -0.1 })).toThrow(/epsilon/);
    expect(() => pgd({ stepSize: 0 })).toThrow(/stepSize: step size must be > 0/);
    expect(() => pgd({ stepSize: '-1/255' })).toThrow(/stepSize/);
    expect(() => pgd({ steps: 0 })).toThrow(/steps/);
    expect(() => pgd({ restarts: 3, randomStart: false })).toThrow(/restarts > 1 need randomStart/);
    expect(() => pgd({ epsilon: 'abc' })).toThrow(/epsilon.*not a number/s);
    expect(() => fgsm({ steps: 3 } as never)).toThrow(/steps/); // FGSM has no steps
    const registry = createRegistry().use(attacks);
    await expect(registry.resolve('attacker', 'pgd', { epsilon: -1 })).rejects.toThrow(/Invalid options for attacker "pgd"[\s\S]*epsilon/);
    await expect(registry.resolveDynamic('attacker', 'advprop', { epsilon: '8/255' })).rejects.toThrow(/epsilon: must be k\/255/);
    await registry.dispose();
  });

  it('rejects labels out of range, shape mismatches and x outside the range, without leaking', async () => {
    const attacker = fgsm({ epsilon: 0.1 });
    const bad = tf.tensor1d([0, 4, 1], 'int32') as tf.Tensor1D;
    const negative = tf.tensor1d([0, -1, 1], 'int32') as tf.Tensor1D;
    const short = tf.tensor1d([0, 1], 'int32') as tf.Tensor1D;
    const big = tf.mul(x, 255);
    const vector = tf.tensor1d([0.5]);
    await expectNoTensorLeak(() => {
      expect(() => attacker.attack({ model: m.forward, x, labels: bad })).toThrow(/labels\[1\] = 4 is out of range for a model with 4 classes/);
      expect(() => attacker.attack({ model: m.forward, x, labels: negative })).toThrow(/labels\[1\] = -1 is not a class index/);
      expect(() => attacker.attack({ model: m.forward, x, labels: short })).toThrow(ShapeError);
      expect(() => attacker.attack({ model: m.forward, x, labels: short })).toThrow(/labels must have shape \[3\].*got \[2\]/);
      expect(() => attacker.attack({ model: m.forward, x: big, labels })).toThrow(/outside the attacker's input range \[0, 1\]/);
      expect(() => attacker.attack({ model: (t) => tf.reshape(m.forward(t), [-1]), x, labels })).toThrow(/logits of shape \[3, numClasses\]/);
      expect(() => attacker.attack({ model: m.forward, x: vector, labels })).toThrow(/rank >= 2/);
      // checked on the attack's first forward pass (no clean pass), inside tf.grad: still no leak
      expect(() => pgd({ epsilon: 0.1, steps: 2, restarts: 2, targeted: 'random' }).attack({ model: m.forward, x, labels: bad })).toThrow(/labels\[1\] = 4 is out of range/);
      expect(() => pgd({ epsilon: 0.1, steps: 2 }).attack({ model: (t) => tf.softmax(m.forward(t)), x, labels })).toThrow(/look like probabilities/);
    });
    tf.dispose([bad, negative, short, big, vector]);
  });

  it('detects a model that returns probabilities', () => {
    const softmaxModel = (t: tf.Tensor) => tf.softmax(m.forward(t));
    expect(() => fgsm().attack({ model: softmaxModel, x, labels })).toThrow(/look like probabilities.*remove the final softmax/);
    const adv = fgsm({ checkLogits: false }).attack({ model: softmaxModel, x, labels });
    adv.dispose();
  });

  it('targets: required for "given", refused by an untargeted attacker, range-checked', () => {
    const targets = tf.tensor1d([1, 2, 3], 'int32') as tf.Tensor1D;
    const outside = tf.tensor1d([1, 2, 9], 'int32') as tf.Tensor1D;
    expect(() => pgd({ targeted: 'given' }).attack({ model: m.forward, x, labels })).toThrow(/"given" but the request has no targets/);
    expect(() => pgd().attack({ model: m.forward, x, labels, targets })).toThrow(/untargeted/);
    expect(() => pgd({ targeted: 'given' }).attack({ model: m.forward, x, labels, targets: outside })).toThrow(/targets\[2\] = 9 is out of range/);
    expect(() => fgsm().attack({ model: m.forward, x, labels, route: 'adv' as never })).toThrow(/unknown BN route/);
    expect(() => pgd({ diversity: { probability: 1 } }).attack({ model: m.forward, x, labels })).toThrow(/diversity needs NHWC/);
    tf.dispose([targets, outside]);
  });
});
