import * as tf from '@tensorflow/tfjs-core';
import { initializers, input, layers, model as functionalModel, sequential, type LayersModel, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SeededRandom, expectNoTensorLeak } from '@advprop/core';
import { dualBatchNormalization, dualBnLayers, isDualBatchNormalization, toDualBN, toInferenceModel, withRoute } from './index.js';
import { maxAbsDiff, seeded, useCpu } from './__fixtures__/test-utils.js';

beforeAll(useCpu);

const glorot = (seed: number) => initializers.glorotUniform({ seed });

function plainSequential(): LayersModel {
  return sequential({
    layers: [
      layers.dense({ units: 5, inputShape: [3], kernelInitializer: glorot(1) }),
      layers.batchNormalization({ momentum: 0.5 }),
      layers.activation({ activation: 'relu' }),
      layers.dense({ units: 2, kernelInitializer: glorot(2) }),
    ],
  });
}

/** Functional model: tiny conv + BN, then a nested Sequential with its own BN. */
function plainFunctional(): LayersModel {
  const inner = sequential({
    layers: [layers.dense({ units: 4, inputShape: [8], kernelInitializer: glorot(3) }), layers.batchNormalization({ momentum: 0.5 })],
  });
  const x = input({ shape: [4, 4, 1] });
  let h = layers.conv2d({ filters: 2, kernelSize: 3, kernelInitializer: glorot(4) }).apply(x) as SymbolicTensor;
  h = layers.batchNormalization({ momentum: 0.5 }).apply(h) as SymbolicTensor;
  h = layers.flatten().apply(h) as SymbolicTensor;
  h = inner.apply(h) as SymbolicTensor;
  const out = layers.dense({ units: 2, kernelInitializer: glorot(5) }).apply(h) as SymbolicTensor;
  return functionalModel({ inputs: x, outputs: out });
}

/** A few training-mode passes so the BN statistics are not their initial values. */
function warmUp(model: LayersModel, x: tf.Tensor, route?: 'main' | 'aux'): void {
  for (let i = 0; i < 3; i++) {
    const run = () => tf.dispose(model.apply(x, { training: true }) as tf.Tensor);
    if (route) withRoute(model, route, run);
    else run();
  }
}

const CASES = [
  { label: 'Sequential', make: plainSequential, shape: [6, 3], bnCount: 1 },
  { label: 'functional with conv and a nested Sequential', make: plainFunctional, shape: [3, 4, 4, 1], bnCount: 2 },
];

