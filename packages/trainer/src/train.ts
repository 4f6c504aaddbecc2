/**
 * The training loop. Parts come from the registry (dataset, model, attacker, callbacks); the
 * optimizer and schedule from the config. Modes:
 *
 * - vanilla:      CE(clean) through the (only / main) BN.
 * - adversarial:  Madry et al.: CE(adv) only, adversarial examples from the attacker (one BN).
 * - advprop:      Xie et al.: attack through the auxiliary BN (running statistics), then one
 *                 update on CE(clean, main BN) + lambda * CE(adv, aux BN).
 * - fast-advprop: Mei et al.: only a fraction pAdv of the batch is attacked (PGD-1, random start),
 *                 the adversarial part is shuffled, the batch loss is the per-example mean over the
 *                 whole batch (clean part through main BN, adversarial part through aux BN, weighted
 *                 by lambda), and the BN parameter gradients are re-scaled (see README).
 *
 * Every random choice derives from `new SeededRandom(seed)` by label (epoch shuffles, per-step
 * attack randomness), so resuming at (epoch, batch) repeats the rest of an uninterrupted run.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  ConfigError,
  SeededRandom,
  ShapeError,
  TrainingDivergedError,
  consoleLogger,
  routableLayers,
  toForward,
  type AnyPlugin,
  type Attacker,
  type Callback,
  type DatasetAdapter,
  type Logger,
  type ModelFactory,
  type ModelSpec,
  type Registry,
} from '@advprop/core';
import { ensureWritableDirectory, writeFileAtomic, pathExists } from '@advprop/core/node';
import { CORRUPTIONS, corrupt, type CorruptionType } from '@advprop/datasets';
import { dualBnLayers, toInferenceModel } from '@advprop/dual-bn';
import { saveModel } from '@advprop/dual-bn/node';
import { CallbackRunner, Control, callbacks as callbackPlugins, checkpointPolicy, earlyStopping, type StatefulCallback } from './callbacks.js';
import { layerStates, loadCheckpoint, restoreLayerStates, restoreWeights, saveCheckpoint, type TrainPosition } from './checkpoint.js';
import { resolveTrainConfig, usesDualBn, type PluginRef, type TrainConfig } from './config.js';
import { evaluate, type CorruptFn, type EvaluationResult } from './evaluation.js';
import { crossEntropyPerExample } from './losses.js';
import { clipByGlobalNorm, type TrainOptimizer } from './optimizers.js';
import { optimizers as optimizerPlugins, schedules as schedulePlugins } from './plugins.js';
import { createDefaultRegistry } from './registry.js';
import { scheduledRate } from './schedules.js';

export interface TrainOptions {
  /** Registry to resolve plugins from (default: createDefaultRegistry({ seed })). Not disposed. */
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
  images_per_second: number;
  wall_seconds: number;
  steps: number;
  epochs_completed: number;
  final_loss: number;
  train_examples: number;
  resumed_from?: { epoch: number; step: number };
  stopped_early?: string;
}

export interface TrainResult {
  readonly summary: RunSummary;
  /** The trained model (dual BN for advprop modes); the caller owns it. */
  readonly model: LayersModel;
  readonly outDir: string | undefined;
  dispose(): void;
}

