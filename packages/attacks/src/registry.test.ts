import * as tf from '@tensorflow/tfjs-core';
import { createRegistry, expectFlatTensorCount, expectNoTensorLeak, SeededRandom } from '@advprop/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { advprop, attacks, fgsm, firstSuccess, pgd, attackObjective, attackSucceeded } from './index.js';
import { linearModel, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

describe('registry plugins', () => {
  it('registers every attacker under its name and resolves with validated options', async () => {
    const registry = createRegistry({ seed: 7 }).use(attacks);
    expect(registry.names('attacker')).toEqual(['advprop', 'apgd', 'apgd-t', 'bim', 'di-fgsm', 'fab', 'fgm', 'fgsm', 'first-success', 'mi-fgsm', 'pgd', 'pgd-l2', 'square']);
    // one declaration per attack: the registered plugin is the factory itself
    expect(registry.get('attacker', 'pgd')).toBe(pgd);
    expect(pgd.name).toBe('pgd');
    const m = linearModel(10, 3, 4);
    const x = uniformBatch([4, 10], 1);
    const labels = tf.tensor1d([0, 1, 2, 0], 'int32') as tf.Tensor1D;
    const attacker = await registry.resolve('attacker', 'pgd', { epsilon: '8/255', steps: 3 });
    expect(attacker.name).toBe('pgd');
    const adv = attacker.attack({ model: m.forward, x, labels });
    const maxDelta = tf.tidy(() => tf.max(tf.abs(tf.sub(adv, x))).dataSync()[0] as number);
    expect(maxDelta).toBeLessThanOrEqual(8 / 255 + 1e-6);
    expect(maxDelta).toBeGreaterThan(4 / 255);
    // the plugin's stream comes from the registry seed: same seed, same attack
    const again = createRegistry({ seed: 7 }).use(attacks);
    const adv2 = (await again.resolve('attacker', 'pgd', { epsilon: '8/255', steps: 3 })).attack({ model: m.forward, x, labels });
    expect(Array.from(adv2.dataSync())).toEqual(Array.from(adv.dataSync()));
    tf.dispose([adv, adv2, x, labels]);
    m.dispose();
    await registry.dispose();
    await again.dispose();
  });
});

describe('restarts', () => {
  it('keep, per sample, the strongest of the restarts', () => {
    const m = linearModel(12, 4, 8);
    const x = uniformBatch([16, 12], 3);
    const labels = tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 4), 'int32') as tf.Tensor1D;
    // restart 1 of a 5-restart run is the 1-restart run with the same seed
    const one = pgd({ epsilon: 0.05, steps: 2, restarts: 1 }, new SeededRandom(5)).attack({ model: m.forward, x, labels });
    const five = pgd({ epsilon: 0.05, steps: 2, restarts: 5 }, new SeededRandom(5)).attack({ model: m.forward, x, labels });
    const score = (adv: tf.Tensor) =>
      tf.tidy(() => {
        const logits = m.forward(adv) as tf.Tensor2D;
        return [Array.from(attackObjective(logits, labels, { loss: 'ce', targeted: false }).dataSync()), Array.from(attackSucceeded(logits, labels, false).dataSync())];
      });
    const [l1, s1] = score(one) as [number[], number[]];
    const [l5, s5] = score(five) as [number[], number[]];
    let strictlyBetter = 0;
    for (let i = 0; i < 16; i++) {
      expect(s5[i]).toBeGreaterThanOrEqual(s1[i] as number);
      if (s5[i] === s1[i]) expect(l5[i]).toBeGreaterThanOrEqual((l1[i] as number) - 1e-6);
      if ((l5[i] as number) > (l1[i] as number) + 1e-6) strictlyBetter++;
    }
    expect(strictlyBetter).toBeGreaterThan(0);
    tf.dispose([one, five, x, labels]);
    m.dispose();
  });
});

