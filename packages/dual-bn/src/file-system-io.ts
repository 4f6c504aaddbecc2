/**
 * Saving and loading models in the standard tfjs format (`model.json` + binary weight shards) on
 * the Node file system, without tfjs-node. Node-only; import from '@advprop/dual-bn/node'.
 *
 * Writes are atomic per file (temporary name, fsync, rename) and ordered so a failed save leaves
 * the previous model intact: new shards get names no previous save used, model.json is replaced
 * last, and only then are the previous model's shards removed.
 *
 * Integrity: model.json records the sha256 of every shard (`weightsSha256`, a key tfjs loaders
 * ignore); `loadModel` verifies it and names the shard on a mismatch, so a garbled shard of the
 * right size is an error rather than a silently wrong model.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { io, type NamedTensorMap } from '@tensorflow/tfjs-core';
import { loadLayersModel, models, type LayersModel } from '@tensorflow/tfjs-layers';
import { CheckpointError, DataFormatError } from '@advprop/core';
import { ATOMIC_TEMP_FILE, ensureWritableDirectory, writeFileAtomic } from '@advprop/core/node';
// Registers DualBatchNormalization with tfjs serialization before any model is deserialized.
import './dual-batch-norm.js';

export const MODEL_JSON = 'model.json';
/** model.json key holding `{ <shard path>: <sha256 hex> }`. */
export const WEIGHTS_SHA256_KEY = 'weightsSha256';
/** File names saveModel gives weight shards. */
const SHARD_FILE = /^group\d+-shard\d+of\d+(-[0-9a-z]+)?\.bin$/;

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Shard size tfjs itself uses (4 MiB). */
export const SHARD_BYTES = 4 * 1024 * 1024;

const BYTES_PER_ELEMENT: Record<string, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  uint8: 1,
  uint16: 2,
  float16: 2,
  complex64: 8,
};

/** Bytes a weight spec takes in the weight data, or null when it cannot be known (strings). */
function specBytes(spec: io.WeightsManifestEntry): number | null {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES_PER_ELEMENT[dtype];
  return per === undefined ? null : size * per;
}

function toBytes(data: io.WeightData | undefined): Uint8Array {
  if (data === undefined) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const b of buffers) {
    out.set(new Uint8Array(b), offset);
    offset += b.byteLength;
  }
  return out;
}

/** Shard paths listed by a model.json, or [] when there is none (or it is unreadable). */
async function previousShards(modelJsonPath: string): Promise<string[]> {
  try {
    const json = JSON.parse(await fs.readFile(modelJsonPath, 'utf8')) as io.ModelJSON;
    return (json.weightsManifest ?? []).flatMap((group) => group.paths ?? []);
  } catch {
    return [];
  }
}

/** A manifest path as a file inside `dir`; rejects absolute paths and paths leaving `dir`. */
function shardFile(dir: string, shardPath: string, modelJsonPath: string): string {
  const file = path.resolve(dir, shardPath);
  const rel = path.relative(path.resolve(dir), file);
  if (typeof shardPath !== 'string' || shardPath === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new DataFormatError(`weight shard path ${JSON.stringify(shardPath)} points outside the model directory`, {
      file: modelJsonPath,
    });
  }
  return file;
}

