/**
 * The run directory: the one place that decides what the trainer writes where, and what a resume
 * may do. See docs/run-directory.md for the guarantees.
 *
 * - Paths: every file the trainer writes is derived inside the directory; a config naming an
 *   outside file (the metrics logger's `file`) is a ConfigError, and an existing entry that is a
 *   symbolic link is refused, before anything is written.
 * - Lock: `lock.json` (run-lock.ts) keeps a second process out.
 * - Resume policy: refuse rather than guess. A missing config.json, a missing or unreadable
 *   latest.json while checkpoints exist (unless `resumeFromNewest`), a changed config field outside
 *   the allow-list, or a finished run are errors naming the file or field.
 * - Cleanup at start: temporary files of interrupted writes, incomplete checkpoint directories and
 *   orphan weight shards are removed; metrics logs are cut back to the checkpoint's position. A
 *   checkpoint is never deleted here.
 * - Nothing is created before the configuration and plugins are validated (the caller opens the
 *   directory after that), and a directory this process created is removed again if the run fails
 *   while it holds nothing but the lock.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, ConfigError, type Logger } from '@advprop/core';
import { ATOMIC_TEMP_FILE, checkWritableTarget, makeDirectory, pathExists, readJsonFile, writeFileAtomic } from '@advprop/core/node';
import { toInferenceModel } from '@advprop/dual-bn';
import { removeModelLeftovers, saveModel } from '@advprop/dual-bn/node';
import {
  checkpointsDir,
  layerStates,
  listCheckpoints,
  loadCheckpoint,
  newestValidCheckpoint,
  restoreLayerStates,
  restoreWeights,
  saveCheckpoint,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  type TrainPosition,
} from './checkpoint.js';
import { resolveTrainConfig, type PluginRef, type TrainConfig } from './config.js';
import { ZERO_COUNTERS, type TrainCounters } from './environment.js';
import { LOCK_FILE, RunLock } from './run-lock.js';
// Type-only: erased at run time, so no import cycle with train.ts.
import type { RunSummary } from './train.js';

/** Files of a run directory. */
export const RUN_FILES = {
  config: 'config.json',
  run: 'run.json',
  metrics: 'metrics.jsonl',
  summary: 'summary.json',
  checkpoints: 'checkpoints',
  dualModel: 'model-dual',
  inferenceModel: 'model-inference',
  lock: LOCK_FILE,
} as const;

/** Callbacks that only display or log: a resume may add, drop or reconfigure them. */
const DISPLAY_CALLBACKS = new Set(['progress-bar', 'metrics-logger']);

/**
 * Config fields a resume may change: they do not change the trajectory. `epochs` may only grow.
 * Everything else of the resolved config must equal the run's config.json.
 */
export const RESUME_MAY_CHANGE = ['epochs', 'outDir', 'resume', 'resumeFromNewest', 'backend', 'checkpoint', 'callbacks (progress-bar, metrics-logger)'] as const;

/** `file` resolved against `dir` when relative; a ConfigError naming `field` when it leaves `dir`. */
export function pathInside(dir: string, file: string, field: string): string {
  const resolved = path.resolve(dir, file);
  const rel = path.relative(dir, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new ConfigError(`${field}: ${JSON.stringify(file)} is outside the run directory ${dir}; the trainer writes only inside it`, [
      { path: field, message: 'outside the run directory' },
    ]);
  }
  return resolved;
}

/**
 * Callback references with the trainer-provided options filled in: the metrics logger's file is
 * `<outDir>/metrics.jsonl`, and a `file` given in the config must lie inside `outDir`. Without an
 * outDir a metrics logger with no file is dropped.
 */
