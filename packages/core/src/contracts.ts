/**
 * The shared contracts every package implements or consumes: attacker, dataset adapter, model
 * factory, callback and backend. They live in core so that packages depend on core only, never on
 * each other's implementations.
 */
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { BnRoute } from './bn-route.js';
import type { SeededRandom } from './random.js';

// ---------------------------------------------------------------------------------------------
// Models and forward functions

/** Anything with tfjs-layers' `apply`: a LayersModel, a Sequential, a nested model. */
export interface ApplyModel {
  apply(inputs: Tensor | Tensor[], kwargs?: { training?: boolean }): unknown;
}

/** A plain function from a batch of inputs to a batch of logits. */
export type ForwardFn = (x: Tensor) => Tensor;

/** What an attacker or evaluator accepts: a layers model or a `(x) => logits` function. */
export type ModelLike = ApplyModel | ForwardFn;

export type BatchNormKind = 'dual' | 'plain' | 'none';

export interface ModelSpec {
  /** Height, width, channels of one input image (NHWC without the batch axis). */
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  /** `dual`: every BN is a dual BN (AdvProp); `plain`: ordinary BN; `none`: no BN where the architecture allows. */
  readonly batchNorm: BatchNormKind;
  /** Source for weight initialisers, so two builds with the same seed are identical. */
  readonly random?: SeededRandom;
}

export interface ModelFactory {
  readonly name: string;
  /** Input shapes this architecture supports, for a clear error before building. */
  supports?(spec: ModelSpec): { ok: true } | { ok: false; reason: string };
  build(spec: ModelSpec): LayersModel;
}

// ---------------------------------------------------------------------------------------------
// Attackers

export interface AttackRequest {
  /** The model under attack. Its weights and BN statistics are never changed by an attack. */
  readonly model: ModelLike;
  /** Clean batch, values inside the attacker's input range. Never modified. */
  readonly x: Tensor;
  /** True labels (int32, one per sample). */
  readonly labels: Tensor1D;
  /** Explicit targets for a targeted attack; when absent a targeted attacker chooses them itself. */
  readonly targets?: Tensor1D;
  /** BN route used while attacking (AdvProp: 'aux'); the previous route is restored afterwards. */
  readonly route?: BnRoute;
  /** BN mode while attacking: false (default) uses running statistics and updates nothing. */
  readonly training?: boolean;
  /** Randomness for this call (random start, restarts, target choice). */
  readonly random?: SeededRandom;
}

export interface Attacker {
  readonly name: string;
  /** Returns a new tensor the caller owns; disposes everything else it creates. */
  attack(request: AttackRequest): Tensor;
  dispose?(): void;
}

// ---------------------------------------------------------------------------------------------
// Datasets

export type Split = 'train' | 'test';

export interface DatasetInfo {
  readonly name: string;
  /** Height, width, channels. */
  readonly imageShape: readonly [number, number, number];
  readonly numClasses: number;
  readonly classNames: readonly string[];
  readonly splits: Readonly<Partial<Record<Split, number>>>;
}

/** Raw examples: images as float32 in [0, 1], NHWC flattened; labels as int32. */
export interface ExampleArrays {
  readonly images: Float32Array;
  readonly labels: Int32Array;
  readonly count: number;
}

/** One batch: tensors the consumer owns and must dispose. */
export interface Batch {
  readonly x: Tensor4D;
  readonly y: Tensor1D;
  /** Indices of the examples in their split. */
  readonly indices: Int32Array;
}

export interface BatchIteratorOptions {
  readonly split: Split;
  readonly batchSize: number;
  /** Shuffle each epoch (default true for train, false for test). */
  readonly shuffle?: boolean;
  readonly random?: SeededRandom;
  /** Use only the first `limit` examples of the split. */
  readonly limit?: number;
  /** Restrict to these example indices (samplers: imbalance, few-shot). */
  readonly indices?: ArrayLike<number>;
  readonly dropRemainder?: boolean;
  /** Batches prepared ahead of the consumer (default 1). */
  readonly prefetch?: number;
}

