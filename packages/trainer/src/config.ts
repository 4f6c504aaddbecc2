/**
 * The training configuration: a zod schema with defaults, so a partial object (from a YAML file,
 * the CLI or a test) becomes a complete `TrainConfig`, and a bad field is named in the error.
 */
import { ConfigError, parseOptions, z } from '@advprop/core';
import { adamOptions, adamwOptions, constantOptions, cosineOptions, sgdOptions, stepOptions } from './plugins.js';

export const TRAIN_MODES = ['vanilla', 'adversarial', 'advprop', 'fast-advprop'] as const;
export type TrainMode = (typeof TRAIN_MODES)[number];

export interface PluginRef {
  name: string;
  options?: Record<string, unknown>;
}

const pluginRef = z
  .object({
    name: z.string().min(1, 'a plugin name is required'),
    options: z.record(z.string(), z.unknown()).optional(),
  })
  .strict();

/**
 * Optimizer: `name` is an 'optimizer' plugin (built in: sgd, adam, adamw), `lr` the base rate, every
 * other field the plugin's options (built-ins are validated and defaulted here, others by the
 * registry when training starts).
 */
const optimizerSchema = z
  .object({
    name: z.string().min(1).default('sgd'),
    lr: z.number().positive().default(0.05),
  })
  .catchall(z.unknown());

/**
 * Schedule: `name` is a 'schedule' plugin (built in: constant, step, cosine) with its options
 * (step: milestones, gamma; cosine: minFactor); the linear warm-up applies to any schedule.
 */
const scheduleSchema = z
  .object({
    name: z.string().min(1).default('constant'),
    /** Linear warm-up from lr * warmupStartFactor to lr over this many epochs (fractions allowed). */
    warmupEpochs: z.number().min(0).default(0),
    warmupStartFactor: z.number().min(0).max(1).default(0.1),
  })
  .catchall(z.unknown());

const BUILTIN_OPTIMIZERS: Record<string, z.ZodType> = { sgd: sgdOptions, adam: adamOptions, adamw: adamwOptions };
const BUILTIN_SCHEDULES: Record<string, z.ZodType> = { constant: constantOptions, step: stepOptions, cosine: cosineOptions };

