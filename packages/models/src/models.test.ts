import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  createRegistry,
  expectNoTensorLeak,
  routableLayers,
  SeededRandom,
  ShapeError,
  withRoute,
  type BatchNormKind,
  type ModelFactory,
  type ModelSpec,
} from '@advprop/core';
import {
  buildEfficientNetB0,
  buildMobileNetV2,
  buildResNet18,
  buildResNet20,
  buildSmallCnn,
  buildWideResNet,
  models,
  parameterCounts,
} from './index.js';

const SHAPES = [
  [28, 28, 1],
  [32, 32, 3],
] as const;
const NAMES = ['small-cnn', 'resnet20', 'resnet18', 'wrn-16-4', 'mobilenet-v2', 'efficientnet-b0'] as const;
const isBn = (layer: tfl.layers.Layer) => /BatchNormalization$/.test(layer.getClassName());
/** Plain convolutions: tfjs-layers' Conv2D and ours that pads itself (the ResNets' strided 3x3 convs). */
const isConv = (layer: tfl.layers.Layer) => ['Conv2D', 'AdvpropPaddedConv2D'].includes(layer.getClassName());

function spec(inputShape: readonly [number, number, number], batchNorm: BatchNormKind, extra: Partial<ModelSpec> = {}): ModelSpec {
  return { inputShape, numClasses: 10, batchNorm, ...extra };
}

async function factory(name: (typeof NAMES)[number], options?: object): Promise<ModelFactory> {
  const registry = createRegistry({ seed: 1 }).use(models);
  return registry.resolveDynamic('model', name, options);
}

/** Sum of weights outside BN layers (convs, dense). */
function nonBnParams(model: tfl.LayersModel): number {
  return model.layers.filter((l) => !isBn(l)).reduce((n, l) => n + l.countParams(), 0);
}

