/**
 * The embedded default: the whole sweep on this machine with no Redis. An in-process queue hands
 * runs to `concurrency` child processes that run the same processor as BullMQ's sandbox, with the
 * same retry policy (attempts, exponential back-off), so `advprop sweep run` and a Redis sweep
 * write identical results.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { HostReply, HostRequest } from './child-host.js';
import type { SweepJobData } from './job.js';
import { manifestOf, type ExpandedSweep, type SweepRun } from './spec.js';
import { DirectoryStorage, type RunResult } from './storage.js';
import { childEnvironment, packageEntry, threadsPerRun } from './threads.js';

export interface EmbeddedOptions {
  /** Storage root (default: where the caller says; the CLI uses sweeps/<spec name>). */
  readonly root: string;
  /** Runs at once (default 1). */
  readonly concurrency?: number;
  /** Threads per run (default: cores / concurrency). */
  readonly threads?: number;
  /** Status lines for a person. */
  readonly report?: (line: string) => void;
  /** Where the children's log lines go (default: this process's stderr). */
  readonly childStderr?: 'inherit' | 'ignore';
}

export interface SweepRunReport {
  readonly total: number;
  /** Already in results.jsonl before this call. */
  readonly skipped: number;
  readonly ran: number;
  readonly failed: readonly { id: string; group: string; error: string }[];
}

/** One training child, reused for job after job; replaced when it dies. */
class ChildHost {
  private child: ChildProcess | undefined;
  private ready: Promise<void> | undefined;
  constructor(
    private readonly threads: number,
    private readonly stderr: 'inherit' | 'ignore',
  ) {}

  private start(): { child: ChildProcess; ready: Promise<void> } {
    if (this.child && this.ready && this.child.exitCode === null && this.child.signalCode === null) return { child: this.child, ready: this.ready };
    const entry = packageEntry('child-host');
    const child = fork(entry.file, [], {
      execArgv: entry.execArgv,
      env: childEnvironment(this.threads),
      stdio: ['ignore', this.stderr === 'inherit' ? 'inherit' : 'ignore', this.stderr, 'ipc'],
    });
    const ready = new Promise<void>((resolve, reject) => {
      const onMessage = (m: HostReply) => {
        if (m.type === 'ready') {
          child.off('exit', onExit);
          resolve();
        }
      };
      const onExit = (code: number | null, signal: string | null) => reject(new Error(`training process exited before it was ready (code ${code}, signal ${signal})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    this.child = child;
    this.ready = ready;
    return { child, ready };
  }

  async run(data: SweepJobData, attempt: number): Promise<RunResult> {
    const { child, ready } = this.start();
    await ready;
    return new Promise<RunResult>((resolve, reject) => {
      const onMessage = (m: HostReply) => {
        if (m.type === 'done' && m.id === data.id) {
          cleanup();
          resolve(m.value as RunResult);
        } else if (m.type === 'failed' && m.id === data.id) {
          cleanup();
          reject(new Error(m.error));
        }
      };
      const onExit = (code: number | null, signal: string | null) => {
        cleanup();
        reject(new Error(`training process exited during the run (code ${code}, signal ${signal})`));
      };
      const cleanup = () => {
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.send({ type: 'run', id: data.id, attempt, data } satisfies HostRequest);
    });
  }

  close(): void {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGTERM');
    this.child = undefined;
  }
}

export function jobData(root: string, run: SweepRun, sweep: Pick<ExpandedSweep, 'spec' | 'plugins'>): SweepJobData {
  return {
    root,
    id: run.id,
    group: run.group,
    axes: run.axes,
    config: run.config,
    backend: sweep.spec.backend,
    ...(sweep.plugins.length > 0 ? { plugins: sweep.plugins } : {}),
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Run every run of the sweep that has no result yet; resolves when all finished or failed for good. */
export async function runSweepEmbedded(sweep: ExpandedSweep, options: EmbeddedOptions): Promise<SweepRunReport> {
  const storage = new DirectoryStorage(options.root);
  await storage.prepare();
  await storage.addToManifest(manifestOf(sweep));
  const report = options.report ?? (() => {});
  const done = new Set((await storage.readResults()).map((r) => r.id));
  const todo = sweep.runs.filter((r) => !done.has(r.id));
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, Math.max(1, todo.length)));
  const threads = threadsPerRun(concurrency, options.threads);
  const { attempts, backoffSeconds } = sweep.spec;
  report(
    `sweep ${sweep.spec.name ?? sweep.source}: ${sweep.runs.length} runs, ${sweep.runs.length - todo.length} already finished, ${todo.length} to run; ` +
      `${concurrency} at once, ${threads} thread(s) each; storage ${storage.location}`,
  );
  const queue = todo.map((run) => ({ run, attempt: 0, notBefore: 0 }));
  const failed: { id: string; group: string; error: string }[] = [];
  let ran = 0;
  const hosts = Array.from({ length: concurrency }, () => new ChildHost(threads, options.childStderr ?? 'inherit'));
  const slot = async (host: ChildHost) => {
    for (;;) {
      queue.sort((a, b) => a.notBefore - b.notBefore);
      const job = queue.shift();
      if (!job) return;
      const wait = job.notBefore - Date.now();
      if (wait > 0) await sleep(wait);
      job.attempt++;
      try {
        const result = await host.run(jobData(storage.root, job.run, sweep), job.attempt);
        ran++;
        report(`[${done.size + ran + failed.length}/${sweep.runs.length}] ${job.run.id} ${job.run.group}: done (${result.cost.cpu_seconds.toFixed(1)} CPU-s)`);
      } catch (error) {
        const message = (error as Error).message;
        if (job.attempt < attempts) {
          const delay = backoffSeconds * 1000 * 2 ** (job.attempt - 1);
          report(`${job.run.id} ${job.run.group}: attempt ${job.attempt} failed (${message}); retrying in ${(delay / 1000).toFixed(0)} s`);
          job.notBefore = Date.now() + delay;
          queue.push(job);
        } else {
          failed.push({ id: job.run.id, group: job.run.group, error: message });
          report(`${job.run.id} ${job.run.group}: failed after ${job.attempt} attempt(s): ${message}`);
        }
      }
    }
  };
  try {
    await Promise.all(hosts.map((h) => slot(h)));
  } finally {
    for (const h of hosts) h.close();
  }
  return { total: sweep.runs.length, skipped: done.size === 0 ? 0 : sweep.runs.length - todo.length, ran, failed };
}
