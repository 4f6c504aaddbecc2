/**
 * What train() needs from the platform it runs on: the default registry, the built-in callback
 * plugins and run directories (outDir: checkpoints, resume, saved models, summary.json). Node
 * (node-train.ts) gives all of it; a browser (browser.ts) has no file system, so it trains without
 * run directories. Nothing here imports a Node module, so the training loop bundles for browsers.
 */
import { ConfigError, type AnyPlugin, type Logger, type Registry, type RegistryOptions } from '@advprop/core';
import type { PluginRef, TrainConfig } from './config.js';
import type { RunDirectory, callbackRefs, checkpointWriter, resumeFromCheckpoint, writeRunEnd, writeRunStart } from './run-directory.js';

/** The run-directory operations train() calls; each accepts `run` undefined (no outDir). */
export interface RunDirectorySupport {
  /** Absolute path of `dir`. */
  resolve(dir: string): string;
  /** Where a run directory keeps its checkpoints (for messages). */
  checkpointsPath(outDir: string): string;
  callbackRefs: typeof callbackRefs;
  open: (typeof RunDirectory)['open'];
  resumeFromCheckpoint: typeof resumeFromCheckpoint;
  writeRunStart: typeof writeRunStart;
  checkpointWriter: typeof checkpointWriter;
  writeRunEnd: typeof writeRunEnd;
}

export interface TrainerEnvironment {
  /** The registry train() resolves plugins from when the caller gives none. */
  defaultRegistry(options: RegistryOptions): Registry<AnyPlugin>;
  /** Built-in callback plugins, available to every run. */
  readonly callbackPlugins: readonly AnyPlugin[];
  readonly runDirectory: RunDirectorySupport;
}

/** Training-loop counters that survive a resume (stored in the checkpoint). */
export interface TrainCounters {
  imagesSeen: number;
  trainSeconds: number;
  wallSeconds: number;
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  epochSteps: number;
  lastLoss: number;
}

export const ZERO_COUNTERS: Readonly<TrainCounters> = Object.freeze({
  imagesSeen: 0,
  trainSeconds: 0,
  wallSeconds: 0,
  epochLossSum: 0,
  epochCorrect: 0,
  epochSeen: 0,
  epochSteps: 0,
  lastLoss: Number.NaN,
});

function noFileSystem(field: string): ConfigError {
  return new ConfigError(
    `${field}: run directories need a file system; leave outDir (and resume) out here, or train in Node, where train() writes run directories`,
    [{ path: field, message: 'no file system' }],
  );
}

/** Callbacks that need a terminal or files (the config's default names both). */
const NODE_CALLBACKS = new Set(['progress-bar', 'metrics-logger']);

/**
 * No run directories: a config with outDir is a ConfigError, the run starts at step 0 and saves
 * nothing, and the progress bar and metrics logger (a terminal, files) are left out.
 */
export const withoutRunDirectories: RunDirectorySupport = {
  resolve: () => {
    throw noFileSystem('outDir');
  },
  checkpointsPath: (outDir) => outDir,
  callbackRefs: (config: TrainConfig, _outDir: string | undefined, log: Logger): PluginRef[] =>
    config.callbacks.filter((ref) => {
      const keep = !NODE_CALLBACKS.has(ref.name);
      if (!keep) log.debug(`${ref.name}: needs Node (a terminal or files), left out here`);
      return keep;
    }),
  open: () => Promise.reject(noFileSystem('outDir')),
  resumeFromCheckpoint: async () => ({ position: { epoch: 0, batchInEpoch: 0, step: 0 }, counters: { ...ZERO_COUNTERS } }),
  writeRunStart: async () => {},
  checkpointWriter: () => async () => undefined,
  writeRunEnd: async () => {},
};
