import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, models, regularizers, constraints, sequential, model as functionalModel, input, type LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SeededRandom, expectFlatTensorCount, expectNoTensorLeak } from '@advprop/core';
import {
  DualBatchNormalization,
  dualBatchNormalization,
  dualBnLayers,
  getRoute,
  isDualBatchNormalization,
  withRoute,
  type BnWeightSet,
  type DualBatchNormalizationArgs,
} from './index.js';
import { maxAbsDiff, seeded, useCpu } from './__fixtures__/test-utils.js';

beforeAll(useCpu);

type PlainBn = ReturnType<typeof layers.batchNormalization>;

/** The engine name of a layer weight (the key `tf.variableGrads` uses). */
function varName(weight: BnWeightSet['gamma'] | BnWeightSet['movingMean']): string {
  return (weight!.read() as tf.Variable).name;
}

interface BnValues {
  gamma: tf.Tensor;
  beta: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
}

function bnValues(random: SeededRandom, c: number): BnValues {
  return {
    gamma: seeded(random, [c], 0.5, 1.5),
    beta: seeded(random, [c], -0.5, 0.5),
    mean: seeded(random, [c], -0.5, 0.5),
    variance: seeded(random, [c], 0.5, 2),
  };
}

function assign(set: BnWeightSet, v: BnValues): void {
  set.gamma!.write(v.gamma);
  set.beta!.write(v.beta);
  set.movingMean.write(v.mean);
  set.movingVariance.write(v.variance);
}

function setDiff(a: BnWeightSet, b: BnWeightSet): number {
  return Math.max(
    maxAbsDiff(a.gamma!.read(), b.gamma!.read()),
    maxAbsDiff(a.beta!.read(), b.beta!.read()),
    maxAbsDiff(a.movingMean.read(), b.movingMean.read()),
    maxAbsDiff(a.movingVariance.read(), b.movingVariance.read()),
  );
}

function statsEqual(set: BnWeightSet, v: BnValues): boolean {
  return maxAbsDiff(set.movingMean.read(), v.mean) === 0 && maxAbsDiff(set.movingVariance.read(), v.variance) === 0;
}

const CASES: { label: string; shape: number[]; axis: number }[] = [
  { label: '2D [6,4], axis -1', shape: [6, 4], axis: -1 },
  { label: '4D NHWC [2,3,3,4], axis -1', shape: [2, 3, 3, 4], axis: -1 },
  { label: '4D NCHW [2,4,3,3], axis 1 (broadcast path)', shape: [2, 4, 3, 3], axis: 1 },
];