export function callbackRefs(config: TrainConfig, outDir: string | undefined, log: Logger): PluginRef[] {
  const refs: PluginRef[] = [];
  for (const [i, ref] of config.callbacks.entries()) {
    if (ref.name !== 'metrics-logger') {
      refs.push(ref);
      continue;
    }
    const file = ref.options?.file;
    if (!outDir) {
      if (file === undefined) log.debug('metrics-logger: no outDir, so no metrics.jsonl');
      else refs.push(ref);
      continue;
    }
    const inside = typeof file === 'string' ? pathInside(outDir, file, `callbacks[${i}].options.file`) : path.join(outDir, RUN_FILES.metrics);
    refs.push({ name: ref.name, options: { ...ref.options, file: inside } });
  }
  return refs;
}

/** The metrics files the refs write (absolute), for cleanup. */
function metricsFiles(refs: readonly PluginRef[]): string[] {
  return refs.filter((r) => r.name === 'metrics-logger' && typeof r.options?.file === 'string').map((r) => r.options!.file as string);
}

/** Differences between two JSON values as `path was X, now Y` (objects compared key by key). */
function differences(a: unknown, b: unknown, at: string, out: { path: string; was: unknown; now: unknown }[]): void {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) differences(a[key], b[key], at ? `${at}.${key}` : key, out);
    return;
  }
  if (JSON.stringify(a ?? null) !== JSON.stringify(b ?? null)) out.push({ path: at, was: a, now: b });
}

function trajectoryFields(config: TrainConfig): Record<string, unknown> {
  const { epochs: _e, outDir: _o, resume: _r, resumeFromNewest: _n, backend: _b, checkpoint: _c, callbacks, ...rest } = config;
  return { ...rest, callbacks: callbacks.filter((c) => !DISPLAY_CALLBACKS.has(c.name)) };
}

/** A ConfigError naming every field of `config` that differs from the run's saved config. */
export function checkResumeConfig(saved: TrainConfig, config: TrainConfig, dir: string, file: string): void {
  const diffs: { path: string; was: unknown; now: unknown }[] = [];
  differences(trajectoryFields(saved), trajectoryFields(config), '', diffs);
  if (config.epochs < saved.epochs) diffs.push({ path: 'epochs', was: saved.epochs, now: config.epochs });
  if (diffs.length === 0) return;
  const show = (v: unknown) => (v === undefined ? 'unset' : JSON.stringify(v));
  throw new ConfigError(
    `cannot resume the run in ${dir}: ${diffs.map((d) => `${d.path} was ${show(d.was)}, now ${show(d.now)}`).join('; ')} ` +
      `(the run's ${file}). A resume continues the same training: only epochs may grow, and ${RESUME_MAY_CHANGE.slice(1).join(', ')} may change.`,
    diffs.map((d) => ({ path: d.path, message: 'differs from the run being resumed' })),
  );
}

/**
 * Cut a metrics log back to a checkpoint's position: batch records after its step, epoch and
 * evaluation records of its epoch or later, and end records are dropped, and so is a torn last line.
 * `position` null (no checkpoint: the run starts over) empties the log. Rewritten atomically.
 */
export async function trimMetricsLog(file: string, position: TrainPosition | null): Promise<number> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw new CheckpointError(`cannot read metrics log ${file}: ${(error as Error).message}`, { cause: error });
  }
  let keep = '';
  if (position !== null) {
    const lines = text.split('\n');
    lines.pop(); // after the last newline: empty, or a torn record
    for (const line of lines) {
      let record: { type?: unknown; step?: unknown; epoch?: unknown } | null;
      try {
        record = JSON.parse(line) as { type?: unknown; step?: unknown; epoch?: unknown } | null;
      } catch {
        break; // a damaged line: nothing after it can be trusted to be in order
      }
      const after =
        record === null ||
        record.type === 'end' ||
        ((record.type === 'epoch' || record.type === 'eval') && typeof record.epoch === 'number' && record.epoch >= position.epoch) ||
        (typeof record.step === 'number' && record.step > position.step);
      if (after) break;
      keep += `${line}\n`;
    }
  }
  if (keep.length !== text.length) await writeFileAtomic(file, keep);
  return Buffer.byteLength(keep);
}

