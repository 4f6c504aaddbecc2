import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, expectNoTensorLeak, SeededRandom } from '@advprop/core';
import { PaddedConv2D } from './padded-conv2d.js';

function values(shape: number[], random: SeededRandom): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random.uniform(-1, 1)), shape);
}

/** PyTorch's Conv2d(padding=p) the long way: ZeroPadding2D, then a 'valid' tfjs-layers Conv2D with the same weights. */
function padThenConv(inputShape: number[], padding: number, args: { filters: number; kernelSize: number; strides: number; useBias: boolean; activation?: 'relu' | 'linear' | 'tanh' }) {
  const input = tfl.input({ shape: inputShape });
  const padded = tfl.layers.zeroPadding2d({ padding }).apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.conv2d({ ...args, padding: 'valid', name: 'reference_conv' }).apply(padded) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function paddedConv(inputShape: number[], padding: number, args: { filters: number; kernelSize: number; strides: number; useBias: boolean; activation?: 'relu' | 'linear' | 'tanh' }) {
  const input = tfl.input({ shape: inputShape });
  const out = new PaddedConv2D({ ...args, explicitPadding: padding, name: 'padded_conv' }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('PaddedConv2D', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('equals ZeroPadding2D + a valid Conv2D: output, shape and gradients (strides, odd sizes, bias, activations)', () => {
    const random = new SeededRandom(1);
    const cases = [
      { input: [8, 8, 3], padding: 1, filters: 4, kernelSize: 3, strides: 2, useBias: false },
      { input: [7, 9, 2], padding: 1, filters: 3, kernelSize: 3, strides: 2, useBias: true, activation: 'relu' as const },
      { input: [6, 6, 2], padding: 2, filters: 2, kernelSize: 5, strides: 1, useBias: true, activation: 'tanh' as const },
      { input: [5, 5, 1], padding: 0, filters: 2, kernelSize: 3, strides: 1, useBias: false },
    ];
    for (const { input, padding, ...args } of cases) {
      const reference = padThenConv(input, padding, args);
      const model = paddedConv(input, padding, args);
      model.setWeights(reference.getWeights());
      expect(model.outputs[0]!.shape).toEqual(reference.outputs[0]!.shape);
      tf.tidy(() => {
        const x = values([2, ...input], random);
        const want = reference.predict(x) as tf.Tensor;
        const got = model.predict(x) as tf.Tensor;
        expect(maxAbsDiff(got, want)).toBeLessThan(1e-6);
        const loss = (m: tfl.LayersModel) => (t: tf.Tensor) => tf.sum(tf.square(m.apply(t) as tf.Tensor)) as tf.Scalar;
        expect(maxAbsDiff(tf.grad(loss(model))(x), tf.grad(loss(reference))(x))).toBeLessThan(1e-5);
        const kernelGrad = (m: tfl.LayersModel) =>
          tf.variableGrads(() => loss(m)(x), [m.trainableWeights[0]!.read() as tf.Variable]).grads;
        const [gotKernel] = Object.values(kernelGrad(model));
        const [wantKernel] = Object.values(kernelGrad(reference));
        expect(maxAbsDiff(gotKernel!, wantKernel!)).toBeLessThan(1e-5);
      });
      reference.dispose();
      model.dispose();
    }
  });

  it('keeps tfjs-layers\' weight names and round-trips through the model JSON, leaking nothing', async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const layer = new PaddedConv2D({ filters: 4, kernelSize: 3, strides: 2, useBias: true, explicitPadding: 1, name: 'round_trip_conv' });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    expect(model.weights.map((w) => w.name)).toEqual(['round_trip_conv/kernel', 'round_trip_conv/bias']);
    const config = model.layers[1]!.getConfig();
    expect(config['explicitPadding']).toBe(1);
    const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) as never });
    expect(restored.layers[1]!.getClassName()).toBe('AdvpropPaddedConv2D');
    restored.setWeights(model.getWeights());
    const x = values([3, 8, 8, 3], new SeededRandom(2));
    expectNoTensorLeak(() => {
      tf.tidy(() => {
        expect(maxAbsDiff(restored.predict(x) as tf.Tensor, model.predict(x) as tf.Tensor)).toBe(0);
      });
    }, { label: 'PaddedConv2D predict' });
    x.dispose();
    model.dispose();
    restored.dispose();
  });

  it('rejects a padding that is not a non-negative integer, and channelsFirst, naming the layer', () => {
    expect(() => new PaddedConv2D({ filters: 1, kernelSize: 3, explicitPadding: -1, name: 'c1' })).toThrow(ConfigError);
    expect(() => new PaddedConv2D({ filters: 1, kernelSize: 3, explicitPadding: 1.5, name: 'c1' })).toThrow(
      'PaddedConv2D "c1": explicitPadding must be a non-negative integer, got 1.5',
    );
    expect(() => new PaddedConv2D({ filters: 1, kernelSize: 3, explicitPadding: 1, dataFormat: 'channelsFirst', name: 'c2' })).toThrow(
      'PaddedConv2D "c2": only channelsLast (NHWC) inputs are supported',
    );
  });
});