/** Files of a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  run: 'run.json',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  checkpoints: 'checkpoints',
  dualModel: 'model-dual',
  inferenceModel: 'model-inference',
} as const;

/** What run.json records: enough to rebuild the model without loading the dataset. */
export interface RunInfo {
  readonly modelSpec: { inputShape: [number, number, number]; numClasses: number; batchNorm: 'dual' | 'plain' };
  readonly trainExamples: number;
  readonly stepsPerEpoch: number;
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

/** Callback plugin references with the trainer-provided options filled in (metrics-logger file). */
function callbackRefs(config: TrainConfig, outDir: string | undefined, log: Logger): PluginRef[] {
  const refs: PluginRef[] = [];
  for (const ref of config.callbacks) {
    if (ref.name === 'metrics-logger' && !ref.options?.file) {
      if (!outDir) {
        log.debug('metrics-logger: no outDir, so no metrics.jsonl');
        continue;
      }
      refs.push({ name: ref.name, options: { ...ref.options, file: path.join(outDir, RUN_FILES.metrics) } });
    } else refs.push(ref);
  }
  return refs;
}

/** Every plugin name and its options, checked before anything is built or written. */
function checkPlugins(registry: Registry<AnyPlugin>, config: TrainConfig, options: TrainOptions, refs: readonly PluginRef[]): void {
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
  if (config.mode !== 'vanilla') check('attacker', config.attacker);
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

/** Fields that must match between a run and its resumption. */
const RESUME_FIELDS = ['mode', 'dataset', 'model', 'seed', 'batchSize', 'limit', 'optimizer', 'fastAdvprop', 'advLossWeight', 'labelSmoothing'] as const;

async function checkResumeCompatible(outDir: string, config: TrainConfig): Promise<void> {
  const file = path.join(outDir, RUN_FILES.config);
  if (!(await pathExists(file))) return;
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`cannot resume: ${file} is not valid JSON (${(error as Error).message})`);
  }
  const differs = RESUME_FIELDS.filter((k) => JSON.stringify(saved[k] ?? null) !== JSON.stringify((config as Record<string, unknown>)[k] ?? null));
  if (differs.length > 0) {
    throw new ConfigError(
      `cannot resume the run in ${outDir}: ${differs.map((k) => `${k} was ${JSON.stringify(saved[k])}, now ${JSON.stringify((config as Record<string, unknown>)[k])}`).join('; ')}`,
      differs.map((k) => ({ path: k, message: 'differs from the run being resumed' })),
    );
  }
}

interface Counters {
  imagesSeen: number;
  trainSeconds: number;
  wallSeconds: number;
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  epochSteps: number;
  lastLoss: number;
}

const ZERO_COUNTERS: Counters = {
  imagesSeen: 0,
  trainSeconds: 0,
  wallSeconds: 0,
  epochLossSum: 0,
  epochCorrect: 0,
  epochSeen: 0,
  epochSteps: 0,
  lastLoss: Number.NaN,
};

