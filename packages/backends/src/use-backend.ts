/**
 * `useBackend(name)`: load a backend, register its training kernels, make it tfjs's current
 * backend and say what was chosen and why. `auto` tries the providers from fastest to slowest.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, PluginNotFoundError, silentLogger } from '@advprop/core';
import type { BackendInfo, Logger } from '@advprop/core';
import { backendSummary, nativeKernelStatus, PROVIDERS, setNativeThreadsFor, type BackendName } from './providers.js';

export type BackendChoice = 'auto' | BackendName;

export interface UseBackendOptions {
  readonly log?: Logger;
  /**
   * Threads the caller wants. Honoured by the native kernels (@advprop/native-kernels) when they
   * serve the backend (wasm, cpu): they run the convolutions and batch norm on that many OpenMP
   * threads. Otherwise recorded in the returned info's description: the wasm backend runs one
   * XNNPACK thread in Node (tfjs disables its pthread build there).
   */
  readonly threads?: number;
}

/** The order `auto` tries, fastest first (by provider priority). */
export const AUTO_ORDER: readonly BackendName[] = (Object.keys(PROVIDERS) as BackendName[]).sort(
  (a, b) => PROVIDERS[b].priority - PROVIDERS[a].priority,
);

const loaded = new Map<BackendName, BackendInfo>();

/** Forget which backends were loaded (tests). */
export function resetLoadedBackends(): void {
  loaded.clear();
}

async function loadOne(name: BackendName, log: Logger): Promise<BackendInfo> {
  const cached = loaded.get(name);
  if (cached && tf.getBackend() === cached.tfBackend) return cached;
  if (cached) {
    // Loaded before, another backend is current now: switch back.
    await tf.setBackend(cached.tfBackend);
    await tf.ready();
    return cached;
  }
  log.debug(`backends: loading ${name}`);
  const info = await PROVIDERS[name].load();
  loaded.set(name, info);
  return info;
}

async function withThreads(info: BackendInfo, threads: number | undefined): Promise<BackendInfo> {
  if (threads === undefined) return info;
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`useBackend: threads must be a positive integer, got ${threads}`);
  if (await setNativeThreadsFor(info.tfBackend, threads)) {
    return {
      ...info,
      threads,
      description: `${info.description}; native kernels set to ${threads} thread${threads === 1 ? '' : 's'}`,
      summary: backendSummary(info.tfBackend as 'wasm' | 'cpu', threads, true),
    };
  }
  if (threads === (info.threads ?? 1)) return info;
  return {
    ...info,
    description: `${info.description}; ${threads} threads asked, ${info.threads ?? 1} used by the backend itself (build @advprop/native-kernels, or use data-parallel workers, for more cores)`,
  };
}

/**
 * Load and activate a backend. Throws BackendUnavailableError (with the install hint) when the
 * named backend cannot load, PluginNotFoundError for a name that is not a backend.
 */
export async function useBackend(name: BackendChoice, options: UseBackendOptions = {}): Promise<BackendInfo> {
  const log = options.log ?? silentLogger;
  if (name !== 'auto' && !(name in PROVIDERS)) {
    throw new PluginNotFoundError('backend', String(name), ['auto', ...AUTO_ORDER]);
  }
  if (name !== 'auto') {
    const info = await withThreads(await loadOne(name, log), options.threads);
    log.info(`backend: ${info.summary ?? info.name}`);
    log.debug(`backend: ${info.description}`);
    return info;
  }
  const skipped: string[] = [];
  for (const candidate of AUTO_ORDER) {
    if (!loaded.has(candidate)) {
      const probe = await PROVIDERS[candidate].probe();
      if (!probe.available) {
        skipped.push(`${candidate}: ${probe.reason}`);
        log.debug(`backends: auto skips ${candidate}: ${probe.reason}`);
        continue;
      }
    }
    try {
      const info = await loadOne(candidate, log);
      const chosen = await withThreads(
        { ...info, description: `auto chose ${candidate}, the fastest backend that loads here: ${info.description}`, skipped: [...skipped] },
        options.threads,
      );
      log.info(`backend: ${chosen.summary ?? chosen.name}`);
      log.debug(`backend: ${chosen.description}`);
      return chosen;
    } catch (error) {
      const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
      skipped.push(`${candidate}: ${reason}`);
      log.warn(`backends: auto could not load ${candidate}: ${reason}`);
    }
  }
  throw new BackendUnavailableError('auto', `No backend could load here: ${skipped.join(' | ')}`);
}

export interface BackendProbe {
  readonly name: BackendName;
  readonly available: boolean;
  /** Why it cannot load here. */
  readonly reason?: string;
}

/**
 * Probe every backend without loading any (`advprop inspect --backends`), in `auto`'s order, and
 * say whether the native kernels would serve wasm and cpu.
 */
export async function probeBackends(): Promise<{ backends: BackendProbe[]; nativeKernels: Awaited<ReturnType<typeof nativeKernelStatus>> }> {
  const out: BackendProbe[] = [];
  for (const name of AUTO_ORDER) {
    const probe = await PROVIDERS[name].probe();
    out.push(probe.available ? { name, available: true } : { name, available: false, reason: probe.reason });
  }
  return { backends: out, nativeKernels: await nativeKernelStatus() };
}