/** Parse a nested plugin's options, naming failing fields with their full path (`optimizer.momentum`). */
function parseNested(schema: z.ZodType, value: unknown, prefix: string, where: string): Record<string, unknown> {
  const result = schema.safeParse(value);
  if (result.success) return result.data as Record<string, unknown>;
  const issues = result.error.issues.map((i) => ({
    path: [prefix, ...i.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].join('.').replace(/\.\[/g, '['),
    message: i.message,
  }));
  throw new ConfigError(`Invalid options for ${where}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`, issues);
}

const fastAdvpropSchema = z
  .object({
    /** Fraction of every batch turned into adversarial examples (Mei et al. 2022). */
    pAdv: z.number().gt(0).lt(1).default(0.2),
    /** Shuffle the adversarial part of the batch before the update. */
    shuffle: z.boolean().default(true),
    /** Re-scale main/aux BN parameter gradients by the share of the batch that reached them. */
    rescaleGradients: z.boolean().default(true),
  })
  .strict();

const corruptionSchema = z.object({ type: z.string().min(1), severity: z.number().int().min(1).max(5) }).strict();

const evaluationSchema = z
  .object({
    /** Attack suite of the final evaluation (robust accuracy per entry). */
    attacks: z.array(pluginRef.extend({ label: z.string().optional() })).default([{ name: 'fgsm' }]),
    /** Test examples used by the final evaluation. */
    limit: z.number().int().positive().optional(),
    /** Test examples used by the per-epoch clean evaluation (0 turns it off). */
    epochLimit: z.number().int().min(0).default(1000),
    batchSize: z.number().int().positive().default(100),
    corruptions: z.array(corruptionSchema).default([]),
  })
  .strict();

const checkpointSchema = z
  .object({
    everyEpochs: z.number().int().min(0).default(1),
    /** Also checkpoint every N optimizer steps (0: off). */
    everySteps: z.number().int().min(0).default(0),
    keepLast: z.number().int().min(1).default(1),
    keepBest: z.boolean().default(true),
    monitor: z.string().default('val_accuracy'),
    mode: z.enum(['max', 'min']).default('max'),
  })
  .strict();

const earlyStoppingSchema = z
  .object({
    monitor: z.string().default('val_accuracy'),
    mode: z.enum(['max', 'min']).default('max'),
    patience: z.number().int().min(0).default(3),
    minDelta: z.number().min(0).default(0),
  })
  .strict();

export const trainConfigSchema = z
  .object({
    mode: z.enum(TRAIN_MODES).default('advprop'),
    dataset: pluginRef.default({ name: 'mnist-package' }),
    model: pluginRef.default({ name: 'small-cnn' }),
    /** Training attacker; when absent a mode-dependent default is used (see resolveTrainConfig). */
    attacker: pluginRef.optional(),
    epochs: z.number().int().positive().default(1),
    batchSize: z.number().int().positive().default(64),
    /** Use only the first `limit` training examples. */
    limit: z.number().int().positive().optional(),
    seed: z.number().int().min(0).default(0),
    optimizer: optimizerSchema.default({ name: 'sgd', lr: 0.05 }),
    schedule: scheduleSchema.default({ name: 'constant', warmupEpochs: 0, warmupStartFactor: 0.1 }),
    labelSmoothing: z.number().min(0).lt(1).default(0),
    gradClipNorm: z.number().positive().optional(),
    /** lambda in CE(clean, main BN) + lambda * CE(adv, aux BN). */
    advLossWeight: z.number().min(0).default(1),
    fastAdvprop: fastAdvpropSchema.default(fastAdvpropSchema.parse({})),
    evaluation: evaluationSchema.default(evaluationSchema.parse({})),
    checkpoint: checkpointSchema.default(checkpointSchema.parse({})),
    earlyStopping: earlyStoppingSchema.optional(),
    /** Callback plugins (kind 'callback') besides checkpointing, which the trainer adds itself. */
    callbacks: z.array(pluginRef).default([{ name: 'progress-bar' }, { name: 'metrics-logger' }]),
    /** Informational: the backend the caller selected (summary.json records tf.getBackend() when absent). */
    backend: z.string().optional(),
    /** Run directory; without it nothing is written and resume is impossible. */
    outDir: z.string().min(1).optional(),
    resume: z.boolean().default(false),
  })
  .strict();

type Parsed = z.output<typeof trainConfigSchema>;
export type TrainConfig = Omit<Parsed, 'attacker'> & { attacker: PluginRef & { options?: Record<string, unknown> } };
export type OptimizerConfig = TrainConfig['optimizer'];
export type ScheduleConfig = TrainConfig['schedule'];
export type EvaluationConfig = TrainConfig['evaluation'];
export type CheckpointConfig = TrainConfig['checkpoint'];

/**
 * Default training attacker per mode (options of @advprop/attacks):
 * - advprop: the attacks package's `advprop` preset (PGD through the auxiliary BN in inference
 *   mode, random start, targeted to a random wrong class; eps 1/255, K = 1);
 * - fast-advprop: PGD-1 with random start, eps 1/255, step 1.25 eps, random wrong-class targets;
 * - adversarial (Madry): untargeted PGD-7, eps 8/255, step 2/255, random start;
 * - vanilla: not used (fgsm is recorded only so the field is complete).
 */
export function defaultAttacker(mode: TrainMode): PluginRef {
  switch (mode) {
    case 'advprop':
      return { name: 'advprop', options: { epsilonPixels: 1 } };
    case 'fast-advprop':
      return { name: 'pgd', options: { epsilon: '1/255', stepSize: '1.25/255', steps: 1, randomStart: true, targeted: 'random' } };
    case 'adversarial':
      return { name: 'pgd', options: { epsilon: '8/255', stepSize: '2/255', steps: 7, randomStart: true, targeted: 'none' } };
    case 'vanilla':
      return { name: 'fgsm' };
  }
}

/** Parse a partial configuration into a complete one; errors name each field at fault. */
export function resolveTrainConfig(partial: unknown, where = 'training config'): TrainConfig {
  if (partial !== undefined && (partial === null || typeof partial !== 'object' || Array.isArray(partial))) {
    throw new ConfigError(`Invalid options for ${where}: expected an object, got ${partial === null ? 'null' : typeof partial}`, [
      { path: '(root)', message: 'expected an object' },
    ]);
  }
  const parsed = parseOptions(trainConfigSchema, partial ?? {}, where);
  let optimizer = parsed.optimizer;
  const optimizerOptions = BUILTIN_OPTIMIZERS[optimizer.name];
  if (optimizerOptions) {
    const { name, lr, ...rest } = optimizer;
    optimizer = { name, lr, ...parseNested(optimizerOptions, rest, 'optimizer', `${where} (optimizer "${name}")`) };
  }
  let schedule = parsed.schedule;
  const scheduleOptions = BUILTIN_SCHEDULES[schedule.name];
  if (scheduleOptions) {
    const { name, warmupEpochs, warmupStartFactor, ...rest } = schedule;
    schedule = { name, warmupEpochs, warmupStartFactor, ...parseNested(scheduleOptions, rest, 'schedule', `${where} (schedule "${name}")`) };
  }
  return { ...parsed, optimizer, schedule, attacker: parsed.attacker ?? defaultAttacker(parsed.mode) };
}

/** Whether a mode trains a dual-BN model. */
export function usesDualBn(mode: TrainMode): boolean {
  return mode === 'advprop' || mode === 'fast-advprop';
}
