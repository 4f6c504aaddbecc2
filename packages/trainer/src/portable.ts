/**
 * What both entries of @advprop/trainer export: everything that needs no file system (the loop,
 * evaluation, training modes, optimizers, schedules, losses, presets, the core callbacks).
 * index.ts adds the Node parts (run directories, checkpoints, file callbacks); browser.ts adds a
 * `train()` without run directories.
 */
export { runTraining, checkModelFitsDataset, type TrainOptions, type TrainResult, type RunSummary, type RunInfo } from './train.js';
export { withoutRunDirectories, ZERO_COUNTERS, type TrainerEnvironment, type RunDirectorySupport, type TrainCounters } from './environment.js';
export { createBaseRegistry } from './base-registry.js';
export {
  TRAIN_MODES,
  trainConfigSchema,
  resolveTrainConfig,
  defaultAttacker,
  type TrainMode,
  type AugmentConfig,
  type PluginRef,
  type TrainConfig,
  type OptimizerConfig,
  type ScheduleConfig,
  type EvaluationConfig,
  type CheckpointConfig,
  type IncrementalConfig,
} from './config.js';
export { incrementalMetrics, type AccuracyMatrix, type IncrementalState, type IncrementalSummary } from './incremental.js';
export { evaluate, evaluationIndices, scoreBatches, type EvaluateOptions, type EvaluationResult, type CorruptionSpec, type CorruptFn } from './evaluation.js';
export {
  coreCallbacks,
  checkpointPolicy,
  earlyStopping,
  checkpointPlugin,
  earlyStoppingPlugin,
  CallbackRunner,
  Control,
  type StatefulCallback,
  type CallbackState,
  type TrainerControlExt,
  type CheckpointPolicyOptions,
  type EarlyStoppingOptions,
} from './callbacks.js';
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
export { crossEntropy, crossEntropyPerExample, countCorrect, correctCount } from './losses.js';
export {
  trainingModes,
  vanilla,
  adversarial,
  advprop,
  fastAdvprop,
  trades,
  tradesKl,
  advpropOptions,
  fastAdvpropOptions,
  tradesOptions,
  defineTrainingMode,
  type TrainingMode,
  type TrainingModePlugin,
  type TrainingModeSpec,
  type ModeBatch,
  type StepContext,
  type StepMetrics,
  type StepPlan,
  type AttackOptions,
} from './modes/index.js';
export { TRAIN_PRESETS, trainPreset, expandPreset, mergeConfigLayers, deepMerge, type TrainPresetName } from './presets.js';
export { checkpointPolicyOptions, earlyStoppingOptions } from './callback-options.js';
