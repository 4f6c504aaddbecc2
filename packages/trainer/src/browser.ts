/**
 * @advprop/trainer in a browser (the "browser" export condition of `@advprop/trainer`): the
 * training loop, evaluation, training modes, optimizers, schedules, losses, presets and the
 * callbacks that need no file system. There are no run directories: `train()` keeps the trained
 * model in memory (TrainResult.model) and a config with outDir is a ConfigError; save a model with
 * tfjs' own handlers (`downloads://`, `indexeddb://`). Node's entry (index.ts) has everything.
 */
import type { AnyPlugin, Registry } from '@advprop/core';
import { createBaseRegistry } from './base-registry.js';
import { coreCallbacks } from './callbacks.js';
import type { TrainConfig } from './config.js';
import { withoutRunDirectories, type TrainerEnvironment } from './environment.js';
import { runTraining, type TrainOptions, type TrainResult } from './train.js';

export const browserEnvironment: TrainerEnvironment = {
  defaultRegistry: (options) => createBaseRegistry(options) as unknown as Registry<AnyPlugin>,
  callbackPlugins: coreCallbacks,
  runDirectory: withoutRunDirectories,
};

/** Train according to `config`, in memory (no outDir). */
export function train(input: TrainConfig | unknown, options: TrainOptions = {}): Promise<TrainResult> {
  return runTraining(browserEnvironment, input, options);
}

export * from './portable.js';
