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
 * Atomicity: a checkpoint is written into `.tmp-<name>-<pid>` (each file fsynced), the directory
 * is renamed to `<name>`, and only then `latest.json` is replaced atomically (write + fsync +
 * rename). A SIGKILL at any point leaves `latest.json` naming a complete checkpoint.
 *
 * Integrity: state.json carries the sha256 of the binaries and of itself (`stateSha256`, over the
 * file's JSON without that field), so an edited or garbled file is refused by name.
 *
 * Deletion: after a write, only checkpoints written by the same caller (`written`) that neither
 * latest.json's history nor best.json keeps are removed; a checkpoint from an earlier process, and
 * anything while best.json is unreadable, is never deleted here.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, isStatefulLayer, type RandomState, type StatefulLayer } from '@advprop/core';
import { writeFileAtomic, readJsonFile, pathExists } from '@advprop/core/node';
import type { CallbackState } from './callbacks.js';
import type { IncrementalState } from './incremental.js';
import type { OptimizerState, TrainOptimizer } from './optimizers.js';

export const CHECKPOINT_FORMAT = 'advprop-trainer-checkpoint';
export const CHECKPOINT_VERSION = 2;
/** Versions loadCheckpoint reads (version 1 state.json files carry no checksum of their own). */
const READABLE_VERSIONS = [1, 2];

export interface TrainPosition {
  /** Epoch (0-based) the next batch belongs to. */
  readonly epoch: number;
  /** Batches of `epoch` already done; equal to stepsPerEpoch when only the epoch's end remains. */
  readonly batchInEpoch: number;
  /** Global optimizer steps done. */
  readonly step: number;
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
  /** Class-incremental runs: the accuracy matrix so far (incremental.ts). */
  readonly incremental?: IncrementalState;
  /** Set when the run ended for good at this position (early stopping): a resume trains no further. */
  readonly finished?: string;
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
  readonly stateSha256?: string;
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
  /**
   * Names of the checkpoints this caller wrote (the new one is added). Pruning removes only these,
   * so a checkpoint written by an earlier process is never deleted. Without it nothing is pruned.
   */
  readonly written?: Set<string>;
}

/** The text of a state.json: the state and the sha256 of its own JSON without that field. */
function stateFileText(state: Omit<StateFile, 'stateSha256'>): string {
  const body = JSON.stringify(state, null, 1);
  return JSON.stringify({ ...state, stateSha256: sha256(Buffer.from(body)) }, null, 1);
}

/** Whether a checkpoint directory name is one this module writes (never a path). */
export function isCheckpointName(name: string): boolean {
  return /^ckpt-e\d+-b\d+-s\d+(-\d+)?$/.test(name);
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

  const state: Omit<StateFile, 'stateSha256'> = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    created: new Date().toISOString(),
    position: options.position,
    random: options.random,
    callbacks: options.callbacks,
    counters: options.counters,
    ...(options.layers ? { layers: options.layers } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.incremental ? { incremental: options.incremental } : {}),
    ...(options.finished !== undefined ? { finished: options.finished } : {}),
    weights: weightEntries,
    optimizer: { name: opt.name, iterations: opt.iterations, slots: slotEntries },
    sha256: { 'weights.bin': sha256(weightsBin), 'optimizer.bin': sha256(optimizerBin) },
  };
  await writeFileAtomic(path.join(tmp, 'weights.bin'), weightsBin);
  await writeFileAtomic(path.join(tmp, 'optimizer.bin'), optimizerBin);
  await writeFileAtomic(path.join(tmp, 'state.json'), stateFileText(state));
  const final = path.join(root, name);
  try {
    await fs.rename(tmp, final);
  } catch (error) {
    throw new CheckpointError(`could not move checkpoint ${tmp} to ${final}: ${(error as Error).message}`, { cause: error });
  }
  options.written?.add(name);

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
  if (options.written) await pruneCheckpoints(root, options.keepBest !== false, options.written);
  return name;
}

async function readPointer(root: string, file: string): Promise<Pointer | null> {
  const p = path.join(root, file);
  if (!(await pathExists(p))) return null;
  const pointer = await readJsonFile<Pointer>(p, 'checkpoint pointer');
  if (typeof pointer?.checkpoint !== 'string' || !isCheckpointName(pointer.checkpoint)) {
    throw new CheckpointError(`checkpoint pointer ${p} is corrupt: no valid "checkpoint" entry`);
  }
  return pointer;
}

/** Remove checkpoints of `written` that neither latest.json's history nor best.json keeps. */
async function pruneCheckpoints(root: string, keepBest: boolean, written: Set<string>): Promise<void> {
  const latest = await readPointer(root, 'latest.json');
  if (!latest) return;
  const keep = new Set<string>([latest.checkpoint, ...(latest.history ?? [])]);
  // An unreadable best.json keeps everything: which checkpoint it meant is unknown.
  const best = await readPointer(root, 'best.json').catch(() => undefined);
  if (best === undefined) return;
  if (best && keepBest) keep.add(best.checkpoint);
  for (const name of [...written]) {
    if (keep.has(name)) continue;
    await fs.rm(path.join(root, name), { recursive: true, force: true });
    written.delete(name);
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
  return loadCheckpointDirectory(root, pointer.checkpoint);
}

/** Names of the complete checkpoint directories under `<outDir>/checkpoints/` (unverified). */
export async function listCheckpoints(outDir: string): Promise<string[]> {
  const entries = await fs.readdir(checkpointsDir(outDir)).catch(() => [] as string[]);
  return entries.filter(isCheckpointName).sort();
}

/**
 * The checkpoint with the most steps among those that verify completely (state.json, sizes,
 * checksums), ignoring latest.json; null when none does. `skipped` lists the others with why.
 */
export async function newestValidCheckpoint(outDir: string): Promise<{ checkpoint: LoadedCheckpoint | null; skipped: string[] }> {
  const root = checkpointsDir(outDir);
  const loaded: LoadedCheckpoint[] = [];
  const skipped: string[] = [];
  for (const name of await listCheckpoints(outDir)) {
    try {
      loaded.push(await loadCheckpointDirectory(root, name));
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  loaded.sort((a, b) => b.position.step - a.position.step || (a.name < b.name ? 1 : -1));
  return { checkpoint: loaded[0] ?? null, skipped };
}

async function loadCheckpointDirectory(root: string, name: string): Promise<LoadedCheckpoint> {
  const dir = path.join(root, name);
  const statePath = path.join(dir, 'state.json');
  const state = await readJsonFile<StateFile>(statePath, 'checkpoint state');
  if (state === null || typeof state !== 'object' || state.format !== CHECKPOINT_FORMAT || !READABLE_VERSIONS.includes(state.version)) {
    throw new CheckpointError(`${statePath} is not a version ${READABLE_VERSIONS.join(' or ')} ${CHECKPOINT_FORMAT} file`);
  }
  if (state.version >= 2) {
    const { stateSha256, ...rest } = state;
    if (typeof stateSha256 !== 'string' || sha256(Buffer.from(JSON.stringify(rest, null, 1))) !== stateSha256) {
      throw new CheckpointError(`checkpoint file ${statePath} is corrupt or was edited: its stateSha256 does not match its content`);
    }
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
    name,
    position: state.position,
    random: state.random,
    callbacks: state.callbacks ?? {},
    counters: state.counters ?? {},
    ...(state.layers ? { layers: state.layers } : {}),
    ...(state.metrics ? { metrics: state.metrics } : {}),
    ...(state.incremental ? { incremental: state.incremental } : {}),
    ...(typeof state.finished === 'string' ? { finished: state.finished } : {}),
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
