/**
 * AutoAttack as an evaluation suite over a dataset's test split, for the CLI (`advprop eval
 * --suite autoattack`) and the trainer's final evaluation: reads the first `limit` test examples,
 * runs `autoAttack` and returns a JSON-ready summary with the per-attack breakdown.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, z, type DatasetAdapter, type Logger } from '@advprop/core';
import { autoAttack, type AttackBreakdown, type AutoAttackProgress, type AutoAttackVersion, type AutoAttackWarning } from './auto-attack.js';
import type { AnyModel } from './model-wrapper.js';
import { epsilonSchema } from './units.js';

/** Options of the suite as they appear in configs and on the command line. */
export const autoAttackSuiteSchema = z
  .object({
    norm: z.enum(['linf', 'l2']).default('linf'),
    /** Fraction of the range; default 8/255 (Linf) or 0.5 (L2), RobustBench's settings. */
    epsilon: epsilonSchema.optional(),
    version: z.enum(['standard', 'plus', 'rand']).default('standard'),
    /** Test examples (RobustBench: the first 10 000; 1000 is the usual quick check). */
    limit: z.number().int().min(1).optional(),
    /** APGD / FAB iterations (100) and Square's query budget (5000); lower them only for quick checks. */
    steps: z.number().int().min(1).default(100),
    squareQueries: z.number().int().min(1).default(5000),
    batchSize: z.number().int().min(1).default(500),
    seed: z.number().int().min(0).default(0),
  })
  .strict();

export type AutoAttackSuiteOptions = z.input<typeof autoAttackSuiteSchema>;

export interface AutoAttackSummary {
  readonly suite: 'autoattack';
  readonly version: AutoAttackVersion;
  readonly norm: 'linf' | 'l2';
  /** Fraction of the input range. */
  readonly epsilon: number;
  readonly examples: number;
  readonly cleanAccuracy: number;
  readonly robustAccuracy: number;
  readonly attacks: readonly AttackBreakdown[];
  readonly warnings: readonly AutoAttackWarning[];
  readonly seconds: number;
}

/** Run AutoAttack on the first `limit` test examples of `dataset` (all of them by default). */
export function runAutoAttackSuite(
  model: AnyModel,
  dataset: DatasetAdapter,
  options: AutoAttackSuiteOptions = {},
  hooks: { readonly log?: Logger; readonly onProgress?: (event: AutoAttackProgress) => void } = {},
): AutoAttackSummary {
  const parsed = autoAttackSuiteSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.join('.') || 'options';
    throw new ConfigError(`autoattack suite: ${path}: ${issue?.message}`, [{ path, message: issue?.message ?? 'invalid' }]);
  }
  const o = parsed.data;
  const size = dataset.size('test');
  const count = Math.min(o.limit ?? size, size);
  if (count === 0) throw new ConfigError(`autoattack suite: the dataset "${dataset.info.name}" has no test examples`, [{ path: 'dataset', message: 'empty test split' }]);
  const examples = dataset.read('test', Int32Array.from({ length: count }, (_, i) => i));
  const [h, w, c] = dataset.info.imageShape;
  const x = tf.tensor4d(examples.images, [count, h, w, c]);
  const labels = tf.tensor1d(examples.labels, 'int32') as tf.Tensor1D;
  try {
    const epsilon = o.epsilon ?? (o.norm === 'linf' ? 8 / 255 : 0.5);
    const result = autoAttack({
      model,
      x,
      labels,
      norm: o.norm,
      epsilon,
      version: o.version,
      steps: o.steps,
      squareQueries: o.squareQueries,
      batchSize: o.batchSize,
      seed: o.seed,
      ...(hooks.log ? { log: hooks.log } : {}),
      ...(hooks.onProgress ? { onProgress: hooks.onProgress } : {}),
    });
    result.adversarial.dispose();
    return {
      suite: 'autoattack',
      version: result.version,
      norm: result.norm,
      epsilon: result.epsilon,
      examples: count,
      cleanAccuracy: result.cleanAccuracy,
      robustAccuracy: result.robustAccuracy,
      attacks: result.attacks,
      warnings: result.warnings,
      seconds: result.seconds,
    };
  } finally {
    tf.dispose([x, labels]);
  }
}