describe('DualBatchNormalization vs tf.layers.batchNormalization', () => {
  for (const { label, shape, axis } of CASES) {
    for (const route of ['main', 'aux'] as const) {
      for (const training of [true, false]) {
        it(`${label}, route ${route}, training ${training}: same output and moving statistics (1e-5)`, async () => {
          const random = new SeededRandom(7);
          const c = shape[axis < 0 ? shape.length + axis : axis] as number;
          const args: DualBatchNormalizationArgs = { axis, momentum: 0.9, epsilon: 1e-3 };
          const bn = layers.batchNormalization(args) as PlainBn;
          const dual = dualBatchNormalization(args);
          // Applying to a symbolic input builds the layer (scoped weight names, disposable).
          bn.apply(input({ shape: shape.slice(1) }));
          dual.apply(input({ shape: shape.slice(1) }));
          const mainValues = bnValues(random, c);
          const auxValues = bnValues(random, c);
          const routed = route === 'main' ? mainValues : auxValues;
          const other = route === 'main' ? auxValues : mainValues;
          assign(bn as unknown as BnWeightSet, routed);
          assign(dual.main, mainValues);
          assign(dual.aux, auxValues);
          const x = seeded(random, shape, -2, 3);

          await expectNoTensorLeak(() => {
            for (let step = 0; step < 2; step++) {
              const want = bn.apply(x, { training }) as tf.Tensor;
              const got = withRoute(dual, route, () => dual.apply(x, { training }) as tf.Tensor);
              expect(maxAbsDiff(got, want)).toBeLessThan(1e-5);
              tf.dispose([want, got]);
            }
          }, { label: 'forward passes' });

          const routedSet = dual.weightSet(route);
          const otherSet = dual.weightSet(route === 'main' ? 'aux' : 'main');
          expect(setDiff(routedSet, bn as unknown as BnWeightSet)).toBeLessThan(1e-5);
          // Training moved the routed statistics away from their start; inference left them.
          expect(statsEqual(routedSet, routed)).toBe(!training);
          expect(statsEqual(otherSet, other)).toBe(true);
          expect(dual.route).toBe('main');
          tf.dispose([x, ...Object.values(mainValues), ...Object.values(auxValues)]);
          bn.dispose();
          dual.dispose();
        });
      }
    }
  }

  it('declares main and aux weights under the agreed names; moving statistics are non-trainable', () => {
    const dual = dualBatchNormalization({ name: 'dbn' });
    dual.apply(input({ shape: [3] }));
    expect(dual.trainableWeights.map((w) => w.originalName).sort()).toEqual(
      ['dbn/aux_beta', 'dbn/aux_gamma', 'dbn/beta', 'dbn/gamma'].sort(),
    );
    expect(dual.nonTrainableWeights.map((w) => w.originalName).sort()).toEqual(
      ['dbn/aux_moving_mean', 'dbn/aux_moving_variance', 'dbn/moving_mean', 'dbn/moving_variance'].sort(),
    );
    const plain = dualBatchNormalization({ name: 'plain', center: false, scale: false });
    plain.apply(input({ shape: [3] }));
    expect(plain.trainableWeights).toHaveLength(0);
    expect(plain.nonTrainableWeights).toHaveLength(4);
    dual.dispose();
    plain.dispose();
  });

  it('center=false / scale=false: plain normalisation (tfjs BatchNormalization itself crashes training here)', () => {
    const random = new SeededRandom(3);
    const x = seeded(random, [5, 3]);
    const bn = layers.batchNormalization({ center: false, scale: false, epsilon: 1e-3 });
    const dual = dualBatchNormalization({ center: false, scale: false, epsilon: 1e-3 });
    bn.apply(input({ shape: [3] }));
    dual.apply(input({ shape: [3] }));
    const inferWant = bn.apply(x) as tf.Tensor;
    const inferGot = dual.apply(x) as tf.Tensor;
    expect(maxAbsDiff(inferGot, inferWant)).toBeLessThan(1e-5);
    const trainWant = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, [0]);
      return tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3)));
    });
    const trainGot = dual.apply(x, { training: true }) as tf.Tensor;
    expect(maxAbsDiff(trainGot, trainWant)).toBeLessThan(1e-5);
    tf.dispose([x, inferWant, inferGot, trainWant, trainGot]);
    bn.dispose();
    dual.dispose();
  });
});

describe('backends without the fused BN kernel', () => {
  it('falls back to elementwise ops with the same results (training, inference, gradients)', () => {
    const random = new SeededRandom(17);
    const x = seeded(random, [2, 3, 3, 4], -2, 3);
    const run = () => {
      const dual = dualBatchNormalization({ momentum: 0.9, name: 'fallback_probe' });
      dual.apply(input({ shape: [3, 3, 4] }));
      const v = bnValues(new SeededRandom(1), 4);
      assign(dual.main, v);
      tf.dispose(Object.values(v));
      const train = dual.apply(x, { training: true }) as tf.Tensor;
      const infer = dual.apply(x) as tf.Tensor;
      const dx = tf.grad((input: tf.Tensor) => tf.sum(tf.square(dual.apply(input, { training: true }) as tf.Tensor)))(x);
      const stats = tf.clone(dual.main.movingVariance.read());
      dual.dispose();
      return { train, infer, dx, stats };
    };
    const fused = run();
    const kernel = tf.getKernel('FusedBatchNorm', 'cpu')!;
    tf.unregisterKernel('FusedBatchNorm', 'cpu');
    let fallback: ReturnType<typeof run>;
    try {
      expect(() => tf.tidy(() => tf.batchNorm4d(x as tf.Tensor4D, tf.zeros([4]) as tf.Tensor1D, tf.ones([4]) as tf.Tensor1D))).toThrow(/FusedBatchNorm/);
      fallback = run();
    } finally {
      tf.registerKernel(kernel);
    }
    expect(maxAbsDiff(fallback.train, fused.train)).toBeLessThan(1e-5);
    expect(maxAbsDiff(fallback.infer, fused.infer)).toBeLessThan(1e-5);
    expect(maxAbsDiff(fallback.dx, fused.dx)).toBeLessThan(1e-4);
    expect(maxAbsDiff(fallback.stats, fused.stats)).toBeLessThan(1e-6);
    tf.dispose([x, ...Object.values(fused), ...Object.values(fallback)]);
  });
});

