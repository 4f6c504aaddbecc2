/**
 * What each epoch trains on, and the class-incremental protocol (`config.incremental`).
 *
 * A run is a sequence of tasks, each a group of classes trained for some epochs. A run without
 * `incremental` is one task holding every training example for all `epochs`, so the training loop
 * takes the same walk either way: epoch e trains on its task's examples (within the `limit`
 * subset) in a seeded order (`shuffle:<e>`), in full batches; the learning-rate schedule restarts
 * with each task (it sees the step within the task and `epochsPerTask` epochs, the usual
 * continual-learning protocol); the optimizer state carries over from task to task.
 *
 * With `incremental`, the model is evaluated on the test split at the end of each task's last
 * epoch (the per-epoch evaluation's subset of `evaluation.epochLimit` examples, or the whole split
 * when that is 0). a[i][j], the accuracy on the test examples of task j's classes after training
 * task i (a mean over examples), fills the accuracy matrix, which checkpoints carry; summary.json
 * gets the matrix and the average accuracy, average incremental accuracy and forgetting.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, ConfigError, type DatasetAdapter, type SeededRandom } from '@advprop/core';
import type { TrainConfig } from './config.js';
import { evaluate, evaluationIndices } from './evaluation.js';
import type { SchedulePosition } from './schedules.js';

/** Row i: after training task i; column j: accuracy on task j's test examples; null: not known (yet). */
export type AccuracyMatrix = (number | null)[][];

/** What a checkpoint carries of an incremental run (state.json's `incremental`). */
export interface IncrementalState {
  readonly accuracyMatrix: AccuracyMatrix;
}

/** summary.json's `incremental`. */
export interface IncrementalSummary {
  tasks: number[][];
  accuracy_matrix: AccuracyMatrix;
  /** Mean over the tasks of the final row (null until the last task is trained). */
  average_accuracy: number | null;
  /** Mean over the trained tasks i of the mean of a[i][0..i]. */
  average_incremental_accuracy: number | null;
  /** Mean over j < T-1 of max_{i<T-1} a[i][j] - a[T-1][j] (null until the last task is trained, or with one task). */
  forgetting: number | null;
}

/** The run's tasks as the training loop sees them. */
export interface TrainingTasks {
  /** Optimizer steps of the whole run. */
  readonly totalSteps: number;
  /** Steps of `epoch`: its task's examples / batchSize, the remainder dropped. */
  stepsIn(epoch: number): number;
  /** The order of `epoch`'s training examples (dataset indices), a seeded permutation of its task's examples. */
  order(epoch: number): Int32Array;
  /** What the learning-rate schedule sees before global step `step` of `epoch`: the task's own steps and epochs. */
  schedulePosition(epoch: number, step: number): SchedulePosition;
  /** run.json's fields: steps per epoch (the first task's), and per task when incremental. */
  runInfo(): { stepsPerEpoch: number; stepsPerTask?: number[] };
  /** After `epoch`'s training: at the end of a task, evaluate and fill its matrix row; the metrics to log ({} otherwise). */
  afterEpoch(epoch: number): Promise<Record<string, number>>;
  getState(): IncrementalState | undefined;
  setState(state: IncrementalState | undefined): void;
  /** summary.json's `incremental` field ({} without incremental). */
  summary(): { incremental?: IncrementalSummary };
}

export interface TrainingTasksOptions {
  readonly config: TrainConfig;
  readonly dataset: DatasetAdapter;
  readonly model: LayersModel;
  /** Training examples used: the first `subsetSize` of the split. */
  readonly subsetSize: number;
  readonly batchSize: number;
  /** The run's root random stream (epoch orders and the evaluation subset fork from it by label). */
  readonly random: SeededRandom;
}

