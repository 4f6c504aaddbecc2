/**
 * The training loop: set-up, epochs, batches, the training mode's step, the optimizer, callbacks.
 * Parts come from the registry (dataset, model, training mode, attacker, optimizer, schedule,
 * callbacks); what a step computes is the mode's (modes/), the run directory and resume policy is
 * run-directory.ts's.
 *
 * Every random choice derives from `new SeededRandom(seed)` by label (epoch shuffles, per-step
 * streams for attacks and augmentation), so resuming at (epoch, batch) repeats the rest of an
 * uninterrupted run.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  ConfigError,
  SeededRandom,
  ShapeError,
  TrainingDivergedError,
  TrainingInterruptedError,
  consoleLogger,
  routableLayers,
  type AnyPlugin,
  type Attacker,
  type Callback,
  type DatasetAdapter,
  type Logger,
  type ModelFactory,
  type ModelSpec,
  type Registry,
} from '@advprop/core';
import { checkEpsilonFraction, runAutoAttackSuite, type AutoAttackSummary } from '@advprop/attacks';
import { CORRUPTIONS, corrupt, type CorruptionType } from '@advprop/datasets';
import { augmentBatch } from './augment.js';
import { CallbackRunner, Control, checkpointPolicy, earlyStopping, type StatefulCallback } from './callbacks.js';
import type { TrainPosition } from './checkpoint.js';
import { resolveTrainConfig, type PluginRef, type TrainConfig } from './config.js';
import { evaluate, type CorruptFn, type EvaluationResult } from './evaluation.js';
import { trainingTasks, type IncrementalSummary } from './incremental.js';
import { trainingModes, tradesKl, type TrainingMode } from './modes/index.js';
import type { TrainOptimizer } from './optimizers.js';
import { optimizers as optimizerPlugins, schedules as schedulePlugins } from './plugins.js';
import type { RunDirectory, RunInfo } from './run-directory.js';
import type { TrainCounters, TrainerEnvironment } from './environment.js';
import { scheduledRate } from './schedules.js';
import { createStepRunner } from './training-step.js';

export type { RunInfo } from './run-directory.js';

export interface TrainOptions {
  /** Registry to resolve plugins from (default: the environment's, createDefaultRegistry({ seed }) in Node). Not disposed. */
  readonly registry?: Registry<AnyPlugin> | Registry<never>;
  /** Extra callbacks, run after the configured ones. */
  readonly callbacks?: readonly Callback[];
  readonly log?: Logger;
  /** Aborting stops training after the current batch, like a callback's control.stop(). */
  readonly signal?: AbortSignal;
  /** Train this model instead of building config.model (its input shape is checked against the dataset). */
  readonly model?: LayersModel;
  /** Train on this dataset instead of resolving config.dataset. */
  readonly dataset?: DatasetAdapter;
}

export interface RunSummary {
  mode: string;
  dataset: string;
  model: string;
  backend: string;
  epochs: number;
  seed: number;
  clean_accuracy: number;
  aux_accuracy: number | null;
  robust_accuracy: Record<string, number>;
  corrupted_accuracy?: Record<string, number>;
  per_class_accuracy: (number | null)[];
  evaluated_examples: number;
  /** Test examples the attacks and corruptions ran on (evaluation.robustLimit of evaluated_examples). */
  robust_examples: number;
  images_per_second: number;
  wall_seconds: number;
  steps: number;
  epochs_completed: number;
  final_loss: number;
  train_examples: number;
  resumed_from?: { epoch: number; step: number };
  stopped_early?: string;
  /** evaluation.autoattack: AutoAttack's clean / robust accuracy, per-attack breakdown and check warnings. */
  autoattack?: AutoAttackSummary;
  /** config.incremental: the task accuracy matrix, average accuracy, average incremental accuracy, forgetting. */
  incremental?: IncrementalSummary;
}

export interface TrainResult {
  readonly summary: RunSummary;
  /** The trained model (dual BN for advprop modes); the caller owns it. */
  readonly model: LayersModel;
  readonly outDir: string | undefined;
  dispose(): void;
}