async function saveArtifacts(dir: string, artifacts: io.ModelArtifacts): Promise<io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new CheckpointError(`fileSystemIO(${dir}): binary (GraphDef) model topologies are not supported; save a tfjs-layers model`);
  }
  await ensureWritableDirectory(dir);
  const modelJsonPath = path.join(dir, MODEL_JSON);
  const specs = artifacts.weightSpecs ?? [];
  const bytes = toBytes(artifacts.weightData);
  const expected = specs.map(specBytes);
  if (expected.every((n) => n !== null)) {
    const total = (expected as number[]).reduce((a, b) => a + b, 0);
    if (total !== bytes.byteLength) {
      throw new CheckpointError(
        `fileSystemIO(${dir}): the weight specs need ${total} bytes but the weight data has ${bytes.byteLength}; nothing was written`,
      );
    }
  }

  const old = await previousShards(modelJsonPath);
  const token = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
  const count = Math.max(1, Math.ceil(bytes.byteLength / SHARD_BYTES));
  const paths = Array.from({ length: count }, (_, i) => `group1-shard${i + 1}of${count}-${token}.bin`);
  const written: string[] = [];
  const checksums: Record<string, string> = {};
  try {
    for (const [i, name] of paths.entries()) {
      const file = path.join(dir, name);
      const shard = bytes.subarray(i * SHARD_BYTES, Math.min(bytes.byteLength, (i + 1) * SHARD_BYTES));
      checksums[name] = sha256(shard);
      await writeFileAtomic(file, shard);
      written.push(file);
    }
    const modelJson: io.ModelJSON = {
      modelTopology: artifacts.modelTopology ?? {},
      format: artifacts.format ?? 'layers-model',
      generatedBy: artifacts.generatedBy ?? 'TensorFlow.js',
      convertedBy: artifacts.convertedBy ?? null,
      weightsManifest: [{ paths, weights: specs }],
    };
    if (artifacts.trainingConfig != null) modelJson.trainingConfig = artifacts.trainingConfig;
    if (artifacts.signature != null) modelJson.signature = artifacts.signature;
    if (artifacts.userDefinedMetadata != null) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
    if (artifacts.modelInitializer != null) modelJson.modelInitializer = artifacts.modelInitializer;
    if (artifacts.initializerSignature != null) modelJson.initializerSignature = artifacts.initializerSignature;
    (modelJson as io.ModelJSON & Record<string, unknown>)[WEIGHTS_SHA256_KEY] = checksums;
    // model.json last: until this rename succeeds, the previous model.json and its shards are intact.
    await writeFileAtomic(modelJsonPath, JSON.stringify(modelJson));
  } catch (error) {
    await Promise.all(written.map((file) => fs.rm(file, { force: true }).catch(() => {})));
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`could not save the model to ${dir}: ${(error as Error).message}`, { cause: error });
  }
  // The new model is committed; the previous model's shards are garbage now.
  const keep = new Set(paths);
  await Promise.all(
    old
      .filter((p) => !keep.has(p))
      .map(async (p) => {
        try {
          await fs.rm(shardFile(dir, p, modelJsonPath), { force: true });
        } catch {
          /* a stale shard that cannot be removed is harmless */
        }
      }),
  );
  return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
}

function validateModelJson(json: unknown, file: string): asserts json is io.ModelJSON {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new DataFormatError('model.json must hold a JSON object', { file });
  }
  const obj = json as Record<string, unknown>;
  if (obj['modelTopology'] === null || typeof obj['modelTopology'] !== 'object') {
    throw new DataFormatError('model.json has no "modelTopology" object', { file });
  }
  const manifest = obj['weightsManifest'];
  if (manifest === undefined) return;
  if (!Array.isArray(manifest)) throw new DataFormatError('model.json: "weightsManifest" must be an array', { file });
  manifest.forEach((group: unknown, g) => {
    const where = `weightsManifest[${g}]`;
    const grp = group as { paths?: unknown; weights?: unknown } | null;
    if (!grp || !Array.isArray(grp.paths) || !grp.paths.every((p) => typeof p === 'string')) {
      throw new DataFormatError(`model.json: ${where}.paths must be an array of file names`, { file });
    }
    if (!Array.isArray(grp.weights)) throw new DataFormatError(`model.json: ${where}.weights must be an array`, { file });
    grp.weights.forEach((w: unknown, i) => {
      const spec = w as { name?: unknown; shape?: unknown; dtype?: unknown } | null;
      const at = `${where}.weights[${i}]`;
      if (!spec || typeof spec.name !== 'string') throw new DataFormatError(`model.json: ${at}.name must be a string`, { file });
      if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && (d as number) >= 0)) {
        throw new DataFormatError(
          `model.json: weight "${spec.name}" (${at}) has shape ${JSON.stringify(spec.shape)}; expected an array of non-negative integers`,
          { file },
        );
      }
      if (typeof spec.dtype !== 'string') throw new DataFormatError(`model.json: weight "${spec.name}" (${at}) has no dtype`, { file });
    });
  });
}

