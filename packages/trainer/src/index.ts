/**
 * @advprop/trainer: a pluggable training loop (vanilla, adversarial, AdvProp, Fast AdvProp) with
 * callbacks, atomic checkpoints, exact resume and evaluation.
 */
export {
  TRAIN_MODES,
  trainConfigSchema,
  resolveTrainConfig,
  defaultAttacker,
  usesDualBn,
  type TrainMode,
  type PluginRef,
  type TrainConfig,
  type OptimizerConfig,
  type ScheduleConfig,
  type EvaluationConfig,
  type CheckpointConfig,
} from './config.js';
export { train, checkModelFitsDataset, RUN_FILES, type TrainOptions, type TrainResult, type RunSummary, type RunInfo } from './train.js';
export { evaluate, evaluationIndices, type EvaluateOptions, type EvaluationResult, type CorruptionSpec, type CorruptFn } from './evaluation.js';
export { loadRun, type LoadRunOptions, type LoadedRun } from './run-dir.js';
export { createDefaultRegistry, type DefaultRegistry } from './registry.js';
export {
  callbacks,
  progressBar,
  metricsLogger,
  checkpointPolicy,
  earlyStopping,
  progressBarPlugin,
  metricsLoggerPlugin,
  checkpointPlugin,
  earlyStoppingPlugin,
  CallbackRunner,
  Control,
  type StatefulCallback,
  type CallbackState,
  type TrainerControlExt,
  type ProgressBarOptions,
  type ProgressStream,
  type CheckpointPolicyOptions,
  type EarlyStoppingOptions,
} from './callbacks.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  restoreWeights,
  hasCheckpoint,
  checkpointsDir,
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type TrainPosition,
  type LoadedCheckpoint,
  type CheckpointMeta,
  type SaveCheckpointOptions,
} from './checkpoint.js';
export { SGD, Adam, createOptimizer, clipByGlobalNorm, type TrainOptimizer, type OptimizerState, type SlotState } from './optimizers.js';
export {
  learningRateAt,
  scheduledRate,
  builtinSchedule,
  constantSchedule,
  stepSchedule,
  cosineSchedule,
  type SchedulePosition,
  type LearningRateSchedule,
} from './schedules.js';
export {
  optimizers,
  schedules,
  sgdPlugin,
  adamPlugin,
  adamwPlugin,
  constantSchedulePlugin,
  stepSchedulePlugin,
  cosineSchedulePlugin,
  sgdOptions,
  adamOptions,
  adamwOptions,
  type OptimizerFactory,
} from './plugins.js';
export { crossEntropy, crossEntropyPerExample, countCorrect } from './losses.js';