describe('firstSuccess', () => {
  it('keeps per sample the first successful attack and only attacks the rest', async () => {
    const m = linearModel(12, 4, 9);
    const x = uniformBatch([24, 12], 4);
    const clean = tf.tidy(() => tf.argMax(m.forward(x), 1));
    // labels = clean predictions, so every sample starts correctly classified
    const labels = tf.cast(clean, 'int32') as tf.Tensor1D;
    const weak = fgsm({ epsilon: 0.12 });
    const strong = pgd({ epsilon: 0.3, steps: 5 });
    const calls: number[] = [];
    const spy = { name: 'spy-strong', attack: (r: Parameters<typeof strong.attack>[0]) => (calls.push(r.x.shape[0] as number), strong.attack(r)) };
    const combined = firstSuccess([weak, spy]);
    const adv = await expectNoTensorLeak(() => combined.attack({ model: m.forward, x, labels }));
    const weakAdv = weak.attack({ model: m.forward, x, labels });
    const [pw, pc] = tf.tidy(() => [tf.argMax(m.forward(weakAdv), 1).dataSync(), tf.argMax(m.forward(adv), 1).dataSync()]);
    const lv = labels.dataSync();
    const weakWins: number[] = [];
    for (let i = 0; i < 24; i++) if (pw[i] !== lv[i]) weakWins.push(i);
    expect(weakWins.length).toBeGreaterThan(0);
    expect(weakWins.length).toBeLessThan(24);
    expect(calls).toEqual([24 - weakWins.length]);
    const advRows = tf.tidy(() => tf.split(adv, 24).map((t) => Array.from(t.dataSync())));
    const weakRows = tf.tidy(() => tf.split(weakAdv, 24).map((t) => Array.from(t.dataSync())));
    for (const i of weakWins) expect(advRows[i]).toEqual(weakRows[i]);
    let fooled = 0;
    for (let i = 0; i < 24; i++) if (pc[i] !== lv[i]) fooled++;
    expect(fooled).toBeGreaterThan(weakWins.length);
    tf.dispose([adv, weakAdv, clean, x, labels]);
    m.dispose();
  });

  it('is available as the "first-success" plugin, resolving its attackers by name', async () => {
    const registry = createRegistry().use(attacks);
    const attacker = await registry.resolve('attacker', 'first-success', {
      attacks: [{ name: 'fgsm', options: { epsilon: 0.01 } }, { name: 'pgd', options: { epsilon: '32/255', steps: 4 } }],
    });
    const m = linearModel(6, 3, 2);
    const x = uniformBatch([5, 6], 8);
    const labels = tf.tensor1d([0, 1, 2, 0, 1], 'int32') as tf.Tensor1D;
    const adv = attacker.attack({ model: m.forward, x, labels });
    expect(adv.shape).toEqual([5, 6]);
    const maxDelta = tf.tidy(() => tf.max(tf.abs(tf.sub(adv, x))).dataSync()[0] as number);
    expect(maxDelta).toBeLessThanOrEqual(32 / 255 + 1e-6);
    await expect(registry.resolve('attacker', 'first-success', { attacks: [{ name: 'nope' }] })).rejects.toThrow(/No attacker plugin named "nope"/);
    tf.dispose([adv, x, labels]);
    m.dispose();
    await registry.dispose();
  });
});

describe('advprop preset and repeated use', () => {
  it('runs K = eps + 1 gradient steps (1 at eps 1) with step 1/255 inside eps', () => {
    const m = linearModel(8, 3, 6);
    const x = uniformBatch([3, 8], 6, 0.2, 0.8);
    const labels = tf.tensor1d([0, 1, 2], 'int32') as tf.Tensor1D;
    for (const [pixels, k] of [[1, 1], [2, 3], [3, 4], [4, 5]] as const) {
      let calls = 0;
      const model = (t: tf.Tensor) => (calls++, m.forward(t));
      const adv = advprop({ epsilon: `${pixels}/255` }).attack({ model, x, labels });
      expect(calls).toBe(k); // one forward pass per step, no clean pass
      const maxDelta = tf.tidy(() => tf.max(tf.abs(tf.sub(adv, x))).dataSync()[0] as number);
      expect(maxDelta).toBeLessThanOrEqual(pixels / 255 + 1e-6);
      adv.dispose();
    }
    tf.dispose([x, labels]);
    m.dispose();
  });

  it('keeps the tensor count flat over repeated attacks (restarts, momentum, diversity, training mode)', async () => {
    const m = linearModel(16, 4, 7);
    const x = uniformBatch([4, 4, 4, 1], 7);
    const labels = tf.tensor1d([0, 1, 2, 3], 'int32') as tf.Tensor1D;
    const attacker = pgd({ epsilon: 0.1, steps: 3, restarts: 2, momentum: 0.9, diversity: { probability: 0.7, resizeRate: 1.2 }, targeted: 'random', loss: 'cw' });
    await expectFlatTensorCount(() => tf.dispose(attacker.attack({ model: m.forward, x, labels, training: true })), { times: 3 });
    tf.dispose([x, labels]);
    m.dispose();
  });
});
