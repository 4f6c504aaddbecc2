/**
 * Checkpoints: every weight of the model (BN running statistics of both BN sets included), the
 * optimizer's slots, the training position, the random state, the callbacks' state and the
 * run-time state of stateful layers (seeded dropout's mask counter).
 *
 * Layout under `<outDir>/checkpoints/`:
 *   latest.json            pointer to the newest complete checkpoint (+ the recent history)
 *   best.json              pointer to the checkpoint with the best monitored metric
 *   <name>/state.json      position, random state, tensor index, sha256 of the binaries
 *   <name>/weights.bin     float32 model weights, in `model.weights` order
 *   <name>/optimizer.bin   float32 optimizer slots
 *
 * Atomicity: a checkpoint is written into `.tmp-<name>` (each file fsynced), the directory is
 * renamed to `<name>`, and only then `latest.json` is replaced atomically (write + fsync + rename).
 * A SIGKILL at any point leaves `latest.json` naming a complete checkpoint; stale `.tmp-*`
 * directories and checkpoints no pointer keeps are pruned after the next successful write.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, isStatefulLayer, type RandomState, type StatefulLayer } from '@advprop/core';
import { writeFileAtomic, readJsonFile, pathExists } from '@advprop/core/node';
import type { CallbackState } from './callbacks.js';
import type { OptimizerState, TrainOptimizer } from './optimizers.js';

export const CHECKPOINT_FORMAT = 'advprop-trainer-checkpoint';
export const CHECKPOINT_VERSION = 1;

export interface TrainPosition {
  /** Epoch (0-based) the next batch belongs to. */
  readonly epoch: number;
  /** Batches of `epoch` already done; equal to stepsPerEpoch when only the epoch's end remains. */
  readonly batchInEpoch: number;
  /** Global optimizer steps done. */
  readonly step: number;
  /** Whether the epoch end (evaluation, epoch-end hooks) of `epoch - 1` is done (always true when batchInEpoch is 0). */
}

export interface CheckpointMeta {
  readonly position: TrainPosition;
  readonly random: RandomState;
  readonly callbacks: Record<string, CallbackState>;
  /** Training-loop counters that must survive a resume (images seen, train seconds, last loss...). */
  readonly counters: Record<string, number>;
  /** Run-time state of the model's stateful layers (core's StatefulLayer), by layer name. */
  readonly layers?: Record<string, Record<string, number>>;
  readonly metrics?: Record<string, number>;
}

interface TensorEntry {
  readonly name: string;
  readonly shape: number[];
  readonly offset: number;
  readonly length: number;
}

interface StateFile extends CheckpointMeta {
  readonly format: string;
  readonly version: number;
  readonly created: string;
  readonly weights: TensorEntry[];
  readonly optimizer: { name: string; iterations: number; slots: (TensorEntry & { param: number; slot: string })[] };
  readonly sha256: Record<string, string>;
}

interface Pointer {
  readonly checkpoint: string;
  readonly position: TrainPosition;
  readonly history?: string[];
  readonly metric?: number | null;
}

export interface LoadedCheckpoint extends CheckpointMeta {
  readonly dir: string;
  readonly name: string;
  readonly weights: { name: string; shape: number[]; values: Float32Array }[];
  readonly optimizer: OptimizerState;
}

