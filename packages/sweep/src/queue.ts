/**
 * Sweeps on BullMQ and Redis: `submitSweep` enqueues the runs that have no result yet (job id =
 * storage key + run id, so a resubmitted spec adds only missing runs), `startWorker` processes
 * them in sandboxed child processes, `queueStatus` reads the queue's view of a sweep.
 *
 * Failure handling: a job's lock is renewed by the worker's own event loop, which the sandbox
 * keeps free of training work. A worker that dies stops renewing; after `lockDuration` another
 * worker's stall check puts the run back in the queue and its next attempt resumes from the last
 * checkpoint. A run that throws is retried `attempts` times with exponential back-off; every
 * failed attempt's error text is kept (BullMQ's failedReason and failures.jsonl).
 */
import { createHash } from 'node:crypto';
import { Queue, Worker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { AdvpropError, type Logger } from '@advprop/core';
import { jobData } from './embedded.js';
import type { SweepJobData } from './job.js';
import { manifestOf, type ExpandedSweep } from './spec.js';
import { DirectoryStorage, type RunResult } from './storage.js';
import { childEnvironment, packageEntry, threadsPerRun } from './threads.js';

export const QUEUE_NAME = 'advprop-sweep';

/** Redis unreachable, or the queue refused something. */
export class SweepQueueError extends AdvpropError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_SWEEP_QUEUE', message, options);
  }
}

/** Lock and stall settings of the workers (milliseconds). */
export interface LockSettings {
  /**
   * How long a job's lock lives without renewal. The worker renews it every lockDuration / 2 from
   * its own event loop, so the value bounds how long a dead worker's run waits before it is
   * retried, not how long a run may last.
   */
  readonly lockDurationMs: number;
  /** How often each worker looks for runs whose lock expired. */
  readonly stalledIntervalMs: number;
  /** Times a run may be recovered from a dead worker before it fails. */
  readonly maxStalledCount: number;
}

/**
 * Defaults for runs of minutes to hours on busy machines: a lock renewal may be late by minutes
 * (a machine swapping, a Redis restart) without the run being taken away, and a run survives
 * three worker deaths; a dead worker's run restarts within about 15 minutes.
 */
export const DEFAULT_LOCKS: LockSettings = { lockDurationMs: 10 * 60_000, stalledIntervalMs: 5 * 60_000, maxStalledCount: 3 };

/** A short key for a storage root: jobs of different roots never share an id. */
export function storageKey(root: string): string {
  return createHash('sha256').update(root).digest('hex').slice(0, 8);
}

export function jobIdOf(root: string, runId: string): string {
  return `${storageKey(root)}-${runId}`;
}

function describeUrl(url: string): string {
  // Never print a password.
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Connect and PING within `timeoutMs`, or throw an error naming the URL; no retries. */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  let client: Redis;
  try {
    client = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
  } catch (error) {
    throw new SweepQueueError(`--redis ${describeUrl(url)}: not a Redis URL (${(error as Error).message})`, { cause: error });
  }
  let firstError: Error | undefined;
  client.on('error', (error: Error) => {
    firstError ??= error;
  });
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  } catch (error) {
    const reason = firstError ?? (error as Error);
    throw new SweepQueueError(`cannot reach Redis at ${describeUrl(url)}: ${reason.message || (reason as NodeJS.ErrnoException).code}`, { cause: reason });
  } finally {
    client.disconnect();
  }
}

/** A connection for BullMQ: commands wait through reconnections (BullMQ requires this of workers). */
export function redisConnection(url: string, options: RedisOptions = {}): Redis {
  const client = new Redis(url, {
    maxRetriesPerRequest: null,
    // Reconnect for ever, backing off to 2 s: a restarted Redis is picked up by itself.
    retryStrategy: (times) => Math.min(times * 200, 2000),
    ...options,
  });
  return client;
}

export interface SubmitReport {
  readonly total: number;
  /** Newly enqueued. */
  readonly enqueued: number;
  /** Finished (in results.jsonl): not enqueued. */
  readonly finished: number;
  /** Already waiting, delayed or running. */
  readonly queued: number;
  /** Failed for good before, enqueued again. */
  readonly retried: number;
}

export interface SubmitOptions {
  readonly redis: string;
  readonly root: string;
  /**
   * Put these runs ahead of every run already waiting in the queue (BullMQ's LIFO add), in the
   * spec's order: an urgent cell does not wait behind a long sweep. Runs already queued stay where
   * they are.
   */
  readonly first?: boolean;
}