describe('toDualBN / toInferenceModel', () => {
  for (const { label, make, shape, bnCount } of CASES) {
    it(`${label}: the dual model predicts like the source on both routes; toInferenceModel matches the main route`, async () => {
      const x = seeded(new SeededRandom(2), shape, -1, 2);
      const source = make();
      warmUp(source, x);
      const want = source.predict(x) as tf.Tensor;

      const dual = await expectNoTensorLeak(() => toDualBN(source), { allowed: 1000, label: 'toDualBN' });
      const duals = dualBnLayers(dual);
      expect(duals).toHaveLength(bnCount);
      expect(JSON.stringify(dual.toJSON(null, false))).not.toMatch(/"class_name":"BatchNormalization"/);
      const main = dual.predict(x) as tf.Tensor;
      const aux = withRoute(dual, 'aux', () => dual.predict(x) as tf.Tensor);
      expect(maxAbsDiff(main, want)).toBeLessThan(1e-5);
      expect(maxAbsDiff(aux, want)).toBeLessThan(1e-5);

      // Train the two routes apart; the source model must not change.
      warmUp(dual, x, 'aux');
      warmUp(dual, tf.tidy(() => tf.mul(x, 3)), 'main');
      const sourceAfter = source.predict(x) as tf.Tensor;
      expect(maxAbsDiff(sourceAfter, want)).toBe(0);
      const dualMain = dual.predict(x) as tf.Tensor;
      const dualAux = withRoute(dual, 'aux', () => dual.predict(x) as tf.Tensor);
      expect(maxAbsDiff(dualMain, dualAux)).toBeGreaterThan(1e-4);

      const plain = toInferenceModel(dual);
      expect(dualBnLayers(plain)).toHaveLength(0);
      const json = JSON.stringify(plain.toJSON(null, false));
      expect(json).not.toMatch(/DualBatchNormalization/);
      expect(json.match(/"class_name":"BatchNormalization"/g)).toHaveLength(bnCount);
      const plainOut = plain.predict(x) as tf.Tensor;
      expect(maxAbsDiff(plainOut, dualMain)).toBeLessThan(1e-6);
      // The inference model has the plain parameter count: dual minus one set per BN layer.
      expect(plain.countParams()).toBe(source.countParams());

      tf.dispose([x, want, main, aux, sourceAfter, dualMain, dualAux, plainOut]);
      for (const m of [source, dual, plain]) m.dispose();
    });
  }

  it('conversion of a model with weights frees everything it allocates once both models are disposed', async () => {
    const source = plainFunctional();
    await expectNoTensorLeak(() => {
      const dual = toDualBN(source);
      const plain = toInferenceModel(dual);
      dual.dispose();
      plain.dispose();
    }, { label: 'toDualBN + toInferenceModel + dispose' });
    source.dispose();
  });

  it('toInferenceModel writes a dual BN with a ReLU (and a residual) as BatchNormalization, Add and Activation, predicting as the main route', () => {
    const random = new SeededRandom(31);
    const x = input({ shape: [4, 4, 3] });
    const a = layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: glorot(6), name: 'conv_a' }).apply(x) as SymbolicTensor;
    const stem = dualBatchNormalization({ activation: 'relu', name: 'stem_bn' }).apply(a) as SymbolicTensor;
    const b = layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: glorot(7), name: 'conv_b' }).apply(stem) as SymbolicTensor;
    const block = dualBatchNormalization({ activation: 'relu', name: 'block_bn' }).apply([b, stem]) as SymbolicTensor;
    const pooled = layers.globalAveragePooling2d({ name: 'pool' }).apply(block) as SymbolicTensor;
    const dual = functionalModel({ inputs: x, outputs: layers.dense({ units: 2, kernelInitializer: glorot(8), name: 'head' }).apply(pooled) as SymbolicTensor });
    const batch = seeded(random, [5, 4, 4, 3], -1, 1);
    warmUp(dual, batch, 'main');
    warmUp(dual, tf.mul(batch, 2), 'aux');
    const plain = toInferenceModel(dual);
    expect(plain.layers[0]!.getClassName()).toBe('InputLayer');
    expect(plain.layers.slice(1).map((l) => `${l.name}:${l.getClassName()}`)).toEqual([
      'conv_a:Conv2D',
      'stem_bn:BatchNormalization',
      'stem_bn_relu:Activation',
      'conv_b:Conv2D',
      'block_bn:BatchNormalization',
      'block_bn_add:Add',
      'block_bn_relu:Activation',
      'pool:GlobalAveragePooling2D',
      'head:Dense',
    ]);
    const want = withRoute(dual, 'main', () => dual.predict(batch) as tf.Tensor);
    expect(maxAbsDiff(plain.predict(batch) as tf.Tensor, want)).toBeLessThan(1e-6);
    dual.dispose();
    plain.dispose();
  });

  it('aux sets start as copies of the main sets but are separate variables', () => {
    const source = plainSequential();
    const dual = toDualBN(source);
    const layer = dualBnLayers(dual)[0]!;
    expect(isDualBatchNormalization(layer)).toBe(true);
    expect(layer.aux.gamma!.read()).not.toBe(layer.main.gamma!.read());
    layer.aux.gamma!.write(tf.tidy(() => tf.mul(layer.aux.gamma!.read(), 2)));
    expect(maxAbsDiff(layer.main.gamma!.read(), layer.aux.gamma!.read())).toBeGreaterThan(0.5);
    source.dispose();
    dual.dispose();
  });

  it('rejects a model without BatchNormalization, an already-dual model, and non-models, naming the problem', () => {
    const noBn = sequential({ layers: [layers.dense({ units: 2, inputShape: [3], name: 'only_dense' })] });
    expect(() => toDualBN(noBn)).toThrow(ConfigError);
    expect(() => toDualBN(noBn)).toThrow(/has no BatchNormalization layer to convert \(layers: only_dense:Dense\)/);
    const source = plainSequential();
    const dual = toDualBN(source);
    expect(() => toDualBN(dual)).toThrow(/already a dual-BN model \(1 DualBatchNormalization layers/);
    expect(() => toDualBN({} as LayersModel)).toThrow(/toDualBN: expected a tfjs-layers model/);
    expect(() => toInferenceModel(null as unknown as LayersModel)).toThrow(/toInferenceModel: expected a tfjs-layers model/);
    for (const m of [noBn, source, dual]) m.dispose();
  });
});
