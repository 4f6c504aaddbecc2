/**
 * The training configuration: a zod schema with defaults, so a partial object (from a YAML file,
 * the CLI or a test) becomes a complete `TrainConfig`, and a bad field is named in the error.
 * This schema (with the built-in plugins' option schemas) is the one home of every default; the
 * named presets of presets.ts are partial configs layered under the user's.
 */
import { autoAttackSuiteSchema } from '@advprop/attacks';
import { ConfigError, parseOptions, z } from '@advprop/core';
import { checkpointPolicyOptions, earlyStoppingOptions } from './callback-options.js';
import { trainingModes, type PluginRef, type TrainingModePlugin } from './modes/index.js';
import { adamOptions, adamwOptions, constantOptions, cosineOptions, sgdOptions, stepOptions } from './plugins.js';
import { expandPreset } from './presets.js';

/** Names of the built-in training modes (any registered 'training-mode' plugin may be named). */
export const TRAIN_MODES = trainingModes.map((m) => m.name);
export type TrainMode = (typeof trainingModes)[number]['name'];
export type { PluginRef };

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

/**
 * Data augmentation of training batches, applied per step from the step's random stream (so a
 * resumed run repeats it): a random crop after zero padding, and a random horizontal flip.
 */
const augmentSchema = z
  .object({
    /** Pad each side by `padding` pixels, then crop back to the image size at a random offset (CIFAR: 4). */
    randomCrop: z.object({ padding: z.number().int().min(1) }).strict().optional(),
    /** Flip each image horizontally with probability 1/2. */
    flip: z.boolean().default(false),
  })
  .strict();

const corruptionSchema = z.object({ type: z.string().min(1), severity: z.number().int().min(1).max(5) }).strict();

const evaluationSchema = z
  .object({
    /** Attack suite of the final evaluation (robust accuracy per entry). */
    attacks: z.array(pluginRef.extend({ label: z.string().optional() })).default([{ name: 'fgsm' }]),
    /** Test examples used by the final evaluation. */
    limit: z.number().int().positive().optional(),
    /** Attacks and corruptions run on a seeded subset of this many of the `limit` examples (all by default). */
    robustLimit: z.number().int().positive().optional(),
    /** Test examples used by the per-epoch clean evaluation (0 turns it off). */
    epochLimit: z.number().int().min(0).default(1000),
    batchSize: z.number().int().positive().default(100),
    corruptions: z.array(corruptionSchema).default([]),
    /** AutoAttack on the first `limit` test examples after training ({ norm, epsilon, version, limit }); summary.json gets its breakdown under `autoattack`. */
    autoattack: autoAttackSuiteSchema.optional(),
  })
  .strict();

/**
 * Class-incremental learning (incremental.ts): disjoint class groups trained in this order,
 * `epochsPerTask` epochs each, with the model's one shared head and no task id at test time. Classes
 * beyond the dataset's are refused when the dataset is known (training start).
 */
const incrementalSchema = z
  .object({
    tasks: z.array(z.array(z.number().int().min(0)).min(1, 'a task needs at least one class')).min(1, 'give at least one task'),
    epochsPerTask: z.number().int().positive().default(1),
  })
  .strict()
  .superRefine(({ tasks }, ctx) => {
    const owner = new Map<number, number>();
    tasks.forEach((classes, i) =>
      classes.forEach((c, k) => {
        const first = owner.get(c);
        if (first === undefined) owner.set(c, i);
        else ctx.addIssue({ code: 'custom', path: ['tasks', i, k], message: `class ${c} is already in task ${first}; tasks must be disjoint` });
      }),
    );
  });

/** Checkpoint policy (callback-options.ts) plus how many checkpoints the run directory keeps. */
const checkpointSchema = checkpointPolicyOptions.extend({ keepLast: z.number().int().min(1).default(1) }).strict();

