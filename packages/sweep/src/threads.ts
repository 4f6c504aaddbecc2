/**
 * The thread budget of one machine and the environment of the training child processes.
 *
 * N concurrent runs on one machine share its cores: each gets cores / N threads by default. The
 * native kernels use OpenMP (GNU libgomp), whose threads spin while they wait for work; two
 * processes that spin on the same cores slow each other down by an order of magnitude. So every
 * child also waits passively (OMP_WAIT_POLICY=passive, GOMP_SPINCOUNT=0): an idle thread
 * sleeps and gives its core to the other run.
 */
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Environment variable a child reads its thread count from. */
export const THREADS_ENV = 'ADVPROP_SWEEP_THREADS';

export function machineCores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** Threads per concurrent run: `threads` when given, else cores / concurrency (at least 1). */
export function threadsPerRun(concurrency: number, threads?: number, cores = machineCores()): number {
  if (threads !== undefined) return threads;
  return Math.max(1, Math.floor(cores / Math.max(1, concurrency)));
}

/** The environment of a training child: the thread budget, and passive OpenMP waiting. */
export function childEnvironment(threads: number, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    [THREADS_ENV]: String(threads),
    OMP_NUM_THREADS: String(threads),
    // An explicit setting in the environment wins (to measure spinning, or on a dedicated core).
    OMP_WAIT_POLICY: base.OMP_WAIT_POLICY ?? 'passive',
    GOMP_SPINCOUNT: base.GOMP_SPINCOUNT ?? '0',
  };
}

/**
 * A module of this package as a child-process entry: the built file next to this one, or (when
 * running from the TypeScript sources, as the tests do) the .ts file run through tsx with the
 * workspace's source export condition.
 */
export function packageEntry(name: 'processor' | 'child-host'): { file: string; execArgv: string[] } {
  const here = fileURLToPath(import.meta.url);
  const ext = path.extname(here);
  const file = path.join(path.dirname(here), `${name}${ext}`);
  // Built: the children inherit this process's flags (e.g. `--import tsx`, so a spec's TypeScript plugin modules load).
  if (ext !== '.ts') return { file, execArgv: process.execArgv.filter((a) => !a.startsWith('--inspect')) };
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return { file, execArgv: ['--import', tsx, '--conditions=@advprop/source'] };
}
