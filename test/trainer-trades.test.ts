/**
 * TRADES (a training mode that is only a plugin: packages/trainer/src/modes/trades.ts) on real
 * MNIST digits (the `mnist` package), small CNN, wasm backend: 2000 training images, 2 epochs,
 * batch 16, SGD + Nesterov with a cosine schedule, evaluated on a fixed random 500 test images
 * against PGD-10 at eps 0.1, like vanilla training with the same settings.
 *
 * TRADES settings: beta 3, its KL attack at eps 0.1, step 0.04, 3 steps.
 * Measured (seed 1, wasm, 2 shared cores, 2026-11-29): vanilla clean 0.864, PGD-10 0.062;
 * TRADES clean 0.868, PGD-10 0.658. Thresholds: both clean accuracies > 0.75 (chance 0.1);
 * TRADES' PGD-10 accuracy > vanilla's + 0.3.
 */
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '@advprop/backends';
import { train, type RunSummary } from '@advprop/trainer';

beforeAll(async () => {
  await useBackend('wasm');
});

function config(mode: 'vanilla' | 'trades') {
  return {
    mode,
    ...(mode === 'trades'
      ? { modeOptions: { beta: 3 }, attacker: { name: 'trades-kl', options: { epsilon: 0.1, stepSize: 0.04, steps: 3 } } }
      : {}),
    dataset: { name: 'mnist-package' },
    model: { name: 'small-cnn', options: { filters: 8 } },
    limit: 2000,
    epochs: 2,
    batchSize: 16,
    seed: 1,
    optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
    schedule: { name: 'cosine' },
    evaluation: { attacks: [{ name: 'pgd', options: { epsilon: 0.1, steps: 10 } }], limit: 500, epochLimit: 0 },
    callbacks: [],
  };
}

const summaries: Partial<Record<'vanilla' | 'trades', RunSummary>> = {};

describe('TRADES on MNIST', () => {
  it('vanilla baseline', async () => {
    const r = await train(config('vanilla'));
    summaries.vanilla = r.summary;
    r.dispose();
    console.info('vanilla', JSON.stringify(r.summary));
    expect(r.summary.clean_accuracy).toBeGreaterThan(0.75);
  });

  it('TRADES learns and is more robust than vanilla under PGD-10 at the same epsilon', async () => {
    const r = await train(config('trades'));
    summaries.trades = r.summary;
    r.dispose();
    console.info('trades', JSON.stringify(r.summary));
    expect(tf.memory().numTensors).toBeLessThan(1000);
    expect(r.summary.mode).toBe('trades');
    expect(r.summary.clean_accuracy).toBeGreaterThan(0.75);
    const vanilla = summaries.vanilla?.robust_accuracy.pgd as number;
    expect(vanilla).toBeDefined();
    expect(r.summary.robust_accuracy.pgd).toBeGreaterThan(vanilla + 0.3);
  });
});
