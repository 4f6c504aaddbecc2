import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectFlatTensorCount, expectNoTensorLeak, TensorLeakError } from './leak-check.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('tensor leak helpers', () => {
  it('passes tidy code and does not count returned tensors', async () => {
    const result = await expectNoTensorLeak(() => tf.tidy(() => tf.add(tf.ones([2]), tf.ones([2]))));
    expect(Array.from(result.dataSync())).toEqual([2, 2]);
    result.dispose();
  });

  it('catches a leak', async () => {
    let kept: tf.Tensor | undefined;
    await expect(
      expectNoTensorLeak(() => {
        kept = tf.ones([3]);
        tf.ones([1]);
      }, { label: 'leaky op' }),
    ).rejects.toThrow(/leaky op leaked 2 tensor/);
    expect(kept).toBeDefined();
    tf.disposeVariables();
  });

  it('catches growth across iterations of a loop', async () => {
    const kept: tf.Tensor[] = [];
    await expect(expectFlatTensorCount(() => kept.push(tf.zeros([1])), { times: 2 })).rejects.toThrow(TensorLeakError);
    tf.dispose(kept);
    await expectFlatTensorCount(() => tf.tidy(() => tf.sum(tf.zeros([4])).dataSync()), { times: 3 });
  });
});
