/** Pieces shared by the commands: plugin checks, backend selection, loading a model to evaluate. */
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, ConfigError, PluginNotFoundError, type BackendInfo, type Registry } from '@advprop/core';
import { AUTO_ORDER, useBackend, type BackendChoice } from '@advprop/backends';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { loadRun, resolveTrainConfig, type PluginRef, type TrainConfig } from '@advprop/trainer';
import type { CliIo, Verbosity } from './io.js';

/**
 * Every plugin a config names exists and its options are valid, before anything is loaded or
 * written: PluginNotFoundError lists the names available.
 */
export function checkPlugins(
  registry: Registry,
  config: Pick<TrainConfig, 'dataset' | 'model' | 'attacker' | 'evaluation'> &
    Partial<Pick<TrainConfig, 'mode' | 'modeOptions'>> & { optimizer?: { name: string }; schedule?: { name: string } },
): void {
  checkDataset(registry, config.dataset);
  registry.validateOptions('model', config.model.name, config.model.options ?? {});
  if (config.mode !== undefined) registry.validateOptions('training-mode', config.mode, config.modeOptions ?? {});
  if (config.attacker) registry.validateOptions('attacker', config.attacker.name, config.attacker.options ?? {});
  config.evaluation.attacks.forEach((a: PluginRef) => registry.validateOptions('attacker', a.name, a.options ?? {}));
  // Optimizers and schedules are plugins too (their options are checked by the trainer's config).
  for (const kind of ['optimizer', 'schedule'] as const) {
    const name = config[kind]?.name;
    if (name !== undefined && registry.names(kind).length > 0) registry.get(kind, name);
  }
}

/** A backend name is `auto` or a known backend; checked before anything is written. */
export function checkBackendName(name: string | undefined): void {
  if (name === undefined || name === 'auto' || (AUTO_ORDER as readonly string[]).includes(name)) return;
  throw new PluginNotFoundError('backend', name, ['auto', ...AUTO_ORDER]);
}

/** Validate a dataset ref; a data directory given to a dataset that takes none says which ones do. */
export function checkDataset(registry: Registry, ref: PluginRef): void {
  try {
    registry.validateOptions('dataset', ref.name, ref.options ?? {});
  } catch (error) {
    const options = ref.options ?? {};
    const plugin = registry.get('dataset', ref.name);
    const shape = (plugin.options as { shape?: Record<string, unknown> } | undefined)?.shape;
    if (error instanceof ConfigError && 'dir' in options && !(shape && 'dir' in shape)) {
      const withDir = registry
        .list('dataset')
        .filter((p) => {
          const s = (p.options as { shape?: Record<string, unknown> } | undefined)?.shape;
          return s !== undefined && 'dir' in s;
        })
        .map((p) => p.name)
        .sort();
      throw new ConfigError(
        `dataset "${ref.name}" takes no data directory (--data-dir / dataset.options.dir); datasets read from a directory: ${withDir.join(', ')}`,
        [{ path: 'dataset.options.dir', message: 'not an option of this dataset' }],
      );
    }
    throw error;
  }
}

/**
 * Select the tfjs backend (`auto` by default) and say which in one short line on stderr
 * (`backend: wasm + native kernels (2 threads)`); --verbose adds the full description and why
 * `auto` skipped the faster ones, --quiet says nothing. TF.js's own console messages (the
 * "looks like you are running TensorFlow.js in Node.js" banner, flag warnings) are switched off
 * unless --verbose: they are advice for library users, not for someone running a command.
 */
export async function selectBackend(name: string | undefined, io: CliIo, threads?: number, verbosity: Verbosity = 'normal'): Promise<BackendInfo> {
  tf.env().set('PROD', verbosity !== 'verbose');
  const info = await useBackend((name ?? 'auto') as BackendChoice, threads !== undefined ? { threads } : {});
  if (verbosity === 'quiet') return info;
  io.stderr.write(`backend: ${info.summary ?? info.name}\n`);
  if (verbosity === 'verbose') {
    io.stderr.write(`  ${info.description}\n`);
    for (const s of info.skipped ?? []) io.stderr.write(`  skipped ${s}\n`);
  }
  return info;
}

