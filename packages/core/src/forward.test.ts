import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTABLE, type BnRoute } from './bn-route.js';
import { toForward } from './forward.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('toForward', () => {
  it('passes the BN mode and route to a layers-like model and restores the route', () => {
    const layer = { [ROUTABLE]: true as const, route: 'main' as BnRoute };
    const calls: { route: BnRoute; training: boolean | undefined }[] = [];
    const model = {
      layers: [layer],
      apply: (x: tf.Tensor | tf.Tensor[], kwargs?: { training?: boolean }) => {
        calls.push({ route: layer.route, training: kwargs?.training });
        return [tf.mul(x as tf.Tensor, 2)];
      },
    };
    const forward = toForward(model, { route: 'aux', training: true });
    const out = forward(tf.ones([1, 2]));
    expect(Array.from(out.dataSync())).toEqual([2, 2]);
    expect(calls).toEqual([{ route: 'aux', training: true }]);
    expect(layer.route).toBe('main');
    expect(() => toForward({ apply: () => [tf.ones([1]), tf.ones([1])] })(tf.ones([1]))).toThrow(/one output, got 2/);
  });

  it('accepts a plain function', () => {
    const f = toForward((x) => tf.neg(x));
    expect(Array.from(f(tf.ones([2])).dataSync())).toEqual([-1, -1]);
  });
});
