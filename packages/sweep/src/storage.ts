/**
 * Sweep storage: everything a sweep keeps outside the queue, under one root.
 *
 *   <root>/sweep.json          the runs of every spec submitted here (id, group, axes, config)
 *   <root>/results.jsonl       append-only, one line per finished run
 *   <root>/failures.jsonl      append-only, one line per failed attempt (the error text)
 *   <root>/runs/<id>/          the trainer's run directory (checkpoints, summary.json, models)
 *   <root>/runs/<id>/sweep-attempt.json   the current attempt: worker, heartbeat, progress, CPU time
 *
 * `SweepStorage` is the whole contract the job code and the commands use; `DirectoryStorage` serves
 * it from a directory, local or on a shared file system. An object store can implement it too
 * (docs/sweeps.md): appends become one object per line under a prefix, and `runDirectory`
 * becomes a local scratch copy synced with the store.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CheckpointError } from '@advprop/core';
import { writeFileAtomic } from '@advprop/core/node';
import type { TrainConfig } from '@advprop/trainer';

/** One line of results.jsonl. */
export interface RunResult {
  readonly id: string;
  readonly group: string;
  readonly axes: Readonly<Record<string, unknown>>;
  readonly config: TrainConfig;
  /** The trainer's summary.json. */
  readonly summary: Record<string, unknown>;
  readonly cost: {
    /** CPU time of every attempt's training process (user + system, all threads). */
    readonly cpu_seconds: number;
    /** Training throughput of the run (summary.images_per_second). */
    readonly images_per_second: number;
    readonly wall_seconds: number;
    readonly attempts: number;
  };
  readonly host: string;
  readonly finished_at: string;
}

/** One line of failures.jsonl. */
export interface RunFailure {
  readonly id: string;
  readonly attempt: number;
  readonly error: string;
  readonly host: string;
  readonly at: string;
}

/** The current attempt of a run, refreshed while it trains. */
export interface RunAttempt {
  readonly id: string;
  readonly attempt: number;
  readonly host: string;
  readonly pid: number;
  /** The worker (or embedded queue) process that started the attempt's training process. */
  readonly parent_pid: number;
  readonly started_at: string;
  readonly updated_at: string;
  /** CPU seconds of earlier attempts plus this one so far. */
  readonly cpu_seconds: number;
  readonly step: number;
  readonly total_steps: number;
}

export interface ManifestRun {
  readonly id: string;
  readonly group: string;
  readonly axes: Readonly<Record<string, unknown>>;
  readonly config: TrainConfig;
}

export interface SweepManifest {
  readonly name?: string;
  readonly sources: readonly string[];
  /** Group order of the results table and the metrics it shows. */
  readonly groups: readonly string[];
  readonly reportMetrics?: readonly string[];
  readonly runs: readonly ManifestRun[];
}

export interface SweepStorage {
  /** Where it is, for messages. */
  readonly location: string;
  /** Create the root if needed; an error naming it when it cannot be written. */
  prepare(): Promise<void>;
  readManifest(): Promise<SweepManifest | null>;
  /** Merge runs into the manifest (runs already listed keep their entry). */
  addToManifest(manifest: SweepManifest): Promise<void>;
  /** A local directory the trainer writes the run to (created). */
  runDirectory(id: string): Promise<string>;
  appendResult(result: RunResult): Promise<void>;
  /** Finished runs, the first line per id. */
  readResults(): Promise<RunResult[]>;
  appendFailure(failure: RunFailure): Promise<void>;
  readFailures(): Promise<RunFailure[]>;
  writeAttempt(attempt: RunAttempt): Promise<void>;
  readAttempt(id: string): Promise<RunAttempt | null>;
}

export const STORAGE_FILES = {
  manifest: 'sweep.json',
  results: 'results.jsonl',
  failures: 'failures.jsonl',
  runs: 'runs',
  attempt: 'sweep-attempt.json',
} as const;

export function hostName(): string {
  return os.hostname();
}

async function readJsonLines<T>(file: string): Promise<T[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const out: T[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      // A torn last line (a writer killed mid-append) is skipped; anything else is corruption.
      if (i < text.split('\n').length - 2) throw new CheckpointError(`${file} line ${i + 1} is not valid JSON`);
    }
  }
  return out;
}

