import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasKernelOverride, overrideKernel, restoreKernel } from './kernel-override.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const MINE = Symbol('mine');
const OTHER = Symbol('other');

describe('overrideKernel / restoreKernel', () => {
  it('serves the kernel with ours, hands what it declines to the previous one, and restores it', () => {
    const stock = tf.getKernel('Neg', 'cpu')!.kernelFunc;
    let ours = 0;
    // ours doubles instead of negating for 1-element tensors, declines the rest
    const registered = overrideKernel('Neg', 'cpu', MINE, (fallback) => (args) => {
      const x = (args.inputs as { x: tf.TensorInfo }).x;
      if (x.shape.reduce((a, b) => a * b, 1) !== 1) return fallback!(args);
      ours++;
      const value = (args.backend as unknown as { readSync(id: object): Float32Array }).readSync(x.dataId)[0]!;
      return (
        args.backend as unknown as {
          makeTensorInfo(s: number[], d: string, v: Float32Array): tf.TensorInfo;
        }
      ).makeTensorInfo(x.shape, 'float32', Float32Array.of(2 * value));
    });
    const before = tf.memory().numTensors;
    try {
      tf.tidy(() => {
        expect(registered).toBe(true);
        expect(hasKernelOverride('Neg', 'cpu', MINE)).toBe(true);
        expect(hasKernelOverride('Neg', 'cpu', OTHER)).toBe(false);
        expect(tf.neg(tf.tensor1d([3])).dataSync()[0]).toBe(6);
        expect(Array.from(tf.neg(tf.tensor1d([1, 2])).dataSync())).toEqual([-1, -2]);
        expect(ours).toBe(1);
        // a second override with the same mark, or over a kept mark, changes nothing
        expect(overrideKernel('Neg', 'cpu', MINE, () => stock)).toBe(false);
        expect(overrideKernel('Neg', 'cpu', OTHER, () => stock, [MINE])).toBe(false);
        expect(tf.neg(tf.tensor1d([3])).dataSync()[0]).toBe(6);
      });
    } finally {
      restoreKernel('Neg', 'cpu', MINE);
    }
    expect(tf.getKernel('Neg', 'cpu')!.kernelFunc).toBe(stock);
    expect(hasKernelOverride('Neg', 'cpu', MINE)).toBe(false);
    expect(tf.tidy(() => tf.neg(tf.tensor1d([3])).dataSync()[0])).toBe(-3);
    expect(tf.memory().numTensors).toBe(before);
    // restoring what is not overridden is a no-op
    restoreKernel('Neg', 'cpu', MINE);
    expect(tf.getKernel('Neg', 'cpu')!.kernelFunc).toBe(stock);
  });
});