function meanOf(values: readonly (number | null | undefined)[]): number | null {
  const known = values.filter((v): v is number => typeof v === 'number');
  return known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

/**
 * The summary figures of an accuracy matrix of T tasks (rows not yet trained are all null; a null
 * entry of a trained row, a task without test examples, is left out of the means).
 */
export function incrementalMetrics(matrix: AccuracyMatrix): Pick<IncrementalSummary, 'average_accuracy' | 'average_incremental_accuracy' | 'forgetting'> {
  const T = matrix.length;
  const seen = matrix.map((row, i) => row.slice(0, i + 1));
  const trained = seen.filter((row) => row.some((v) => v !== null));
  const final = matrix[T - 1];
  const finished = final !== undefined && final.some((v) => v !== null);
  // Task j's best accuracy before the last task, minus its final accuracy.
  const forgettingOf = (j: number): number | null => {
    const best = Math.max(...matrix.slice(0, T - 1).map((row) => row[j] ?? Number.NEGATIVE_INFINITY));
    const now = final?.[j];
    return typeof now === 'number' && Number.isFinite(best) ? best - now : null;
  };
  return {
    average_accuracy: finished ? meanOf(final) : null,
    average_incremental_accuracy: meanOf(trained.map((row) => meanOf(row))),
    forgetting: finished && T > 1 ? meanOf(Array.from({ length: T - 1 }, (_, j) => forgettingOf(j))) : null,
  };
}

/** The run's tasks: one of every training example without `incremental`, else its class groups. */
export function trainingTasks(options: TrainingTasksOptions): TrainingTasks {
  const { config, dataset, model, subsetSize, batchSize, random } = options;
  const incremental = config.incremental;
  const groups = incremental?.tasks;
  const epochsPerTask = incremental?.epochsPerTask ?? config.epochs;
  const info = dataset.info;

  // Each task's training examples, in dataset order.
  let pools: Int32Array[];
  if (groups) {
    groups.forEach((classes, i) =>
      classes.forEach((c, k) => {
        if (c >= info.numClasses) {
          throw new ConfigError(`incremental.tasks[${i}][${k}]: class ${c} does not exist; dataset "${info.name}" has classes 0..${info.numClasses - 1}`, [
            { path: `incremental.tasks[${i}][${k}]`, message: 'class out of range' },
          ]);
        }
      }),
    );
    const labels = dataset.labels('train');
    pools = groups.map((classes, i) => {
      const wanted = new Set(classes);
      const picked: number[] = [];
      for (let n = 0; n < subsetSize; n++) if (wanted.has(labels[n] as number)) picked.push(n);
      if (picked.length < batchSize) {
        throw new ConfigError(
          `incremental.tasks[${i}]: task ${i} (classes ${classes.join(', ')}) has ${picked.length} training examples among the first ${subsetSize}, fewer than one batch of ${batchSize}; lower batchSize or raise limit`,
          [{ path: `incremental.tasks[${i}]`, message: 'fewer examples than one batch' }],
        );
      }
      return Int32Array.from(picked);
    });
  } else {
    pools = [Int32Array.from({ length: subsetSize }, (_, n) => n)];
  }
  const T = pools.length;
  const stepsPerTask = pools.map((p) => Math.floor(p.length / batchSize));
  const taskStart: number[] = [];
  let totalSteps = 0;
  for (const steps of stepsPerTask) {
    taskStart.push(totalSteps);
    totalSteps += steps * epochsPerTask;
  }
  const taskOf = (epoch: number) => Math.min(Math.floor(epoch / epochsPerTask), T - 1);
  const emptyMatrix = (): AccuracyMatrix => Array.from({ length: T }, () => new Array<number | null>(T).fill(null));
  let matrix = emptyMatrix();

  /** a[i][j] for j <= i from per-class correct counts over the evaluation subset. */
  const evaluateTasks = async (i: number): Promise<void> => {
    const testSize = dataset.size('test');
    const limit = config.evaluation.epochLimit > 0 ? config.evaluation.epochLimit : undefined;
    // The per-epoch evaluation's subset (same seeded draw), so val_accuracy and a[i][j] share images.
    const indices = evaluationIndices(testSize, limit, random.fork('epoch-evaluation'));
    const labels = dataset.labels('test');
    const count = new Array<number>(info.numClasses).fill(0);
    for (const n of indices) count[labels[n] as number] = (count[labels[n] as number] ?? 0) + 1;
    const ev = await evaluate(model, dataset, { indices, batchSize: config.evaluation.batchSize, random: random.fork('task-evaluation') });
    // evaluate reports rates; rate * count gives back the integer count of correct predictions.
    const correct = count.map((n, c) => Math.round((ev.per_class_accuracy[c] ?? 0) * n));
    const row = (groups ?? []).map((classes, j) => {
      if (j > i) return null;
      const total = classes.reduce((s, c) => s + (count[c] ?? 0), 0);
      return total > 0 ? classes.reduce((s, c) => s + (correct[c] ?? 0), 0) / total : null;
    });
    matrix[i] = row;
  };

  return {
    totalSteps,
    stepsIn: (epoch) => stepsPerTask[taskOf(epoch)] as number,
    order(epoch) {
      const pool = pools[taskOf(epoch)] as Int32Array;
      return random
        .fork(`shuffle:${epoch}`)
        .permutation(pool.length)
        .map((k) => pool[k] as number);
    },
    schedulePosition(epoch, step) {
      const task = taskOf(epoch);
      return { step: step - (taskStart[task] as number), stepsPerEpoch: stepsPerTask[task] as number, epochs: epochsPerTask };
    },
    runInfo: () => ({ stepsPerEpoch: stepsPerTask[0] as number, ...(groups ? { stepsPerTask } : {}) }),
    async afterEpoch(epoch) {
      if (!groups || (epoch + 1) % epochsPerTask !== 0 || dataset.size('test') === 0) return {};
      const i = taskOf(epoch);
      await evaluateTasks(i);
      const row = matrix[i] as (number | null)[];
      const metrics: Record<string, number> = {};
      row.forEach((v, j) => {
        if (v !== null) metrics[`task_accuracy/${j}`] = v;
      });
      const average = meanOf(row.slice(0, i + 1));
      if (average !== null) metrics.incremental_average_accuracy = average;
      return metrics;
    },
    getState: () => (groups ? { accuracyMatrix: matrix.map((row) => [...row]) } : undefined),
    setState(state) {
      if (!groups) return;
      const saved = state?.accuracyMatrix;
      if (saved === undefined) {
        matrix = emptyMatrix();
        return;
      }
      if (saved.length !== T || saved.some((row) => !Array.isArray(row) || row.length !== T || row.some((v) => v !== null && typeof v !== 'number'))) {
        throw new CheckpointError(`the checkpoint's incremental accuracy matrix is not ${T} x ${T} numbers or nulls, as the run's ${T} tasks need`);
      }
      matrix = saved.map((row) => [...row]);
    },
    summary: () =>
      groups
        ? { incremental: { tasks: groups.map((g) => [...g]), accuracy_matrix: matrix.map((row) => [...row]), ...incrementalMetrics(matrix) } }
        : {},
  };
}