export function checkpointsDir(outDir: string): string {
  return path.join(outDir, 'checkpoints');
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

function concat(arrays: readonly Float32Array[]): Float32Array {
  const total = arrays.reduce((n, a) => n + a.length, 0);
  const out = new Float32Array(total);
  let offset = 0;
  for (const a of arrays) {
    out.set(a, offset);
    offset += a.length;
  }
  return out;
}

function bytesOf(a: Float32Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export interface SaveCheckpointOptions extends CheckpointMeta {
  readonly model: LayersModel;
  readonly optimizer: TrainOptimizer;
  readonly best?: boolean;
  readonly bestMetric?: number | null;
  readonly keepLast?: number;
  readonly keepBest?: boolean;
}

/** Write a checkpoint atomically and point latest.json (and best.json when `best`) at it. */
export async function saveCheckpoint(outDir: string, options: SaveCheckpointOptions): Promise<string> {
  const root = checkpointsDir(outDir);
  await fs.mkdir(root, { recursive: true }).catch((error: unknown) => {
    throw new CheckpointError(`cannot create checkpoint directory ${root}: ${(error as Error).message}`, { cause: error });
  });
  const { epoch, batchInEpoch, step } = options.position;
  let name = `ckpt-e${epoch}-b${batchInEpoch}-s${step}`;
  for (let i = 2; await pathExists(path.join(root, name)); i++) name = `ckpt-e${epoch}-b${batchInEpoch}-s${step}-${i}`;
  const tmp = path.join(root, `.tmp-${name}-${process.pid}`);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp);

  // Weights.
  const weightEntries: TensorEntry[] = [];
  const weightArrays: Float32Array[] = [];
  let offset = 0;
  for (const w of options.model.weights) {
    const values = w.read().dataSync() as Float32Array;
    weightEntries.push({ name: w.originalName ?? w.name, shape: [...w.shape] as number[], offset, length: values.length });
    weightArrays.push(values);
    offset += values.length;
  }
  const weightsBin = bytesOf(concat(weightArrays));

  // Optimizer.
  const opt = options.optimizer.getState();
  const slotEntries: StateFile['optimizer']['slots'] = [];
  const slotArrays: Float32Array[] = [];
  offset = 0;
  for (const s of opt.slots) {
    slotEntries.push({ name: `${s.slot}/${s.param}`, param: s.param, slot: s.slot, shape: [...s.shape], offset, length: s.values.length });
    slotArrays.push(s.values);
    offset += s.values.length;
  }
  const optimizerBin = bytesOf(concat(slotArrays));

  const state: StateFile = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    created: new Date().toISOString(),
    position: options.position,
    random: options.random,
    callbacks: options.callbacks,
    counters: options.counters,
    ...(options.layers ? { layers: options.layers } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    weights: weightEntries,
    optimizer: { name: opt.name, iterations: opt.iterations, slots: slotEntries },
    sha256: { 'weights.bin': sha256(weightsBin), 'optimizer.bin': sha256(optimizerBin) },
  };
  await writeFileAtomic(path.join(tmp, 'weights.bin'), weightsBin);
  await writeFileAtomic(path.join(tmp, 'optimizer.bin'), optimizerBin);
  await writeFileAtomic(path.join(tmp, 'state.json'), JSON.stringify(state, null, 1));
  const final = path.join(root, name);
  try {
    await fs.rename(tmp, final);
  } catch (error) {
    throw new CheckpointError(`could not move checkpoint ${tmp} to ${final}: ${(error as Error).message}`, { cause: error });
  }

  const previous = await readPointer(root, 'latest.json').catch(() => null);
  const keepLast = Math.max(1, options.keepLast ?? 1);
  const history = [...(previous?.history ?? []), name].slice(-keepLast);
  await writeFileAtomic(path.join(root, 'latest.json'), JSON.stringify({ checkpoint: name, position: options.position, history } satisfies Pointer, null, 1));
  if (options.best && options.keepBest !== false) {
    await writeFileAtomic(
      path.join(root, 'best.json'),
      JSON.stringify({ checkpoint: name, position: options.position, metric: options.bestMetric ?? null } satisfies Pointer, null, 1),
    );
  }
  await pruneCheckpoints(root, options.keepBest !== false);
  return name;
}

async function readPointer(root: string, file: string): Promise<Pointer | null> {
  const p = path.join(root, file);
  if (!(await pathExists(p))) return null;
  const pointer = await readJsonFile<Pointer>(p, 'checkpoint pointer');
  if (typeof pointer?.checkpoint !== 'string' || pointer.checkpoint.includes('/') || pointer.checkpoint.includes('\\')) {
    throw new CheckpointError(`checkpoint pointer ${p} is corrupt: no valid "checkpoint" entry`);
  }
  return pointer;
}

/** Remove checkpoint directories that neither latest.json's history nor best.json keeps. */
async function pruneCheckpoints(root: string, keepBest: boolean): Promise<void> {
  const latest = await readPointer(root, 'latest.json');
  if (!latest) return;
  const keep = new Set<string>([latest.checkpoint, ...(latest.history ?? [])]);
  if (keepBest) {
    const best = await readPointer(root, 'best.json').catch(() => null);
    if (best) keep.add(best.checkpoint);
  }
  for (const entry of await fs.readdir(root)) {
    if (entry.startsWith('.tmp-') && entry.endsWith(`-${process.pid}`)) continue;
    if ((entry.startsWith('ckpt-') && !keep.has(entry)) || entry.startsWith('.tmp-')) {
      await fs.rm(path.join(root, entry), { recursive: true, force: true });
    }
  }
}

/** Whether `<outDir>/checkpoints/latest.json` exists. */
export async function hasCheckpoint(outDir: string): Promise<boolean> {
  return pathExists(path.join(checkpointsDir(outDir), 'latest.json'));
}

/**
 * Read and verify the checkpoint latest.json (or best.json) points at. Any missing file, size or
 * checksum mismatch throws a CheckpointError naming the file; nothing is modified.
 */
export async function loadCheckpoint(outDir: string, which: 'latest' | 'best' = 'latest'): Promise<LoadedCheckpoint | null> {
  const root = checkpointsDir(outDir);
  const pointer = await readPointer(root, `${which}.json`);
  if (!pointer) return null;
  const dir = path.join(root, pointer.checkpoint);
  const statePath = path.join(dir, 'state.json');
  const state = await readJsonFile<StateFile>(statePath, 'checkpoint state');
  if (state.format !== CHECKPOINT_FORMAT || state.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`${statePath} is not a version ${CHECKPOINT_VERSION} ${CHECKPOINT_FORMAT} file`);
  }
  const readBin = async (file: string, entries: readonly TensorEntry[]): Promise<Float32Array> => {
    const p = path.join(dir, file);
    let buf: Buffer;
    try {
      buf = await fs.readFile(p);
    } catch (error) {
      throw new CheckpointError(`checkpoint file ${p} cannot be read: ${(error as Error).message}`, { cause: error });
    }
    const expectedBytes = entries.reduce((n, e) => n + e.length, 0) * 4;
    if (buf.byteLength !== expectedBytes) {
      throw new CheckpointError(`checkpoint file ${p} is corrupt: ${buf.byteLength} bytes, expected ${expectedBytes}`);
    }
    if (sha256(buf) !== state.sha256?.[file]) throw new CheckpointError(`checkpoint file ${p} is corrupt: sha256 mismatch`);
    const copy = new Uint8Array(buf.byteLength);
    copy.set(buf);
    return new Float32Array(copy.buffer);
  };
  const w = await readBin('weights.bin', state.weights);
  const o = await readBin('optimizer.bin', state.optimizer.slots);
  return {
    dir,
    name: pointer.checkpoint,
    position: state.position,
    random: state.random,
    callbacks: state.callbacks ?? {},
    counters: state.counters ?? {},
    ...(state.layers ? { layers: state.layers } : {}),
    ...(state.metrics ? { metrics: state.metrics } : {}),
    weights: state.weights.map((e) => ({ name: e.name, shape: e.shape, values: w.subarray(e.offset, e.offset + e.length) })),
    optimizer: {
      name: state.optimizer.name,
      iterations: state.optimizer.iterations,
      slots: state.optimizer.slots.map((e) => ({ param: e.param, slot: e.slot, shape: e.shape, values: o.subarray(e.offset, e.offset + e.length) })),
    },
  };
}

