/**
 * The job code: train one run of a sweep into its run directory and append its result. The same
 * function runs under BullMQ's sandboxed processor and under the embedded queue, always in a child
 * process of the worker.
 *
 * A retry finds the previous attempt's run directory: with a checkpoint it resumes from it
 * (`resume: true`), without one it clears the directory and starts over.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { useBackend, type BackendChoice } from '@advprop/backends';
import type { Callback, Logger } from '@advprop/core';
import { pathExists } from '@advprop/core/node';
import { createDefaultRegistry, hasCheckpoint, RUN_FILES, train, type TrainConfig } from '@advprop/trainer';
import { loadPluginModules } from './plugins.js';
import { DirectoryStorage, STORAGE_FILES, hostName, type RunAttempt, type RunResult } from './storage.js';

/** What a queue carries for one run. */
export interface SweepJobData {
  /** Storage root (the same path on every machine). */
  readonly root: string;
  readonly id: string;
  readonly group: string;
  readonly axes: Readonly<Record<string, unknown>>;
  /** Resolved training config without outDir and resume. */
  readonly config: TrainConfig;
  readonly backend: string;
  /** Plugin modules of the spec (absolute paths or package names), registered for the run. */
  readonly plugins?: readonly string[];
}

export interface SweepJobContext {
  /** 1 for the first attempt. */
  readonly attempt: number;
  readonly threads?: number;
  readonly log?: Logger;
  readonly progress?: (progress: { step: number; total_steps: number }) => void | Promise<void>;
  /** Seconds between heartbeats (attempt file refreshes). */
  readonly heartbeatSeconds?: number;
}

let backendReady: { key: string; promise: Promise<unknown> } | undefined;

/** Select the backend once per process (again only when a job asks for another one). */
async function ensureBackend(name: string, threads: number | undefined): Promise<void> {
  const key = `${name}/${threads ?? ''}`;
  if (backendReady?.key !== key) {
    backendReady = { key, promise: useBackend(name as BackendChoice, threads !== undefined ? { threads } : {}) };
  }
  await backendReady.promise;
}

function cpuSecondsSince(start: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(start);
  return (u.user + u.system) / 1e6;
}

async function appendFinished(
  storage: DirectoryStorage,
  data: SweepJobData,
  summary: Record<string, unknown>,
  cost: { cpuSeconds: number; attempt: number },
): Promise<RunResult> {
  const record: RunResult = {
    id: data.id,
    group: data.group,
    axes: data.axes,
    config: data.config,
    summary,
    cost: {
      cpu_seconds: cost.cpuSeconds,
      images_per_second: Number(summary.images_per_second ?? 0),
      wall_seconds: Number(summary.wall_seconds ?? 0),
      attempts: cost.attempt,
    },
    host: hostName(),
    finished_at: new Date().toISOString(),
  };
  await storage.appendResult(record);
  return record;
}

/** Files of a run directory an attempt without a checkpoint leaves that the next one must not trip on. */
const KEEP_ON_CLEAR = new Set<string>([STORAGE_FILES.attempt, 'lock.json']);

/** Empty a run directory an attempt left without a checkpoint (only its own files go). */
async function clearRunDirectory(dir: string): Promise<void> {
  for (const entry of await fs.readdir(dir)) {
    if (KEEP_ON_CLEAR.has(entry)) continue;
    await fs.rm(path.join(dir, entry), { recursive: true, force: true });
  }
}

export async function runSweepJob(data: SweepJobData, context: SweepJobContext): Promise<RunResult> {
  const storage = new DirectoryStorage(data.root);
  const log = context.log;
  const finished = (await storage.readResults()).find((r) => r.id === data.id);
  if (finished) {
    log?.info(`run ${data.id}: already in ${STORAGE_FILES.results}; nothing to do`);
    return finished;
  }
  const dir = await storage.runDirectory(data.id);
  const previous = await storage.readAttempt(data.id);
  const summaryFile = path.join(dir, RUN_FILES.summary);
  if (await pathExists(summaryFile)) {
    // The trainer writes summary.json last: the run finished, only its result line is missing
    // (the previous attempt died between the two writes).
    return appendFinished(storage, data, JSON.parse(await fs.readFile(summaryFile, 'utf8')) as Record<string, unknown>, {
      cpuSeconds: previous?.cpu_seconds ?? 0,
      attempt: context.attempt,
    });
  }
  const resume = await hasCheckpoint(dir);
  if (!resume) await clearRunDirectory(dir);

  const cpuStart = process.cpuUsage();
  // Earlier attempts' CPU time counts too (a restart from scratch repeats work, at a cost).
  const cpuBefore = previous?.cpu_seconds ?? 0;
  const startedAt = new Date().toISOString();
  let step = 0;
  let totalSteps = 0;
  const attempt = (): RunAttempt => ({
    id: data.id,
    attempt: context.attempt,
    host: hostName(),
    pid: process.pid,
    parent_pid: process.ppid,
    started_at: startedAt,
    updated_at: new Date().toISOString(),
    cpu_seconds: cpuBefore + cpuSecondsSince(cpuStart),
    step,
    total_steps: totalSteps,
  });
  await storage.writeAttempt(attempt());
  let writing: Promise<void> = Promise.resolve();
  const heartbeat = setInterval(() => {
    writing = writing.then(() => storage.writeAttempt(attempt())).catch(() => {});
  }, (context.heartbeatSeconds ?? 5) * 1000);
  heartbeat.unref();

  const progress: Callback = {
    name: 'sweep-progress',
    onTrainBegin: (e) => {
      step = e.step;
      totalSteps = e.metrics.total_steps ?? e.epochs * e.stepsPerEpoch;
    },
    onBatchEnd: async (e) => {
      step = e.step;
      await context.progress?.({ step, total_steps: totalSteps });
    },
  };

  try {
    await ensureBackend(data.backend, context.threads);
    log?.info(`run ${data.id} (${data.group}), attempt ${context.attempt}: ${resume ? 'resuming from its last checkpoint' : 'starting'} in ${dir}`);
    const plugins = data.plugins && data.plugins.length > 0 ? await loadPluginModules(data.plugins) : [];
    // The trainer's own default registry, plus the spec's plugins when it has some.
    const registry = plugins.length > 0 ? createDefaultRegistry({ seed: data.config.seed, ...(log ? { log } : {}) }).use(plugins) : undefined;
    let summary: Record<string, unknown>;
    try {
      const result = await train({ ...data.config, outDir: dir, resume }, { callbacks: [progress], ...(log ? { log } : {}), ...(registry ? { registry } : {}) });
      summary = result.summary as unknown as Record<string, unknown>;
      result.dispose();
    } finally {
      await registry?.dispose();
    }
    clearInterval(heartbeat);
    await writing;
    await storage.writeAttempt(attempt());
    return await appendFinished(storage, data, summary, { cpuSeconds: cpuBefore + cpuSecondsSince(cpuStart), attempt: context.attempt });
  } catch (error) {
    clearInterval(heartbeat);
    await writing;
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await storage
      .appendFailure({ id: data.id, attempt: context.attempt, error: message, host: hostName(), at: new Date().toISOString() })
      .catch(() => {});
    throw error;
  }
}
