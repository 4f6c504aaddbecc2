import type { RegistryOptions } from '@advprop/core';
import { fileDatasets } from '@advprop/datasets/node';
import { createBaseRegistry } from './base-registry.js';
import { nodeCallbacks } from './node-callbacks.js';

/** A registry holding every attacker, dataset, model, trainer callback, optimizer, schedule and training-mode plugin. */
export function createDefaultRegistry(options: RegistryOptions = {}) {
  return createBaseRegistry(options).use(fileDatasets).use(nodeCallbacks);
}

export type DefaultRegistry = ReturnType<typeof createDefaultRegistry>;
