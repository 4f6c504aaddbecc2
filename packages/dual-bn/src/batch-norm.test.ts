import * as tf from '@tensorflow/tfjs-core';
import { layers, models, input, model as functionalModel, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom } from '@advprop/core';
import { BatchNormalizationRelu, DualBatchNormalization, FusedTrainingBatchNormalization, batchNormalization, hasFusedTrainingBatchNorm, toDualBN, toInferenceModel, withRoute } from './index.js';
import { maxAbsDiff, useCpu } from './__fixtures__/test-utils.js';

beforeAll(useCpu);

function randomInput(shape: number[], seed: number): tf.Tensor {
  const random = new SeededRandom(seed);
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.uniform(-2, 3)), shape);
}

describe('batchNormalization (tfjs-layers BN taking the fused training kernel when there is one)', () => {
  it('is a tfjs-layers BatchNormalization: class name, config and weights', () => {
    const ours = batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
    const stock = layers.batchNormalization({ momentum: 0.9, epsilon: 1e-3 });
    expect(ours).toBeInstanceOf(FusedTrainingBatchNormalization);
    expect(ours).toBeInstanceOf(stock.constructor);
    expect(ours.getClassName()).toBe('BatchNormalization');
    ours.build([null, 4, 4, 3]);
    stock.build([null, 4, 4, 3]);
    expect(ours.weights.map((w) => [w.originalName.split('/').pop(), w.shape])).toEqual(stock.weights.map((w) => [w.originalName.split('/').pop(), w.shape]));
    const { name: _a, ...oursConfig } = ours.getConfig();
    const { name: _b, ...stockConfig } = stock.getConfig();
    expect(oursConfig).toEqual(stockConfig);
  });

  it('without the fused kernels trains exactly like tfjs-layers (output and moving statistics)', () => {
    expect(hasFusedTrainingBatchNorm()).toBe(false);
    const x = randomInput([5, 4, 4, 3], 1);
    const ours = batchNormalization({ momentum: 0.8 });
    const stock = layers.batchNormalization({ momentum: 0.8 });
    const a = ours.apply(x, { training: true }) as tf.Tensor;
    const b = stock.apply(x, { training: true }) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0);
    expect(maxAbsDiff(ours.getWeights()[2]!, stock.getWeights()[2]!)).toBe(0);
    expect(maxAbsDiff(ours.getWeights()[3]!, stock.getWeights()[3]!)).toBe(0);
    tf.dispose([x, a, b]);
  });

  it('saves as a plain BatchNormalization that tfjs-layers loads as its own layer, with the same predictions', async () => {
    const inp = input({ shape: [4, 4, 3] });
    const out = batchNormalization({}).apply(layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: 'ones' }).apply(inp) as SymbolicTensor) as SymbolicTensor;
    const m = functionalModel({ inputs: inp, outputs: out });
    const x = randomInput([2, 4, 4, 3], 2);
    m.apply(x, { training: true }); // move the statistics away from 0 / 1
    const json = m.toJSON(null, false) as unknown as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Conv2D', 'BatchNormalization']);
    const loaded = await models.modelFromJSON({ modelTopology: m.toJSON(null, false) } as never);
    loaded.setWeights(m.getWeights());
    expect(loaded.layers[2]).not.toBeInstanceOf(FusedTrainingBatchNormalization);
    const a = m.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    m.dispose();
    loaded.dispose();
  });
});

describe("batchNormalization({ activation: 'relu' }) (a plain BN with a ReLU, and a residual)", () => {
  const build = () => {
    const x = input({ shape: [4, 4, 3], name: 'x' });
    const conv = layers.conv2d({ filters: 3, kernelSize: 1, kernelInitializer: 'glorotUniform', name: 'conv' }).apply(x) as SymbolicTensor;
    const stem = batchNormalization({ activation: 'relu', momentum: 0.8, name: 'stem_bn' }).apply(conv) as SymbolicTensor;
    const block = batchNormalization({ activation: 'relu', momentum: 0.8, name: 'block_bn' }).apply([stem, conv]) as SymbolicTensor;
    return functionalModel({ inputs: x, outputs: block });
  };

  it('computes relu(BN(x) + residual) like stock BN, Add and ReLU layers, trains their moving statistics, and saves under its own registered class', async () => {
    const model = build();
    const layer = model.getLayer('block_bn') as BatchNormalizationRelu;
    expect(layer).toBeInstanceOf(BatchNormalizationRelu);
    expect(layer.getClassName()).toBe('AdvpropBatchNormalization');
    expect(layer.getConfig()['activation']).toBe('relu');
    const x = randomInput([5, 4, 4, 3], 3);
    const stock = layers.batchNormalization({ momentum: 0.8 });
    const residual = randomInput([5, 4, 4, 3], 4);
    for (const training of [true, false]) {
      const got = layer.apply([x, residual], { training }) as tf.Tensor;
      const want = tf.relu(tf.add(stock.apply(x, { training }) as tf.Tensor, residual));
      expect(maxAbsDiff(got, want), `training=${training}`).toBe(0);
    }
    expect(layer.getWeights().map((w, i) => maxAbsDiff(w, stock.getWeights()[i]!))).toEqual([0, 0, 0, 0]);
    const json = model.toJSON(null, false) as unknown as { config: { layers: { class_name: string }[] } };
    expect(json.config.layers.map((l) => l.class_name)).toEqual(['InputLayer', 'Conv2D', 'AdvpropBatchNormalization', 'AdvpropBatchNormalization']);
    const loaded = await models.modelFromJSON({ modelTopology: model.toJSON(null, false) } as never);
    loaded.setWeights(model.getWeights());
    expect(loaded.getLayer('block_bn')).toBeInstanceOf(BatchNormalizationRelu);
    expect(maxAbsDiff(loaded.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
    expect(() => batchNormalization({ activation: 'swish' as never })).toThrow('batchNormalization: activation must be "linear" or "relu", got "swish"');
    tf.dispose([x, residual]);
    loaded.dispose();
    model.dispose();
  });

  it('converts to dual BN with its ReLU (toDualBN) and exports as stock BatchNormalization, Add and Activation (toInferenceModel)', () => {
    const model = build();
    const x = randomInput([5, 4, 4, 3], 5);
    model.apply(x, { training: true });
    const dual = toDualBN(model);
    expect(dual.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Conv2D', 'DualBatchNormalization', 'DualBatchNormalization']);
    expect((dual.getLayer('block_bn') as DualBatchNormalization).activation).toBe('relu');
    expect(maxAbsDiff(withRoute(dual, 'aux', () => dual.predict(x) as tf.Tensor), model.predict(x) as tf.Tensor)).toBe(0);
    const plain = toInferenceModel(model);
    expect(plain.layers.map((l) => l.getClassName())).toEqual(['InputLayer', 'Conv2D', 'BatchNormalization', 'Activation', 'BatchNormalization', 'Add', 'Activation']);
    expect(maxAbsDiff(plain.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBeLessThan(1e-6);
    for (const m of [model, dual, plain]) m.dispose();
    x.dispose();
  });
});
