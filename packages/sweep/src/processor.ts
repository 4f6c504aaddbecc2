/**
 * BullMQ's sandboxed processor: BullMQ forks a child process that imports this file and calls its
 * default export with each job, so the CPU-bound training never blocks the worker's event loop,
 * which keeps renewing the job's lock. The embedded queue's child host calls the same function.
 */
import type { Logger } from '@advprop/core';
import { runSweepJob, type SweepJobData } from './job.js';
import type { RunResult } from './storage.js';
import { THREADS_ENV } from './threads.js';

/** The part of a (sandboxed) BullMQ job the processor uses. */
export interface ProcessorJob {
  readonly id?: string;
  readonly data: SweepJobData;
  readonly attemptsStarted?: number;
  readonly attemptsMade?: number;
  updateProgress?(progress: object): Promise<void> | void;
}

// A child whose worker died (SIGKILL, machine lost) must not train on: the run is retried
// elsewhere, and two processes must never write one run directory.
process.on('disconnect', () => process.exit(1));

const log: Logger = {
  debug: (m) => {
    if (process.env.ADVPROP_DEBUG) process.stderr.write(`${m}\n`);
  },
  info: (m) => process.stderr.write(`[sweep ${process.pid}] ${m}\n`),
  warn: (m) => process.stderr.write(`[sweep ${process.pid}] warning: ${m}\n`),
};

export default async function processSweepJob(job: ProcessorJob): Promise<RunResult> {
  const raw = process.env[THREADS_ENV];
  const threads = raw !== undefined && /^\d+$/.test(raw) && Number(raw) > 0 ? Number(raw) : undefined;
  const attempt = Math.max(1, job.attemptsStarted ?? (job.attemptsMade ?? 0) + 1);
  let lastReport = 0;
  return runSweepJob(job.data, {
    attempt,
    ...(threads !== undefined ? { threads } : {}),
    log,
    progress: async (p) => {
      // A progress update is a Redis round trip: a few per second at most.
      const now = Date.now();
      if (now - lastReport < 2000 && p.step < p.total_steps) return;
      lastReport = now;
      await job.updateProgress?.(p);
    },
  });
}
