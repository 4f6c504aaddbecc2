/**
 * Test fixtures: a synthetic 8x8x1 four-class dataset (a bright quadrant per class plus noise) and
 * a tiny dense model with (dual) BN, both as registry plugins, so trainer tests run in seconds on
 * the cpu backend.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { SeededRandom, definePlugin, z, type DatasetAdapter, type ModelSpec } from '@advprop/core';
import { memoryDataset } from '@advprop/datasets';
import { dualBatchNormalization } from '@advprop/dual-bn';
import { SeededDropout } from '@advprop/models';
import { createDefaultRegistry } from '../registry.js';

export function syntheticArrays(count: number, seed: number): { images: Float32Array; labels: Int32Array } {
  const r = new SeededRandom(seed);
  const images = new Float32Array(count * 64);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const k = i % 4;
    labels[i] = k;
    const oy = k < 2 ? 0 : 4;
    const ox = k % 2 === 0 ? 0 : 4;
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 8; x++) {
        const inside = y >= oy && y < oy + 4 && x >= ox && x < ox + 4;
        const v = (inside ? 0.6 : 0.2) + 0.35 * r.float();
        images[i * 64 + y * 8 + x] = Math.min(1, v);
      }
    }
  }
  return { images, labels };
}

export function syntheticDataset(train = 256, test = 128, seed = 7): DatasetAdapter {
  return memoryDataset({
    name: 'synthetic',
    imageShape: [8, 8, 1],
    numClasses: 4,
    train: syntheticArrays(train, seed),
    test: syntheticArrays(test, seed + 1),
    seed,
  });
}

export function buildTinyModel(spec: ModelSpec, dropout = 0): tfl.LayersModel {
  const seeds = new SeededRandom(spec.random ? spec.random.tfSeed() : 1);
  const input = tfl.input({ shape: [...spec.inputShape] });
  let h = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  h = tfl.layers.dense({ units: 16, kernelInitializer: tfl.initializers.glorotUniform({ seed: seeds.tfSeed() }) }).apply(h) as tfl.SymbolicTensor;
  const bn = spec.batchNorm === 'dual' ? dualBatchNormalization({ momentum: 0.9 }) : tfl.layers.batchNormalization({ momentum: 0.9 });
  h = bn.apply(h) as tfl.SymbolicTensor;
  h = tfl.layers.activation({ activation: 'relu' }).apply(h) as tfl.SymbolicTensor;
  if (dropout > 0) h = new SeededDropout({ rate: dropout, seed: seeds.int(2 ** 31), name: 'tiny_dropout' }).apply(h) as tfl.SymbolicTensor;
  const out = tfl.layers
    .dense({ units: spec.numClasses, kernelInitializer: tfl.initializers.glorotUniform({ seed: seeds.tfSeed() }) })
    .apply(h) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out, name: 'tiny-dense' });
}

export const tinyModelPlugin = definePlugin({
  kind: 'model',
  name: 'tiny-dense',
  options: z.object({}).strict(),
  create: () => ({ name: 'tiny-dense', build: buildTinyModel }),
});

/** The tiny model with a seeded dropout layer (run-time state that checkpoints must carry). */
export const tinyDropoutModelPlugin = definePlugin({
  kind: 'model',
  name: 'tiny-dropout',
  options: z.object({ rate: z.number().min(0).lt(1).default(0.3) }).strict(),
  create: (_ctx, o) => ({ name: 'tiny-dropout', build: (spec: ModelSpec) => buildTinyModel(spec, o.rate) }),
});

export const syntheticPlugin = definePlugin({
  kind: 'dataset',
  name: 'synthetic',
  options: z.object({ train: z.number().int().positive().default(256), test: z.number().int().positive().default(128) }).strict(),
  create: (_ctx, o) => syntheticDataset(o.train, o.test),
});

export function testRegistry() {
  return createDefaultRegistry({ seed: 0 }).use([tinyModelPlugin, tinyDropoutModelPlugin, syntheticPlugin]);
}

/** A small, fast config on the synthetic data. */
export function tinyConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    mode: 'advprop',
    dataset: { name: 'synthetic' },
    model: { name: 'tiny-dense' },
    attacker: { name: 'pgd', options: { epsilon: 0.05, stepSize: 0.025, steps: 2, targeted: 'random' } },
    epochs: 2,
    batchSize: 32,
    seed: 3,
    optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 },
    evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: 0.05 } }], epochLimit: 64, limit: 128 },
    callbacks: [],
    ...overrides,
  };
}
