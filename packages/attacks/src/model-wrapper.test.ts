/**
 * Every wrapper path: a real GraphModel (loaded by tfjs-converter from a model.json written here),
 * NCHW, [0, 255] and [-1, 1] input ranges, mean/std, probability outputs, plain functions; and
 * the errors naming the argument at fault.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, expectNoTensorLeak, SeededRandom, ShapeError, type ModelLike } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apgd, autoAttack, fab, pgd, square, wrapModel, type AnyModel } from './index.js';
import { writeGraphModel, type GraphFixture } from './__fixtures__/graph-model.js';
import { linearModel, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

const maxDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe('GraphModel (tfjs-converter) fixture', () => {
  let nhwc: GraphFixture;
  let nchw: GraphFixture;
  const x = uniformBatch([6, 8, 8, 1], 3);
  const labels = tf.tensor1d([0, 1, 2, 3, 4, 0], 'int32') as tf.Tensor1D;
  beforeAll(async () => {
    nhwc = await writeGraphModel('nhwc');
    nchw = await writeGraphModel('nchw');
  });
  afterAll(() => {
    nhwc.dispose();
    nchw.dispose();
    tf.dispose([x, labels]);
  });

  it('loads from model.json and computes the reference network', async () => {
    const graph = await nhwc.load();
    const logits = wrapModel(graph).apply(x);
    const reference = nhwc.reference(x);
    expect(logits.shape).toEqual([6, 5]);
    expect(maxDiff(logits, reference)).toBeLessThan(1e-5);
    tf.dispose([logits, reference]);
    graph.dispose();
  });

  it('every attack takes it, bare or wrapped, NHWC or NCHW, and matches the reference function', async () => {
    const graph = await nhwc.load();
    const graphNchw = await nchw.load();
    const models: [string, AnyModel][] = [
      ['bare GraphModel', graph as unknown as AnyModel],
      ['wrapped GraphModel', wrapModel(graph)],
      ['NCHW GraphModel', wrapModel(graphNchw, { layout: 'nchw' })],
    ];
    const attackers = [
      () => pgd({ epsilon: 0.1, steps: 3 }),
      () => apgd({ epsilon: 0.1, steps: 4 }),
      () => fab({ epsilon: 0.1, steps: 3, targeted: true, targetClasses: 2 }),
      () => square({ epsilon: 0.1, queries: 20 }),
    ];
    for (const make of attackers) {
      const expected = make().attack({ model: nhwc.reference, x, labels, random: new SeededRandom(5) });
      for (const [name, model] of models) {
        const adv = await expectNoTensorLeak(() => make().attack({ model: model as never, x, labels, random: new SeededRandom(5) }), { label: name });
        expect(maxDiff(adv, expected), `${make().name} on ${name}`).toBeLessThan(1e-4);
        adv.dispose();
      }
      expected.dispose();
    }
    graph.dispose();
    graphNchw.dispose();
  });

  it('autoAttack takes a GraphModel', async () => {
    const graph = await nhwc.load();
    const result = autoAttack({ model: wrapModel(graph), x, labels, epsilon: 0.05, steps: 5, squareQueries: 20 });
    const reference = autoAttack({ model: nhwc.reference, x, labels, epsilon: 0.05, steps: 5, squareQueries: 20 });
    expect(result.robustAccuracy).toBe(reference.robustAccuracy);
    expect(Array.from(result.robust)).toEqual(Array.from(reference.robust));
    tf.dispose([result.adversarial, reference.adversarial]);
    graph.dispose();
  });
});

describe('input ranges, normalisation, outputs', () => {
  const base = linearModel(48, 5, 4);
  const x = uniformBatch([5, 4, 4, 3], 8);
  const labels = tf.tensor1d([0, 1, 2, 3, 4], 'int32') as tf.Tensor1D;
  const mean = [0.4, 0.5, 0.6];
  const std = [0.2, 0.25, 0.3];
  afterAll(() => {
    base.dispose();
    tf.dispose([x, labels]);
  });

  // each model expects its own input convention; wrapped, it must behave exactly like `base` on [0, 1] images
  const variants: [string, ModelLike][] = [
    ['[0, 255] pixels', wrapModel((v) => base.forward(tf.div(v, 255)), { inputRange: [0, 255] })],
    ['[-1, 1] pixels', wrapModel((v) => base.forward(tf.div(tf.add(v, 1), 2)), { inputRange: [-1, 1] })],
    ['mean/std per channel', wrapModel((v) => base.forward(tf.add(tf.mul(v, tf.tensor1d(std)), tf.tensor1d(mean))), { mean, std })],
    [
      '[0, 255] with mean/std (ImageNet style)',
      wrapModel((v) => base.forward(tf.div(tf.add(tf.mul(v, tf.tensor1d(std.map((s) => s * 255))), tf.tensor1d(mean.map((m) => m * 255))), 255)), {
        inputRange: [0, 255],
        mean: mean.map((m) => m * 255),
        std: std.map((s) => s * 255),
      }),
    ],
    ['NCHW function', wrapModel((v) => base.forward(tf.transpose(v, [0, 2, 3, 1])), { layout: 'nchw' })],
    ['softmax outputs', wrapModel((v) => tf.softmax(base.forward(v)), { outputs: 'probabilities' })],
    ['plain function', base.forward],
  ];

  for (const [name, model] of variants) {
    it(`${name}: attacks equal those on the [0, 1] logits model`, () => {
      for (const make of [() => pgd({ epsilon: '8/255', steps: 3 }), () => apgd({ epsilon: 0.5, norm: 'l2', steps: 4 })]) {
        const expected = make().attack({ model: base.forward, x, labels, random: new SeededRandom(2) });
        const adv = make().attack({ model, x, labels, random: new SeededRandom(2) });
        expect(maxDiff(adv, expected), name).toBeLessThan(1e-4);
        tf.dispose([adv, expected]);
      }
    });
  }
});

describe('errors name the argument at fault', () => {
  const base = linearModel(16, 3, 5);
  const x = uniformBatch([4, 4, 4, 1], 9);
  const labels = tf.tensor1d([0, 1, 2, 0], 'int32') as tf.Tensor1D;
  afterAll(() => {
    base.dispose();
    tf.dispose([x, labels]);
  });
  const issuePath = (fn: () => unknown): string | undefined => {
    try {
      tf.dispose(fn() as tf.Tensor);
    } catch (error) {
      if (error instanceof ConfigError) return error.issues?.[0]?.path;
      throw error;
    }
    return undefined;
  };

  it('epsilon out of range for the declared input range', () => {
    const model = wrapModel((v) => base.forward(tf.div(v, 255)), { inputRange: [0, 255] });
    for (const make of [() => apgd({ epsilon: 8 }), () => fab({ epsilon: 8 }), () => square({ epsilon: 8 }), () => pgd({ epsilon: 8 })]) {
      expect(() => make().attack({ model, x, labels })).toThrow(/epsilon 8 is larger than the whole image range.*inputRange \[0, 255\]/);
    }
    expect(() => autoAttack({ model, x, labels, epsilon: 8 })).toThrow(/epsilon 8/);
    expect(issuePath(() => apgd({ epsilon: 100, norm: 'l2' }).attack({ model, x, labels }))).toBe('epsilon'); // L2 above sqrt(16)
  });

  it('a model whose output is not [batch, classes]', () => {
    const model = wrapModel((v) => tf.reshape(base.forward(v), [4, 1, 1, 3]));
    expect(() => pgd({ epsilon: 0.1 }).attack({ model, x, labels })).toThrow(ShapeError);
    expect(() => pgd({ epsilon: 0.1 }).attack({ model, x, labels })).toThrow(/\[batch, classes\] = \[4, K\], got \[4, 1, 1, 3\]/);
    expect(() => autoAttack({ model: (v: tf.Tensor) => tf.reshape(base.forward(v), [4, 1, 3]), x, labels })).toThrow(/logits of shape \[4, numClasses\]/);
  });

  it('labels out of range', () => {
    const bad = tf.tensor1d([0, 1, 7, 0], 'int32') as tf.Tensor1D;
    expect(issuePath(() => apgd({ epsilon: 0.1 }).attack({ model: base.forward, x, labels: bad }))).toBe('labels[2]');
    expect(issuePath(() => square({ epsilon: 0.1 }).attack({ model: base.forward, x, labels: bad }))).toBe('labels[2]');
    expect(issuePath(() => autoAttack({ model: base.forward, x, labels: bad }).adversarial)).toBe('labels[2]');
    bad.dispose();
  });

  it('a wrapper range that does not match the data', () => {
    const model = wrapModel((v) => base.forward(tf.div(v, 255)), { inputRange: [0, 255] });
    const x255 = tf.mul(x, 255);
    expect(issuePath(() => pgd({ epsilon: 0.1 }).attack({ model, x: x255, labels }))).toBe('inputRange');
    expect(() => apgd({ epsilon: 0.1 }).attack({ model, x: x255, labels })).toThrow(/takes images in \[0, 1\].*divide 0-255 pixels by 255/);
    expect(issuePath(() => autoAttack({ model, x: x255, labels }).adversarial)).toBe('inputRange');
    expect(issuePath(() => pgd({ epsilon: 0.1, range: [0, 255] }).attack({ model, x: x255, labels }))).toBe('range');
    x255.dispose();
  });

  it('wrapModel options', () => {
    expect(() => wrapModel(base.forward, { inputRange: [1, 0] })).toThrow(/inputRange/);
    expect(() => wrapModel(base.forward, { std: [1, 0] })).toThrow(/std\[1\]/);
    expect(() => wrapModel(base.forward, { layout: 'chw' as never })).toThrow(/layout/);
    expect(() => wrapModel(base.forward, { outputNode: 'logits' })).toThrow(/outputNode/);
    const threeChannels = wrapModel(base.forward, { mean: [0.1, 0.2, 0.3] });
    expect(() => threeChannels.apply(x)).toThrow(/mean has 3 values but the images have 1 channels/);
    expect(() => pgd({ epsilon: 0.1 }).attack({ model: {} as never, x, labels })).toThrow(/GraphModel/);
  });
});