/** Enqueue every run of the sweep that has no result and no job in the queue. */
export async function submitSweep(sweep: ExpandedSweep, options: SubmitOptions): Promise<SubmitReport> {
  await checkRedis(options.redis);
  const storage = new DirectoryStorage(options.root);
  await storage.prepare();
  await storage.addToManifest(manifestOf(sweep));
  const done = new Set((await storage.readResults()).map((r) => r.id));
  const connection = redisConnection(options.redis);
  connection.on('error', () => {});
  const queue = new Queue<SweepJobData, RunResult>(QUEUE_NAME, { connection });
  let enqueued = 0;
  let queued = 0;
  let retried = 0;
  try {
    // A LIFO add goes to the head of the queue, so adding in reverse keeps the spec's order.
    const runs = options.first ? [...sweep.runs].reverse() : sweep.runs;
    for (const run of runs) {
      if (done.has(run.id)) continue;
      const jobId = jobIdOf(storage.root, run.id);
      const existing = await queue.getJob(jobId);
      if (existing) {
        const state = await existing.getState();
        if (state === 'failed') {
          await existing.retry('failed');
          retried++;
          continue;
        }
        if (state !== 'completed' && state !== 'unknown') {
          queued++;
          continue;
        }
        // Completed in the queue but no result in this storage (results.jsonl was removed): run again.
        await existing.remove();
      }
      await queue.add('run', jobData(storage.root, run, sweep), {
        jobId,
        attempts: sweep.spec.attempts,
        backoff: { type: 'exponential', delay: sweep.spec.backoffSeconds * 1000 },
        // Finished jobs stay in Redis (small: the result line) so status can count them.
        removeOnComplete: false,
        removeOnFail: false,
        ...(options.first ? { lifo: true } : {}),
      });
      enqueued++;
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return { total: sweep.runs.length, enqueued, finished: sweep.runs.filter((r) => done.has(r.id)).length, queued, retried };
}

export interface WorkerOptions extends Partial<LockSettings> {
  readonly redis: string;
  /** Runs at once in this worker (default 1). */
  readonly concurrency?: number;
  /** Threads per run (default cores / concurrency). */
  readonly threads?: number;
  readonly log?: Logger;
}

export interface SweepWorker {
  readonly worker: Worker<SweepJobData, RunResult>;
  readonly threads: number;
  /** Stop taking runs, wait for the running ones, disconnect. */
  close(): Promise<void>;
}

/** Start a worker that processes sweep runs until closed. */
export async function startWorker(options: WorkerOptions): Promise<SweepWorker> {
  await checkRedis(options.redis);
  const log = options.log;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const threads = threadsPerRun(concurrency, options.threads);
  const entry = packageEntry('processor');
  const connection = redisConnection(options.redis);
  let lastError = '';
  connection.on('error', (error: Error) => {
    if (error.message !== lastError) log?.warn(`redis ${describeUrl(options.redis)}: ${error.message} (reconnecting)`);
    lastError = error.message;
  });
  connection.on('ready', () => {
    if (lastError !== '') log?.info(`redis ${describeUrl(options.redis)}: reconnected`);
    lastError = '';
  });
  const worker = new Worker<SweepJobData, RunResult>(QUEUE_NAME, entry.file, {
    connection,
    concurrency,
    lockDuration: options.lockDurationMs ?? DEFAULT_LOCKS.lockDurationMs,
    stalledInterval: options.stalledIntervalMs ?? DEFAULT_LOCKS.stalledIntervalMs,
    maxStalledCount: options.maxStalledCount ?? DEFAULT_LOCKS.maxStalledCount,
    useWorkerThreads: false,
    workerForkOptions: { execArgv: entry.execArgv, env: childEnvironment(threads) },
  });
  worker.on('error', (error) => {
    if (error.message !== lastError) log?.warn(`worker: ${error.message}`);
    lastError = error.message;
  });
  worker.on('active', (job: Job<SweepJobData>) => log?.info(`run ${job.data.id} (${job.data.group}): started, attempt ${job.attemptsStarted}`));
  worker.on('completed', (job: Job<SweepJobData>, result: RunResult) =>
    log?.info(`run ${job.data.id} (${job.data.group}): done (${result.cost.cpu_seconds.toFixed(1)} CPU-s)`),
  );
  worker.on('failed', (job: Job<SweepJobData> | undefined, error: Error) =>
    log?.warn(`run ${job?.data.id ?? '?'}: attempt ${job?.attemptsMade ?? '?'} failed: ${error.message}`),
  );
  worker.on('stalled', (jobId: string) => log?.warn(`job ${jobId}: its worker stopped renewing the lock; back in the queue`));
  await worker.waitUntilReady();
  return {
    worker,
    threads,
    async close() {
      await worker.close();
      connection.disconnect();
    },
  };
}

export interface QueueRunState {
  readonly id: string;
  readonly state: string;
  readonly attemptsStarted: number;
  readonly attemptsMade: number;
  readonly failedReason?: string;
  readonly progress?: unknown;
}

/** The queue's state of each run of a storage root. */
export async function queueStatus(redis: string, root: string, runIds: readonly string[]): Promise<Map<string, QueueRunState>> {
  await checkRedis(redis);
  const connection = redisConnection(redis, { maxRetriesPerRequest: 1 });
  connection.on('error', () => {});
  const queue = new Queue<SweepJobData, RunResult>(QUEUE_NAME, { connection });
  const out = new Map<string, QueueRunState>();
  try {
    for (const id of runIds) {
      const job = await queue.getJob(jobIdOf(root, id));
      if (!job) continue;
      out.set(id, {
        id,
        state: await job.getState(),
        attemptsStarted: job.attemptsStarted,
        attemptsMade: job.attemptsMade,
        ...(job.failedReason ? { failedReason: job.failedReason } : {}),
        ...(job.progress !== undefined ? { progress: job.progress } : {}),
      });
    }
  } finally {
    await queue.close();
    connection.disconnect();
  }
  return out;
}
