import { createRegistry, type RegistryOptions } from '@advprop/core';
import { attacks } from '@advprop/attacks';
import { datasets } from '@advprop/datasets';
import { models } from '@advprop/models';
import { coreCallbacks } from './callbacks.js';
import { trainingModes, tradesKl } from './modes/index.js';
import { optimizers, schedules } from './plugins.js';

/**
 * A registry of every plugin that needs no file system: attackers, the in-memory datasets
 * (mnist-package, memory), models, the checkpoint and early-stopping callbacks, optimizers,
 * schedules and training modes. createDefaultRegistry (Node) adds the file datasets and the
 * progress-bar and metrics-logger callbacks.
 */
export function createBaseRegistry(options: RegistryOptions = {}) {
  return createRegistry(options).use(attacks).use(datasets).use(models).use(coreCallbacks).use(optimizers).use(schedules).use(trainingModes).use(tradesKl);
}
