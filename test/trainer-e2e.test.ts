/**
 * End-to-end: every training mode on real MNIST digits (the `mnist` package), small CNN, wasm
 * backend with @advprop/backends' training kernels. 2000 training images, 2 epochs, batch 16,
 * SGD + Nesterov with a cosine schedule; evaluated on a fixed random 500 of the 2000 test images.
 *
 * Measured (seed 1, wasm, 2 shared cores): clean accuracy vanilla 0.894, adversarial 0.648,
 * advprop 0.912 (aux BN 0.902), fast-advprop 0.880 (aux 0.882); FGSM eps 0.1 robust accuracy vanilla 0.268,
 * adversarial 0.498 (advprop 0.544, fast-advprop 0.384). Wall time ~115 s for the four runs.
 * Thresholds below leave a margin; chance is 0.1.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '@advprop/backends';
import { dualBnLayers, withRoute } from '@advprop/dual-bn';
import { loadModel } from '@advprop/dual-bn/node';
import { loadMnistPackage } from '@advprop/datasets';
import { train, type RunSummary, type TrainMode } from '@advprop/trainer';
import { stepBudgetMs } from './step-budget.js';

let tmp: string;
beforeAll(async () => {
  await useBackend('wasm');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-e2e-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const attackers: Partial<Record<TrainMode, unknown>> = {
  adversarial: { name: 'pgd', options: { epsilon: 0.15, stepSize: 0.06, steps: 3, targeted: 'none', randomStart: true } },
  advprop: { name: 'pgd', options: { epsilon: 0.1, stepSize: 0.1, steps: 1, targeted: 'random', randomStart: true } },
  'fast-advprop': { name: 'pgd', options: { epsilon: 0.1, stepSize: 0.125, steps: 1, targeted: 'random', randomStart: true } },
};

function config(mode: TrainMode, outDir?: string) {
  return {
    mode,
    dataset: { name: 'mnist-package' },
    model: { name: 'small-cnn', options: { filters: 8 } },
    ...(attackers[mode] ? { attacker: attackers[mode] } : {}),
    limit: 2000,
    epochs: 2,
    batchSize: 16,
    seed: 1,
    optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9, nesterov: true },
    schedule: { name: 'cosine' },
    evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: 0.1 } }], limit: 500, epochLimit: 0 },
    callbacks: [],
    ...(outDir ? { outDir } : {}),
  };
}

const summaries: Partial<Record<TrainMode, RunSummary>> = {};

// Each run: 2 epochs of 2000 / 16 batches, PGD-3 at most per step (adversarial mode's attack
// counts as 3 extra forward-backward passes).
const E2E_BUDGET_MS = stepBudgetMs(2 * (2000 / 16) * 4);

describe('training on MNIST', () => {
  it('vanilla learns', async () => {
    const r = await train(config('vanilla'));
    summaries.vanilla = r.summary;
    r.dispose();
    console.info('vanilla', JSON.stringify(r.summary));
    expect(r.summary.clean_accuracy).toBeGreaterThan(0.75);
    expect(r.summary.aux_accuracy).toBeNull();
  }, E2E_BUDGET_MS);

  it('adversarial (Madry) learns and is more robust than vanilla at eps 0.1', async () => {
    const r = await train(config('adversarial'));
    summaries.adversarial = r.summary;
    r.dispose();
    console.info('adversarial', JSON.stringify(r.summary));
    expect(r.summary.clean_accuracy).toBeGreaterThan(0.5);
    const vanilla = summaries.vanilla?.robust_accuracy.fgsm;
    expect(vanilla).toBeDefined();
    expect(r.summary.robust_accuracy.fgsm).toBeGreaterThan((vanilla as number) + 0.1);
  }, E2E_BUDGET_MS);

  it('advprop learns, updates both BN sets, and its inference export predicts like the main route', async () => {
    const out = path.join(tmp, 'advprop');
    const r = await train(config('advprop', out));
    try {
      summaries.advprop = r.summary;
      console.info('advprop', JSON.stringify(r.summary));
      expect(r.summary.clean_accuracy).toBeGreaterThan(0.7);
      expect(r.summary.aux_accuracy).toBeGreaterThan(0.4);
      const layers = dualBnLayers(r.model);
      expect(layers.length).toBe(4);
      for (const layer of layers) {
        for (const set of [layer.main, layer.aux]) {
          expect(Array.from(set.movingMean.read().dataSync()).some((v) => Math.abs(v) > 1e-3)).toBe(true);
          expect(Array.from(set.gamma!.read().dataSync()).some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);
        }
        expect(Array.from(layer.main.movingVariance.read().dataSync())).not.toEqual(Array.from(layer.aux.movingVariance.read().dataSync()));
        expect(Array.from(layer.main.beta!.read().dataSync())).not.toEqual(Array.from(layer.aux.beta!.read().dataSync()));
      }

      const inference = await loadModel(path.join(out, 'model-inference'));
      const data = await loadMnistPackage();
      const ex = data.read('test', Array.from({ length: 100 }, (_, i) => i * 20));
      const x = tf.tensor4d(ex.images, [100, 28, 28, 1]);
      try {
        expect(dualBnLayers(inference)).toHaveLength(0);
        const a = withRoute(r.model, 'main', () => r.model.predict(x) as tf.Tensor);
        const b = inference.predict(x) as tf.Tensor;
        const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number;
        expect(diff).toBeLessThan(1e-4);
        expect(Array.from(tf.argMax(a, -1).dataSync())).toEqual(Array.from(tf.argMax(b, -1).dataSync()));
        const c = withRoute(r.model, 'aux', () => r.model.predict(x) as tf.Tensor);
        expect(tf.max(tf.abs(tf.sub(a, c))).dataSync()[0] as number).toBeGreaterThan(1e-3);
        tf.dispose([a, b, c]);
      } finally {
        x.dispose();
        inference.dispose();
      }
    } finally {
      r.dispose();
    }
  }, E2E_BUDGET_MS);

  it('fast-advprop learns', async () => {
    const r = await train(config('fast-advprop'));
    summaries['fast-advprop'] = r.summary;
    r.dispose();
    console.info('fast-advprop', JSON.stringify(r.summary));
    expect(r.summary.clean_accuracy).toBeGreaterThan(0.7);
    expect(r.summary.aux_accuracy).toBeGreaterThan(0.4);
  }, E2E_BUDGET_MS);
});
