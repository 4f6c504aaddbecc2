import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoTensorLeak, SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';
import { corrupt, CORRUPTIONS, CORRUPTION_PARAMETERS } from './corruptions.js';
import { corruptedDataset } from './derived.js';
import { loadMnistPackage } from './mnist-package.js';

/** Smooth, varied colour images (CIFAR-shaped). */
function colourImages(n: number): Float32Array {
  const out = new Float32Array(n * 32 * 32 * 3);
  for (let k = 0; k < n; k++)
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++)
        for (let c = 0; c < 3; c++) {
          const v = 0.5 + 0.35 * Math.sin((x * (c + 1) + y * (k + 2)) / 6) + 0.1 * Math.cos((x - y) / 4 + k);
          out[((k * 32 + y) * 32 + x) * 3 + c] = Math.min(1, Math.max(0, v));
        }
  return out;
}

const distance = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - (b[i] as number)) ** 2, 0));

describe('corruptions', async () => {
  const mnist = await loadMnistPackage();
  const digits = mnist.read('test', [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // one of each digit (classes are interleaved)
  const cases = [
    { name: 'MNIST digits', images: digits.images, shape: [10, 28, 28, 1] },
    { name: 'colour 32x32', images: colourImages(6), shape: [6, 32, 32, 3] },
  ];

  it('lists at least the ten required corruptions, each with five severities', () => {
    for (const t of ['gaussian-noise', 'shot-noise', 'impulse-noise', 'defocus-blur', 'motion-blur', 'brightness', 'contrast', 'pixelate', 'jpeg', 'fog']) {
      expect(CORRUPTIONS).toContain(t);
    }
    for (const t of CORRUPTIONS) expect(CORRUPTION_PARAMETERS[t].values).toHaveLength(5);
  });

  for (const type of CORRUPTIONS) {
    it(`${type}: identity at 0, distance grows with severity, values in [0, 1], seeded`, () => {
      for (const { name, images, shape } of cases) {
        const zero = corrupt(images, shape, { type, severity: 0, random: new SeededRandom(1) });
        expect(Array.from(zero)).toEqual(Array.from(images));
        expect(zero).not.toBe(images);
        let previous = 0;
        for (let s = 1; s <= 5; s++) {
          const before = images.slice();
          const out = corrupt(images, shape, { type, severity: s, random: new SeededRandom(1) });
          expect(Array.from(images)).toEqual(Array.from(before)); // input untouched
          let lo = Infinity;
          let hi = -Infinity;
          for (const v of out) {
            if (v < lo) lo = v;
            if (v > hi) hi = v;
          }
          expect(lo, `${type} ${s} ${name}`).toBeGreaterThanOrEqual(0);
          expect(hi, `${type} ${s} ${name}`).toBeLessThanOrEqual(1);
          const d = distance(out, images);
          expect(d, `${type} severity ${s} on ${name}: ${d} vs ${previous}`).toBeGreaterThan(previous);
          previous = d;
          const again = corrupt(images, shape, { type, severity: s, random: new SeededRandom(1) });
          expect(Array.from(again)).toEqual(Array.from(out));
        }
      }
    });
  }

  it('random corruptions depend on the seed', () => {
    for (const type of ['gaussian-noise', 'shot-noise', 'impulse-noise', 'fog', 'motion-blur'] as const) {
      const a = corrupt(digits.images, [10, 28, 28, 1], { type, severity: 3, random: new SeededRandom(1) });
      const b = corrupt(digits.images, [10, 28, 28, 1], { type, severity: 3, random: new SeededRandom(2) });
      expect(distance(a, b), type).toBeGreaterThan(0);
    }
  });

  it('rejects unknown types, bad severities and wrong shapes', () => {
    expect(() => corrupt(digits.images, [10, 28, 28, 1], { type: 'snow' as never, severity: 1 })).toThrow(/unknown corruption "snow".*gaussian-noise/);
    expect(() => corrupt(digits.images, [10, 28, 28, 1], { type: 'fog', severity: 6 })).toThrow(/severity/);
    expect(() => corrupt(digits.images, [9, 28, 28, 1], { type: 'fog', severity: 1 })).toThrow(/do not match shape/);
  });

  it('corruptedDataset corrupts the test split only, the same way whatever the batching, without leaks', async () => {
    const c = corruptedDataset(mnist, { type: 'gaussian-noise', severity: 3, seed: 7 });
    expect(c.info.name).toBe('mnist-package-gaussian-noise-3');
    expect(Array.from(c.read('train', [5]).images)).toEqual(Array.from(mnist.read('train', [5]).images));
    const one = c.read('test', [42]).images;
    const inBatch = c.read('test', [3, 42, 9]).images.subarray(784, 2 * 784);
    expect(Array.from(inBatch)).toEqual(Array.from(one));
    expect(distance(one, mnist.read('test', [42]).images)).toBeGreaterThan(0.5);
    await expectNoTensorLeak(async () => {
      let n = 0;
      for await (const b of c.batches({ split: 'test', batchSize: 128, limit: 500 })) {
        n += b.x.shape[0];
        tf.dispose([b.x, b.y]);
      }
      expect(n).toBe(500);
    });
    expect(() => corruptedDataset(mnist, { type: 'nope' as never, severity: 1 })).toThrow(/unknown corruption/);
  });

  it('corruptedDataset with a share and mixed corruptions corrupts that share of the training images, the same whatever the batching', () => {
    const c = corruptedDataset(mnist, { type: 'mixed', severity: 'mixed', share: 0.3, seed: 11, splits: ['train'] });
    expect(c.info.name).toBe('mnist-package-mixed-mixed-share-0.3');
    const indices = Array.from({ length: 400 }, (_, i) => i);
    const all = c.read('train', indices).images;
    const clean = mnist.read('train', indices).images;
    let changed = 0;
    for (let i = 0; i < indices.length; i++) {
      if (distance(all.subarray(i * 784, (i + 1) * 784), clean.subarray(i * 784, (i + 1) * 784)) > 0) changed++;
    }
    // 30 % of 400 drawn per example: 120 expected, sd about 9 (a few corruptions of a few images may leave them unchanged).
    expect(changed).toBeGreaterThan(90);
    expect(changed).toBeLessThan(150);
    expect(Array.from(c.read('train', [17, 250]).images.subarray(784))).toEqual(Array.from(all.subarray(250 * 784, 251 * 784)));
    expect(Array.from(c.read('test', [5]).images)).toEqual(Array.from(mnist.read('test', [5]).images));
    expect(() => corruptedDataset(mnist, { type: 'mixed', severity: 'mixed', share: 0 })).toThrow(/share must be in \(0, 1\]/);
  });

  it('corrupts tiny images (smaller than a JPEG block or the blur kernels)', () => {
    const ds = new InMemoryDataset({ name: 'tiny', imageShape: [3, 5, 3], train: { images: new Uint8Array(45).map((_, i) => i * 5), labels: [0] } });
    const img = ds.read('train', [0]).images;
    for (const type of CORRUPTIONS) {
      const out = corrupt(img, [3, 5, 3], { type, severity: 5, random: new SeededRandom(3) });
      expect(out.every((v) => v >= 0 && v <= 1 && Number.isFinite(v)), type).toBe(true);
    }
  });
});
