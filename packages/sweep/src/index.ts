/**
 * @advprop/sweep: experiment sweeps. A spec (base config, grid and zip axes, groups) expands into
 * runs with stable ids; runs train on BullMQ workers over Redis (`submitSweep`, `startWorker`) or
 * on the embedded in-process queue (`runSweepEmbedded`), always in child processes; results are
 * appended to one storage root and aggregated per group.
 */
export {
  sweepSpecSchema,
  parseSweepSpec,
  parseSweepSpecText,
  loadSweepSpec,
  loadSweep,
  expandSweep,
  selectRuns,
  manifestOf,
  groupFields,
  runId,
  canonicalJson,
  setPath,
  LABEL_AXIS,
  type SweepSpec,
  type SweepRun,
  type ExpandedSweep,
} from './spec.js';
export {
  DirectoryStorage,
  STORAGE_FILES,
  type SweepStorage,
  type SweepManifest,
  type ManifestRun,
  type RunResult,
  type RunFailure,
  type RunAttempt,
} from './storage.js';
export { runSweepJob, type SweepJobData, type SweepJobContext } from './job.js';
export { runSweepEmbedded, jobData, type EmbeddedOptions, type SweepRunReport } from './embedded.js';
export {
  submitSweep,
  startWorker,
  queueStatus,
  checkRedis,
  redisConnection,
  storageKey,
  jobIdOf,
  QUEUE_NAME,
  DEFAULT_LOCKS,
  SweepQueueError,
  type SubmitOptions,
  type SubmitReport,
  type WorkerOptions,
  type SweepWorker,
  type LockSettings,
  type QueueRunState,
} from './queue.js';
export {
  aggregateResults,
  resultsMarkdown,
  defaultReportMetrics,
  numericMetrics,
  statsOf,
  tQuantile975,
  type SweepResults,
  type GroupResult,
  type MetricStats,
} from './results.js';
export { sweepStatus, formatStatus, type SweepStatus, type RunStatus, type RunState } from './status.js';
export { threadsPerRun, childEnvironment, machineCores, THREADS_ENV } from './threads.js';
export { loadPluginModules, resolvePluginModule } from './plugins.js';
