import * as tf from '@tensorflow/tfjs-core';
import { overrideKernel } from '@advprop/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inputGradient, pgd, perSampleCrossEntropy } from './index.js';
import { writeGraphModel } from './__fixtures__/graph-model.js';
import { smallNet, uniformBatch, useCpu } from './__fixtures__/models.js';

beforeAll(useCpu);

describe('input gradients without filter gradients', () => {
  const calls = { Conv2DBackpropFilter: 0 };
  const TEST_MARK = Symbol('count filter gradients');
  beforeAll(() => {
    // count every call of the cpu filter-gradient kernel
    overrideKernel('Conv2DBackpropFilter', 'cpu', TEST_MARK, (fallback) => (args) => {
      calls.Conv2DBackpropFilter++;
      return (fallback as tf.KernelFunc)(args);
    });
  });
  const x = uniformBatch([4, 8, 8, 1], 5);
  const labels = tf.tensor1d([0, 1, 2, 3], 'int32') as tf.Tensor1D;
  afterAll(() => tf.dispose([x, labels]));

  const check = (forward: (x: tf.Tensor) => tf.Tensor) => {
    const objective = (xa: tf.Tensor) => tf.sum(perSampleCrossEntropy(forward(xa) as tf.Tensor2D, labels));
    calls.Conv2DBackpropFilter = 0;
    const plain = tf.grad(objective)(x);
    expect(calls.Conv2DBackpropFilter, 'tfjs computes the filter gradient eagerly').toBeGreaterThan(0);
    calls.Conv2DBackpropFilter = 0;
    const lean = inputGradient(objective)(x);
    expect(calls.Conv2DBackpropFilter, 'no filter gradient inside inputGradient').toBe(0);
    expect(Array.from(lean.dataSync())).toEqual(Array.from(plain.dataSync()));
    expect(tf.tidy(() => tf.max(tf.abs(plain)).dataSync()[0] as number)).toBeGreaterThan(0);
    tf.dispose([plain, lean]);
    // outside the scope the kernel computes again (weight gradients for training still work)
    const filterGrad = tf.tidy(() => tf.grad((f: tf.Tensor) => tf.sum(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, 1, 'valid')))(tf.ones([3, 3, 1, 2])));
    expect(calls.Conv2DBackpropFilter).toBeGreaterThan(0);
    expect(tf.tidy(() => tf.max(tf.abs(filterGrad)).dataSync()[0] as number)).toBeGreaterThan(0);
    filterGrad.dispose();
  };

  it('tfjs-layers conv (fused conv2d): same gradient, filter-gradient kernel not called', () => {
    const model = smallNet(5);
    check((t) => model.apply(t) as tf.Tensor);
    model.dispose();
  });

  it('a GraphModel _FusedConv2D: same gradient, filter-gradient kernel not called', async () => {
    const fixture = await writeGraphModel('nhwc');
    const graph = await fixture.load();
    check((t) => graph.execute(t) as tf.Tensor);
    graph.dispose();
    fixture.dispose();
  });

  it('attacks take their gradients that way', () => {
    const model = smallNet(5);
    calls.Conv2DBackpropFilter = 0;
    tf.dispose(pgd({ epsilon: 0.1, steps: 3 }).attack({ model, x, labels }));
    expect(calls.Conv2DBackpropFilter).toBe(0);
    model.dispose();
  });
});