async function loadArtifacts(dir: string): Promise<io.ModelArtifacts> {
  const modelJsonPath = path.join(dir, MODEL_JSON);
  let text: string;
  try {
    text = await fs.readFile(modelJsonPath, 'utf8');
  } catch (error) {
    throw new CheckpointError(`cannot read ${modelJsonPath}: ${(error as Error).message}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DataFormatError(`model.json is not valid JSON: ${(error as Error).message}`, { file: modelJsonPath });
  }
  validateModelJson(json, modelJsonPath);
  const checksums = (json as unknown as Record<string, unknown>)[WEIGHTS_SHA256_KEY] as Record<string, unknown> | undefined;
  return io.getModelArtifactsForJSON(json, async (manifest) => {
    const specs: io.WeightsManifestEntry[] = [];
    const buffers: Uint8Array[] = [];
    for (const group of manifest) {
      const groupBuffers: Uint8Array[] = [];
      for (const shardPath of group.paths) {
        const file = shardFile(dir, shardPath, modelJsonPath);
        try {
          groupBuffers.push(await fs.readFile(file));
        } catch (error) {
          const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
          throw new CheckpointError(
            `weight shard "${shardPath}" listed in ${modelJsonPath} ${missing ? 'is missing' : 'cannot be read'} (${file}): ${(error as Error).message}`,
            { cause: error },
          );
        }
      }
      const have = groupBuffers.reduce((n, b) => n + b.byteLength, 0);
      const need = group.weights.map(specBytes);
      if (need.every((n) => n !== null)) {
        const total = (need as number[]).reduce((a, b) => a + b, 0);
        if (total !== have) {
          throw new DataFormatError(
            `weight shards ${group.paths.join(', ')} hold ${have} bytes but the weights ${group.weights
              .map((w) => `"${w.name}" [${w.shape}] ${w.dtype}`)
              .join(', ')} need ${total}`,
            { file: modelJsonPath },
          );
        }
      }
      // Sizes first (the more telling message), then the recorded checksums (absent in models saved
      // by other tools, which load as before).
      if (checksums !== undefined) {
        group.paths.forEach((shardPath, i) => {
          const expected = checksums[shardPath];
          const file = shardFile(dir, shardPath, modelJsonPath);
          if (typeof expected !== 'string') throw new CheckpointError(`weight shard ${file} has no sha256 in ${modelJsonPath} ("${WEIGHTS_SHA256_KEY}")`);
          if (sha256(groupBuffers[i] as Uint8Array) !== expected) {
            throw new CheckpointError(`weight shard ${file} is corrupt: its sha256 differs from the one recorded in ${modelJsonPath}`);
          }
        });
      }
      specs.push(...group.weights);
      buffers.push(...groupBuffers);
    }
    const all = toBytes(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
    return [specs, all.buffer as ArrayBuffer];
  });
}

/**
 * A tfjs IO handler (save and load) for a directory on the file system:
 * `model.save(fileSystemIO(dir))`, `tf.loadLayersModel(fileSystemIO(dir))`.
 */
export function fileSystemIO(dir: string): io.IOHandler {
  const resolved = toDirectory(dir);
  return {
    save: (artifacts) => saveArtifacts(resolved, artifacts),
    load: () => loadArtifacts(resolved),
  };
}

/** `file://` URL or path -> directory path. */
function toDirectory(target: string): string {
  return target.startsWith('file://') ? fileURLToPath(target) : target;
}

/**
 * True when tfjs already routes `file://` URLs for this kind of operation (tfjs-node registers
 * such routers when it is imported). Then `saveModel` / `loadModel` hand `file://` URLs to it.
 */
export function hasNativeFileRouter(kind: 'save' | 'load'): boolean {
  const probe = 'file:///advprop-probe';
  try {
    return (kind === 'save' ? io.getSaveHandlers(probe) : io.getLoadHandlers(probe)).length > 0;
  } catch {
    return false;
  }
}

/**
 * Save a tfjs-layers model (dual-BN or not) to a directory, or to a `file://` URL. A `file://`
 * URL goes to tfjs-node's own handler when tfjs-node is imported, else to `fileSystemIO`.
 * `config.includeOptimizer` also saves the training config and optimizer state, as tfjs does.
 */
export async function saveModel(model: LayersModel, target: string, config?: io.SaveConfig): Promise<io.SaveResult> {
  if (target.startsWith('file://') && hasNativeFileRouter('save')) return model.save(target, config);
  return model.save(fileSystemIO(target), config);
}

/**
 * Load a model saved by `saveModel` (or any tfjs-layers model in the standard format). Checks every
 * weight in model.json against the model topology first, so a wrong shape or a missing or extra
 * weight is reported by name, with the file.
 */
export async function loadModel(target: string): Promise<LayersModel> {
  if (target.startsWith('file://') && hasNativeFileRouter('load')) return loadLayersModel(target);
  const dir = toDirectory(target);
  const modelJsonPath = path.join(dir, MODEL_JSON);
  const artifacts = await loadArtifacts(dir);
  let model: LayersModel;
  try {
    model = await models.modelFromJSON({ modelTopology: artifacts.modelTopology as never });
  } catch (error) {
    throw new DataFormatError(`model.json: cannot build the model topology: ${(error as Error).message}`, {
      file: modelJsonPath,
    });
  }
  let decoded: NamedTensorMap | undefined;
  try {
    const specs = artifacts.weightSpecs ?? [];
    // Optimizer state (saved with includeOptimizer) is not part of the model's weights.
    const modelSpecs = specs.filter((s) => s.group !== 'optimizer');
    const optimizerSpecs = specs.filter((s) => s.group === 'optimizer');
    const expected = new Map(model.weights.map((w) => [w.originalName, w.shape]));
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const spec of modelSpecs) {
      seen.add(spec.name);
      const shape = expected.get(spec.name);
      if (shape === undefined) problems.push(`weight "${spec.name}" is not a weight of the model`);
      else if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i])) {
        problems.push(`weight "${spec.name}" has shape [${spec.shape}] in model.json but the layer expects [${shape}]`);
      }
    }
    for (const name of expected.keys()) if (!seen.has(name)) problems.push(`weight "${name}" has no value in model.json`);
    if (problems.length > 0) throw new DataFormatError(problems.join('; '), { file: modelJsonPath });
    const all = io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
    decoded = all;
    model.loadWeights(Object.fromEntries(modelSpecs.map((s) => [s.name, all[s.name]!])), true);
    if (artifacts.trainingConfig != null) {
      model.loadTrainingConfig(artifacts.trainingConfig as never);
      if (optimizerSpecs.length > 0) {
        await model.optimizer.setWeights(optimizerSpecs.map((s) => ({ name: s.name, tensor: all[s.name]! })));
      }
    }
    return model;
  } catch (error) {
    model.dispose();
    throw error;
  } finally {
    if (decoded) for (const t of Object.values(decoded)) t.dispose();
  }
}

/**
 * Remove what an interrupted `saveModel` into `dir` can leave behind: writeFileAtomic's temporary
 * files and weight shards that the current model.json does not list (all shards when there is no
 * model.json). Only those two kinds of names are touched. Resolves to the removed paths.
 */
export async function removeModelLeftovers(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch {
    return [];
  }
  const modelJsonPath = path.join(dir, MODEL_JSON);
  const hasModelJson = entries.includes(MODEL_JSON);
  const listed = new Set(hasModelJson ? await previousShards(modelJsonPath) : []);
  if (hasModelJson && listed.size === 0) {
    // An unreadable model.json: which shards it needs is unknown, so keep them all.
    try {
      JSON.parse(await fs.readFile(modelJsonPath, 'utf8'));
    } catch {
      return [];
    }
  }
  const removed: string[] = [];
  for (const entry of entries) {
    if (ATOMIC_TEMP_FILE.test(entry) || (SHARD_FILE.test(entry) && !listed.has(entry))) {
      const file = path.join(dir, entry);
      await fs.rm(file, { force: true });
      removed.push(file);
    }
  }
  return removed;
}
