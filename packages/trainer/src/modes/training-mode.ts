/**
 * Training modes as plugins (kind 'training-mode'). A mode says what it needs (dual or plain BN,
 * an attacker and which one by default, its options as a zod schema) and implements one step:
 * from a batch and a context (forward passes per BN route, the attacker, the step's random
 * stream) to the loss and the step's metrics. The trainer owns everything else: batches,
 * gradients, clipping, the optimizer, callbacks, checkpoints.
 *
 * A step has two phases, because adversarial examples are made before the gradient tape starts:
 * `step()` runs outside the tape (attacks, batch splits), and the `loss()` it returns runs inside
 * it, so every weight the loss reaches gets a gradient.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { definePlugin, z, type BnRoute, type ForwardFn, type OptionsSchema, type Plugin, type SeededRandom } from '@advprop/core';

/** A named plugin with options, as in the training config. */
export interface PluginRef {
  name: string;
  options?: Record<string, unknown>;
}

/** The batch a step trains on (owned by the trainer: do not dispose). */
export interface ModeBatch {
  /** Images, NHWC float32. */
  readonly x: tf.Tensor4D;
  /** Labels, int32. */
  readonly y: tf.Tensor1D;
  readonly size: number;
}

export interface AttackOptions {
  /** BN route the attack runs through (absent: the model's current route, i.e. main). */
  readonly route?: BnRoute;
  /** BN statistics while attacking: false = running statistics (nothing updated), true = batch statistics. */
  readonly training?: boolean;
  /** Random stream of the attack (default: the step's stream forked as 'attack'). */
  readonly random?: SeededRandom;
}

/** What a mode's step receives besides the batch and its options. */
export interface StepContext {
  /** Forward passes with BN in training mode (batch statistics; running statistics updated), per BN route. */
  readonly forward: { readonly main: ForwardFn; readonly aux: ForwardFn };
  /** Forward passes with BN in inference mode (running statistics), per BN route; for a mode's own inner maximisation. */
  readonly inference: { readonly main: ForwardFn; readonly aux: ForwardFn };
  /** Adversarial examples from the run's attacker; the result is disposed after the step. */
  attack(x: tf.Tensor, labels: tf.Tensor, options?: AttackOptions): tf.Tensor;
  /** This step's random stream (derived from the seed and the step number: resumes repeat it). */
  readonly random: SeededRandom;
  /** Per-example softmax cross-entropy with the run's label smoothing. */
  crossEntropy(logits: tf.Tensor, labels: tf.Tensor): tf.Tensor1D;
  /** Hand a tensor created in `step()` to the trainer, which disposes it after the step. */
  own<T extends tf.Tensor>(tensor: T): T;
  /** The model being trained (dual BN for modes declaring `batchNorm: 'dual'`). */
  readonly model: LayersModel;
}

/** Records the step's metrics from inside `loss()`; the trainer reads them after the update. */
export interface StepMetrics {
  /** Report a scalar metric (e.g. 'clean_loss', 'adv_loss'); it is copied, the argument stays in the tape. */
  scalar(name: string, value: tf.Tensor): void;
  /** Count correct predictions of `logits` for `labels`: the batch accuracy metric. */
  accuracy(logits: tf.Tensor, labels: tf.Tensor): void;
}

/** What `step()` returns. */
export interface StepPlan {
  /** The loss, computed inside the gradient tape. */
  loss(metrics: StepMetrics): tf.Scalar;
  /** Adversarial examples made in this step (for the `adversarial_examples` metric). */
  readonly adversarialExamples: number;
  /** Factor for the gradient of a trainable variable, by its name (absent: 1 for all). */
  gradientScale?(variableName: string): number;
}

/** A training mode instance: a mode plugin with its options applied. */
export interface TrainingMode {
  readonly name: string;
  readonly batchNorm: 'dual' | 'plain';
  /** The training attacker when the config names none; undefined: the mode uses no attacker. */
  readonly defaultAttacker: PluginRef | undefined;
  /** Attacker options the mode's own options fix (they override the attacker config's). */
  readonly attackerOverrides: Record<string, unknown>;
  /** Smallest batch the step can work with. */
  readonly minBatchSize: number;
  step(batch: ModeBatch, context: StepContext): StepPlan;
}

declare module '@advprop/core' {
  interface PluginKindMap {
    'training-mode': TrainingMode;
  }
}

export interface TrainingModeSpec<N extends string, S extends OptionsSchema> {
  readonly name: N;
  /** One line: the method and its paper. */
  readonly description?: string;
  readonly batchNorm: 'dual' | 'plain';
  /** The default training attacker; `false` when the mode trains without one. */
  readonly attacker: PluginRef | false;
  readonly options?: S;
  /** Attacker options implied by the mode's options. */
  attackerOverrides?(options: z.output<S>): Record<string, unknown>;
  readonly minBatchSize?: number;
  step(batch: ModeBatch, context: StepContext, options: z.output<S>): StepPlan;
}

/** A training-mode plugin, with what it declares readable before it is created. */
export type TrainingModePlugin<N extends string = string, S extends OptionsSchema = OptionsSchema> = Plugin<'training-mode', N, S> & {
  readonly declares: { readonly batchNorm: 'dual' | 'plain'; readonly attacker: PluginRef | false };
};

/** Declare a training mode; register it with `registry.use([myMode])` and name it in `mode`. */
export function defineTrainingMode<const N extends string, S extends OptionsSchema = z.ZodObject<{}>>(
  spec: TrainingModeSpec<N, S>,
): TrainingModePlugin<N, S> {
  if (typeof spec?.step !== 'function') throw new TypeError('defineTrainingMode needs a step(batch, context, options) function');
  if (spec.batchNorm !== 'dual' && spec.batchNorm !== 'plain') throw new TypeError(`training mode "${spec.name}": batchNorm must be 'dual' or 'plain'`);
  const schema = (spec.options ?? z.object({}).strict()) as S;
  const plugin = definePlugin<'training-mode', N, S>({
    kind: 'training-mode',
    name: spec.name,
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    options: schema,
    create: (_context, options) => ({
      name: spec.name,
      batchNorm: spec.batchNorm,
      defaultAttacker: spec.attacker === false ? undefined : spec.attacker,
      attackerOverrides: spec.attackerOverrides?.(options) ?? {},
      minBatchSize: spec.minBatchSize ?? 1,
      step: (batch, context) => spec.step(batch, context, options),
    }),
  });
  return Object.freeze({ ...plugin, declares: { batchNorm: spec.batchNorm, attacker: spec.attacker } });
}
