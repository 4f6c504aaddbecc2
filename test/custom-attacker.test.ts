/**
 * A user-defined attacker, declared in user code with `defineAttacker`, registered next to the
 * built-in attackers and run through the registry, alone and inside "first-success".
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { attacks, defineAttacker } from '@advprop/attacks';
import { createRegistry, expectNoTensorLeak, getRoute, ROUTABLE, SeededRandom, ShapeError, z, type BnRoute, type RoutableLayer } from '@advprop/core';
import { beforeAll, describe, expect, it } from 'vitest';

// A user's attack: FGSM written against the context helpers (gradient, project).
const myFgsm = defineAttacker({
  name: 'my-fgsm',
  description: 'FGSM, written by a user',
  options: z.object({ epsilon: z.number().min(0) }).strict(),
  attack: (ctx, { epsilon }) => {
    const grad = ctx.gradient(ctx.x, ctx.labels);
    return ctx.project(tf.add(ctx.x, tf.mul(tf.sign(grad), epsilon)), { norm: 'linf', epsilon });
  },
});

const wrongShape = defineAttacker({ name: 'wrong-shape', attack: (ctx) => tf.reshape(ctx.x, [-1]) });

function linear(d: number, k: number, seed: number) {
  const random = new SeededRandom(seed);
  const w = tf.tensor2d(Float32Array.from({ length: d * k }, () => random.normal()), [d, k]);
  return { forward: (x: tf.Tensor) => tf.matMul(x, w), dispose: () => w.dispose() };
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('custom attacker from user code', () => {
  it('is resolved by name with validated options and matches the built-in FGSM', async () => {
    const registry = createRegistry({ seed: 1 }).use(attacks).use([myFgsm, wrongShape] as const);
    expect(registry.names('attacker')).toContain('my-fgsm');
    const m = linear(10, 4, 3);
    const random = new SeededRandom(2);
    const x = tf.tensor2d(Float32Array.from({ length: 60 }, () => random.uniform(0.2, 0.8)), [6, 10]);
    const labels = tf.tensor1d([0, 1, 2, 3, 0, 1], 'int32') as tf.Tensor1D;

    const mine = await registry.resolve('attacker', 'my-fgsm', { epsilon: 0.1 });
    const adv = await expectNoTensorLeak(() => mine.attack({ model: m.forward, x, labels }));
    const builtIn = (await registry.resolve('attacker', 'fgsm', { epsilon: 0.1 })).attack({ model: m.forward, x, labels });
    expect(Array.from(adv.dataSync())).toEqual(Array.from(builtIn.dataSync()));

    await expect(registry.resolveDynamic('attacker', 'my-fgsm', { epsilon: -1 })).rejects.toThrow(/attacker "my-fgsm"[\s\S]*epsilon/);
    // @ts-expect-error: the options are typed from the schema
    void registry.resolve('attacker', 'my-fgsm', { epsilon: 'big' }).catch(() => undefined);

    // the wrapper checks the request and the result like a built-in attacker
    const badLabels = tf.tensor1d([0, 1, 2, 3, 0, 7], 'int32') as tf.Tensor1D;
    expect(() => mine.attack({ model: m.forward, x, labels: badLabels })).toThrow(/labels\[5\] = 7 is out of range/);
    const wrong = await registry.resolve('attacker', 'wrong-shape');
    expect(() => wrong.attack({ model: m.forward, x, labels })).toThrow(ShapeError);

    // composable with the built-ins by name
    const combined = await registry.resolve('attacker', 'first-success', {
      attacks: [{ name: 'my-fgsm', options: { epsilon: 0.05 } }, { name: 'pgd', options: { epsilon: 0.2, steps: 3 } }],
    });
    const combinedAdv = combined.attack({ model: m.forward, x, labels });
    expect(combinedAdv.shape).toEqual([6, 10]);

    tf.dispose([adv, builtIn, badLabels, combinedAdv, x, labels]);
    m.dispose();
    await registry.dispose();
  });

  it('runs through the BN route of the request and restores it', async () => {
    const registry = createRegistry().use([myFgsm] as const);
    const main = linear(4, 3, 5);
    const aux = linear(4, 3, 6);
    const layer: RoutableLayer = { [ROUTABLE]: true, route: 'main' };
    const seen: BnRoute[] = [];
    const model = {
      layers: [layer],
      apply: (x: tf.Tensor | tf.Tensor[]) => (seen.push(layer.route), (layer.route === 'aux' ? aux : main).forward(x as tf.Tensor)),
    };
    const x = tf.fill([2, 4], 0.5);
    const labels = tf.tensor1d([0, 2], 'int32') as tf.Tensor1D;
    const attacker = await registry.resolve('attacker', 'my-fgsm', { epsilon: 0.1 });
    const adv = attacker.attack({ model, x, labels, route: 'aux' });
    expect(new Set(seen)).toEqual(new Set(['aux']));
    expect(getRoute(model)).toBe('main');
    tf.dispose([adv, x, labels]);
    main.dispose();
    aux.dispose();
    await registry.dispose();
  });
});