/** Storage in a directory (local by default; NFS or any shared file system for several machines). */
export class DirectoryStorage implements SweepStorage {
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get location(): string {
    return this.root;
  }

  async prepare(): Promise<void> {
    try {
      await fs.mkdir(path.join(this.root, STORAGE_FILES.runs), { recursive: true });
      await fs.access(this.root, fsConstants.W_OK);
      await fs.access(path.join(this.root, STORAGE_FILES.runs), fsConstants.W_OK);
    } catch (error) {
      throw new CheckpointError(`sweep storage root ${this.root} is not writable: ${(error as Error).message}`, { cause: error });
    }
  }

  async readManifest(): Promise<SweepManifest | null> {
    const file = path.join(this.root, STORAGE_FILES.manifest);
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      return JSON.parse(text) as SweepManifest;
    } catch (error) {
      throw new CheckpointError(`${file} is corrupt (not valid JSON: ${(error as Error).message})`, { cause: error });
    }
  }

  async addToManifest(manifest: SweepManifest): Promise<void> {
    const previous = await this.readManifest();
    const known = new Set(previous?.runs.map((r) => r.id) ?? []);
    // A root shared by several specs is named after all of them, in the order they came.
    const names = [...new Set([...(previous?.name?.split(' + ') ?? []), ...(manifest.name ? [manifest.name] : [])])];
    const merged: SweepManifest = {
      ...(names.length > 0 ? { name: names.join(' + ') } : {}),
      sources: [...new Set([...(previous?.sources ?? []), ...manifest.sources])],
      groups: [...new Set([...(previous?.groups ?? []), ...manifest.groups])],
      ...(manifest.reportMetrics ?? previous?.reportMetrics ? { reportMetrics: manifest.reportMetrics ?? previous?.reportMetrics } : {}),
      runs: [...(previous?.runs ?? []), ...manifest.runs.filter((r) => !known.has(r.id))],
    };
    await writeFileAtomic(path.join(this.root, STORAGE_FILES.manifest), `${JSON.stringify(merged, null, 1)}\n`);
  }

  async runDirectory(id: string): Promise<string> {
    if (!/^[0-9a-f]{16}$/.test(id)) throw new CheckpointError(`not a sweep run id: ${JSON.stringify(id)}`);
    const dir = path.join(this.root, STORAGE_FILES.runs, id);
    await fs.mkdir(dir, { recursive: true }).catch((error: unknown) => {
      throw new CheckpointError(`cannot create run directory ${dir}: ${(error as Error).message}`, { cause: error });
    });
    return dir;
  }

  private async append(file: string, record: unknown): Promise<void> {
    // One write of one line with O_APPEND: concurrent writers on one machine never interleave.
    const p = path.join(this.root, file);
    try {
      await fs.appendFile(p, `${JSON.stringify(record)}\n`, { flag: 'a' });
    } catch (error) {
      throw new CheckpointError(`cannot append to ${p}: ${(error as Error).message}`, { cause: error });
    }
  }

  appendResult(result: RunResult): Promise<void> {
    return this.append(STORAGE_FILES.results, result);
  }

  async readResults(): Promise<RunResult[]> {
    const seen = new Set<string>();
    return (await readJsonLines<RunResult>(path.join(this.root, STORAGE_FILES.results))).filter((r) => {
      if (seen.has(r.id)) return false;
      seen.add(r.id);
      return true;
    });
  }

  appendFailure(failure: RunFailure): Promise<void> {
    return this.append(STORAGE_FILES.failures, failure);
  }

  readFailures(): Promise<RunFailure[]> {
    return readJsonLines<RunFailure>(path.join(this.root, STORAGE_FILES.failures));
  }

  async writeAttempt(attempt: RunAttempt): Promise<void> {
    await writeFileAtomic(path.join(await this.runDirectory(attempt.id), STORAGE_FILES.attempt), JSON.stringify(attempt));
  }

  async readAttempt(id: string): Promise<RunAttempt | null> {
    const file = path.join(this.root, STORAGE_FILES.runs, id, STORAGE_FILES.attempt);
    try {
      return JSON.parse(await fs.readFile(file, 'utf8')) as RunAttempt;
    } catch {
      return null;
    }
  }
}