function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;
}

/** ShapeError when the dataset's images or classes do not fit the model. */
export function checkModelFitsDataset(model: LayersModel, info: DatasetAdapter['info'], modelName: string): void {
  const input = model.inputs[0]?.shape.slice(1) ?? [];
  const ok = input.length === 3 && input.every((d, i) => d === null || d === info.imageShape[i]);
  if (!ok) {
    throw new ShapeError(
      `dataset "${info.name}" has images of shape ${formatShape(info.imageShape)}, but model "${modelName}" takes inputs of shape ${formatShape(input)}`,
    );
  }
  const out = model.outputs[0]?.shape;
  const units = out ? out[out.length - 1] : undefined;
  if (units !== info.numClasses) {
    throw new ShapeError(`dataset "${info.name}" has ${info.numClasses} classes, but model "${modelName}" outputs ${String(units)} logits`);
  }
}

function evalLabels(refs: readonly (PluginRef & { label?: string })[]): string[] {
  const counts = new Map<string, number>();
  for (const r of refs) counts.set(r.name, (counts.get(r.name) ?? 0) + 1);
  const labels = refs.map((r) => r.label ?? ((counts.get(r.name) ?? 0) > 1 ? `${r.name} ${JSON.stringify(r.options ?? {})}` : r.name));
  const seen = new Set<string>();
  for (const l of labels) {
    if (seen.has(l)) throw new ConfigError(`evaluation.attacks: two attacks share the label "${l}"; set "label" on one`, [{ path: 'evaluation.attacks', message: 'duplicate label' }]);
    seen.add(l);
  }
  return labels;
}

/** Every plugin name and its options, checked before anything is built or written. */
function checkPlugins(registry: Registry<AnyPlugin>, config: TrainConfig, options: TrainOptions, refs: readonly PluginRef[], attacker: PluginRef | undefined): void {
  const check = (kind: string, ref: PluginRef) => {
    registry.get(kind, ref.name);
    registry.validateOptions(kind, ref.name, ref.options ?? {});
  };
  const { name: optimizerName, lr: _lr, ...optimizerOptions } = config.optimizer;
  check('optimizer', { name: optimizerName, options: optimizerOptions });
  const { name: scheduleName, warmupEpochs: _w, warmupStartFactor: _f, ...scheduleOptions } = config.schedule;
  check('schedule', { name: scheduleName, options: scheduleOptions });
  if (!options.dataset) check('dataset', config.dataset);
  if (!options.model) check('model', config.model);
  if (attacker) check('attacker', attacker);
  for (const a of config.evaluation.attacks) check('attacker', { name: a.name, ...(a.options ? { options: a.options } : {}) });
  for (const ref of refs) check('callback', ref);
  for (const [i, c] of config.evaluation.corruptions.entries()) {
    if (!(CORRUPTIONS as readonly string[]).includes(c.type)) {
      throw new ConfigError(`evaluation.corruptions[${i}].type: unknown corruption "${c.type}"; available: ${CORRUPTIONS.join(', ')}`, [
        { path: `evaluation.corruptions[${i}].type`, message: 'unknown corruption' },
      ]);
    }
  }
}

/**
 * Train according to `config` with the platform's parts (`train` in node-train.ts and browser.ts);
 * see the package README for the run directory and resume semantics.
 */
