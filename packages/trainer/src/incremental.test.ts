import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, SeededRandom, TrainingInterruptedError, expectFlatTensorCount, type BatchIteratorOptions, type DatasetAdapter, type TrainEvent } from '@advprop/core';
import { syntheticDataset, testRegistry, tinyConfig } from './__fixtures__/tiny.js';
import { resolveTrainConfig } from './config.js';
import { evaluationIndices } from './evaluation.js';
import { incrementalMetrics } from './incremental.js';
import { train } from './node-train.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-incremental-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const weightsOf = (model: LayersModel) => model.weights.map((w) => Array.from(w.read().dataSync()));

/**
 * Two tasks of unequal size on the synthetic 4-class data (labels i % 4): task 0 holds class 0
 * (50 of the first 200 examples: 1 batch of 32 per epoch), task 1 classes 1-3 (150: 4 batches).
 */
const incrementalConfig = (overrides: Record<string, unknown> = {}) =>
  tinyConfig({
    mode: 'vanilla',
    epochs: undefined, // derived from the tasks
    limit: 200,
    schedule: { name: 'cosine' },
    incremental: { tasks: [[0], [1, 2, 3]], epochsPerTask: 2 },
    ...overrides,
  });

/** The synthetic dataset, recording the example indices each training epoch asks for. */
function recordingDataset(): { dataset: DatasetAdapter; epochs: number[][] } {
  const base = syntheticDataset();
  const epochs: number[][] = [];
  const dataset: DatasetAdapter = Object.create(base) as DatasetAdapter;
  dataset.batches = (options: BatchIteratorOptions) => {
    if (options.split === 'train') epochs.push(Array.from(options.indices ?? []));
    return base.batches(options);
  };
  return { dataset, epochs };
}

describe('incremental metrics', () => {
  it('computes average accuracy, average incremental accuracy and forgetting from the matrix', () => {
    const m = incrementalMetrics([
      [0.9, null, null],
      [0.5, 0.8, null],
      [0.3, 0.6, 0.7],
    ]);
    expect(m.average_accuracy).toBeCloseTo((0.3 + 0.6 + 0.7) / 3, 12);
    expect(m.average_incremental_accuracy).toBeCloseTo((0.9 + (0.5 + 0.8) / 2 + (0.3 + 0.6 + 0.7) / 3) / 3, 12);
    // task 0: best 0.9 (after task 0), now 0.3; task 1: best 0.8, now 0.6.
    expect(m.forgetting).toBeCloseTo((0.6 + 0.2) / 2, 12);
  });

  it('leaves the figures of tasks not yet trained null, and forgetting null with one task', () => {
    expect(incrementalMetrics([[0.9, null], [null, null]])).toEqual({ average_accuracy: null, average_incremental_accuracy: 0.9, forgetting: null });
    expect(incrementalMetrics([[0.8]])).toEqual({ average_accuracy: 0.8, average_incremental_accuracy: 0.8, forgetting: null });
    // A learned-later task can also improve (negative forgetting).
    expect(incrementalMetrics([[0.2, null], [0.5, 0.9]]).forgetting).toBeCloseTo(-0.3, 12);
  });
});

describe('incremental config', () => {
  const issuesOf = (config: Record<string, unknown>): string[] => {
    try {
      resolveTrainConfig(config);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as ConfigError).issues.map((i) => i.path);
    }
    throw new Error('expected a ConfigError');
  };

  it('derives epochs from the tasks, also over a preset, and checks a given value', () => {
    const tasks = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]];
    expect(resolveTrainConfig({ incremental: { tasks } }).epochs).toBe(5);
    expect(resolveTrainConfig({ incremental: { tasks, epochsPerTask: 2 } }).epochs).toBe(10);
    expect(resolveTrainConfig({ epochs: 10, incremental: { tasks, epochsPerTask: 2 } }).epochs).toBe(10);
    // The preset's 2 epochs are a default: they yield to the tasks.
    expect(resolveTrainConfig({ preset: 'mnist-advprop', incremental: { tasks } }).epochs).toBe(5);
    expect(issuesOf({ epochs: 3, incremental: { tasks } })).toEqual(['epochs']);
    expect(() => resolveTrainConfig({ epochs: 3, incremental: { tasks } })).toThrow(/epochs: 3 does not match incremental: 5 tasks \* 1 epochsPerTask = 5/);
  });

  it('names overlapping, empty and misspelt fields', () => {
    expect(issuesOf({ incremental: { tasks: [[0, 1], [2, 1]] } })).toEqual(['incremental.tasks[1][1]']);
    expect(() => resolveTrainConfig({ incremental: { tasks: [[0, 1], [2, 1]] } })).toThrow(/class 1 is already in task 0/);
    expect(issuesOf({ incremental: { tasks: [[0], []] } })).toEqual(['incremental.tasks[1]']);
    expect(issuesOf({ incremental: { tasks: [] } })).toEqual(['incremental.tasks']);
    expect(issuesOf({ incremental: { tasks: [[0], [1.5]] } })).toEqual(['incremental.tasks[1][0]']);
    expect(issuesOf({ incremental: { tasks: [[0]], epochsPerTask: 0 } })).toEqual(['incremental.epochsPerTask']);
    expect(issuesOf({ incremental: { tasks: [[0]], epochPerTask: 2 } })).toEqual(['incremental']);
  });

  it('refuses classes the dataset does not have, and tasks smaller than a batch, when training starts', async () => {
    const registry = testRegistry();
    try {
      const out = path.join(tmp, 'out-of-range');
      const error = await train(incrementalConfig({ incremental: { tasks: [[0, 1], [2, 7]] }, outDir: out }), { registry }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((i) => i.path)).toEqual(['incremental.tasks[1][1]']);
      expect((error as Error).message).toMatch(/class 7 does not exist; dataset "synthetic" has classes 0\.\.3/);
      // Nothing is left behind.
      await expect(fs.stat(out)).rejects.toThrow();
      const small = await train(incrementalConfig({ limit: 100, batchSize: 32 }), { registry }).catch((e: unknown) => e);
      expect((small as ConfigError).issues?.map((i) => i.path)).toEqual(['incremental.tasks[0]']);
      expect((small as Error).message).toMatch(/task 0 \(classes 0\) has 25 training examples among the first 100, fewer than one batch of 32/);
    } finally {
      await registry.dispose();
    }
  });
});