export interface OpenRunDirectoryOptions {
  /** Absolute path of the run directory. */
  readonly outDir: string;
  readonly config: TrainConfig;
  /** Callback references from `callbackRefs` (their metrics files are cleaned up). */
  readonly refs: readonly PluginRef[];
  readonly log: Logger;
}

/** Where a run starts: a verified checkpoint, or step 0. */
export interface RunStart {
  readonly checkpoint: LoadedCheckpoint | null;
  /** resume was asked for, but the directory held no checkpoint: the run starts at step 0. */
  readonly restarted: boolean;
}

async function readSummary(dir: string): Promise<{ file: string; summary: RunSummary } | null> {
  const file = path.join(dir, RUN_FILES.summary);
  if (!(await pathExists(file))) return null;
  return { file, summary: await readJsonFile<RunSummary>(file, 'run summary') };
}

const RESUME_NEWEST_HINT = 'pass resumeFromNewest: true (CLI: --resume-from-newest) to resume from the newest checkpoint that verifies';

/** The resume policy: what to start from, or an error naming the file or field at fault. */
async function decideStart(dir: string, config: TrainConfig, log: Logger): Promise<RunStart> {
  const entries = await fs.readdir(dir);
  const hasRun = entries.some((e) => e === RUN_FILES.config || e === RUN_FILES.summary || e === RUN_FILES.checkpoints);
  if (!hasRun) return { checkpoint: null, restarted: false };
  if (!config.resume) {
    throw new ConfigError(`output directory ${dir} already holds a run; pass resume: true to continue it, or choose another outDir`, [
      { path: 'outDir', message: 'already holds a run' },
    ]);
  }
  const configFile = path.join(dir, RUN_FILES.config);
  if (!(await pathExists(configFile))) {
    throw new ConfigError(
      `cannot resume the run in ${dir}: ${configFile} is missing, so how the run was trained is unknown; restore it, or start a new run in another directory`,
      [{ path: 'resume', message: 'config.json missing' }],
    );
  }
  const saved = resolveTrainConfig(await readJsonFile<unknown>(configFile, 'run config'), `run config ${configFile}`);
  checkResumeConfig(saved, config, dir, configFile);
  if (saved.backend !== undefined && config.backend !== undefined && saved.backend !== config.backend) {
    log.warn(`resuming ${dir} on backend ${config.backend}; it was trained on ${saved.backend}, so the result will not match an uninterrupted run bit for bit`);
  }

  const done = await readSummary(dir);
  if (done?.summary.stopped_early !== undefined) {
    throw new ConfigError(`the run in ${dir} is finished: it stopped early (${done.summary.stopped_early}), see ${done.file}; start a new run to train further`, [
      { path: 'resume', message: 'run finished' },
    ]);
  }
  if (done && config.epochs <= done.summary.epochs) {
    throw new ConfigError(`the run in ${dir} is finished: all ${done.summary.epochs} epoch(s) are done (${done.file}); raise epochs to train on`, [
      { path: 'epochs', message: 'run finished' },
    ]);
  }

  const root = checkpointsDir(dir);
  const latestFile = path.join(root, 'latest.json');
  let checkpoint: LoadedCheckpoint | null;
  if (config.resumeFromNewest) {
    const { checkpoint: newest, skipped } = await newestValidCheckpoint(dir);
    for (const s of skipped) log.warn(`resumeFromNewest: skipped checkpoint ${s}`);
    if (!newest && skipped.length > 0) throw new CheckpointError(`cannot resume the run in ${dir}: no checkpoint in ${root} verifies (${skipped.join('; ')})`);
    checkpoint = newest;
    if (newest) log.warn(`resumeFromNewest: resuming from ${newest.dir}, the newest checkpoint that verifies (latest.json not used)`);
  } else if (await pathExists(latestFile)) {
    try {
      checkpoint = await loadCheckpoint(dir);
    } catch (error) {
      if (error instanceof CheckpointError) throw new CheckpointError(`${error.message}; ${RESUME_NEWEST_HINT}`, { cause: error });
      throw error;
    }
  } else {
    const names = await listCheckpoints(dir);
    if (names.length > 0) {
      throw new CheckpointError(`cannot resume the run in ${dir}: ${latestFile} is missing, but ${root} holds checkpoints (${names.join(', ')}); ${RESUME_NEWEST_HINT}`);
    }
    checkpoint = null;
  }
  if (!checkpoint && done) {
    throw new ConfigError(`cannot train the finished run in ${dir} further: it has no checkpoint to continue from (${latestFile})`, [
      { path: 'resume', message: 'no checkpoint' },
    ]);
  }
  if (!checkpoint) log.warn(`${dir} holds no checkpoint yet; the run starts again at step 0`);
  return { checkpoint, restarted: checkpoint === null };
}

