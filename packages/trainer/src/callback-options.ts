/**
 * Options of the checkpoint policy and early stopping, with their defaults: one schema each, used
 * by the callback plugins, by the factories (`checkpointPolicy({...})`) and by the training
 * config's `checkpoint` and `earlyStopping` fields.
 */
import { z } from '@advprop/core';

export const checkpointPolicyOptions = z
  .object({
    /** Checkpoint every N epochs (0: off). */
    everyEpochs: z.number().int().min(0).default(1),
    /** Also checkpoint every N optimizer steps (0: off). */
    everySteps: z.number().int().min(0).default(0),
    /** Metric whose improvement marks a checkpoint as the best. */
    monitor: z.string().default('val_accuracy'),
    mode: z.enum(['max', 'min']).default('max'),
    keepBest: z.boolean().default(true),
  })
  .strict();

export const earlyStoppingOptions = z
  .object({
    monitor: z.string().default('val_accuracy'),
    mode: z.enum(['max', 'min']).default('max'),
    /** Epochs without improvement before the run ends. */
    patience: z.number().int().min(0).default(3),
    minDelta: z.number().min(0).default(0),
  })
  .strict();
