import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom, expectNoTensorLeak } from '@advprop/core';
import { testRegistry, tinyConfig } from './__fixtures__/tiny.js';
import { augmentBatch } from './augment.js';
import { resolveTrainConfig } from './config.js';
import { train } from './node-train.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

/** A batch of 6x6 images whose pixels are distinct (position codes), so each crop can be located. */
function codedBatch(n: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({ length: n * 36 }, (_, i) => ((i % 36) + 1) / 100 + Math.floor(i / 36)), [n, 6, 6, 1]);
}

function imagesOf(t: tf.Tensor4D): number[][][] {
  const squeezed = tf.squeeze(t, [3]);
  const images = squeezed.arraySync() as number[][][];
  squeezed.dispose();
  return images;
}

/** The (dy, dx, flipped) of an output image within its zero-padded source, or null if it is no crop of it. */
function locate(src: number[][], out: number[][], padding: number): [number, number, boolean] | null {
  const size = src.length;
  const at = (y: number, x: number) => (y < 0 || x < 0 || y >= size || x >= size ? 0 : (src[y] as number[])[x] as number);
  for (const flipped of [false, true]) {
    for (let dy = -padding; dy <= padding; dy++) {
      for (let dx = -padding; dx <= padding; dx++) {
        let ok = true;
        for (let y = 0; y < size && ok; y++) {
          for (let x = 0; x < size && ok; x++) {
            const sx = flipped ? size - 1 - x : x;
            ok = Math.abs(((out[y] as number[])[x] as number) - at(y + dy, sx + dx)) < 1e-6;
          }
        }
        if (ok) return [dy, dx, flipped];
      }
    }
  }
  return null;
}

describe('augment', () => {
  it('random crops (with flips) are real crops of the padded images, seeded by the stream', async () => {
    const x = codedBatch(16);
    const augment = resolveTrainConfig({ augment: { randomCrop: { padding: 2 }, flip: true } }).augment;
    const a = augmentBatch(x, augment, new SeededRandom(5).fork('augment')) as tf.Tensor4D;
    const b = augmentBatch(x, augment, new SeededRandom(5).fork('augment')) as tf.Tensor4D;
    const c = augmentBatch(x, augment, new SeededRandom(6).fork('augment')) as tf.Tensor4D;
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync())); // same stream, same crops
    expect(Array.from(a.dataSync())).not.toEqual(Array.from(c.dataSync()));
    const src = imagesOf(x);
    const out = imagesOf(a);
    const found = out.map((img, i) => locate(src[i] as number[][], img, 2));
    expect(found.every((f) => f !== null)).toBe(true);
    // 16 images: the offsets and flips vary (not all the identity)
    expect(new Set(found.map((f) => JSON.stringify(f))).size).toBeGreaterThan(3);
    expect(found.some((f) => f![2])).toBe(true);
    expect(found.some((f) => !f![2])).toBe(true);
    tf.dispose([x, a, b, c]);
  });

  it('flip alone mirrors about half the images; no augmentation returns undefined; nothing leaks', async () => {
    const x = codedBatch(32);
    await expectNoTensorLeak(() => {
      const none = augmentBatch(x, resolveTrainConfig({}).augment, new SeededRandom(1));
      expect(none).toBeUndefined();
      const flipped = augmentBatch(x, resolveTrainConfig({ augment: { flip: true } }).augment, new SeededRandom(1)) as tf.Tensor4D;
      const src = imagesOf(x);
      const found = imagesOf(flipped).map((img, i) => locate(src[i] as number[][], img, 0));
      expect(found.every((f) => f !== null && f[0] === 0 && f[1] === 0)).toBe(true);
      const count = found.filter((f) => f![2]).length;
      expect(count).toBeGreaterThan(6);
      expect(count).toBeLessThan(26);
      flipped.dispose();
    });
    x.dispose();
  });

  it('bad augment options name the field', () => {
    expect(() => resolveTrainConfig({ augment: { randomCrop: { padding: 0 } } })).toThrow(/augment\.randomCrop\.padding/);
    expect(() => resolveTrainConfig({ augment: { crop: true } })).toThrow(/augment/);
  });

  it('a run with augmentation repeats exactly with the same seed and differs from one without', async () => {
    const weights = async (overrides: Record<string, unknown>) => {
      const registry = testRegistry();
      const result = await train(tinyConfig({ mode: 'vanilla', epochs: 1, evaluation: { attacks: [], epochLimit: 0, limit: 32 }, ...overrides }), { registry });
      try {
        return result.model.weights.map((w) => Array.from(w.read().dataSync()));
      } finally {
        result.dispose();
        await registry.dispose();
      }
    };
    const augment = { randomCrop: { padding: 1 }, flip: true };
    const first = await weights({ augment });
    expect(await weights({ augment })).toEqual(first);
    expect(await weights({})).not.toEqual(first);
  });
});
