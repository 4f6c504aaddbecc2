/**
 * train() in Node: run directories on the file system (outDir: checkpoints, exact resume, saved
 * models, summary.json), every dataset plugin and the progress-bar and metrics-logger callbacks.
 */
import * as path from 'node:path';
import type { AnyPlugin, Registry } from '@advprop/core';
import type { TrainConfig } from './config.js';
import type { TrainerEnvironment } from './environment.js';
import { callbacks } from './node-callbacks.js';
import { createDefaultRegistry } from './registry.js';
import { RUN_FILES, RunDirectory, callbackRefs, checkpointWriter, resumeFromCheckpoint, writeRunEnd, writeRunStart } from './run-directory.js';
import { runTraining, type TrainOptions, type TrainResult } from './train.js';

export const nodeEnvironment: TrainerEnvironment = {
  defaultRegistry: (options) => createDefaultRegistry(options) as unknown as Registry<AnyPlugin>,
  callbackPlugins: callbacks,
  runDirectory: {
    resolve: (dir) => path.resolve(dir),
    checkpointsPath: (outDir) => path.join(outDir, RUN_FILES.checkpoints),
    callbackRefs,
    open: (options) => RunDirectory.open(options),
    resumeFromCheckpoint,
    writeRunStart,
    checkpointWriter,
    writeRunEnd,
  },
};

/** Train according to `config`; see the package README for the run directory and resume semantics. */
export function train(input: TrainConfig | unknown, options: TrainOptions = {}): Promise<TrainResult> {
  return runTraining(nodeEnvironment, input, options);
}
