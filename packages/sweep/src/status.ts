/**
 * Where a sweep stands: done, running, queued, failed and retried runs, with an ETA. Storage alone
 * answers it (results, failures, each attempt's heartbeat); with Redis the queue's state of every
 * job refines it (waiting, delayed for a retry, failed for good).
 */
import { queueStatus } from './queue.js';
import { DirectoryStorage } from './storage.js';

export type RunState = 'done' | 'running' | 'queued' | 'retrying' | 'failed' | 'not started';

export interface RunStatus {
  readonly id: string;
  readonly group: string;
  readonly state: RunState;
  readonly attempts: number;
  /** Fraction of the training steps done (running runs). */
  readonly progress?: number;
  readonly error?: string;
}

export interface SweepStatus {
  readonly name?: string;
  readonly total: number;
  readonly counts: Readonly<Record<RunState, number>>;
  /** Runs that needed more than one attempt. */
  readonly retried: number;
  /** Seconds until every run is done, from the finished runs' mean wall time; null before any finished. */
  readonly etaSeconds: number | null;
  readonly runs: readonly RunStatus[];
}

/** A heartbeat older than this means the attempt's process is gone. */
const STALE_HEARTBEAT_MS = 60_000;

export async function sweepStatus(root: string, options: { redis?: string; now?: number } = {}): Promise<SweepStatus> {
  const storage = new DirectoryStorage(root);
  const manifest = await storage.readManifest();
  if (!manifest) throw new Error(`${storage.location} holds no sweep (no sweep.json); run "advprop sweep run" or "advprop sweep submit" with --out ${root}`);
  const now = options.now ?? Date.now();
  const results = new Map((await storage.readResults()).map((r) => [r.id, r]));
  const failures = new Map<string, string[]>();
  for (const f of await storage.readFailures()) failures.set(f.id, [...(failures.get(f.id) ?? []), f.error]);
  const queue = options.redis ? await queueStatus(options.redis, storage.root, manifest.runs.map((r) => r.id)) : undefined;
  const runs: RunStatus[] = [];
  for (const run of manifest.runs) {
    const result = results.get(run.id);
    const errors = failures.get(run.id) ?? [];
    const lastError = errors[errors.length - 1];
    if (result) {
      runs.push({ id: run.id, group: run.group, state: 'done', attempts: result.cost.attempts });
      continue;
    }
    const attempt = await storage.readAttempt(run.id);
    const fresh = attempt !== null && now - Date.parse(attempt.updated_at) < STALE_HEARTBEAT_MS;
    const progress = attempt && attempt.total_steps > 0 ? attempt.step / attempt.total_steps : undefined;
    const q = queue?.get(run.id);
    let state: RunState;
    if (q) {
      state =
        q.state === 'active'
          ? 'running'
          : q.state === 'delayed'
            ? 'retrying'
            : q.state === 'failed'
              ? 'failed'
              : q.state === 'completed'
                ? 'done'
                : 'queued';
    } else if (fresh) state = 'running';
    else if (lastError !== undefined) state = 'failed';
    else state = attempt ? 'retrying' : 'not started';
    const attempts = Math.max(q?.attemptsStarted ?? 0, attempt?.attempt ?? 0, errors.length);
    const error = q?.failedReason ?? lastError;
    runs.push({
      id: run.id,
      group: run.group,
      state,
      attempts,
      ...(state === 'running' && progress !== undefined ? { progress } : {}),
      ...(error && state !== 'running' ? { error } : {}),
    });
  }
  const counts: Record<RunState, number> = { done: 0, running: 0, queued: 0, retrying: 0, failed: 0, 'not started': 0 };
  for (const r of runs) counts[r.state]++;
  const finishedWall = [...results.values()].map((r) => r.cost.wall_seconds).filter((v) => v > 0);
  let etaSeconds: number | null = null;
  if (finishedWall.length > 0) {
    const mean = finishedWall.reduce((a, b) => a + b, 0) / finishedWall.length;
    const remaining = runs.reduce((n, r) => n + (r.state === 'done' || r.state === 'failed' ? 0 : r.state === 'running' ? 1 - (r.progress ?? 0) : 1), 0);
    etaSeconds = (remaining * mean) / Math.max(1, counts.running);
  }
  return {
    ...(manifest.name ? { name: manifest.name } : {}),
    total: runs.length,
    counts,
    retried: runs.filter((r) => r.attempts > 1).length,
    etaSeconds,
    runs,
  };
}

export function formatStatus(status: SweepStatus): string {
  const c = status.counts;
  const eta = status.etaSeconds === null ? 'unknown (no run finished yet)' : formatDuration(status.etaSeconds);
  const lines = [
    `${status.name ? `${status.name}: ` : ''}${status.total} runs: ${c.done} done, ${c.running} running, ${c.queued} queued, ${c.retrying} waiting to retry, ` +
      `${c.failed} failed, ${c['not started']} not started; ${status.retried} retried. ETA ${eta}`,
  ];
  for (const r of status.runs) {
    if (r.state === 'done' && r.attempts <= 1) continue;
    const extra = [
      r.attempts > 1 ? `${r.attempts} attempts` : '',
      r.progress !== undefined ? `${(100 * r.progress).toFixed(0)} %` : '',
      r.error ? `error: ${r.error}` : '',
    ].filter((s) => s !== '');
    lines.push(`  ${r.id} ${r.state.padEnd(11)} ${r.group}${extra.length > 0 ? ` (${extra.join('; ')})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}

function formatDuration(seconds: number): string {
  if (seconds < 90) return `${seconds.toFixed(0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(0)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}