export interface DatasetAdapter {
  readonly info: DatasetInfo;
  size(split: Split): number;
  /** All labels of a split (for samplers and per-class metrics). */
  labels(split: Split): Int32Array;
  /** Random access to examples by index. */
  read(split: Split, indices: ArrayLike<number>): ExampleArrays;
  /** Batched, seeded-shuffled, prefetching iterator. */
  batches(options: BatchIteratorOptions): AsyncIterableIterator<Batch>;
  dispose?(): void;
}

// ---------------------------------------------------------------------------------------------
// Callbacks

export const HOOK_ORDER = [
  'onTrainBegin',
  'onEpochBegin',
  'onBatchBegin',
  'onAfterAttack',
  'onBeforeOptimizerStep',
  'onBatchEnd',
  'onEvaluationEnd',
  'onEpochEnd',
  'onTrainEnd',
] as const;
export type HookName = (typeof HOOK_ORDER)[number];

/** What a hook receives: numbers only, never tensors. */
export interface TrainEvent {
  readonly epoch: number;
  /** Global optimizer step count. */
  readonly step: number;
  /** Batch index within the epoch (batch hooks). */
  readonly batch?: number;
  readonly epochs: number;
  readonly stepsPerEpoch: number;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface TrainerControl {
  /**
   * Interrupt after the current batch: the trainer checkpoints the true position (with a run
   * directory) and rejects with TrainingInterruptedError; a resume continues exactly there.
   */
  stop(reason?: string): void;
  /**
   * End the run for good (early stopping): the epoch end, the final evaluation and the export still
   * run, the summary records the reason, and a resume does not train on.
   */
  finish(reason: string): void;
  /** Write a checkpoint at the next safe point. */
  requestCheckpoint(): void;
  readonly stopRequested: boolean;
  readonly stopReason: string | undefined;
}

export type Hook = (event: TrainEvent, control: TrainerControl) => void | Promise<void>;

/**
 * Progress of the final evaluation, reported after each stage of each batch: `clean`, `aux`
 * (dual-BN models), then one stage per attack by its label.
 */
export interface EvaluationProgress {
  readonly stage: string;
  /** Examples this stage has done, of `total`. */
  readonly done: number;
  readonly total: number;
  /** Running accuracy of this stage over the examples done. */
  readonly accuracy: number;
  /** Every stage, in the order they run. */
  readonly stages: readonly string[];
}

export type Callback = { readonly name?: string } & { readonly [K in HookName]?: Hook } & {
  /** Not a training hook: called during the final evaluation (after training), numbers only. */
  readonly onFinalEvaluationProgress?: (progress: EvaluationProgress) => void | Promise<void>;
};

// ---------------------------------------------------------------------------------------------
// Backends

export interface BackendInfo {
  /** Our name for it: tensorflow, webgpu, wasm, cpu. */
  readonly name: string;
  /** The name tfjs knows it by (tf.getBackend()). */
  readonly tfBackend: string;
  readonly gpu: boolean;
  readonly threads?: number;
  /** Why it was chosen, what it runs on. */
  readonly description: string;
  /** The same in a few words, for a one-line status (`wasm + native kernels (2 threads)`). */
  readonly summary?: string;
  /** Backends `auto` tried first and why each could not be used. */
  readonly skipped?: readonly string[];
}

export interface BackendProvider {
  readonly name: string;
  /** Higher is preferred by `auto`. */
  readonly priority: number;
  /** Cheap check whether this backend can load here, with the reason when it cannot. */
  probe(): Promise<{ available: true } | { available: false; reason: string }>;
  /** Load, register and activate it; throws BackendUnavailableError with an install hint. */
  load(): Promise<BackendInfo>;
}

// ---------------------------------------------------------------------------------------------
// Logging

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
}

/** Logs to stderr so stdout stays free for machine-readable output. */
export const consoleLogger: Logger = {
  debug: (m) => {
    if (typeof process !== 'undefined' && process.env?.ADVPROP_DEBUG) console.error(m);
  },
  info: (m) => console.error(m),
  warn: (m) => console.error(`warning: ${m}`),
};

export const silentLogger: Logger = { debug: () => {}, info: () => {}, warn: () => {} };

// ---------------------------------------------------------------------------------------------
// Fused kernels a backend may offer (registered by @advprop/native-kernels; used by @advprop/dual-bn
// when the current backend has them, so neither package depends on the other).