/** Refuse entries the trainer writes that are symbolic links (they could point outside the run). */
async function refuseLinks(dir: string, files: readonly string[]): Promise<void> {
  const names = [RUN_FILES.config, RUN_FILES.run, RUN_FILES.summary, RUN_FILES.checkpoints, RUN_FILES.dualModel, RUN_FILES.inferenceModel];
  for (const file of [...names.map((n) => path.join(dir, n)), ...files]) {
    const stat = await fs.lstat(file).catch(() => null);
    if (stat?.isSymbolicLink()) {
      throw new CheckpointError(`${file} is a symbolic link; the trainer writes only inside the run directory ${dir}, so it refuses to follow it`);
    }
  }
}

/** Remove what interrupted writes leave behind; never a checkpoint. Resolves to the removed paths. */
async function removeLeftovers(dir: string): Promise<string[]> {
  const removed: string[] = [];
  const sweep = async (where: string, match: (entry: string) => boolean) => {
    for (const entry of await fs.readdir(where).catch(() => [] as string[])) {
      if (!match(entry)) continue;
      await fs.rm(path.join(where, entry), { recursive: true, force: true });
      removed.push(path.join(where, entry));
    }
  };
  await sweep(dir, (e) => ATOMIC_TEMP_FILE.test(e) || e === `${LOCK_FILE}.takeover`);
  await sweep(checkpointsDir(dir), (e) => ATOMIC_TEMP_FILE.test(e) || e.startsWith('.tmp-'));
  for (const model of [RUN_FILES.dualModel, RUN_FILES.inferenceModel]) removed.push(...(await removeModelLeftovers(path.join(dir, model))));
  return removed;
}

/**
 * An open run directory, locked by this process. `open` validates and cleans it up; the trainer
 * writes through its methods; `close` releases the lock.
 */
export class RunDirectory {
  /** Checkpoints written by this process: the only ones pruning may delete. */
  private readonly written = new Set<string>();

  private constructor(
    readonly dir: string,
    readonly start: RunStart,
    private readonly lock: RunLock,
    private readonly created: string | undefined,
  ) {}

  /**
   * Create (if needed) and lock `outDir`, apply the resume policy, remove leftovers and cut the
   * metrics logs back to the starting position. Call only after the config and plugins validated.
   */
  static async open(options: OpenRunDirectoryOptions): Promise<RunDirectory> {
    const { outDir: dir, config, refs, log } = options;
    await checkWritableTarget(dir);
    const created = await makeDirectory(dir);
    let lock: RunLock | undefined;
    try {
      await fs.access(dir, fsConstants.W_OK).catch((error: unknown) => {
        throw new CheckpointError(`output directory ${dir} is not writable: ${(error as Error).message}`, { cause: error });
      });
      lock = await RunLock.acquire(dir, { log });
      const files = metricsFiles(refs);
      await refuseLinks(dir, files);
      const start = await decideStart(dir, config, log);
      const removed = await removeLeftovers(dir);
      if (removed.length > 0) log.info(`removed ${removed.length} leftover(s) of an interrupted write: ${removed.map((f) => path.relative(dir, f)).join(', ')}`);
      for (const file of files) await trimMetricsLog(file, start.checkpoint?.position ?? null);
      return new RunDirectory(dir, start, lock, created);
    } catch (error) {
      await lock?.release().catch(() => {});
      await removeCreated(created, dir);
      throw error;
    }
  }

