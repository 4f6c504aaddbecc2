import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom, expectNoTensorLeak } from '@advprop/core';
import { fgsm } from '@advprop/attacks';
import { corrupt, type CorruptionType } from '@advprop/datasets';
import { buildTinyModel, syntheticDataset } from './__fixtures__/tiny.js';
import { evaluate, evaluationIndices, type CorruptFn } from './evaluation.js';

const corruptFn: CorruptFn = (images, shape, o) => corrupt(images, shape, { type: o.type as CorruptionType, severity: o.severity, random: o.random });

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('evaluate with robustLimit', () => {
  it('runs attacks and corruptions on the seeded subset only, with the same scores as evaluating that subset alone', async () => {
    const dataset = syntheticDataset(16, 120);
    const model = buildTinyModel({ inputShape: [8, 8, 1], numClasses: 4, batchNorm: 'plain' });
    // Deterministic attack and corruption, so the two evaluations must agree example by example.
    const attacks = [{ name: 'fgsm', attacker: fgsm({ epsilon: 0.2 }) }];
    const corruptions = [{ type: 'contrast', severity: 5 }];
    const random = new SeededRandom(3);
    const limited = await expectNoTensorLeak(() =>
      evaluate(model, dataset, { limit: 100, robustLimit: 37, batchSize: 16, attacks, corruptions, corrupt: corruptFn, random }),
    );
    expect(limited.count).toBe(100);
    expect(limited.robust_count).toBe(37);

    const all = evaluationIndices(120, 100, random);
    const positions = evaluationIndices(all.length, 37, random.fork('robust-subset'));
    const subset = Array.from(positions, (p) => all[p] as number);
    const alone = await evaluate(model, dataset, { indices: subset, batchSize: 16, attacks, corruptions, corrupt: corruptFn, random });
    expect(limited.robust_accuracy).toEqual(alone.robust_accuracy);
    expect(limited.corrupted_accuracy).toEqual(alone.corrupted_accuracy);
    // Clean accuracy still covers all 100 examples.
    const full = await evaluate(model, dataset, { limit: 100, batchSize: 16, random });
    expect(limited.clean_accuracy).toBe(full.clean_accuracy);
    expect(full.robust_count).toBe(100);
    model.dispose();
  });
});
