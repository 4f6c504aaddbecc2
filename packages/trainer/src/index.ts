/**
 * @advprop/trainer: a pluggable training loop (training modes as plugins: vanilla, adversarial,
 * AdvProp, Fast AdvProp, TRADES) with callbacks, atomic checkpoints, exact resume and evaluation.
 */
export * from './portable.js';
export { train, nodeEnvironment } from './node-train.js';
export { loadRun, type LoadRunOptions, type LoadedRun } from './run-dir.js';
export {
  RUN_FILES,
  RunDirectory,
  RESUME_MAY_CHANGE,
  callbackRefs,
  checkResumeConfig,
  pathInside,
  trimMetricsLog,
  type RunStart,
  type OpenRunDirectoryOptions,
} from './run-directory.js';
export { RunLock, LOCK_FILE, type LockInfo, type RunLockOptions } from './run-lock.js';
export { createDefaultRegistry, type DefaultRegistry } from './registry.js';
export {
  callbacks,
  nodeCallbacks,
  progressBar,
  metricsLogger,
  progressBarPlugin,
  metricsLoggerPlugin,
  type ProgressBarOptions,
  type ProgressStream,
} from './node-callbacks.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  newestValidCheckpoint,
  listCheckpoints,
  isCheckpointName,
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
