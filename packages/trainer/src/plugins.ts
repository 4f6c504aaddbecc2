/**
 * Optimizers and schedules as registry plugins (kinds 'optimizer' and 'schedule', added to core's
 * PluginKindMap by declaration merging), so a user can register their own and name it in the config.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { definePlugin, z } from '@advprop/core';
import { Adam, SGD, type TrainOptimizer } from './optimizers.js';
import { constantSchedule, cosineSchedule, stepSchedule, type LearningRateSchedule } from './schedules.js';

/** Creates the optimizer of a run over its trainable variables. */
export interface OptimizerFactory {
  readonly name: string;
  create(params: readonly tf.Variable[]): TrainOptimizer;
}

declare module '@advprop/core' {
  interface PluginKindMap {
    optimizer: OptimizerFactory;
    schedule: LearningRateSchedule;
  }
}

export const sgdOptions = z
  .object({
    momentum: z.number().min(0).max(1).default(0.9),
    nesterov: z.boolean().default(false),
    /** L2 penalty added to the gradient (PyTorch SGD convention). */
    weightDecay: z.number().min(0).default(0),
  })
  .strict();

const adamShape = {
  beta1: z.number().min(0).lt(1).default(0.9),
  beta2: z.number().min(0).lt(1).default(0.999),
  epsilon: z.number().positive().default(1e-8),
};
export const adamOptions = z.object({ ...adamShape, weightDecay: z.number().min(0).default(0) }).strict();
export const adamwOptions = z.object({ ...adamShape, weightDecay: z.number().min(0).default(0.01) }).strict();

export const sgdPlugin = definePlugin({
  kind: 'optimizer',
  name: 'sgd',
  description: 'SGD with momentum, optional Nesterov, L2 weight decay',
  options: sgdOptions,
  create: (_ctx, o) => ({ name: 'sgd', create: (params: readonly tf.Variable[]) => new SGD(params, o) }),
});

export const adamPlugin = definePlugin({
  kind: 'optimizer',
  name: 'adam',
  description: 'Adam; weightDecay is an L2 penalty added to the gradient',
  options: adamOptions,
  create: (_ctx, o) => ({ name: 'adam', create: (params: readonly tf.Variable[]) => new Adam(params, { ...o, decoupled: false }) }),
});

export const adamwPlugin = definePlugin({
  kind: 'optimizer',
  name: 'adamw',
  description: 'Adam with decoupled weight decay (Loshchilov & Hutter)',
  options: adamwOptions,
  create: (_ctx, o) => ({ name: 'adamw', create: (params: readonly tf.Variable[]) => new Adam(params, { ...o, decoupled: true }) }),
});

export const constantOptions = z.object({}).strict();
export const stepOptions = z
  .object({ milestones: z.array(z.number().int().min(1)).default([]), gamma: z.number().positive().default(0.1) })
  .strict();
export const cosineOptions = z.object({ minFactor: z.number().min(0).max(1).default(0) }).strict();

export const constantSchedulePlugin = definePlugin({
  kind: 'schedule',
  name: 'constant',
  options: constantOptions,
  create: () => constantSchedule(),
});
export const stepSchedulePlugin = definePlugin({
  kind: 'schedule',
  name: 'step',
  description: 'multiply the rate by gamma at each milestone epoch',
  options: stepOptions,
  create: (_ctx, o) => stepSchedule(o),
});
export const cosineSchedulePlugin = definePlugin({
  kind: 'schedule',
  name: 'cosine',
  description: 'cosine annealing to minFactor * lr over the run (per step)',
  options: cosineOptions,
  create: (_ctx, o) => cosineSchedule(o),
});

export const optimizers = [sgdPlugin, adamPlugin, adamwPlugin] as const;
export const schedules = [constantSchedulePlugin, stepSchedulePlugin, cosineSchedulePlugin] as const;
