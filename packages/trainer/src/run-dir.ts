/**
 * Reading a run directory back: the resolved config and the trained model (the final dual model,
 * or the weights of the latest / best checkpoint when the run has no final model yet).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, SeededRandom, type AnyPlugin, type ModelFactory, type Registry } from '@advprop/core';
import { loadModel } from '@advprop/dual-bn/node';
import { loadCheckpoint, restoreWeights } from './checkpoint.js';
import { resolveTrainConfig, type TrainConfig } from './config.js';
import { createDefaultRegistry } from './registry.js';
import { RUN_FILES, type RunInfo } from './run-directory.js';
import type { RunSummary } from './train.js';
import { readJsonFile } from '@advprop/core/node';

export interface LoadRunOptions {
  /** `final` (default): model-dual/ if present, else the latest checkpoint. */
  readonly which?: 'final' | 'latest' | 'best';
  readonly registry?: Registry<AnyPlugin> | Registry<never>;
}

export interface LoadedRun {
  readonly config: TrainConfig;
  readonly model: LayersModel;
  /** Where the model came from: 'model-dual' or the checkpoint directory. */
  readonly source: string;
  readonly summary?: RunSummary;
}

export async function loadRun(outDir: string, options: LoadRunOptions = {}): Promise<LoadedRun> {
  const dir = path.resolve(outDir);
  const config = resolveTrainConfig(await readJsonFile<unknown>(path.join(dir, RUN_FILES.config), 'run config'), `run config ${path.join(dir, RUN_FILES.config)}`);
  let summary: RunSummary | undefined;
  try {
    summary = JSON.parse(await fs.readFile(path.join(dir, RUN_FILES.summary), 'utf8')) as RunSummary;
  } catch {
    summary = undefined;
  }
  const which = options.which ?? 'final';
  const finalDir = path.join(dir, RUN_FILES.dualModel);
  const hasFinal = await fs
    .access(path.join(finalDir, 'model.json'))
    .then(() => true)
    .catch(() => false);
  if (which === 'final' && hasFinal) {
    return { config, model: await loadModel(finalDir), source: finalDir, ...(summary ? { summary } : {}) };
  }
  const ck = await loadCheckpoint(dir, which === 'best' ? 'best' : 'latest');
  if (!ck) throw new CheckpointError(`run directory ${dir} holds neither a final model (${RUN_FILES.dualModel}/) nor a checkpoint`);
  const info = await readJsonFile<RunInfo>(path.join(dir, RUN_FILES.run), 'run info');
  const registry = (options.registry ?? createDefaultRegistry({ seed: config.seed })) as unknown as Registry<AnyPlugin>;
  try {
    const factory: ModelFactory = await registry.resolveDynamic('model', config.model.name, config.model.options ?? {});
    const model = factory.build({ ...info.modelSpec, random: new SeededRandom(config.seed).fork('model') });
    try {
      restoreWeights(model, ck.weights, ck.dir);
    } catch (error) {
      model.dispose();
      throw error;
    }
    return { config, model, source: ck.dir, ...(summary ? { summary } : {}) };
  } finally {
    if (!options.registry) await registry.dispose();
  }
}