/** Every stateful layer of a model (core's StatefulLayer), nested models included, by name. */
function statefulLayers(model: LayersModel): Map<string, StatefulLayer> {
  const found = new Map<string, StatefulLayer>();
  const visit = (layers: readonly unknown[]) => {
    for (const layer of layers) {
      if (isStatefulLayer(layer)) found.set(layer.name, layer);
      const nested = (layer as { layers?: unknown }).layers;
      if (Array.isArray(nested)) visit(nested);
    }
  };
  visit(model.layers);
  return found;
}

/** The run-time state of the model's stateful layers (undefined when it has none). */
export function layerStates(model: LayersModel): Record<string, Record<string, number>> | undefined {
  const layers = statefulLayers(model);
  if (layers.size === 0) return undefined;
  return Object.fromEntries([...layers].map(([name, layer]) => [name, layer.getRuntimeState()]));
}

/** Put checkpointed run-time state back into the model's stateful layers (same architecture). */
export function restoreLayerStates(model: LayersModel, states: Readonly<Record<string, Record<string, number>>> | undefined, source: string): void {
  const layers = statefulLayers(model);
  for (const [name, state] of Object.entries(states ?? {})) {
    const layer = layers.get(name);
    if (!layer) {
      throw new CheckpointError(`checkpoint ${source} holds run-time state for layer "${name}", which the model does not have (stateful layers: ${[...layers.keys()].join(', ') || 'none'})`);
    }
    layer.setRuntimeState(state);
  }
}

/** Copy checkpointed weights into a model (same architecture: count and shapes are checked first). */
export function restoreWeights(model: LayersModel, weights: LoadedCheckpoint['weights'], source: string): void {
  const vars = model.weights;
  if (vars.length !== weights.length) {
    throw new CheckpointError(`checkpoint ${source} holds ${weights.length} weight tensors, the model has ${vars.length}: different architecture?`);
  }
  vars.forEach((v, i) => {
    const saved = weights[i] as LoadedCheckpoint['weights'][number];
    if (!tf.util.arraysEqual(saved.shape, v.shape as number[])) {
      throw new CheckpointError(
        `checkpoint ${source}: weight ${i} (${saved.name}) has shape [${saved.shape.join(', ')}], the model's ${v.name} has [${v.shape.join(', ')}]`,
      );
    }
  });
  vars.forEach((v, i) => {
    const saved = weights[i] as LoadedCheckpoint['weights'][number];
    tf.tidy(() => {
      v.write(tf.tensor(saved.values, saved.shape, 'float32'));
    });
  });
}