export interface LoadedModel {
  readonly model: LayersModel;
  /** The run's config when loaded from a run directory. */
  readonly config?: TrainConfig;
  readonly source: string;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Load the model to evaluate or attack: from `--run DIR` (final model, else last checkpoint) or `--model DIR`. */
export async function loadModelFrom(run: string | undefined, modelDir: string | undefined): Promise<LoadedModel> {
  if (run !== undefined && modelDir !== undefined) {
    throw new ConfigError('give either --run DIR or --model DIR, not both', [{ path: 'run', message: 'conflicts with --model' }]);
  }
  if (run !== undefined) {
    const dir = path.resolve(run);
    if (!(await isDirectory(dir))) throw new CheckpointError(`--run ${run}: no such run directory`);
    const { config, model, source } = await loadRun(dir);
    return { model, config, source };
  }
  if (modelDir !== undefined) {
    const dir = path.resolve(modelDir);
    if (!(await isDirectory(dir))) throw new CheckpointError(`--model ${modelDir}: no such model directory`);
    const { loadModel } = await import('@advprop/dual-bn/node');
    const model = (await loadModel(dir)) as LayersModel;
    return { model, source: dir };
  }
  throw new ConfigError('which model? give --run DIR (a run directory from `advprop train`) or --model DIR (a saved model)', [
    { path: 'run', message: 'required' },
  ]);
}

/**
 * Keys of robust_accuracy, as the trainer labels its final evaluation: an attack's label, else its
 * name; a name used twice gets its options appended. Two equal labels are a ConfigError.
 */
export function attackLabels(suite: readonly (PluginRef & { label?: string })[]): string[] {
  const counts = new Map<string, number>();
  for (const a of suite) counts.set(a.name, (counts.get(a.name) ?? 0) + 1);
  const labels = suite.map((a) => a.label ?? ((counts.get(a.name) ?? 0) > 1 ? `${a.name} ${JSON.stringify(a.options ?? {})}` : a.name));
  const seen = new Set<string>();
  for (const l of labels) {
    if (seen.has(l)) {
      throw new ConfigError(`attacks: two attacks share the label "${l}"; give them different options or labels`, [
        { path: 'evaluation.attacks', message: 'duplicate label' },
      ]);
    }
    seen.add(l);
  }
  return labels;
}

/**
 * Where `--out DIR` would be written is usable, checked without creating anything: DIR is a
 * directory, or its nearest existing parent is a writable directory. Commands call this before
 * loading a backend and create DIR only once the work starts.
 */
export async function checkWritableLocation(dir: string, flag = '--out'): Promise<void> {
  let current = path.resolve(dir);
  for (;;) {
    let stat: import('node:fs').Stats | undefined;
    try {
      stat = await fs.stat(current);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CheckpointError(`${flag} ${dir} is not writable: ${current} cannot be read (${(error as Error).message})`);
      }
    }
    if (stat) {
      if (!stat.isDirectory()) throw new CheckpointError(`${flag} ${dir} is not writable: ${current} exists and is not a directory`);
      try {
        await fs.access(current, fsConstants.W_OK);
      } catch {
        throw new CheckpointError(`${flag} ${dir} is not writable: no write permission on ${current}`);
      }
      return;
    }
    const parent = path.dirname(current);
    if (parent === current) return;
    current = parent;
  }
}

/** A dataset's data directory (--data-dir / dataset.options.dir) exists, checked before any loading. */
export async function checkDataDirectory(ref: PluginRef): Promise<void> {
  const dir = (ref.options as Record<string, unknown> | undefined)?.dir;
  if (typeof dir !== 'string') return;
  if (!(await isDirectory(dir))) {
    throw new ConfigError(`dataset "${ref.name}": data directory ${dir} does not exist or is not a directory (--data-dir / dataset.options.dir)`, [
      { path: 'dataset.options.dir', message: 'no such directory' },
    ]);
  }
}

/**
 * `--run DIR` or `--model DIR`, checked before a backend loads: exactly one is given, it is a
 * directory, and a run's config.json is read (without loading the model) so the dataset and the
 * attack suite can be validated first.
 */
export async function checkModelSource(run: string | undefined, modelDir: string | undefined): Promise<{ config?: TrainConfig }> {
  if (run !== undefined && modelDir !== undefined) {
    throw new ConfigError('give either --run DIR or --model DIR, not both', [{ path: 'run', message: 'conflicts with --model' }]);
  }
  if (run === undefined && modelDir === undefined) {
    throw new ConfigError('which model? give --run DIR (a run directory from `advprop train`) or --model DIR (a saved model)', [
      { path: 'run', message: 'required' },
    ]);
  }
  const dir = path.resolve((run ?? modelDir) as string);
  if (!(await isDirectory(dir))) {
    throw new CheckpointError(run !== undefined ? `--run ${run}: no such run directory` : `--model ${modelDir}: no such model directory`);
  }
  if (run === undefined) return {};
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    throw new CheckpointError(`--run ${run}: not a run directory (no config.json)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  return { config: resolveTrainConfig(raw, `run config ${file}`) };
}