  /** A path inside the run directory. */
  file(name: string): string {
    return pathInside(this.dir, name, 'run directory file');
  }

  /**
   * Write config.json and run.json. On a resume run.json must describe the same data as before
   * (a dataset whose files changed under the same config is refused).
   */
  async writeRunFiles(config: TrainConfig, info: RunInfo): Promise<void> {
    const runFile = this.file(RUN_FILES.run);
    if (this.start.checkpoint && (await pathExists(runFile))) {
      const before = await readJsonFile<RunInfo>(runFile, 'run info');
      const diffs: { path: string; was: unknown; now: unknown }[] = [];
      differences(before, info, '', diffs);
      if (diffs.length > 0) {
        throw new ConfigError(
          `cannot resume the run in ${this.dir}: the data differs from ${runFile} (${diffs.map((d) => `${d.path} was ${JSON.stringify(d.was)}, now ${JSON.stringify(d.now)}`).join('; ')}); did the dataset change?`,
          diffs.map((d) => ({ path: `run.${d.path}`, message: 'differs from the run being resumed' })),
        );
      }
    }
    await writeFileAtomic(this.file(RUN_FILES.config), JSON.stringify(config, null, 2));
    await writeFileAtomic(runFile, JSON.stringify(info, null, 2));
  }

  /** Write a checkpoint; pruning removes only checkpoints this process wrote. */
  async saveCheckpoint(options: Omit<SaveCheckpointOptions, 'written'>): Promise<string> {
    return saveCheckpoint(this.dir, { ...options, written: this.written });
  }

  /** The final models (as trained, and the plain-BN inference export), each with sha256 per shard. */
  async exportModels(model: LayersModel): Promise<void> {
    await saveModel(model, this.file(RUN_FILES.dualModel));
    const inference = toInferenceModel(model);
    try {
      await saveModel(inference, this.file(RUN_FILES.inferenceModel));
    } finally {
      inference.dispose();
    }
  }

  /** summary.json, written last: its presence marks the run as finished. */
  async writeSummary(summary: RunSummary): Promise<void> {
    await writeFileAtomic(this.file(RUN_FILES.summary), `${JSON.stringify(summary, null, 2)}\n`);
  }

  /** Release the lock; after a failure, also remove the directory if this process created it and it is empty. */
  async close(failed = false): Promise<void> {
    await this.lock.release();
    if (failed) await removeCreated(this.created, this.dir);
  }
}