function denseModel(seed: number, name?: string): LayersModel {
  return sequential({
    name,
    layers: [
      layers.dense({ units: 4, inputShape: [3], kernelInitializer: initializers.glorotUniform({ seed }) }),
      dualBatchNormalization({ momentum: 0.8 }),
      layers.dense({ units: 2, kernelInitializer: initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

describe('gradients and statistics per route', () => {
  for (const route of ['main', 'aux'] as const) {
    it(`route ${route}: gradients reach only the ${route} gamma/beta; only ${route} statistics move`, async () => {
      const model = denseModel(11);
      const dual = dualBnLayers(model)[0] as DualBatchNormalization;
      const routed = dual.weightSet(route);
      const other = dual.weightSet(route === 'main' ? 'aux' : 'main');
      const x = seeded(new SeededRandom(5), [8, 3]);
      const otherMean = tf.clone(other.movingMean.read());
      const routedMean = tf.clone(routed.movingMean.read());
      const names = await expectNoTensorLeak(() => {
        const { value, grads } = withRoute(model, route, () =>
          tf.variableGrads(() => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar),
        );
        const gammaGrad = grads[varName(routed.gamma)];
        expect(gammaGrad).toBeDefined();
        expect(tf.tidy(() => tf.sum(tf.abs(gammaGrad!)).dataSync()[0]!)).toBeGreaterThan(0);
        const keys = Object.keys(grads);
        tf.dispose([value, ...Object.values(grads)]);
        return keys;
      }, { label: 'variableGrads' });
      expect(names).toContain(varName(routed.gamma));
      expect(names).toContain(varName(routed.beta));
      expect(names).not.toContain(varName(other.gamma));
      expect(names).not.toContain(varName(other.beta));
      for (const w of model.layers[0]!.trainableWeights) expect(names).toContain(varName(w));
      expect(maxAbsDiff(other.movingMean.read(), otherMean)).toBe(0);
      expect(maxAbsDiff(routed.movingMean.read(), routedMean)).toBeGreaterThan(0);
      tf.dispose([x, otherMean, routedMean]);
      model.dispose();
    });
  }

  it('a training step loop keeps the tensor count flat', async () => {
    const model = denseModel(12);
    const x = seeded(new SeededRandom(6), [8, 3]);
    const optimizer = tf.train.sgd(0.1);
    await expectFlatTensorCount(
      (i) => {
        const route = i % 2 === 0 ? 'main' : 'aux';
        const loss = withRoute(model, route, () =>
          optimizer.minimize(() => tf.mean(tf.square(model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true),
        );
        loss?.dispose();
      },
      { times: 3, label: 'train step' },
    );
    optimizer.dispose();
    x.dispose();
    model.dispose();
  });
});

/** Outer functional model with a nested Sequential holding a dual BN, plus one of its own. */
function nestedModel(seed: number): LayersModel {
  const inner = sequential({
    name: `inner_${seed}`,
    layers: [
      layers.dense({ units: 4, inputShape: [3], kernelInitializer: initializers.glorotUniform({ seed }) }),
      dualBatchNormalization(),
    ],
  });
  const x = input({ shape: [3] });
  const h = inner.apply(x) as ReturnType<typeof input>;
  const bn = dualBatchNormalization().apply(h) as ReturnType<typeof input>;
  const out = layers.dense({ units: 2, kernelInitializer: initializers.glorotUniform({ seed: seed + 1 }) }).apply(bn);
  return functionalModel({ inputs: x, outputs: out as ReturnType<typeof input>, name: `outer_${seed}` });
}

/** Give every aux set distinct values so the two routes give different outputs. */
function perturbAux(model: LayersModel, seed: number): void {
  const random = new SeededRandom(seed);
  for (const layer of dualBnLayers(model)) {
    const c = layer.aux.movingMean.shape[0] as number;
    const v = bnValues(random, c);
    assign(layer.aux, v);
    tf.dispose(Object.values(v));
  }
}

describe('routing', () => {
  it('routes nested models through predict and apply, and restores the previous route after a throw', () => {
    const model = nestedModel(21);
    expect(dualBnLayers(model)).toHaveLength(2);
    perturbAux(model, 4);
    const x = seeded(new SeededRandom(8), [5, 3]);
    const main = model.predict(x) as tf.Tensor;
    const aux = withRoute(model, 'aux', () => model.predict(x) as tf.Tensor);
    const auxApply = withRoute(model, 'aux', () => model.apply(x) as tf.Tensor);
    expect(maxAbsDiff(main, aux)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(aux, auxApply)).toBeLessThan(1e-6);
    // The aux output is the main computation on the aux values: copy aux into main and compare.
    for (const layer of dualBnLayers(model)) {
      for (const key of ['gamma', 'beta', 'movingMean', 'movingVariance'] as const) {
        layer.main[key]!.write(layer.aux[key]!.read());
      }
    }
    const mainWithAuxValues = model.predict(x) as tf.Tensor;
    expect(maxAbsDiff(aux, mainWithAuxValues)).toBeLessThan(1e-6);

    expect(() =>
      withRoute(model, 'aux', () => {
        expect(dualBnLayers(model).map((l) => l.route)).toEqual(['aux', 'aux']);
        throw new Error('attack failed');
      }),
    ).toThrow('attack failed');
    expect(getRoute(model)).toBe('main');
    expect(dualBnLayers(model).map((l) => l.route)).toEqual(['main', 'main']);
    tf.dispose([x, main, aux, auxApply, mainWithAuxValues]);
    model.dispose();
  });

  it('rejects unknown route names, on withRoute and on a layer', () => {
    const model = denseModel(13);
    const x = tf.ones([2, 3]);
    expect(() => withRoute(model, 'adversarial' as 'aux', () => 1)).toThrow(ConfigError);
    expect(() => withRoute(model, 'adversarial' as 'aux', () => 1)).toThrow(/unknown BN route "adversarial"/);
    const layer = dualBnLayers(model)[0]!;
    layer.route = 'clean' as 'main';
    expect(() => model.predict(x)).toThrow(ConfigError);
    expect(() => model.predict(x)).toThrow(new RegExp(`layer "${layer.name}" route: unknown BN route "clean"`));
    layer.route = 'main';
    x.dispose();
    model.dispose();
  });

  it('two models used concurrently never see each other\'s route', async () => {
    const a = denseModel(31, 'model_a');
    const b = denseModel(31, 'model_b');
    perturbAux(a, 1);
    perturbAux(b, 1);
    const x = seeded(new SeededRandom(9), [4, 3]);
    const expected = {
      main: a.predict(x) as tf.Tensor,
      aux: withRoute(a, 'aux', () => a.predict(x) as tf.Tensor),
    };
    const task = async (self: LayersModel, peer: LayersModel, route: 'main' | 'aux'): Promise<number> => {
      let worst = 0;
      for (let i = 0; i < 6; i++) {
        await new Promise((r) => setTimeout(r, 1));
        const out = withRoute(self, route, () => {
          expect(getRoute(peer)).toBe('main');
          return self.predict(x) as tf.Tensor;
        });
        worst = Math.max(worst, maxAbsDiff(out, expected[route]));
        out.dispose();
      }
      return worst;
    };
    const [da, db] = await expectNoTensorLeak(() => Promise.all([task(a, b, 'aux'), task(b, a, 'main')]));
    expect(da).toBeLessThan(1e-6);
    expect(db).toBeLessThan(1e-6);
    expect(getRoute(a)).toBe('main');
    expect(getRoute(b)).toBe('main');
    tf.dispose([x, expected.main, expected.aux]);
    a.dispose();
    b.dispose();
  });
});

describe('serialization', () => {
  it('registers under the package name; getConfig is complete and round-trips through model JSON', async () => {
    expect(tf.serialization.getRegisteredName(DualBatchNormalization)).toBe('@advprop/dual-bn>DualBatchNormalization');
    expect(tf.serialization.SerializationMap.getMap().classNameMap['DualBatchNormalization']?.[0]).toBe(DualBatchNormalization);
    const args: DualBatchNormalizationArgs = {
      axis: -1,
      momentum: 0.95,
      epsilon: 2e-3,
      center: true,
      scale: true,
      gammaInitializer: initializers.constant({ value: 2 }),
      betaInitializer: 'zeros',
      movingVarianceInitializer: 'ones',
      gammaRegularizer: regularizers.l2({ l2: 0.01 }),
      betaConstraint: constraints.maxNorm({ maxValue: 3 }),
      name: 'dbn_cfg',
    };
    const model = sequential({ layers: [layers.dense({ units: 3, inputShape: [2] }), dualBatchNormalization(args)] });
    const config = model.layers[1]!.getConfig();
    const plainConfig = layers.batchNormalization({ ...args, name: 'dbn_cfg' }).getConfig();
    expect(config).toEqual(plainConfig);
    const json = JSON.parse(model.toJSON() as string) as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers[1]!.class_name).toBe('DualBatchNormalization');
    const restored = await models.modelFromJSON({ modelTopology: json as never });
    const layer = restored.layers[1]!;
    expect(isDualBatchNormalization(layer)).toBe(true);
    expect(layer.getConfig()).toEqual(config);
    expect(tf.tidy(() => (layer as DualBatchNormalization).aux.gamma!.read().dataSync()[0])).toBe(2);
    restored.dispose();
    model.dispose();
  });
});

describe('with a ReLU and a residual', () => {
  const shape = [2, 3, 3, 4];
  const build = (residual: boolean): { model: LayersModel; layer: DualBatchNormalization } => {
    const x = input({ shape: shape.slice(1), name: 'x' });
    const r = input({ shape: shape.slice(1), name: 'r' });
    const layer = dualBatchNormalization({ name: 'bn_relu', activation: 'relu', momentum: 0.9 });
    const y = layer.apply(residual ? [x, r] : x) as ReturnType<typeof input>;
    const head = layers.conv2d({ filters: 2, kernelSize: 1, name: 'head', kernelInitializer: initializers.glorotUniform({ seed: 3 }) }).apply(y) as ReturnType<typeof input>;
    return { model: functionalModel({ inputs: [x, r], outputs: [head, y] }), layer };
  };

  it('computes relu(BN(x) + residual) on both routes, in training (with its gradients) and inference, as a BN layer, Add and ReLU do', () => {
    const random = new SeededRandom(21);
    for (const residual of [false, true]) {
      const { model, layer } = build(residual);
      const main = bnValues(random, 4);
      const aux = bnValues(random, 4);
      assign(layer.main, main);
      assign(layer.aux, aux);
      const x = seeded(random, shape, -2, 3);
      const r = seeded(random, shape, -1, 1);
      for (const [route, values] of [
        ['main', main],
        ['aux', aux],
      ] as const) {
        const reference = layers.batchNormalization({ momentum: 0.9 });
        reference.build([null, 3, 3, 4]);
        reference.setWeights([values.gamma, values.beta, values.mean, values.variance]);
        const expected = (a: tf.Tensor, b: tf.Tensor, training: boolean) => {
          const bn = reference.apply(a, { training }) as tf.Tensor;
          return tf.relu(residual ? tf.add(bn, b) : bn);
        };
        const got = (a: tf.Tensor, b: tf.Tensor, training: boolean) => withRoute(model, route, () => layer.apply(residual ? [a, b] : a, { training }) as tf.Tensor);
        for (const training of [false, true]) {
          expect(maxAbsDiff(got(x, r, training), expected(x, r, training)), `${route} training=${training}`).toBeLessThan(1e-5);
          const gradOf = (f: typeof got) => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, b, training), tf.reshape(tf.range(0, 72), shape))))([x, r]);
          if (residual) {
            const [gx, gr] = gradOf(got);
            const [ex, er] = gradOf(expected);
            expect(maxAbsDiff(gx!, ex!), `${route} training=${training} dx`).toBeLessThan(1e-4);
            expect(maxAbsDiff(gr!, er!), `${route} training=${training} dresidual`).toBeLessThan(1e-5);
          }
        }
        // the training calls above moved the routed set's moving statistics as the reference's
        expect(maxAbsDiff(layer.weightSet(route).movingMean.read(), reference.getWeights()[2]!), route).toBeLessThan(1e-6);
        for (const w of reference.weights) w.dispose();
      }
      model.dispose();
    }
  });

  it('saves its activation in the config (only when it has one) and rejects what it cannot compute', async () => {
    const { model, layer } = build(true);
    expect(layer.getConfig()['activation']).toBe('relu');
    expect(dualBatchNormalization({}).getConfig()).not.toHaveProperty('activation');
    const json = JSON.parse(model.toJSON() as string) as object;
    const restored = await models.modelFromJSON({ modelTopology: json as never });
    const restoredLayer = restored.getLayer('bn_relu') as DualBatchNormalization;
    expect(restoredLayer.activation).toBe('relu');
    const x = tf.ones([1, 3, 3, 4]);
    expect(maxAbsDiff((restored.predict([x, x]) as tf.Tensor[])[1]!, (model.predict([x, x]) as tf.Tensor[])[1]!)).toBe(0);
    restored.dispose();
    model.dispose();

    expect(() => dualBatchNormalization({ activation: 'swish' as never, name: 'bad_act' })).toThrow(
      ConfigError,
    );
    const plain = dualBatchNormalization({ name: 'plain_bn' });
    expect(() => plain.apply([tf.ones(shape), tf.ones(shape)])).toThrow(
      'DualBatchNormalization "plain_bn" takes one input (a residual second input needs activation "relu"), got 2: [2,3,3,4] and [2,3,3,4]',
    );
    const relu = dualBatchNormalization({ name: 'relu_bn', activation: 'relu' });
    expect(() => relu.apply([input({ shape: [3, 3, 4] }), input({ shape: [3, 3, 5] })])).toThrow(
      'DualBatchNormalization "relu_bn": the residual must have the input\'s shape, got [null,3,3,4] and [null,3,3,5]',
    );
  });
});
