import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { expectNoTensorLeak, SeededRandom } from '@advprop/core';
import { denormalize, horizontalFlip, normalize, NORMALIZATION, randomCrop } from './transforms.js';

const batch = () => tf.tensor4d(Float32Array.from({ length: 4 * 6 * 6 * 2 }, (_, i) => (i % 97) / 97), [4, 6, 6, 2]);

describe('transforms', () => {
  it('randomCrop: each image is a shifted copy with zero padding, offsets within the padding, seeded', async () => {
    const x = batch();
    const xs = x.arraySync();
    const out = await expectNoTensorLeak(() => randomCrop(x, { padding: 2, random: new SeededRandom(3) }));
    expect(out.shape).toEqual([4, 6, 6, 2]);
    const os = out.arraySync();
    const shifts = new Set<string>();
    for (let n = 0; n < 4; n++) {
      // Find the shift (dy, dx) in [-2, 2]^2 explaining this output exactly.
      let found: string | undefined;
      for (let dy = -2; dy <= 2 && !found; dy++)
        for (let dx = -2; dx <= 2 && !found; dx++) {
          let ok = true;
          for (let y = 0; y < 6 && ok; y++)
            for (let xx = 0; xx < 6 && ok; xx++)
              for (let c = 0; c < 2; c++) {
                const sy = y + dy;
                const sx = xx + dx;
                const want = sy >= 0 && sy < 6 && sx >= 0 && sx < 6 ? xs[n]![sy]![sx]![c]! : 0;
                if (Math.abs(os[n]![y]![xx]![c]! - want) > 1e-6) ok = false;
              }
          if (ok) found = `${dy},${dx}`;
        }
      expect(found, `image ${n}`).toBeDefined();
      shifts.add(found as string);
    }
    expect(shifts.size).toBeGreaterThan(1);
    const again = randomCrop(x, { padding: 2, random: new SeededRandom(3) });
    expect(again.arraySync()).toEqual(os);
    const zero = randomCrop(x, { padding: 0, random: new SeededRandom(3) });
    expect(zero.arraySync()).toEqual(xs);
    // Crop and flip in one op: with flipProbability 1 it is the mirror of the plain crop.
    const cf = randomCrop(x, { padding: 2, random: new SeededRandom(3), flipProbability: 1 });
    const plain = randomCrop(x, { padding: 2, random: new SeededRandom(3) });
    const mirrored = tf.reverse(plain, 2);
    expect(cf.arraySync()).toEqual(mirrored.arraySync());
    // Maximal offsets on a larger image (positions at the very edges of the padded image).
    const big = tf.tensor4d(Float32Array.from({ length: 64 * 31 * 33 * 3 }, (_, i) => ((i * 7) % 255) / 255), [64, 31, 33, 3]);
    const crops = randomCrop(big, { padding: 4, random: new SeededRandom(11) });
    const padded = tf.pad(big, [[0, 0], [4, 4], [4, 4], [0, 0]]);
    const pc = padded.arraySync();
    const cc = crops.arraySync();
    const r = new SeededRandom(11);
    for (let n = 0; n < 64; n++) {
      const oy = r.int(9);
      const ox = r.int(9);
      r.float();
      for (const [y, xx] of [[0, 0], [30, 32], [0, 32], [30, 0], [15, 16]] as const) {
        expect(cc[n]![y]![xx]).toEqual(pc[n]![oy + y]![ox + xx]);
      }
    }
    tf.dispose([x, out, again, zero, cf, plain, mirrored, big, crops, padded]);
  });

  it('horizontalFlip: probability 1 mirrors every image, 0 none, 0.5 some; seeded', async () => {
    const x = batch();
    const all = await expectNoTensorLeak(() => horizontalFlip(x, { probability: 1, random: new SeededRandom(1) }));
    const mirrored = tf.reverse(x, 2);
    expect(all.arraySync()).toEqual(mirrored.arraySync());
    const none = horizontalFlip(x, { probability: 0, random: new SeededRandom(1) });
    expect(none.arraySync()).toEqual(x.arraySync());
    const half = horizontalFlip(tf.tile(x, [8, 1, 1, 1]) as tf.Tensor4D, { random: new SeededRandom(2) });
    const flipped = half.arraySync().filter((img, i) => JSON.stringify(img) === JSON.stringify(mirrored.arraySync()[i % 4])).length;
    expect(flipped).toBeGreaterThan(4);
    expect(flipped).toBeLessThan(28);
    tf.dispose([x, all, mirrored, none, half]);
  });

  it('normalize / denormalize per channel, with clear shape errors', async () => {
    const x = batch();
    const n = await expectNoTensorLeak(() => normalize(x, { mean: [0.5, 0.25], std: [0.5, 0.25] }));
    const v = x.dataSync();
    const nv = n.dataSync();
    expect(nv[0]).toBeCloseTo(((v[0] as number) - 0.5) / 0.5, 6);
    expect(nv[1]).toBeCloseTo(((v[1] as number) - 0.25) / 0.25, 6);
    const back = denormalize(n, { mean: [0.5, 0.25], std: [0.5, 0.25] });
    expect(Array.from(back.dataSync()).every((b, i) => Math.abs(b - (v[i] as number)) < 1e-6)).toBe(true);
    expect(() => normalize(x, NORMALIZATION.cifar10)).toThrow(/3 values for 2 channels/);
    expect(() => normalize(tf.zeros([2, 2]) as never, NORMALIZATION.mnist)).toThrow(/rank 4/);
    tf.dispose([x, n, back]);
  });
});