/** Remove `dir` and its parents up to `created` while they are empty (what this process made). */
async function removeCreated(created: string | undefined, dir: string): Promise<void> {
  if (!created) return;
  let current = dir;
  for (;;) {
    try {
      await fs.rmdir(current);
    } catch {
      return; // not empty (or gone): keep it
    }
    if (current === created) return;
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

// ------------------------------------------------------------------------------------------------
// The training loop's side of the run directory: what train() calls.

// TrainCounters and ZERO_COUNTERS are the loop's (environment.ts, no Node modules).
export { ZERO_COUNTERS, type TrainCounters };

/** What run.json records: enough to rebuild the model without loading the dataset. */
export interface RunInfo {
  readonly modelSpec: { inputShape: [number, number, number]; numClasses: number; batchNorm: 'dual' | 'plain' };
  readonly trainExamples: number;
  /** Steps per epoch (of the first task in a class-incremental run). */
  readonly stepsPerEpoch: number;
  /** Class-incremental runs: steps per epoch of each task. */
  readonly stepsPerTask?: number[];
}

export interface ResumeTargets {
  readonly model: LayersModel;
  readonly optimizer: { setState(state: LoadedCheckpoint['optimizer']): void };
  readonly runner: { setStates(states: LoadedCheckpoint['callbacks']): Promise<void> };
  readonly random: { setState(state: LoadedCheckpoint['random']): void };
  /** The run's tasks (incremental.ts): the accuracy matrix so far. */
  readonly tasks: { setState(state: LoadedCheckpoint['incremental']): void };
  readonly log: Logger;
}

export interface Resumed {
  readonly position: TrainPosition;
  readonly counters: TrainCounters;
  readonly resumedFrom?: { epoch: number; step: number };
  /** The run ended for good at this checkpoint (early stopping): train no further, evaluate and export. */
  readonly finished?: string;
}

/**
 * Put the checkpoint the run directory chose (run.start) back into the model, optimizer, callbacks
 * and random state; step 0 when there is none (or no run directory).
 */
export async function resumeFromCheckpoint(run: RunDirectory | undefined, targets: ResumeTargets): Promise<Resumed> {
  const ck = run?.start.checkpoint;
  if (!run || !ck) return { position: { epoch: 0, batchInEpoch: 0, step: 0 }, counters: { ...ZERO_COUNTERS } };
  restoreWeights(targets.model, ck.weights, ck.dir);
  restoreLayerStates(targets.model, ck.layers, ck.dir);
  targets.optimizer.setState(ck.optimizer);
  await targets.runner.setStates(ck.callbacks);
  targets.random.setState(ck.random);
  targets.tasks.setState(ck.incremental);
  const position = ck.position;
  targets.log.info(`resuming ${run.dir} from checkpoint ${ck.name} (epoch ${position.epoch + 1}, batch ${position.batchInEpoch}, step ${position.step})`);
  return {
    position,
    counters: { ...ZERO_COUNTERS, ...ck.counters },
    resumedFrom: { epoch: position.epoch, step: position.step },
    ...(ck.finished !== undefined ? { finished: ck.finished } : {}),
  };
}

/** config.json and run.json (nothing without a run directory). */
export async function writeRunStart(run: RunDirectory | undefined, config: TrainConfig, info: RunInfo): Promise<void> {
  await run?.writeRunFiles(config, info);
}

export interface CheckpointSource {
  readonly model: LayersModel;
  readonly optimizer: SaveCheckpointOptions['optimizer'];
  readonly runner: { getStates(): SaveCheckpointOptions['callbacks'] };
  readonly random: { getState(): SaveCheckpointOptions['random'] };
  readonly tasks: { getState(): SaveCheckpointOptions['incremental'] };
  readonly counters: () => Record<string, number>;
}

/** A function writing a checkpoint of a position (a no-op resolving to undefined without a run directory). */
export function checkpointWriter(
  run: RunDirectory | undefined,
  config: TrainConfig,
  source: CheckpointSource,
): (position: TrainPosition, best: boolean, metrics?: Record<string, number>, finished?: string) => Promise<string | undefined> {
  return async (position, best, metrics, finished) => {
    if (!run) return undefined;
    const layers = layerStates(source.model);
    const incremental = source.tasks.getState();
    const name = await run.saveCheckpoint({
      model: source.model,
      optimizer: source.optimizer,
      position,
      random: source.random.getState(),
      callbacks: source.runner.getStates(),
      counters: source.counters(),
      ...(layers ? { layers } : {}),
      ...(incremental ? { incremental } : {}),
      ...(metrics ? { metrics } : {}),
      ...(finished !== undefined ? { finished } : {}),
      best,
      bestMetric: metrics?.[config.checkpoint.monitor] ?? null,
      keepLast: config.checkpoint.keepLast,
      keepBest: config.checkpoint.keepBest,
    });
    return path.join(checkpointsDir(run.dir), name);
  };
}

/** The final models, then summary.json (nothing without a run directory). */
export async function writeRunEnd(run: RunDirectory | undefined, model: LayersModel, summary: RunSummary): Promise<void> {
  if (!run) return;
  await run.exportModels(model);
  await run.writeSummary(summary);
}