export const trainConfigSchema = z
  .object({
    /** A 'training-mode' plugin (built in: vanilla, adversarial, advprop, fast-advprop, trades). */
    mode: z.string().min(1, 'a training mode name is required').default('advprop'),
    /** Options of the training mode (built-ins: see modes/*.ts, e.g. advprop's lambda). */
    modeOptions: z.record(z.string(), z.unknown()).default({}),
    dataset: pluginRef.default({ name: 'mnist-package' }),
    model: pluginRef.default({ name: 'small-cnn' }),
    /** Training attacker; when absent the mode's default (none for modes without an attacker). */
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
    /** Divergence guard: a step whose loss exceeds this stops training like a NaN loss (TrainingDivergedError). */
    maxLoss: z.number().positive().optional(),
    augment: augmentSchema.default({ flip: false }),
    evaluation: evaluationSchema.default(evaluationSchema.parse({})),
    checkpoint: checkpointSchema.default(checkpointSchema.parse({})),
    earlyStopping: earlyStoppingOptions.optional(),
    /** Class-incremental learning; `epochs` then is tasks.length * epochsPerTask (derived when not given). */
    incremental: incrementalSchema.optional(),
    /** Callback plugins (kind 'callback') besides checkpointing, which the trainer adds itself. */
    callbacks: z.array(pluginRef).default([{ name: 'progress-bar' }, { name: 'metrics-logger' }]),
    /** Informational: the backend the caller selected (summary.json records tf.getBackend() when absent). */
    backend: z.string().optional(),
    /** Run directory; without it nothing is written and resume is impossible. */
    outDir: z.string().min(1).optional(),
    resume: z.boolean().default(false),
    /**
     * With resume: when latest.json is missing or unreadable, or its checkpoint does not verify,
     * resume from the newest checkpoint that verifies instead of refusing (see docs/run-directory.md).
     */
    resumeFromNewest: z.boolean().default(false),
  })
  .strict();

type Parsed = z.output<typeof trainConfigSchema>;
export type TrainConfig = Parsed;
export type AugmentConfig = TrainConfig['augment'];
export type OptimizerConfig = TrainConfig['optimizer'];
export type ScheduleConfig = TrainConfig['schedule'];
export type EvaluationConfig = TrainConfig['evaluation'];
export type CheckpointConfig = TrainConfig['checkpoint'];
export type IncrementalConfig = NonNullable<TrainConfig['incremental']>;

const BUILTIN_MODES: ReadonlyMap<string, TrainingModePlugin> = new Map(trainingModes.map((m) => [m.name, m as unknown as TrainingModePlugin]));

/** The default training attacker of a built-in mode (undefined: the mode uses none, or is not built in). */
export function defaultAttacker(mode: string): PluginRef | undefined {
  const declared = BUILTIN_MODES.get(mode)?.declares.attacker;
  return declared ? declared : undefined;
}

/** Parse a partial configuration into a complete one; errors name each field at fault. */
export function resolveTrainConfig(partial: unknown, where = 'training config'): TrainConfig {
  if (partial !== undefined && (partial === null || typeof partial !== 'object' || Array.isArray(partial))) {
    throw new ConfigError(`Invalid options for ${where}: expected an object, got ${partial === null ? 'null' : typeof partial}`, [
      { path: '(root)', message: 'expected an object' },
    ]);
  }
  const expanded = expandPreset(partial ?? {}, where);
  const parsed = parseOptions(trainConfigSchema, expanded, where);
  const epochs = incrementalEpochs(parsed, (expanded as Record<string, unknown>).epochs !== undefined, where);
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
  // Built-in modes: options defaulted and checked here; other modes by the registry when training starts.
  let modeOptions = parsed.modeOptions;
  const builtinMode = BUILTIN_MODES.get(parsed.mode);
  if (builtinMode?.options) modeOptions = parseNested(builtinMode.options, modeOptions, 'modeOptions', `${where} (mode "${parsed.mode}")`);
  // The attacker: the config's, else the mode's default; none for a built-in mode that uses none.
  const { attacker: given, ...rest } = parsed;
  const attacker = builtinMode?.declares.attacker === false ? undefined : (given ?? defaultAttacker(parsed.mode));
  return { ...rest, epochs, optimizer, schedule, modeOptions, ...(attacker ? { attacker } : {}) };
}

/**
 * `epochs` of an incremental run is tasks.length * epochsPerTask: derived when the config leaves it
 * out (a preset's or the schema's default does not count), a ConfigError naming `epochs` when it
 * gives another value.
 */
function incrementalEpochs(parsed: Parsed, given: boolean, where: string): number {
  if (!parsed.incremental) return parsed.epochs;
  const { tasks, epochsPerTask } = parsed.incremental;
  const derived = tasks.length * epochsPerTask;
  if (!given || parsed.epochs === derived) return derived;
  const message = `${parsed.epochs} does not match incremental: ${tasks.length} tasks * ${epochsPerTask} epochsPerTask = ${derived}; leave epochs out (it is derived) or set it to ${derived}`;
  throw new ConfigError(`Invalid options for ${where}:\n  - epochs: ${message}`, [{ path: 'epochs', message }]);
}