describe('class-incremental training', () => {
  it("trains each epoch on its task's classes only, with the schedule restarting per task", async () => {
    const registry = testRegistry();
    const { dataset, epochs } = recordingDataset();
    const events: { begin?: TrainEvent; lr: number[]; epochEnds: TrainEvent[]; stepsPerEpoch: number[] } = { lr: [], epochEnds: [], stepsPerEpoch: [] };
    const recorder = {
      onTrainBegin: (e: TrainEvent) => void (events.begin = e),
      onBatchBegin: (e: TrainEvent) => void (events.lr.push(e.metrics.lr as number), events.stepsPerEpoch.push(e.stepsPerEpoch)),
      onEpochEnd: (e: TrainEvent) => void events.epochEnds.push(e),
    };
    const result = await train(incrementalConfig(), { registry, dataset, callbacks: [recorder] });
    try {
      const labels = dataset.labels('train');
      const taskClasses = [[0], [0], [1, 2, 3], [1, 2, 3]];
      expect(epochs).toHaveLength(4);
      epochs.forEach((indices, e) => {
        // Whole batches of the task's examples within the limit, each example at most once.
        expect(indices).toHaveLength(e < 2 ? 32 : 128);
        expect(new Set(indices).size).toBe(indices.length);
        expect(indices.every((i) => i < 200)).toBe(true);
        expect(new Set(indices.map((i) => labels[i]))).toEqual(new Set(taskClasses[e]));
      });
      // Epoch orders differ (seeded shuffle per epoch).
      expect(epochs[2]).not.toEqual(epochs[3]);
      expect(result.summary.epochs).toBe(4);
      expect(result.summary.steps).toBe(2 * 1 + 2 * 4);
      expect(events.begin?.metrics.total_steps).toBe(10);
      expect(events.stepsPerEpoch).toEqual([1, 1, 4, 4, 4, 4, 4, 4, 4, 4]);
      // Cosine over each task's own 2 epochs: every task starts at the base rate and decays within it.
      expect(events.lr[0]).toBeCloseTo(0.1, 12);
      expect(events.lr[2]).toBeCloseTo(0.1, 12);
      expect(events.lr[1]).toBeCloseTo(0.1 * 0.5 * (1 + Math.cos(Math.PI * 0.5)), 12);
      expect(events.lr[6]).toBeCloseTo(0.1 * 0.5 * (1 + Math.cos(Math.PI * 0.5)), 12);

      // The matrix: row i after task i; a[i][j] as measured directly on the evaluation subset.
      const inc = result.summary.incremental;
      expect(inc?.tasks).toEqual([[0], [1, 2, 3]]);
      const matrix = inc?.accuracy_matrix as (number | null)[][];
      expect(matrix[0]?.[1]).toBeNull();
      const indices = evaluationIndices(dataset.size('test'), 64, new SeededRandom(3).fork('epoch-evaluation'));
      const { images, labels: testLabels } = dataset.read('test', indices);
      const predicted = tf.tidy(() => {
        const logits = result.model.predict(tf.tensor4d(images, [indices.length, 8, 8, 1])) as tf.Tensor;
        return Array.from(tf.argMax(logits, -1).dataSync());
      });
      const accuracyOn = (classes: number[]) => {
        const mine = Array.from(testLabels.keys()).filter((k) => classes.includes(testLabels[k] as number));
        return mine.filter((k) => predicted[k] === testLabels[k]).length / mine.length;
      };
      expect(matrix[1]).toEqual([accuracyOn([0]), accuracyOn([1, 2, 3])]);
      expect(inc?.average_accuracy).toBe(((matrix[1]?.[0] as number) + (matrix[1]?.[1] as number)) / 2);
      expect(inc?.forgetting).toBe((matrix[0]?.[0] as number) - (matrix[1]?.[0] as number));
      // The last task's classes are learned (chance among 4 classes: 0.25).
      expect(matrix[1]?.[1]).toBeGreaterThan(0.9);

      // Logged at each task's end, through the callbacks' epoch metrics.
      const logged = events.epochEnds.map((e) => Object.keys(e.metrics).filter((k) => k.startsWith('task_accuracy/') || k === 'incremental_average_accuracy'));
      expect(logged).toEqual([[], ['task_accuracy/0', 'incremental_average_accuracy'], [], ['task_accuracy/0', 'task_accuracy/1', 'incremental_average_accuracy']]);
      expect(events.epochEnds[1]?.metrics['task_accuracy/0']).toBe(matrix[0]?.[0]);
      expect(events.epochEnds[3]?.metrics.incremental_average_accuracy).toBe(inc?.average_accuracy);
    } finally {
      result.dispose();
      await registry.dispose();
    }
  });

  it('stopped mid-task and resumed: the same summary and weights, bit for bit, as an uninterrupted run', async () => {
    const registry = testRegistry();
    try {
      const config = incrementalConfig({ mode: 'advprop', callbacks: [{ name: 'metrics-logger' }] });
      const full = await train({ ...config, outDir: path.join(tmp, 'full') }, { registry });
      const expected = weightsOf(full.model);
      full.dispose();

      // Stop in task 1's first epoch (steps 1-2 are task 0's), after its second batch.
      const out = path.join(tmp, 'stopped');
      const stopper = { onBatchEnd: (e: TrainEvent, control: { stop(reason: string): void }) => void (e.step === 4 && control.stop('test stop')) };
      const error = await train({ ...config, outDir: out }, { registry, callbacks: [stopper] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TrainingInterruptedError);
      expect((error as TrainingInterruptedError).position).toEqual({ epoch: 2, batchInEpoch: 2, step: 4 });
      const latest = JSON.parse(await fs.readFile(path.join(out, 'checkpoints', 'latest.json'), 'utf8'));
      const state = JSON.parse(await fs.readFile(path.join(out, 'checkpoints', latest.checkpoint, 'state.json'), 'utf8'));
      // The checkpoint carries task 0's row of the matrix.
      expect(state.incremental.accuracyMatrix[0][0]).toEqual(expect.any(Number));
      expect(state.incremental.accuracyMatrix[1]).toEqual([null, null]);

      // A resume with other tasks is refused, naming the field.
      const other = { ...config, incremental: { tasks: [[0, 1], [2, 3]], epochsPerTask: 2 }, outDir: out, resume: true };
      await expect(train(other, { registry })).rejects.toThrow(/incremental/);

      const resumed = await train({ ...config, outDir: out, resume: true }, { registry });
      try {
        expect(weightsOf(resumed.model)).toEqual(expected);
        const read = async (dir: string) => {
          const { wall_seconds: _w, images_per_second: _i, resumed_from: _r, ...rest } = JSON.parse(await fs.readFile(path.join(dir, 'summary.json'), 'utf8'));
          return JSON.stringify(rest);
        };
        expect(await read(out)).toBe(await read(path.join(tmp, 'full')));
        expect(resumed.summary.resumed_from).toEqual({ epoch: 2, step: 4 });
        expect(resumed.summary.incremental?.accuracy_matrix[0]?.[0]).toBe(state.incremental.accuracyMatrix[0][0]);
        // metrics.jsonl: the task accuracies once each, as in the uninterrupted run.
        const taskLines = async (dir: string) =>
          (await fs.readFile(path.join(dir, 'metrics.jsonl'), 'utf8'))
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l))
            .filter((r) => r.type === 'epoch' && r.incremental_average_accuracy !== undefined)
            .map((r) => [r.epoch, r['task_accuracy/0'], r['task_accuracy/1'] ?? null]);
        expect(await taskLines(out)).toEqual(await taskLines(path.join(tmp, 'full')));
        expect(await taskLines(out)).toHaveLength(2);
      } finally {
        resumed.dispose();
      }
    } finally {
      await registry.dispose();
    }
  });

  it('leaves no tensors behind', async () => {
    const registry = testRegistry();
    try {
      await expectFlatTensorCount(
        async () => {
          const r = await train(incrementalConfig({ incremental: { tasks: [[0, 1], [2, 3]] } }), { registry });
          r.dispose();
        },
        { times: 1, label: 'incremental train()' },
      );
    } finally {
      await registry.dispose();
    }
  });
});