/** Train according to `config`; see the package README for the run directory and resume semantics. */
export async function train(input: TrainConfig | unknown, options: TrainOptions = {}): Promise<TrainResult> {
  const wallStart = performance.now();
  const config = resolveTrainConfig(input);
  const log = options.log ?? (options.registry as Registry<AnyPlugin> | undefined)?.log ?? consoleLogger;
  const ownRegistry = options.registry === undefined;
  const registry = (options.registry ?? createDefaultRegistry({ seed: config.seed, log })) as unknown as Registry<AnyPlugin>;
  const outDir = config.outDir ? path.resolve(config.outDir) : undefined;
  const refs = callbackRefs(config, outDir, log);
  let scope: Registry<AnyPlugin> | undefined;
  let model: LayersModel | undefined;
  let optimizer: TrainOptimizer | undefined;
  try {
    scope = registry.createScope({ seed: config.seed, log });
    // Built-in optimizers, schedules and callbacks are always available, also with a user registry
    // lacking them; the user's own plugins of the same name take precedence.
    for (const plugin of [...optimizerPlugins, ...schedulePlugins, ...callbackPlugins]) {
      if (!scope.has(plugin.kind, plugin.name)) scope.register(plugin);
    }
    checkPlugins(scope, config, options, refs);
    if (outDir) {
      await ensureWritableDirectory(outDir);
      const entries = await fs.readdir(outDir);
      const hasRun = entries.some((e) => e === RUN_FILES.config || e === RUN_FILES.summary || e === RUN_FILES.checkpoints);
      if (hasRun && !config.resume) {
        throw new ConfigError(`output directory ${outDir} already holds a run; pass resume: true to continue it, or choose another outDir`, [
          { path: 'outDir', message: 'already holds a run' },
        ]);
      }
      if (hasRun) await checkResumeCompatible(outDir, config);
    } else if (config.resume) {
      throw new ConfigError('resume: true needs an outDir holding the run to resume', [{ path: 'resume', message: 'needs outDir' }]);
    }

    const root = new SeededRandom(config.seed);
    const dataset = options.dataset ?? (await scope.resolveDynamic('dataset', config.dataset.name, config.dataset.options ?? {}));
    const info = dataset.info;
    const trainSize = dataset.size('train');
    if (trainSize === 0) throw new ConfigError(`dataset "${info.name}" has no training examples`);
    const batchNorm = usesDualBn(config.mode) ? 'dual' : 'plain';
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
    if (batchNorm === 'dual' && routableLayers(model).length === 0) {
      throw new ConfigError(`mode "${config.mode}" needs a model with dual BN layers; model "${modelName}" has none`, [{ path: 'model', message: 'no dual BN' }]);
    }
    const trainModel = model;
    const attacker: Attacker | undefined =
      config.mode === 'vanilla' ? undefined : await scope.resolveDynamic('attacker', config.attacker.name, config.attacker.options ?? {});

    // Training subset: the first `limit` examples of the split (adapters store classes interleaved,
    // so a prefix is representative), then steps.
    const subsetSize = config.limit !== undefined ? Math.min(config.limit, trainSize) : trainSize;
    const subset = Int32Array.from({ length: subsetSize }, (_, i) => i);
    // Full batches only (the remainder of an epoch is dropped); a subset smaller than one batch is one batch.
    const batchSize = Math.min(config.batchSize, subset.length);
    if (config.mode === 'fast-advprop' && batchSize < 2) {
      throw new ConfigError('fast-advprop needs batches of at least 2 images (a clean and an adversarial part)', [{ path: 'batchSize', message: 'must be >= 2' }]);
    }
    const stepsPerEpoch = Math.floor(subset.length / batchSize);
    const totalSteps = stepsPerEpoch * config.epochs;

    // Optimizer over the trainable weights.
    const params = trainModel.trainableWeights.map((w) => w.read() as tf.Variable);
    const { name: optimizerName, lr: baseLr, ...optimizerOptions } = config.optimizer;
    optimizer = (await scope.resolveDynamic('optimizer', optimizerName, optimizerOptions)).create(params);
    const { name: scheduleName, warmupEpochs, warmupStartFactor, ...scheduleOptions } = config.schedule;
    const schedule = await scope.resolveDynamic('schedule', scheduleName, scheduleOptions);
    const rateAt = (step: number) => scheduledRate(baseLr, schedule, { warmupEpochs, warmupStartFactor }, { step, stepsPerEpoch, epochs: config.epochs });
    const mainBn = new Set<string>();
    const auxBn = new Set<string>();
    for (const layer of dualBnLayers(trainModel)) {
      for (const v of [layer.main.gamma, layer.main.beta]) if (v) mainBn.add((v.read() as tf.Variable).name);
      for (const v of [layer.aux.gamma, layer.aux.beta]) if (v) auxBn.add((v.read() as tf.Variable).name);
    }

    // Callbacks.
    const control = new Control();
    const cbs: StatefulCallback[] = [];
    for (const ref of refs) cbs.push(await scope.resolveDynamic('callback', ref.name, ref.options ?? {}));
    if (outDir) cbs.push(checkpointPolicy(config.checkpoint));
    if (config.earlyStopping) cbs.push(earlyStopping(config.earlyStopping));
    cbs.push(...((options.callbacks ?? []) as StatefulCallback[]));
    const runner = new CallbackRunner(cbs, control);
    if (options.signal) {
      if (options.signal.aborted) control.stop('aborted');
      options.signal.addEventListener('abort', () => control.stop('aborted'), { once: true });
    }

    // Resume.
    let position: TrainPosition = { epoch: 0, batchInEpoch: 0, step: 0 };
    let counters: Counters = { ...ZERO_COUNTERS };
    let resumedFrom: { epoch: number; step: number } | undefined;
    if (outDir && config.resume) {
      const ck = await loadCheckpoint(outDir);
      if (ck) {
        restoreWeights(trainModel, ck.weights, ck.dir);
        restoreLayerStates(trainModel, ck.layers, ck.dir);
        optimizer.setState(ck.optimizer);
        await runner.setStates(ck.callbacks);
        root.setState(ck.random);
        position = ck.position;
        counters = { ...ZERO_COUNTERS, ...ck.counters };
        resumedFrom = { epoch: position.epoch, step: position.step };
        log.info(`resuming ${outDir} from checkpoint ${ck.name} (epoch ${position.epoch + 1}, batch ${position.batchInEpoch}, step ${position.step})`);
      } else {
        log.info(`no checkpoint in ${outDir}; starting from scratch`);
      }
    }
    if (outDir) {
      await writeFileAtomic(path.join(outDir, RUN_FILES.config), JSON.stringify(config, null, 2));
      const runInfo: RunInfo = {
        modelSpec: { inputShape: [...info.imageShape] as [number, number, number], numClasses: info.numClasses, batchNorm },
        trainExamples: subset.length,
        stepsPerEpoch,
      };
      await writeFileAtomic(path.join(outDir, RUN_FILES.run), JSON.stringify(runInfo, null, 2));
    }

    const [h, w, c] = info.imageShape;
    const main = toForward(trainModel, { route: 'main', training: true });
    const aux = toForward(trainModel, { route: 'aux', training: true });
    const lambda = config.advLossWeight;
    const smoothing = config.labelSmoothing;
    const epochs = config.epochs;
    const baseEvent = (epoch: number, step: number) => ({ epoch, step, epochs, stepsPerEpoch });
    let epochMetrics: Record<string, number> = {};

    const writeCheckpoint = async (pos: TrainPosition, best: boolean, metrics?: Record<string, number>) => {
      if (!outDir) return;
      await saveCheckpoint(outDir, {
        model: trainModel,
        optimizer: optimizer as TrainOptimizer,
        position: pos,
        random: root.getState(),
        callbacks: runner.getStates(),
        counters: { ...counters, wallSeconds: counters.wallSeconds + (performance.now() - wallStart) / 1000 },
        ...(layerStates(trainModel) ? { layers: layerStates(trainModel)! } : {}),
        ...(metrics ? { metrics } : {}),
        best,
        bestMetric: metrics?.[config.checkpoint.monitor] ?? null,
        keepLast: config.checkpoint.keepLast,
        keepBest: config.checkpoint.keepBest,
      });
    };
    const checkpointIfRequested = async (pos: TrainPosition, metrics?: Record<string, number>) => {
      const request = control.takeCheckpointRequest();
      if (request) await writeCheckpoint(pos, request.best, metrics);
    };

    await runner.run('onTrainBegin', { ...baseEvent(position.epoch, position.step), metrics: { total_steps: totalSteps } });
    let step = position.step;
    let epoch = position.epoch;
    for (; epoch < epochs && !control.stopRequested; epoch++) {
      const startBatch = epoch === position.epoch ? position.batchInEpoch : 0;
      if (startBatch === 0) {
        counters = { ...counters, epochLossSum: 0, epochCorrect: 0, epochSeen: 0, epochSteps: 0 };
      }
      await runner.run('onEpochBegin', { ...baseEvent(epoch, step), metrics: { lr: rateAt(step) } });
      const perm = root.fork(`shuffle:${epoch}`).permutation(subset.length);
      for (let b = startBatch; b < stepsPerEpoch && !control.stopRequested; b++) {
        const idx = new Int32Array(batchSize);
        for (let i = 0; i < batchSize; i++) idx[i] = subset[perm[b * batchSize + i] as number] as number;
        const stepRandom = root.fork(`step:${step}`);
        const ex = dataset.read('train', idx);
        const n = ex.count;
        const lr = rateAt(step);
        const t0 = performance.now();
        const owned: tf.Tensor[] = [];
        const own = <T extends tf.Tensor>(t: T): T => {
          owned.push(t);
          return t;
        };
        try {
          const x = own(tf.tensor4d(ex.images, [n, h, w, c]));
          const y = own(tf.tensor1d(ex.labels, 'int32'));
          await runner.run('onBatchBegin', { ...baseEvent(epoch, step), batch: b, metrics: { lr, batch_size: n } });

          // Attack.
          const ta = performance.now();
          let xAdv: tf.Tensor | undefined;
          let xClean: tf.Tensor = x;
          let yClean: tf.Tensor = y;
          let yAdv: tf.Tensor = y;
          let nAdv = 0;
          if (config.mode === 'adversarial') {
            xAdv = own((attacker as Attacker).attack({ model: trainModel, x, labels: y as tf.Tensor1D, training: false, random: stepRandom.fork('attack') }));
            nAdv = n;
          } else if (config.mode === 'advprop') {
            xAdv = own((attacker as Attacker).attack({ model: trainModel, x, labels: y as tf.Tensor1D, route: 'aux', training: false, random: stepRandom.fork('attack') }));
            nAdv = n;
          } else if (config.mode === 'fast-advprop') {
            nAdv = Math.min(n - 1, Math.max(1, Math.round(config.fastAdvprop.pAdv * n)));
            const split = stepRandom.fork('split').permutation(n);
            const advIdx = own(tf.tensor1d(split.slice(0, nAdv), 'int32'));
            const cleanIdx = own(tf.tensor1d(split.slice(nAdv), 'int32'));
            const xa = own(tf.gather(x, advIdx));
            const ya = own(tf.gather(y, advIdx));
            xClean = own(tf.gather(x, cleanIdx));
            yClean = own(tf.gather(y, cleanIdx));
            let adv = own((attacker as Attacker).attack({ model: trainModel, x: xa, labels: ya as tf.Tensor1D, route: 'aux', training: false, random: stepRandom.fork('attack') }));
            yAdv = ya;
            if (config.fastAdvprop.shuffle) {
              const order = own(tf.tensor1d(stepRandom.fork('shuffle').permutation(nAdv), 'int32'));
              adv = own(tf.gather(adv, order));
              yAdv = own(tf.gather(ya, order));
            }
            xAdv = adv;
          }
          const attackSeconds = (performance.now() - ta) / 1000;
          await runner.run('onAfterAttack', { ...baseEvent(epoch, step), batch: b, metrics: { attack_seconds: attackSeconds, adversarial_examples: nAdv } });

          // Loss and gradients (one backward pass).
          const parts: { clean?: tf.Tensor; adv?: tf.Tensor; correct?: tf.Tensor } = {};
          const { value, grads } = tf.variableGrads(() => {
            const keepCorrect = (logits: tf.Tensor, labels: tf.Tensor) => {
              parts.correct = tf.keep(tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), labels), 'int32')));
            };
            switch (config.mode) {
              case 'vanilla': {
                const logits = main(x);
                keepCorrect(logits, y);
                return tf.mean(crossEntropyPerExample(logits, y, smoothing)) as tf.Scalar;
              }
              case 'adversarial': {
                const logits = main(xAdv as tf.Tensor);
                keepCorrect(logits, y);
                return tf.mean(crossEntropyPerExample(logits, y, smoothing)) as tf.Scalar;
              }
              case 'advprop': {
                const lc = main(x);
                keepCorrect(lc, y);
                const cl = tf.mean(crossEntropyPerExample(lc, y, smoothing));
                const al = tf.mean(crossEntropyPerExample(aux(xAdv as tf.Tensor), y, smoothing));
                parts.clean = tf.keep(cl.clone());
                parts.adv = tf.keep(al.clone());
                return tf.add(cl, tf.mul(al, lambda)) as tf.Scalar;
              }
              case 'fast-advprop': {
                const lc = main(xClean);
                keepCorrect(lc, yClean);
                const cl = tf.sum(crossEntropyPerExample(lc, yClean, smoothing));
                const al = tf.sum(crossEntropyPerExample(aux(xAdv as tf.Tensor), yAdv, smoothing));
                parts.clean = tf.keep(tf.div(cl, n - nAdv));
                parts.adv = tf.keep(tf.div(al, nAdv));
                return tf.div(tf.add(cl, tf.mul(al, lambda)), n) as tf.Scalar;
              }
            }
          });
          owned.push(value);
          for (const t of [parts.clean, parts.adv, parts.correct]) if (t) owned.push(t);
          let gradList: (tf.Tensor | null)[] = params.map((p) => grads[p.name] ?? null);
          if (config.mode === 'fast-advprop' && config.fastAdvprop.rescaleGradients) {
            gradList = gradList.map((g, i) => {
              const name = (params[i] as tf.Variable).name;
              const factor = mainBn.has(name) ? n / (n - nAdv) : auxBn.has(name) ? n / nAdv : 1;
              if (!g || factor === 1) return g;
              const scaled = tf.mul(g, factor);
              g.dispose();
              return scaled;
            });
          }
          const loss = value.dataSync()[0] as number;
          const clip = clipByGlobalNorm(gradList, config.gradClipNorm);
          for (const g of clip.grads) if (g) owned.push(g);
          if (!Number.isFinite(loss) || !Number.isFinite(clip.norm)) {
            const what = !Number.isFinite(loss) ? `loss is ${loss}` : `gradient norm is ${clip.norm}`;
            const kept = outDir ? ` The last good checkpoint in ${path.join(outDir, RUN_FILES.checkpoints)} is kept.` : '';
            throw new TrainingDivergedError(
              `training diverged at epoch ${epoch + 1}, step ${step + 1} (batch ${b + 1} of the epoch): ${what}; no update was applied.${kept} Lower the learning rate or enable gradient clipping.`,
            );
          }
          const cleanLoss = parts.clean ? (parts.clean.dataSync()[0] as number) : loss;
          const advLoss = parts.adv ? (parts.adv.dataSync()[0] as number) : undefined;
          const correct = parts.correct ? (parts.correct.dataSync()[0] as number) : 0;
          const seenForAcc = config.mode === 'fast-advprop' ? n - nAdv : n;
          await runner.run('onBeforeOptimizerStep', { ...baseEvent(epoch, step), batch: b, metrics: { loss, grad_norm: clip.norm, lr } });
          optimizer.apply(clip.grads, lr);
          step++;
          counters.trainSeconds += (performance.now() - t0) / 1000;
          counters.imagesSeen += n;
          counters.epochLossSum += loss;
          counters.epochSteps += 1;
          counters.epochCorrect += correct;
          counters.epochSeen += seenForAcc;
          counters.lastLoss = loss;
          const batchMetrics: Record<string, number> = {
            loss,
            clean_loss: cleanLoss,
            accuracy: seenForAcc > 0 ? correct / seenForAcc : 0,
            lr,
            grad_norm: clip.norm,
            attack_seconds: attackSeconds,
            images_per_second: counters.imagesSeen / Math.max(1e-9, counters.trainSeconds),
          };
          if (advLoss !== undefined) batchMetrics.adv_loss = advLoss;
          await runner.run('onBatchEnd', { ...baseEvent(epoch, step), batch: b, metrics: batchMetrics });
        } finally {
          for (const t of owned) if (!t.isDisposed) t.dispose();
        }
        if (options.signal?.aborted) control.stop('aborted');
        await checkpointIfRequested({ epoch, batchInEpoch: b + 1, step });
      }

      // Epoch end: evaluation, then hooks, then a checkpoint if asked.
      epochMetrics = {
        loss: counters.epochSteps > 0 ? counters.epochLossSum / counters.epochSteps : Number.NaN,
        accuracy: counters.epochSeen > 0 ? counters.epochCorrect / counters.epochSeen : Number.NaN,
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
      await checkpointIfRequested({ epoch: epoch + 1, batchInEpoch: 0, step }, epochMetrics);
    }
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
        batchSize: config.evaluation.batchSize,
        corruptions: config.evaluation.corruptions,
        corrupt: ((images, shape, o) => corrupt(images, shape, { type: o.type as CorruptionType, severity: o.severity, random: o.random })) as CorruptFn,
        random: root.fork('final-evaluation'),
      });
    } else {
      log.warn(`dataset "${info.name}" has no test split; the summary holds no accuracy figures`);
    }

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
      images_per_second: counters.trainSeconds > 0 ? counters.imagesSeen / counters.trainSeconds : 0,
      wall_seconds: wallSeconds,
      steps: step,
      epochs_completed: epochsCompleted,
      final_loss: counters.lastLoss,
      train_examples: subset.length,
      ...(resumedFrom ? { resumed_from: resumedFrom } : {}),
      ...(control.stopRequested ? { stopped_early: control.stopReason ?? 'stopped' } : {}),
    };

    if (outDir) {
      await saveModel(trainModel, path.join(outDir, RUN_FILES.dualModel));
      const inference = toInferenceModel(trainModel);
      try {
        await saveModel(inference, path.join(outDir, RUN_FILES.inferenceModel));
      } finally {
        inference.dispose();
      }
      await writeFileAtomic(path.join(outDir, RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
    }
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
    optimizer?.dispose();
    await scope?.dispose();
    if (ownRegistry) await registry.dispose();
  }
}
