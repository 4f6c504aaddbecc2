import { createRegistry, type RegistryOptions } from '@advprop/core';
import { attacks } from '@advprop/attacks';
import { datasets } from '@advprop/datasets';
import { models } from '@advprop/models';
import { callbacks } from './callbacks.js';
import { optimizers, schedules } from './plugins.js';

/** A registry holding every attacker, dataset, model, trainer callback, optimizer and schedule plugin. */
export function createDefaultRegistry(options: RegistryOptions = {}) {
  return createRegistry(options).use(attacks).use(datasets).use(models).use(callbacks).use(optimizers).use(schedules);
}

export type DefaultRegistry = ReturnType<typeof createDefaultRegistry>;