/**
 * Training-mode batch norm over the last axis. Inputs `{x, scale, offset}` (scale and offset of
 * shape [C]), attrs `{varianceEpsilon}`; outputs `[y, mean, variance]` with the biased batch
 * variance, as `tf.moments` computes it.
 */
export const BATCH_NORM_TRAINING_KERNEL = 'AdvpropBatchNormTraining';
/**
 * Its gradient. Inputs `{dy, x, mean, variance, scale}`, attrs `{varianceEpsilon}`; outputs
 * `[dx, dscale, doffset]`, with the batch statistics treated as functions of x.
 */
export const BATCH_NORM_TRAINING_GRAD_KERNEL = 'AdvpropBatchNormTrainingGrad';

/**
 * Training-mode batch norm followed by an optional residual add and a ReLU, in one kernel:
 * inputs `{x, scale, offset, residual?}` (residual of x's shape), attrs `{varianceEpsilon}`;
 * outputs `[y, mean, variance]` with y = relu(batchNorm(x) + residual), each operation rounded to
 * float32 in that order (bit for bit the BATCH_NORM_TRAINING_KERNEL, Add and Relu kernels one
 * after the other), ReLU keeping NaN.
 */
export const BATCH_NORM_RELU_TRAINING_KERNEL = 'AdvpropBatchNormReluTraining';
/**
 * Its gradient. Inputs `{dy, x, y, mean, variance, scale}` (y: the forward output), attrs
 * `{varianceEpsilon, residual}`; outputs `[dx, dscale, doffset]`, and the residual's gradient
 * (dy masked by y > 0, as the ReLU gradient) fourth when `residual` is true.
 */
export const BATCH_NORM_RELU_TRAINING_GRAD_KERNEL = 'AdvpropBatchNormReluTrainingGrad';

/**
 * Inference-mode batch norm (given statistics, tfjs' FusedBatchNorm over the last axis) followed
 * by an optional residual add and a ReLU, in one kernel: inputs `{x, mean, variance, scale,
 * offset, residual?}` (statistics and parameters of shape [C]), attrs `{varianceEpsilon}`; output
 * y = relu(batchNorm(x) + residual), bit for bit FusedBatchNorm, Add and Relu one after the other.
 * Whoever registers it registers its gradient too (an attack's input gradient runs through it).
 */
export const BATCH_NORM_RELU_KERNEL = 'AdvpropBatchNormRelu';

/**
 * A moving average's update, as tfjs-layers' BatchNormalization writes its moving statistics:
 * inputs `{average, value}` of one shape, attrs `{decay}`; output
 * `average - (average - value) * decay` with each operation rounded to float32 (bit for bit the
 * three-kernel form). It has no gradient: the update is state, not part of the loss, so under a
 * gradient tape it records nothing to save (the three-kernel form saves six tensors).
 */
export const MOVING_AVERAGE_KERNEL = 'AdvpropMovingAverage';
/**
 * One SGD step of a parameter: inputs `{param, grad, velocity?}` of one shape, attrs
 * `{learningRate, momentum, weightDecay, nesterov}`; outputs `[param']`, or `[param', velocity']`
 * when a velocity is given, with PyTorch's convention and each operation rounded to float32:
 * `g = grad + param * weightDecay` (when weightDecay > 0), `v' = velocity * momentum + g`,
 * `update = nesterov ? g + v' * momentum : v'` (`g` without a velocity),
 * `param' = param - update * learningRate`.
 */
export const SGD_UPDATE_KERNEL = 'AdvpropSgdUpdate';

// ---------------------------------------------------------------------------------------------
// Layers with run-time state

/**
 * A layer whose behaviour depends on state that is not a weight, such as the call counter that
 * picks a seeded dropout layer's next mask. Checkpoints save this state and a resumed run restores
 * it, so the resumed run draws exactly what an uninterrupted one would.
 */
export interface StatefulLayer {
  readonly name: string;
  getRuntimeState(): Record<string, number>;
  setRuntimeState(state: Readonly<Record<string, number>>): void;
}

export function isStatefulLayer(layer: unknown): layer is StatefulLayer {
  const l = layer as Partial<StatefulLayer> | null;
  return !!l && typeof l.getRuntimeState === 'function' && typeof l.setRuntimeState === 'function' && typeof l.name === 'string';
}