export async function runTraining(environment: TrainerEnvironment, input: TrainConfig | unknown, options: TrainOptions = {}): Promise<TrainResult> {
  const wallStart = performance.now();
  let config = resolveTrainConfig(input);
  const log = options.log ?? (options.registry as Registry<AnyPlugin> | undefined)?.log ?? consoleLogger;
  const ownRegistry = options.registry === undefined;
  const registry = (options.registry ?? environment.defaultRegistry({ seed: config.seed, log })) as unknown as Registry<AnyPlugin>;
  const runs = environment.runDirectory;
  const outDir = config.outDir ? runs.resolve(config.outDir) : undefined;
  const refs = runs.callbackRefs(config, outDir, log);
  let scope: Registry<AnyPlugin> | undefined;
  let model: LayersModel | undefined;
  let optimizer: TrainOptimizer | undefined;
  let run: RunDirectory | undefined;
  let failed = true;
  try {
    scope = registry.createScope({ seed: config.seed, log });
    // Built-in optimizers, schedules, callbacks and training modes are always available, also with
    // a user registry lacking them; the user's own plugins of the same name take precedence.
    for (const plugin of [...optimizerPlugins, ...schedulePlugins, ...environment.callbackPlugins, ...trainingModes, tradesKl] as AnyPlugin[]) {
      if (!scope.has(plugin.kind, plugin.name)) scope.register(plugin);
    }
    const mode: TrainingMode = await scope.resolveDynamic('training-mode', config.mode, config.modeOptions);
    // The training attacker: the config's, else the mode's default; the mode's options may fix some of its options.
    const attackerBase = mode.defaultAttacker ? (config.attacker ?? mode.defaultAttacker) : undefined;
    const attackerRef = attackerBase && { name: attackerBase.name, options: { ...attackerBase.options, ...mode.attackerOverrides } };
    // config.json records the attacker actually used (none for a mode without one).
    if (attackerBase !== config.attacker) {
      const { attacker: _unused, ...rest } = config;
      config = attackerBase ? { ...rest, attacker: attackerBase } : rest;
    }
    checkPlugins(scope, config, options, refs, attackerRef);
    // Build the attackers once before anything is written, so their own checks (an Linf epsilon above
    // the input range) fail the run before it starts, not after its training. A throwaway scope with
    // the run's seed leaves the plugins' random streams of the run as they were.
    const probe = scope.createScope({ seed: config.seed, log });
    try {
      for (const ref of [...(attackerRef ? [attackerRef] : []), ...config.evaluation.attacks]) {
        const built = await probe.resolveDynamic('attacker', ref.name, ref.options ?? {});
        // Gradient attackers expose their resolved settings (epsilon as a fraction of the range, norm).
        const s = (built as { settings?: { epsilon?: unknown; norm?: unknown } }).settings;
        if (typeof s?.epsilon === 'number' && (s.norm === 'linf' || s.norm === 'l2')) checkEpsilonFraction(s.epsilon, s.norm, undefined, `attacker "${ref.name}"`);
      }
    } finally {
      await probe.dispose();
    }
    // Only now, with config and plugins valid, is anything created on disk (and the directory locked).
    if (outDir) run = await runs.open({ outDir, config, refs, log });
    else if (config.resume) throw new ConfigError('resume: true needs an outDir holding the run to resume', [{ path: 'resume', message: 'needs outDir' }]);

    const root = new SeededRandom(config.seed);
    const dataset = options.dataset ?? (await scope.resolveDynamic('dataset', config.dataset.name, config.dataset.options ?? {}));
    const info = dataset.info;
    const trainSize = dataset.size('train');
    if (trainSize === 0) throw new ConfigError(`dataset "${info.name}" has no training examples`);
    const batchNorm = mode.batchNorm;
    const modelName = options.model ? (options.model.name ?? 'model') : config.model.name;
    if (options.model) {
      model = options.model;
    } else {
      const factory: ModelFactory = await scope.resolveDynamic('model', config.model.name, config.model.options ?? {});
      const spec: ModelSpec = { inputShape: info.imageShape, numClasses: info.numClasses, batchNorm, random: root.fork('model') };
      const support = factory.supports?.(spec);
      if (support && !support.ok) {
        throw new ShapeError(`model "${config.model.name}" cannot take dataset "${info.name}" images of shape ${formatShape(info.imageShape)}: ${support.reason}`);
      }
      model = factory.build(spec);
    }
    checkModelFitsDataset(model, info, modelName);
    const attacker: Attacker | undefined = attackerRef ? await scope.resolveDynamic('attacker', attackerRef.name, attackerRef.options) : undefined;
    if (batchNorm === 'dual' && routableLayers(model).length === 0) {
      throw new ConfigError(`mode "${config.mode}" needs a model with dual BN layers; model "${modelName}" has none`, [{ path: 'model', message: 'no dual BN' }]);
    }
    const trainModel = model;

    // Training subset: the first `limit` examples of the split (adapters store classes interleaved,
    // so a prefix is representative). Full batches only (the remainder of an epoch is dropped); a
    // subset smaller than one batch is one batch.
    const subsetSize = config.limit !== undefined ? Math.min(config.limit, trainSize) : trainSize;
    const batchSize = Math.min(config.batchSize, subsetSize);
    if (batchSize < mode.minBatchSize) {
      throw new ConfigError(`mode "${config.mode}" needs batches of at least ${mode.minBatchSize} images`, [{ path: 'batchSize', message: `must be >= ${mode.minBatchSize}` }]);
    }
    // The examples, steps and schedule position of each epoch (a class group's with config.incremental).
    const tasks = trainingTasks({ config, dataset, model: trainModel, subsetSize, batchSize, random: root });
    const totalSteps = tasks.totalSteps;

    // Optimizer over the trainable weights.
    const params = trainModel.trainableWeights.map((w) => w.read() as tf.Variable);
    const { name: optimizerName, lr: baseLr, ...optimizerOptions } = config.optimizer;
    optimizer = (await scope.resolveDynamic('optimizer', optimizerName, optimizerOptions)).create(params);
    const { name: scheduleName, warmupEpochs, warmupStartFactor, ...scheduleOptions } = config.schedule;
    const schedule = await scope.resolveDynamic('schedule', scheduleName, scheduleOptions);
    const rateAt = (epoch: number, step: number) => scheduledRate(baseLr, schedule, { warmupEpochs, warmupStartFactor }, tasks.schedulePosition(epoch, step));
    const steps = createStepRunner({ model: trainModel, mode, attacker, params, labelSmoothing: config.labelSmoothing, gradClipNorm: config.gradClipNorm });

    // Callbacks.
    const control = new Control();
    const cbs: StatefulCallback[] = [];
    for (const ref of refs) cbs.push(await scope.resolveDynamic('callback', ref.name, ref.options ?? {}));
    if (outDir) {
      const { keepLast: _kept, ...policy } = config.checkpoint; // keepLast is the run directory's, not the policy's
      cbs.push(checkpointPolicy(policy));
    }
    if (config.earlyStopping) cbs.push(earlyStopping(config.earlyStopping));
    cbs.push(...((options.callbacks ?? []) as StatefulCallback[]));
    const runner = new CallbackRunner(cbs, control);
    if (options.signal) {
      const signal = options.signal;
      const onAbort = () => control.stop(typeof signal.reason === 'string' ? signal.reason : 'aborted');
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
    }

    // Resume, then the run's start files.
    const resumed = await runs.resumeFromCheckpoint(run, { model: trainModel, optimizer, runner, random: root, tasks, log });
    const position: TrainPosition = resumed.position;
    let counters: TrainCounters = resumed.counters;
    const runInfo: RunInfo = {
      modelSpec: { inputShape: [...info.imageShape] as [number, number, number], numClasses: info.numClasses, batchNorm },
      trainExamples: subsetSize,
      ...tasks.runInfo(),
    };
    await runs.writeRunStart(run, config, runInfo);

    const epochs = config.epochs;
    const baseEvent = (epoch: number, step: number) => ({ epoch, step, epochs, stepsPerEpoch: tasks.stepsIn(epoch) });
    let epochMetrics: Record<string, number> = {};
    const writeCheckpoint = runs.checkpointWriter(run, config, {
      model: trainModel,
      optimizer,
      runner,
      random: root,
      tasks,
      counters: () => ({ ...counters, wallSeconds: counters.wallSeconds + (performance.now() - wallStart) / 1000 }),
    });
    const checkpointIfRequested = async (pos: TrainPosition, metrics?: Record<string, number>) => {
      const request = control.takeCheckpointRequest();
      if (request) await writeCheckpoint(pos, request.best, metrics);
    };
    // control.stop() / an aborted signal interrupts: the step in flight has finished; checkpoint the
    // true position (never the epoch end that did not happen), then reject, so a resume goes on here.
    const interrupted = () => control.stopRequested && !control.finishRequested;
    const interrupt = async (pos: TrainPosition, metrics?: Record<string, number>): Promise<never> => {
      const reason = control.stopReason ?? 'stopped';
      const request = control.takeCheckpointRequest();
      const where = await writeCheckpoint(pos, request?.best ?? false, metrics);
      throw new TrainingInterruptedError(
        `training stopped at epoch ${pos.epoch + 1}, after batch ${pos.batchInEpoch} of ${tasks.stepsIn(pos.epoch)} (step ${pos.step}): ${reason}. ` +
          (where ? `Checkpoint ${where} holds this position; resume: true (CLI: --resume) continues exactly here.` : 'There is no run directory (outDir), so nothing was saved.'),
        { reason, position: pos, ...(where ? { checkpoint: where } : {}) },
      );
    };

    await runner.run('onTrainBegin', { ...baseEvent(position.epoch, position.step), metrics: { total_steps: totalSteps } });
    let step = position.step;
    let epoch = position.epoch;
    // A checkpoint recording a finished run (early stopping): no more steps, only evaluation and export.
    const finishedBefore = resumed.finished;
    if (interrupted()) await interrupt(position);
    for (; epoch < epochs && !control.stopRequested && finishedBefore === undefined; epoch++) {
      const startBatch = epoch === position.epoch ? position.batchInEpoch : 0;
      if (startBatch === 0) {
        counters = { ...counters, epochLossSum: 0, epochCorrect: 0, epochSeen: 0, epochSteps: 0 };
      }
      await runner.run('onEpochBegin', { ...baseEvent(epoch, step), metrics: { lr: rateAt(epoch, step) } });
      if (interrupted()) await interrupt({ epoch, batchInEpoch: startBatch, step });
      // The epoch's order (a seeded permutation of its task's examples), from the resume point on.
      const order = tasks.order(epoch);
      const batches = dataset.batches({
        split: 'train',
        batchSize,
        indices: order.subarray(startBatch * batchSize, tasks.stepsIn(epoch) * batchSize),
        shuffle: false,
        dropRemainder: true,
      });
      let b = startBatch;
      for await (const batch of batches) {
        const stepRandom = root.fork(`step:${step}`);
        const n = batch.y.shape[0];
        const lr = rateAt(epoch, step);
        const t0 = performance.now();
        let x = batch.x;
        let outcome: ReturnType<typeof steps.compute> | undefined;
        let prepared: ReturnType<typeof steps.prepare> | undefined;
        try {
          await runner.run('onBatchBegin', { ...baseEvent(epoch, step), batch: b, metrics: { lr, batch_size: n } });
          x = augmentBatch(batch.x, config.augment, stepRandom.fork('augment')) ?? batch.x;

          const ta = performance.now();
          prepared = steps.prepare({ x, y: batch.y, size: n }, stepRandom);
          const attackSeconds = (performance.now() - ta) / 1000;
          const nAdv = prepared.plan.adversarialExamples;
          await runner.run('onAfterAttack', { ...baseEvent(epoch, step), batch: b, metrics: { attack_seconds: attackSeconds, adversarial_examples: nAdv } });

          outcome = steps.compute(prepared.plan, prepared.owned);
          const { loss, gradNorm } = outcome;
          const tooLarge = config.maxLoss !== undefined && loss > config.maxLoss;
          if (!Number.isFinite(loss) || !Number.isFinite(gradNorm) || tooLarge) {
            const what = tooLarge ? `loss is ${loss}, above maxLoss ${config.maxLoss}` : !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${gradNorm}`;
            const kept = outDir ? ` The last good checkpoint in ${runs.checkpointsPath(outDir)} is kept.` : '';
            throw new TrainingDivergedError(
              `training diverged at epoch ${epoch + 1}, step ${step + 1} (batch ${b + 1} of the epoch): ${what}; no update was applied.${kept} Lower the learning rate or enable gradient clipping.`,
            );
          }
          await runner.run('onBeforeOptimizerStep', { ...baseEvent(epoch, step), batch: b, metrics: { loss, grad_norm: gradNorm, lr } });
          optimizer.apply(outcome.grads, lr);
          step++;
          counters.trainSeconds += (performance.now() - t0) / 1000;
          counters.imagesSeen += n;
          counters.epochLossSum += loss;
          counters.epochSteps += 1;
          counters.epochCorrect += outcome.correct;
          counters.epochSeen += outcome.counted;
          counters.lastLoss = loss;
          const { clean_loss: cleanLoss, ...modeMetrics } = outcome.metrics;
          const batchMetrics: Record<string, number> = {
            loss,
            clean_loss: cleanLoss ?? loss,
            accuracy: outcome.counted > 0 ? outcome.correct / outcome.counted : 0,
            lr,
            grad_norm: gradNorm,
            attack_seconds: attackSeconds,
            images_per_second: counters.imagesSeen / Math.max(1e-9, counters.trainSeconds),
            ...modeMetrics,
          };
          await runner.run('onBatchEnd', { ...baseEvent(epoch, step), batch: b, metrics: batchMetrics });
        } finally {
          if (outcome) outcome.dispose();
          else if (prepared) tf.dispose(prepared.owned);
          if (x !== batch.x) x.dispose();
          batch.x.dispose();
          batch.y.dispose();
        }
        b++;
        const pos: TrainPosition = { epoch, batchInEpoch: b, step };
        if (interrupted()) await interrupt(pos);
        await checkpointIfRequested(pos);
        if (control.stopRequested) break; // finish(): the epoch end still runs
      }

      // Epoch end: evaluation, then hooks, then a checkpoint if asked.
      epochMetrics = {
        loss: counters.epochSteps > 0 ? counters.epochLossSum / counters.epochSteps : Number.NaN,
        accuracy: counters.epochSeen > 0 ? counters.epochCorrect / counters.epochSeen : Number.NaN,
        // At a task's end (config.incremental): task_accuracy/<j>, incremental_average_accuracy.
        ...(await tasks.afterEpoch(epoch)),
      };
      if (config.evaluation.epochLimit > 0 && dataset.size('test') > 0) {
        const ev = await evaluate(trainModel, dataset, {
          limit: config.evaluation.epochLimit,
          batchSize: config.evaluation.batchSize,
          random: root.fork('epoch-evaluation'),
        });
        epochMetrics.val_accuracy = ev.clean_accuracy;
        epochMetrics.val_loss = ev.clean_loss;
        if (ev.aux_accuracy !== null) epochMetrics.val_aux_accuracy = ev.aux_accuracy;
        await runner.run('onEvaluationEnd', { ...baseEvent(epoch, step), metrics: epochMetrics });
      }
      await runner.run('onEpochEnd', { ...baseEvent(epoch, step), metrics: epochMetrics });
      const endPos: TrainPosition = { epoch: epoch + 1, batchInEpoch: 0, step };
      if (interrupted()) await interrupt(endPos, epochMetrics);
      if (control.finishRequested) {
        // Recorded in the checkpoint, so a run killed during the export is not trained on by its resume.
        await writeCheckpoint(endPos, control.takeCheckpointRequest()?.best ?? false, epochMetrics, control.stopReason);
      } else {
        await checkpointIfRequested(endPos, epochMetrics);
      }
    }
    const stoppedEarly = finishedBefore ?? (control.finishRequested ? control.stopReason : undefined);
    const epochsCompleted = Math.min(epoch, epochs);

    // Final evaluation.
    const labels = evalLabels(config.evaluation.attacks);
    const suite: { name: string; attacker: Attacker }[] = [];
    for (const [i, a] of config.evaluation.attacks.entries()) {
      suite.push({ name: labels[i] as string, attacker: await scope.resolveDynamic('attacker', a.name, a.options ?? {}) });
    }
    let result: EvaluationResult | undefined;
    if (dataset.size('test') > 0) {
      result = await evaluate(trainModel, dataset, {
        attacks: suite,
        ...(config.evaluation.limit !== undefined ? { limit: config.evaluation.limit } : {}),
        ...(config.evaluation.robustLimit !== undefined ? { robustLimit: config.evaluation.robustLimit } : {}),
        batchSize: config.evaluation.batchSize,
        corruptions: config.evaluation.corruptions,
        corrupt: ((images, shape, o) => corrupt(images, shape, { type: o.type as CorruptionType, severity: o.severity, random: o.random })) as CorruptFn,
        random: root.fork('final-evaluation'),
        // Progress displays (the progress bar) follow the final evaluation through this hook.
        onProgress: async (p) => {
          for (const cb of runner.callbacks) await cb.onFinalEvaluationProgress?.(Object.freeze({ ...p }));
        },
      });
    } else {
      log.warn(`dataset "${info.name}" has no test split; the summary holds no accuracy figures`);
    }
    const autoattack =
      config.evaluation.autoattack && dataset.size('test') > 0
        ? runAutoAttackSuite(trainModel, dataset, config.evaluation.autoattack, {
            log,
            onProgress: (e) => log.info(`autoattack ${e.attack}: ${e.attack === 'clean' ? 'accuracy' : 'robust accuracy'} ${(100 * e.robustAccuracy).toFixed(2)}%`),
          })
        : undefined;

    const wallSeconds = counters.wallSeconds + (performance.now() - wallStart) / 1000;
    const summary: RunSummary = {
      mode: config.mode,
      dataset: config.dataset.name,
      model: modelName,
      backend: config.backend ?? tf.getBackend(),
      epochs: config.epochs,
      seed: config.seed,
      clean_accuracy: result?.clean_accuracy ?? Number.NaN,
      aux_accuracy: result?.aux_accuracy ?? null,
      robust_accuracy: result?.robust_accuracy ?? {},
      ...(config.evaluation.corruptions.length > 0 ? { corrupted_accuracy: result?.corrupted_accuracy ?? {} } : {}),
      per_class_accuracy: result?.per_class_accuracy ?? [],
      evaluated_examples: result?.count ?? 0,
      robust_examples: result?.robust_count ?? 0,
      images_per_second: counters.trainSeconds > 0 ? counters.imagesSeen / counters.trainSeconds : 0,
      wall_seconds: wallSeconds,
      steps: step,
      epochs_completed: epochsCompleted,
      final_loss: counters.lastLoss,
      train_examples: subsetSize,
      ...(resumed.resumedFrom ? { resumed_from: resumed.resumedFrom } : {}),
      ...(stoppedEarly !== undefined ? { stopped_early: stoppedEarly } : {}),
      ...(autoattack ? { autoattack } : {}),
      ...tasks.summary(),
    };

    await runs.writeRunEnd(run, trainModel, summary);
    const endMetrics: Record<string, number> = {
      clean_accuracy: summary.clean_accuracy,
      images_per_second: summary.images_per_second,
      wall_seconds: summary.wall_seconds,
      steps: summary.steps,
      final_loss: summary.final_loss,
    };
    if (summary.aux_accuracy !== null) endMetrics.aux_accuracy = summary.aux_accuracy;
    for (const [k, v] of Object.entries(summary.robust_accuracy)) endMetrics[`robust_accuracy/${k}`] = v;
    await runner.run('onTrainEnd', { ...baseEvent(epochsCompleted, step), metrics: endMetrics });

    const trained = trainModel;
    failed = false;
    let disposed = false;
    return {
      summary,
      model: trained,
      outDir,
      dispose() {
        if (disposed) return;
        disposed = true;
        trained.dispose();
      },
    };
  } catch (error) {
    if (model && model !== options.model) model.dispose();
    throw error;
  } finally {
    await run?.close(failed);
    optimizer?.dispose();
    await scope?.dispose();
    if (ownRegistry) await registry.dispose();
  }
}
