import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  PluginNotFoundError,
  SeededRandom,
  ShapeError,
  TrainingDivergedError,
  TrainingInterruptedError,
  definePlugin,
  expectFlatTensorCount,
  z,
  type DatasetAdapter,
} from '@advprop/core';
import { iterateBatches } from '@advprop/datasets';
import { dualBnLayers } from '@advprop/dual-bn';
import { buildTinyModel, syntheticDataset, testRegistry, tinyConfig } from './__fixtures__/tiny.js';
import { loadCheckpoint } from './checkpoint.js';
import { train } from './node-train.js';
import { loadRun } from './run-dir.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-trainer-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const dir = (name: string) => path.join(tmp, name);
const weightsOf = (model: LayersModel) => model.weights.map((w) => Array.from(w.read().dataSync()));

describe('train() on synthetic data', () => {
  it.each(['vanilla', 'adversarial', 'advprop', 'fast-advprop'] as const)('learns in %s mode', async (mode) => {
    const registry = testRegistry();
    const result = await train(tinyConfig({ mode, epochs: 3 }), { registry });
    try {
      // 4 classes: chance is 0.25. Measured: 1.0 in every mode (seed 3).
      expect(result.summary.clean_accuracy).toBeGreaterThan(0.9);
      expect(result.summary.mode).toBe(mode);
      expect(result.summary.steps).toBe(3 * 8);
      if (mode === 'advprop' || mode === 'fast-advprop') expect(result.summary.aux_accuracy).not.toBeNull();
      else expect(result.summary.aux_accuracy).toBeNull();
      expect(Object.keys(result.summary.robust_accuracy)).toEqual(['fgsm']);
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });

  it('advprop updates both BN sets (affine parameters and running statistics)', async () => {
    const registry = testRegistry();
    const result = await train(tinyConfig({ epochs: 1 }), { registry });
    try {
      const [layer] = dualBnLayers(result.model);
      expect(layer).toBeDefined();
      for (const set of [layer!.main, layer!.aux]) {
        const mean = Array.from(set.movingMean.read().dataSync());
        const gamma = Array.from(set.gamma!.read().dataSync());
        expect(mean.some((v) => Math.abs(v) > 1e-4)).toBe(true);
        expect(gamma.some((v) => Math.abs(v - 1) > 1e-4)).toBe(true);
      }
      const mainMean = Array.from(layer!.main.movingMean.read().dataSync());
      const auxMean = Array.from(layer!.aux.movingMean.read().dataSync());
      expect(mainMean).not.toEqual(auxMean);
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });

  it('vanilla on a dual model leaves the auxiliary BN untouched', async () => {
    const registry = testRegistry();
    const model = buildTinyModel({ inputShape: [8, 8, 1], numClasses: 4, batchNorm: 'dual' });
    const result = await train(tinyConfig({ mode: 'vanilla', epochs: 1 }), { registry, model });
    try {
      const [layer] = dualBnLayers(result.model);
      expect(Array.from(layer!.aux.movingMean.read().dataSync()).every((v) => v === 0)).toBe(true);
      expect(Array.from(layer!.aux.gamma!.read().dataSync()).every((v) => v === 1)).toBe(true);
      expect(Array.from(layer!.main.movingMean.read().dataSync()).some((v) => v !== 0)).toBe(true);
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });
});

describe('run directory, checkpoints and resume', () => {
  it('writes the run directory and loads it back', async () => {
    const registry = testRegistry();
    const out = dir('layout');
    const result = await train(tinyConfig({ outDir: out, callbacks: [{ name: 'metrics-logger' }] }), { registry });
    try {
      const files = await fs.readdir(out);
      expect(files).toEqual(expect.arrayContaining(['config.json', 'run.json', 'metrics.jsonl', 'checkpoints', 'model-dual', 'model-inference', 'summary.json']));
      const summary = JSON.parse(await fs.readFile(path.join(out, 'summary.json'), 'utf8'));
      for (const key of ['mode', 'dataset', 'model', 'backend', 'epochs', 'seed', 'clean_accuracy', 'aux_accuracy', 'robust_accuracy', 'images_per_second', 'wall_seconds']) {
        expect(summary).toHaveProperty(key);
      }
      expect(summary.backend).toBe('cpu');
      const ckpts = await fs.readdir(path.join(out, 'checkpoints'));
      expect(ckpts).toEqual(expect.arrayContaining(['latest.json', 'best.json']));
      expect(ckpts.filter((e) => e.startsWith('ckpt-')).length).toBeLessThanOrEqual(2); // keepLast 1 + best
      expect(ckpts.some((e) => e.startsWith('.tmp-'))).toBe(false);
      const lines = (await fs.readFile(path.join(out, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.filter((l) => l.type === 'batch')).toHaveLength(16);
      expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(2);
      expect(lines.at(-1).type).toBe('end');
      const loaded = await loadRun(out, { registry });
      try {
        expect(weightsOf(loaded.model)).toEqual(weightsOf(result.model));
      } finally {
        loaded.model.dispose();
      }
      const fromCheckpoint = await loadRun(out, { registry, which: 'latest' });
      try {
        expect(weightsOf(fromCheckpoint.model)).toEqual(weightsOf(result.model));
      } finally {
        fromCheckpoint.model.dispose();
      }
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });

  it('a model with seeded dropout resumes its mask sequence: same weights as an uninterrupted run', async () => {
    const registry = testRegistry();
    const config = tinyConfig({ mode: 'advprop', epochs: 2, checkpoint: { everySteps: 3 }, model: { name: 'tiny-dropout', options: { rate: 0.3 } } });
    const full = await train({ ...config, outDir: dir('dropout-full') }, { registry });
    const expected = weightsOf(full.model);
    full.dispose();
    const crasher = { onBatchEnd: (e: { step: number }) => { if (e.step === 11) throw new Error('simulated crash'); } };
    await expect(train({ ...config, outDir: dir('dropout-crashed') }, { registry, callbacks: [crasher] })).rejects.toThrow('simulated crash');
    const ck = await loadCheckpoint(dir('dropout-crashed'));
    // 9 steps, 3 training forward passes each (attack in inference mode: no dropout call)
    expect(ck?.layers).toEqual({ tiny_dropout: { calls: 18 } });
    const resumed = await train({ ...config, outDir: dir('dropout-crashed'), resume: true }, { registry });
    try {
      expect(weightsOf(resumed.model)).toEqual(expected); // bitwise, so the masks after the resume were the same
    } finally {
      resumed.dispose();
      await registry.dispose();
    }
  });

  it('a run that crashes after a checkpoint resumes to the same weights as an uninterrupted run', async () => {
    const registry = testRegistry();
    const config = tinyConfig({ mode: 'fast-advprop', epochs: 2, checkpoint: { everySteps: 3 } });
    const full = await train({ ...config, outDir: dir('full') }, { registry });
    const expected = weightsOf(full.model);
    full.dispose();

    const crashAt = 11; // after the checkpoint at step 9, mid epoch 2
    const crasher = { onBatchEnd: (e: { step: number }) => { if (e.step === crashAt) throw new Error('simulated crash'); } };
    await expect(train({ ...config, outDir: dir('crashed') }, { registry, callbacks: [crasher] })).rejects.toThrow('simulated crash');
    const ck = await loadCheckpoint(dir('crashed'));
    expect(ck?.position).toEqual({ epoch: 1, batchInEpoch: 1, step: 9 });

    const resumed = await train({ ...config, outDir: dir('crashed'), resume: true }, { registry });
    try {
      expect(resumed.summary.resumed_from).toEqual({ epoch: 1, step: 9 });
      expect(resumed.summary.steps).toBe(16);
      expect(weightsOf(resumed.model)).toEqual(expected); // bitwise
    } finally {
      resumed.dispose();
      await registry.dispose();
    }
  });

  it('refuses to overwrite an earlier run unless resuming', async () => {
    const registry = testRegistry();
    const out = dir('existing');
    const first = await train(tinyConfig({ epochs: 1, outDir: out }), { registry });
    first.dispose();
    const before = await fs.readFile(path.join(out, 'summary.json'), 'utf8');
    await expect(train(tinyConfig({ epochs: 1, outDir: out }), { registry })).rejects.toThrow(/already holds a run; pass resume: true/);
    await expect(train(tinyConfig({ epochs: 1, outDir: out, resume: true, seed: 4 }), { registry })).rejects.toThrow(/seed was 3, now 4/);
    expect(await fs.readFile(path.join(out, 'summary.json'), 'utf8')).toBe(before);
    await registry.dispose();
  });
});

describe('bad input', () => {
  it('names the known plugins for an unknown name', async () => {
    const registry = testRegistry();
    await expect(train(tinyConfig({ model: { name: 'resnet-9000' } }), { registry })).rejects.toThrow(PluginNotFoundError);
    await expect(train(tinyConfig({ model: { name: 'resnet-9000' } }), { registry })).rejects.toThrow(/Available model plugins: .*"small-cnn".*"tiny-dense"/);
    await expect(train(tinyConfig({ attacker: { name: 'pgdd' } }), { registry })).rejects.toThrow(/No attacker plugin named "pgdd".*"pgd"/);
    await expect(train(tinyConfig({ callbacks: [{ name: 'tensorboard' }] }), { registry })).rejects.toThrow(/No callback plugin named "tensorboard".*"early-stopping"/);
    const out = dir('never-created');
    await expect(train(tinyConfig({ dataset: { name: 'imagenet' }, outDir: out }), { registry })).rejects.toThrow(/No dataset plugin named "imagenet".*"mnist-package"/);
    await expect(fs.access(out)).rejects.toThrow(); // failed before creating the run directory
    await expect(train(tinyConfig({ optimizer: { name: 'lion' } }), { registry })).rejects.toThrow(/No optimizer plugin named "lion".*"adam", "adamw", "sgd"/);
    await expect(train(tinyConfig({ schedule: { name: 'onecycle' } }), { registry })).rejects.toThrow(/No schedule plugin named "onecycle".*"constant", "cosine", "step"/);
    await expect(train(tinyConfig({ optimizer: { name: 'sgd', momentum: 2 } }), { registry })).rejects.toThrow(/optimizer\.momentum/);
    await registry.dispose();
  });

  it('rejects a dataset whose image shape does not fit the model', async () => {
    const registry = testRegistry();
    const model = buildTinyModel({ inputShape: [28, 28, 1], numClasses: 4, batchNorm: 'dual' });
    try {
      await expect(train(tinyConfig(), { registry, model })).rejects.toThrow(ShapeError);
      await expect(train(tinyConfig(), { registry, model })).rejects.toThrow(
        'dataset "synthetic" has images of shape [8, 8, 1], but model "tiny-dense" takes inputs of shape [28, 28, 1]',
      );
      // A registry model that cannot take the images at all (small-cnn needs >= 8x8; give it 4x4).
      const tiny4 = definePlugin({
        kind: 'dataset',
        name: 'synthetic-4x4',
        options: z.object({}).strict(),
        create: async () => (await import('@advprop/datasets')).memoryDataset({ name: 'synthetic-4x4', imageShape: [4, 4, 1], numClasses: 2, train: { images: new Float32Array(64), labels: [0, 1, 0, 1] } }),
      });
      registry.register(tiny4);
      await expect(train(tinyConfig({ dataset: { name: 'synthetic-4x4' }, model: { name: 'small-cnn' } }), { registry })).rejects.toThrow(
        /model "small-cnn" cannot take dataset "synthetic-4x4" images of shape \[4, 4, 1\]/,
      );
    } finally {
      model.dispose();
      await registry.dispose();
    }
  });

  it('stops with TrainingDivergedError on a NaN loss and keeps the last good checkpoint', async () => {
    const registry = testRegistry();
    let reads = 0;
    const poisoned = definePlugin({
      kind: 'dataset',
      name: 'poisoned',
      options: z.object({}).strict(),
      create: (): DatasetAdapter => {
        const base = syntheticDataset();
        const adapter: DatasetAdapter = {
          info: base.info,
          size: (s) => base.size(s),
          labels: (s) => base.labels(s),
          // the trainer takes its batches from batches(), which reads through the poisoned read()
          batches: (o) => iterateBatches(adapter, o, new SeededRandom(0)),
          read: (split, idx) => {
            const ex = base.read(split, idx);
            if (split === 'train' && ++reads > 10) ex.images.fill(Number.NaN);
            return ex;
          },
        };
        return adapter;
      },
    });
    registry.register(poisoned);
    const out = dir('nan');
    const config = tinyConfig({ mode: 'vanilla', dataset: { name: 'poisoned' }, outDir: out, checkpoint: { everySteps: 4 }, evaluation: { attacks: [], epochLimit: 0 } });
    const error = await train(config, { registry }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(/training diverged at epoch 2, step 11 \(batch 3 of the epoch\): loss is NaN/);
    expect((error as Error).message).toContain('last good checkpoint');
    const ck = await loadCheckpoint(out);
    expect(ck?.position.step).toBe(8);
    expect(ck?.weights.every((w) => w.values.every(Number.isFinite))).toBe(true);
    await registry.dispose();
  });

  it('rejects an unwritable output directory before training', async () => {
    const registry = testRegistry();
    const file = dir('a-file');
    await fs.writeFile(file, 'not a directory');
    await expect(train(tinyConfig({ outDir: path.join(file, 'run') }), { registry })).rejects.toThrow(CheckpointError);
    await expect(train(tinyConfig({ outDir: path.join(file, 'run') }), { registry })).rejects.toThrow(/output directory .*a-file\/run is not writable/);
    expect(await fs.readFile(file, 'utf8')).toBe('not a directory');
    await registry.dispose();
  });

  it('reports a corrupt checkpoint clearly and changes nothing', async () => {
    const registry = testRegistry();
    const out = dir('corrupt');
    const crasher = { onBatchEnd: (e: { step: number }) => { if (e.step === 6) throw new Error('crash'); } };
    await expect(train(tinyConfig({ outDir: out, checkpoint: { everySteps: 4 } }), { registry, callbacks: [crasher] })).rejects.toThrow('crash');
    const ck = await loadCheckpoint(out);
    const weightsFile = path.join(ck!.dir, 'weights.bin');
    const bytes = await fs.readFile(weightsFile);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    await fs.writeFile(weightsFile, bytes);
    const listing = async () => (await fs.readdir(path.join(out, 'checkpoints'))).sort();
    const before = await listing();
    await expect(train(tinyConfig({ outDir: out, resume: true, checkpoint: { everySteps: 4 } }), { registry })).rejects.toThrow(
      /checkpoint file .*weights\.bin is corrupt: sha256 mismatch/,
    );
    await fs.writeFile(path.join(out, 'checkpoints', 'latest.json'), '{"checkpoint": ');
    await expect(train(tinyConfig({ outDir: out, resume: true, checkpoint: { everySteps: 4 } }), { registry })).rejects.toThrow(
      /checkpoint pointer .*latest\.json is corrupt/,
    );
    expect(await listing()).toEqual(before);
    await registry.dispose();
  });
});

describe('tensor ownership', () => {
  it('the whole loop leaks no tensors, and the count is flat across epochs', async () => {
    const registry = testRegistry();
    const perEpoch: number[] = [];
    const probe = { onEpochEnd: () => void perEpoch.push(tf.memory().numTensors) };
    for (const mode of ['advprop', 'fast-advprop', 'adversarial', 'vanilla'] as const) {
      await expectFlatTensorCount(
        async () => {
          const r = await train(tinyConfig({ mode, epochs: 1 }), { registry });
          r.dispose();
        },
        { times: 1, label: `train(${mode})` },
      );
    }
    const r = await train(tinyConfig({ epochs: 3, optimizer: { name: 'adamw', lr: 0.01, weightDecay: 0.01 } }), { registry, callbacks: [probe] });
    r.dispose();
    expect(perEpoch).toHaveLength(3);
    expect(new Set(perEpoch).size).toBe(1);
    await registry.dispose();
  });
});

describe('evaluation and options', () => {
  it('reports corrupted and per-class accuracy, and early stopping ends the run', async () => {
    const registry = testRegistry();
    const result = await train(
      tinyConfig({
        mode: 'vanilla',
        epochs: 6,
        labelSmoothing: 0.1,
        gradClipNorm: 1,
        optimizer: { name: 'adam', lr: 0.05 },
        schedule: { name: 'step', milestones: [2], gamma: 0.5, warmupEpochs: 0.5 },
        earlyStopping: { monitor: 'val_accuracy', patience: 1 },
        evaluation: {
          attacks: [{ name: 'fgsm', options: { epsilon: 0.05 } }, { name: 'fgsm', options: { epsilon: 0.3 } }],
          corruptions: [{ type: 'gaussian-noise', severity: 5 }, { type: 'contrast', severity: 5 }],
          limit: 100,
          epochLimit: 64,
        },
      }),
      { registry },
    );
    try {
      const s = result.summary;
      expect(s.per_class_accuracy).toHaveLength(4);
      for (const a of s.per_class_accuracy) expect(a).toBeGreaterThan(0.5);
      expect(Object.keys(s.corrupted_accuracy ?? {})).toEqual(['gaussian-noise-5', 'contrast-5']);
      // Severe low contrast washes the quadrant out; it must not score above clean accuracy.
      expect(s.corrupted_accuracy!['contrast-5']).toBeLessThanOrEqual(s.clean_accuracy);
      const labels = Object.keys(s.robust_accuracy);
      expect(labels).toEqual(['fgsm {"epsilon":0.05}', 'fgsm {"epsilon":0.3}']);
      expect(s.robust_accuracy[labels[1]!]).toBeLessThanOrEqual(s.robust_accuracy[labels[0]!]!);
      // Synthetic data is learnt within 2 epochs, so val_accuracy plateaus and patience 1 stops the run.
      expect(s.stopped_early).toMatch(/early stopping/);
      expect(s.epochs_completed).toBeLessThan(6);
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });

  it('rejects unknown corruption types before training', async () => {
    const registry = testRegistry();
    await expect(train(tinyConfig({ evaluation: { corruptions: [{ type: 'snow', severity: 2 }] } }), { registry })).rejects.toThrow(
      /evaluation\.corruptions\[0\]\.type: unknown corruption "snow"; available: gaussian-noise/,
    );
    await registry.dispose();
  });
});

describe('abort signal', () => {
  it('stops after the current batch when the signal is aborted', async () => {
    const registry = testRegistry();
    const controller = new AbortController();
    const aborter = { onBatchBegin: (e: { step: number }) => { if (e.step === 2) controller.abort(); } };
    const error = await train(tinyConfig({ epochs: 3 }), { registry, signal: controller.signal, callbacks: [aborter] }).catch((e: unknown) => e);
    // An abort interrupts: the step in flight finishes, then train() rejects with the true position.
    expect(error).toBeInstanceOf(TrainingInterruptedError);
    expect((error as TrainingInterruptedError).position).toEqual({ epoch: 0, batchInEpoch: 3, step: 3 });
    expect((error as TrainingInterruptedError).reason).toBe('aborted');
    expect((error as Error).message).toMatch(/no run directory \(outDir\), so nothing was saved/);
    await registry.dispose();
  });
});

describe('pluggable optimizer and schedule', () => {
  it('trains with a user-registered schedule and optimizer named in the config', async () => {
    const { sgdPlugin } = await import('./plugins.js');
    const registry = testRegistry();
    const rates: number[] = [];
    registry.register(
      definePlugin({
        kind: 'schedule',
        name: 'halving',
        options: z.object({ every: z.number().int().positive() }).strict(),
        create: (_ctx, o) => ({ name: 'halving', factor: (pos) => 0.5 ** Math.floor(pos.step / o.every) }),
      }),
    );
    registry.register(
      definePlugin({
        kind: 'optimizer',
        name: 'plain-sgd',
        options: z.object({}).strict(),
        create: async (ctx) => ctx.registry.resolveDynamic('optimizer', sgdPlugin.name, { momentum: 0 }),
      }),
    );
    const probe = { onBeforeOptimizerStep: (e: { metrics: Record<string, number> }) => void rates.push(e.metrics.lr as number) };
    const result = await train(tinyConfig({ epochs: 1, optimizer: { name: 'plain-sgd', lr: 0.4 }, schedule: { name: 'halving', every: 4 } }), {
      registry,
      callbacks: [probe],
    });
    result.dispose();
    expect(rates).toEqual([0.4, 0.4, 0.4, 0.4, 0.2, 0.2, 0.2, 0.2]);
    await expect(train(tinyConfig({ schedule: { name: 'halving' } }), { registry })).rejects.toThrow(/schedule "halving"[\s\S]*every/);
    await registry.dispose();
  });
});