function weightsEqual(a: tfl.LayersModel, b: tfl.LayersModel): boolean {
  const wa = a.getWeights();
  const wb = b.getWeights();
  if (wa.length !== wb.length) return false;
  return wa.every((w, i) => {
    const other = wb[i] as tf.Tensor;
    if (!tf.util.arraysEqual(w.shape, other.shape)) return false;
    const x = w.dataSync();
    const y = other.dataSync();
    return x.every((v, j) => v === y[j]);
  });
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('registry plugins', () => {
  it('registers every model under its agreed name', () => {
    const registry = createRegistry().use(models);
    expect(registry.names('model')).toEqual([...NAMES].sort());
  });

  it.each(NAMES)('%s builds with dual and plain BN, logits [B, classes] for 28x28x1 and 32x32x3', async (name) => {
    const f = await factory(name);
    expect(f.name).toBe(name);
    for (const shape of SHAPES) {
      for (const bn of ['dual', 'plain'] as const) {
        expect(f.supports?.(spec(shape, bn))).toEqual({ ok: true });
        const model = f.build(spec(shape, bn));
        expect(model.outputs[0]?.shape).toEqual([null, 10]);
        const last = model.layers[model.layers.length - 1] as tfl.layers.Layer;
        expect(last.getClassName()).toBe('Dense'); // logits, no softmax
        expect((last.getConfig() as { activation: string }).activation).toBe('linear');
        expect(routableLayers(model).length).toBe(bn === 'dual' ? model.layers.filter(isBn).length : 0);
        // A forward pass on the heaviest models only once (cpu backend), to stay fast.
        if (bn === 'dual' || ['small-cnn', 'resnet20', 'mobilenet-v2'].includes(name)) {
          const x = tf.randomUniform([2, ...shape], 0, 1, 'float32', 3);
          const y = await expectNoTensorLeak(() => tf.tidy(() => model.predict(x) as tf.Tensor), { label: `${name} forward` });
          expect(y.shape).toEqual([2, 10]);
          expect(Array.from(await y.data()).every(Number.isFinite)).toBe(true);
          tf.dispose([x, y]);
        }
        model.dispose();
      }
    }
  });
});

describe('parameter counts (10 classes, 32x32x3)', () => {
  it('ResNet-20 equals the PyTorch benchmark model: 272,474 plain, 274,042 dual', () => {
    const plain = buildResNet20(spec([32, 32, 3], 'plain'));
    const dual = buildResNet20(spec([32, 32, 3], 'dual'));
    // Numbers from shared/bench/torch_advprop_step.py: sum(p.numel() for p in net.parameters()),
    // dual = 274,042; without the aux BNs = 272,474 (1,568 BN gamma/beta, 1,568 running stats).
    expect(parameterCounts(plain)).toEqual({ trainable: 272_474, nonTrainable: 1_568, total: 274_042 });
    expect(parameterCounts(dual).trainable).toBe(274_042);
    expect(parameterCounts(dual).nonTrainable).toBe(2 * 1_568);
    // 21 BN layers / convs, one dense layer, as in the PyTorch module.
    expect(plain.layers.filter(isBn)).toHaveLength(21);
    expect(plain.layers.filter(isConv)).toHaveLength(21);
    expect(
      plain.layers.filter(isConv).every((l) => (l.getConfig() as { useBias: boolean }).useBias === false),
    ).toBe(true);
    plain.dispose();
    dual.dispose();
  });

  it('matches the reference counts of the other architectures', () => {
    const s = spec([32, 32, 3], 'plain');
    const cases: [string, tfl.LayersModel, number][] = [
      ['small-cnn', buildSmallCnn(s), 66_410],
      // kuangliu/pytorch-cifar ResNet18: 11,173,962
      ['resnet18', buildResNet18(s), 11_173_962],
      // WRN-16-4: 2.75M (Zagoruyko & Komodakis, table 1)
      ['wrn-16-4', buildWideResNet(s), 2_748_890],
      // Keras MobileNetV2 (alpha 1) total 3,538,984 with 1000 classes -> 2,270,794 with 10
      ['mobilenet-v2', buildMobileNetV2(s), 2_270_794 - 34_112],
      // Keras EfficientNetB0 total 5,330,571 with 1000 classes (7 of them its Normalization layer)
      ['efficientnet-b0', buildEfficientNetB0(s), 5_330_571 - 7 - 1_281_000 + 12_810 - 42_016],
    ];
    for (const [name, model, trainable] of cases) {
      expect(parameterCounts(model).trainable, name).toBe(trainable);
      model.dispose();
    }
  });

  it.each(NAMES)('%s: dual and plain share every conv/dense weight, dual adds one gamma/beta set per BN', async (name) => {
    const f = await factory(name);
    const plain = f.build(spec([32, 32, 3], 'plain'));
    const dual = f.build(spec([32, 32, 3], 'dual'));
    expect(nonBnParams(dual)).toBe(nonBnParams(plain));
    const bnGammaBeta = plain.layers.filter(isBn).reduce((n, l) => n + l.countParams() / 2, 0);
    expect(bnGammaBeta).toBeGreaterThan(0);
    expect(parameterCounts(dual).trainable - parameterCounts(plain).trainable).toBe(bnGammaBeta);
    expect(parameterCounts(dual).nonTrainable).toBe(2 * parameterCounts(plain).nonTrainable);
    plain.dispose();
    dual.dispose();
  });
});

describe('options', () => {
  it('scales width and depth', async () => {
    const s = spec([32, 32, 3], 'plain');
    const narrow = (await factory('small-cnn', { filters: 8 })).build(s);
    expect(parameterCounts(narrow).trainable).toBeLessThan(66_410 / 10);
    const wrn = await factory('wrn-16-4', { depth: 10, widen: 1 });
    expect(wrn.name).toBe('wrn-10-1');
    const small = wrn.build(s);
    expect(small.layers.filter(isConv)).toHaveLength(1 + 6 * 1 + 2);
    const mb = (await factory('mobilenet-v2', { alpha: 0.5 })).build(s);
    expect(parameterCounts(mb).trainable).toBeLessThan(2_236_682);
    const b1ish = (await factory('efficientnet-b0', { widthCoefficient: 0.5, depthCoefficient: 1.2 })).build(s);
    const names = b1ish.layers.map((l) => l.name);
    expect(names).toContain('block2_3_project'); // ceil(1.2 * 2) = 3 repeats
    expect(names).not.toContain('block2_4_project');
    for (const m of [narrow, small, mb, b1ish]) m.dispose();
  });

  it('rejects invalid options with a ConfigError naming the field', async () => {
    await expect(factory('wrn-16-4', { depth: 15 })).rejects.toThrow(/depth.*6n \+ 4/);
    await expect(factory('small-cnn', { filters: 0 })).rejects.toThrow(ConfigError);
    await expect(factory('mobilenet-v2', { alpha: -1 })).rejects.toThrow(/alpha/);
    await expect(factory('efficientnet-b0', { widthCoeficient: 2 })).rejects.toThrow(/widthCoeficient/);
    expect(() => buildWideResNet(spec([32, 32, 3], 'plain'), { depth: 12 })).toThrow(/depth must be 6n \+ 4/);
  });
});

describe('seeded initialisation', () => {
  it('two builds from equal seeds are identical; another seed differs; no seed = fixed default', () => {
    for (const build of [buildResNet20, (s: ModelSpec) => buildEfficientNetB0(s, { widthCoefficient: 0.25, depthCoefficient: 0.5 })]) {
      const s = (random?: SeededRandom) => spec([16, 16, 3], 'dual', random ? { random } : {});
      const a = build(s(new SeededRandom(7)));
      const b = build(s(new SeededRandom(7)));
      const c = build(s(new SeededRandom(8)));
      const d = build(s());
      const e = build(s());
      expect(weightsEqual(a, b)).toBe(true);
      expect(weightsEqual(a, c)).toBe(false);
      expect(weightsEqual(d, e)).toBe(true);
      for (const m of [a, b, c, d, e]) m.dispose();
    }
  });

  it('dropout settings do not change the initial weights', () => {
    const s = () => spec([8, 8, 1], 'plain', { random: new SeededRandom(9) });
    const a = buildSmallCnn(s(), { filters: 2, dropout: 0 });
    const b = buildSmallCnn(s(), { filters: 2, dropout: 0.5 });
    expect(weightsEqual(a, b)).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('advances the caller stream by exactly one draw', () => {
    const random = new SeededRandom(3);
    const reference = new SeededRandom(3);
    buildSmallCnn(spec([8, 8, 1], 'plain', { random }), { filters: 2 }).dispose();
    reference.tfSeed();
    expect(random.getState()).toEqual(reference.getState());
  });
});

describe('batchNorm: none', () => {
  it('builds without BN layers, convs with bias', () => {
    const model = buildResNet20(spec([32, 32, 3], 'none'));
    expect(model.layers.filter(isBn)).toHaveLength(0);
    const convs = model.layers.filter(isConv);
    expect(convs.every((l) => (l.getConfig() as { useBias: boolean }).useBias)).toBe(true);
    expect(parameterCounts(model).trainable).toBe(272_474 - 1_568 + 1_568 / 2);
    model.dispose();
  });

  it.each(NAMES)('%s builds with batchNorm none', async (name) => {
    const model = (await factory(name)).build(spec([8, 8, 1], 'none'));
    expect(model.layers.filter(isBn)).toHaveLength(0);
    expect(model.outputs[0]?.shape).toEqual([null, 10]);
    model.dispose();
  });
});

describe('unsupported specs', () => {
  it.each(NAMES)('%s explains why a 4x4 input is refused, and build throws a ShapeError naming the shape', async (name) => {
    const f = await factory(name);
    const bad = spec([4, 4, 3], 'plain');
    const result = f.supports?.(bad);
    expect(result?.ok).toBe(false);
    expect(result && !result.ok && result.reason).toMatch(/\[4, 4, 3\].*at least 8/);
    expect(() => f.build(bad)).toThrow(ShapeError);
    expect(() => f.build(bad)).toThrow(/\[4, 4, 3\]/);
  });

  it('refuses malformed shapes, class counts and BN kinds', () => {
    expect(() => buildResNet20(spec([32, 32] as unknown as [number, number, number], 'plain'))).toThrow(ShapeError);
    expect(() => buildResNet20(spec([32, 32, 0], 'plain'))).toThrow(/\[32, 32, 0\]/);
    expect(() => buildResNet20(spec([32, 32, 3], 'plain', { numClasses: 0 }))).toThrow(/numClasses/);
    expect(() => buildResNet20(spec([32, 32, 3], 'batch' as BatchNormKind))).toThrow(/batchNorm/);
  });
});

describe('training', () => {
  it('a few SGD steps of a small dual-BN CNN on a tiny batch reduce the loss (main and aux routes)', async () => {
    const model = buildSmallCnn({ inputShape: [10, 10, 1], numClasses: 3, batchNorm: 'dual', random: new SeededRandom(5) }, { filters: 4 });
    const x = tf.randomUniform([6, 10, 10, 1], 0, 1, 'float32', 11);
    const labels = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
    const y = tf.oneHot(labels, 3);
    const optimizer = tf.train.adam(0.05);
    const lossOf = (route: 'main' | 'aux') => () =>
      withRoute(model, route, () => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar;
    const losses: number[] = [];
    await expectNoTensorLeak(
      async () => {
        for (let step = 0; step < 8; step++) {
          const loss = optimizer.minimize(() => tf.add(lossOf('main')(), lossOf('aux')()) as tf.Scalar, true);
          losses.push((await loss!.data())[0] as number);
          loss!.dispose();
        }
      },
      { label: 'training steps', allowed: 2 * model.trainableWeights.length + 1 }, // adam slots, step counter
    );
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(losses[losses.length - 1]).toBeLessThan((losses[0] as number) * 0.8);
    optimizer.dispose();
    tf.dispose([x, labels, y]);
    model.dispose();
  });
});

describe('efficientnet training mode', () => {
  it('dropout and drop-connect are active in training and seeded', async () => {
    const build = () =>
      buildEfficientNetB0(spec([8, 8, 3], 'dual', { random: new SeededRandom(2) }), {
        widthCoefficient: 0.25,
        depthCoefficient: 0.5,
        dropout: 0.5,
        dropConnect: 0.5,
      });
    const a = build();
    const b = build();
    expect(a.layers.filter((l) => l.getClassName() === 'AdvpropSeededDropout').length).toBeGreaterThan(1);
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 4);
    const run = (m: tfl.LayersModel, training: boolean) => tf.tidy(() => m.apply(x, { training }) as tf.Tensor);
    const [evalA, evalB] = [run(a, false), run(b, false)];
    expect(Array.from(await evalA.data())).toEqual(Array.from(await evalB.data()));
    // Same seed: the same sequence of masks; a new mask at every training call.
    const trainA = [run(a, true), run(a, true)];
    const trainB = [run(b, true), run(b, true)];
    const values = async (t: tf.Tensor) => Array.from(await t.data());
    expect(await values(trainA[0] as tf.Tensor)).toEqual(await values(trainB[0] as tf.Tensor));
    expect(await values(trainA[1] as tf.Tensor)).toEqual(await values(trainB[1] as tf.Tensor));
    expect(await values(trainA[0] as tf.Tensor)).not.toEqual(await values(trainA[1] as tf.Tensor));
    tf.dispose([x, evalA, evalB, ...trainA, ...trainB]);
    a.dispose();
    b.dispose();
  });
});

describe('serialization', () => {
  it('a dual-BN model round-trips through its JSON topology', async () => {
    const model = buildResNet20(spec([16, 16, 3], 'dual'));
    const restored = await tfl.models.modelFromJSON({
      modelTopology: model.toJSON(null, false),
    } as Parameters<typeof tfl.models.modelFromJSON>[0]);
    expect(restored.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(parameterCounts(restored)).toEqual(parameterCounts(model));
    model.dispose();
    restored.dispose();
  });

  it('an EfficientNet with SE, swish, dropout and drop-connect round-trips too', async () => {
    const model = buildEfficientNetB0(spec([8, 8, 3], 'dual'), { widthCoefficient: 0.25, depthCoefficient: 0.5 });
    const restored = await tfl.models.modelFromJSON({
      modelTopology: model.toJSON(null, false),
    } as Parameters<typeof tfl.models.modelFromJSON>[0]);
    expect(restored.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(restored.layers.map((l) => l.getClassName())).toContain('AdvpropSeededDropout');
    restored.setWeights(model.getWeights());
    const x = tf.randomUniform([2, 8, 8, 3], 0, 1, 'float32', 5);
    const [a, b] = [model.predict(x) as tf.Tensor, restored.predict(x) as tf.Tensor];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    model.dispose();
    restored.dispose();
  });
});
