import { execFile } from 'node:child_process';
import { promises as fs, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initializers, layers, loadLayersModel, sequential, type LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CheckpointError, DataFormatError, SeededRandom, expectNoTensorLeak } from '@advprop/core';
import { dualBnLayers, toDualBN, toInferenceModel, withRoute } from './index.js';
import { MODEL_JSON, SHARD_BYTES, WEIGHTS_SHA256_KEY, fileSystemIO, hasNativeFileRouter, loadModel, removeModelLeftovers, saveModel } from './node.js';
import { maxAbsDiff, seeded, useCpu } from './__fixtures__/test-utils.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const packageRoot = path.resolve(here, '..');
const root = mkdtempSync(path.join(tmpdir(), 'advprop-dual-bn-io-'));
let dirCount = 0;
const freshDir = () => path.join(root, `m${dirCount++}`);

beforeAll(useCpu);
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** A dual model whose main and aux sets were trained apart. */
function trainedDual(seed: number): LayersModel {
  const source = sequential({
    layers: [
      layers.dense({ units: 4, inputShape: [3], kernelInitializer: initializers.glorotUniform({ seed }) }),
      layers.batchNormalization({ momentum: 0.5 }),
      layers.dense({ units: 2, kernelInitializer: initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
  const dual = toDualBN(source);
  source.dispose();
  const random = new SeededRandom(seed);
  tf.tidy(() => {
    for (const route of ['main', 'aux'] as const) {
      const x = seeded(random, [8, 3], route === 'main' ? -1 : 0, route === 'main' ? 1 : 4);
      for (let i = 0; i < 3; i++) withRoute(dual, route, () => dual.apply(x, { training: true }));
    }
  });
  return dual;
}

function predictions(model: LayersModel, x: tf.Tensor): { main: number[]; aux: number[] } {
  return tf.tidy(() => ({
    main: Array.from((model.predict(x) as tf.Tensor).dataSync()),
    aux: Array.from(withRoute(model, 'aux', () => model.predict(x) as tf.Tensor).dataSync()),
  }));
}

async function child(mode: 'dual' | 'plain', dir: string, x: tf.Tensor): Promise<Record<string, unknown>> {
  const inputFile = path.join(root, `input-${dirCount++}.json`);
  await fs.writeFile(inputFile, JSON.stringify({ shape: x.shape, values: Array.from(x.dataSync()) }));
  const { stdout } = await run(
    process.execPath,
    ['--conditions=@advprop/source', '--import', 'tsx', path.join(here, '__fixtures__', 'child-predict.ts'), mode, dir, inputFile],
    { cwd: packageRoot, timeout: 60_000 },
  );
  return JSON.parse(stdout) as Record<string, unknown>;
}

function expectClose(a: unknown, b: number[], tol: number): void {
  expect(Array.isArray(a)).toBe(true);
  const arr = a as number[];
  expect(arr).toHaveLength(b.length);
  expect(Math.max(...arr.map((v, i) => Math.abs(v - (b[i] as number))))).toBeLessThan(tol);
}

async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir)).sort();
}

describe('saveModel / loadModel', () => {
  it('round-trips a dual model: same process and a fresh process give the same main and aux predictions', async () => {
    const dir = freshDir();
    const model = trainedDual(41);
    const x = seeded(new SeededRandom(1), [5, 3], -1, 3);
    const want = predictions(model, x);
    expect(maxAbsDiff(tf.tensor(want.main), tf.tensor(want.aux))).toBeGreaterThan(1e-4);

    await expectNoTensorLeak(() => saveModel(model, dir), { label: 'saveModel' });
    const files = await listDir(dir);
    expect(files[files.length - 1]).toBe(MODEL_JSON);
    expect(files).toHaveLength(2); // model.json + one shard, no temp files
    const json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
    expect(JSON.stringify(json.modelTopology)).toMatch(/"class_name":"DualBatchNormalization"/);
    const names = json.weightsManifest[0]!.weights.map((w) => w.name.split('/').pop());
    expect(names).toEqual(expect.arrayContaining(['gamma', 'beta', 'moving_mean', 'moving_variance', 'aux_gamma', 'aux_beta', 'aux_moving_mean', 'aux_moving_variance']));

    await expectNoTensorLeak(async () => {
      const loaded = await loadModel(dir);
      expect(dualBnLayers(loaded)).toHaveLength(1);
      const got = predictions(loaded, x);
      expectClose(got.main, want.main, 1e-6);
      expectClose(got.aux, want.aux, 1e-6);
      loaded.dispose();
    }, { label: 'loadModel + dispose' });

    const fresh = await child('dual', dir, x);
    expect(fresh['error']).toBeUndefined();
    expect(fresh['dualLayers']).toBe(1);
    expectClose(fresh['main'], want.main, 1e-6);
    expectClose(fresh['aux'], want.aux, 1e-6);
    x.dispose();
    model.dispose();
  });

  it('toInferenceModel output loads in a process without @advprop packages and equals the main route', async () => {
    const dualDir = freshDir();
    const plainDir = freshDir();
    const model = trainedDual(42);
    const plain = toInferenceModel(model);
    const x = seeded(new SeededRandom(2), [4, 3], -1, 3);
    const want = predictions(model, x);
    await saveModel(model, dualDir);
    await saveModel(plain, plainDir);
    const [plainResult, dualInPlain] = await Promise.all([child('plain', plainDir, x), child('plain', dualDir, x)]);
    expect(plainResult['error']).toBeUndefined();
    expectClose(plainResult['main'], want.main, 1e-6);
    // The fresh registry does not know the dual layer: the dual model needs this package.
    expect(String(dualInPlain['error'])).toMatch(/DualBatchNormalization/);
    x.dispose();
    model.dispose();
    plain.dispose();
  });

  it('fileSystemIO is a standard tfjs IO handler; file:// URLs work without tfjs-node', async () => {
    expect(hasNativeFileRouter('save')).toBe(false);
    expect(hasNativeFileRouter('load')).toBe(false);
    const dir = freshDir();
    const model = trainedDual(43);
    const x = seeded(new SeededRandom(3), [3, 3]);
    const want = predictions(model, x);
    const result = await model.save(fileSystemIO(dir));
    expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
    expect(result.modelArtifactsInfo.weightDataBytes).toBe(model.countParams() * 4);
    const viaTf = await loadLayersModel(fileSystemIO(dir));
    expectClose(predictions(viaTf, x).aux, want.aux, 1e-6);
    const url = pathToFileURL(freshDir()).href;
    viaTf.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' });
    const target = tf.zeros([3, 2]);
    await viaTf.trainOnBatch(x, target);
    const optimizerState = viaTf.optimizer.getWeights();
    await saveModel(viaTf, url, { includeOptimizer: true });
    const viaUrl = await loadModel(url);
    expect(viaUrl.loss).toBe('meanSquaredError'); // trainingConfig restored
    const restoredState = await viaUrl.optimizer.getWeights();
    expect(restoredState.map((w) => w.name)).toEqual((await optimizerState).map((w) => w.name));
    expect(restoredState.length).toBeGreaterThan(1);
    tf.dispose([target, ...(await optimizerState).map((w) => w.tensor), ...restoredState.map((w) => w.tensor)]);
    expectClose(predictions(viaUrl, x).aux, predictions(viaTf, x).aux, 1e-6);
    x.dispose();
    for (const m of [model, viaTf, viaUrl]) m.dispose();
  });

  it('splits weights over 4 MiB shards and reads them back; a re-save replaces the old shards', async () => {
    const dir = freshDir();
    const source = sequential({
      layers: [
        layers.dense({ units: 1100, inputShape: [1000], kernelInitializer: initializers.randomUniform({ seed: 1 }) }),
        layers.batchNormalization(),
      ],
    });
    const model = toDualBN(source);
    source.dispose();
    await saveModel(model, dir);
    const shards = (await listDir(dir)).filter((f) => f.endsWith('.bin'));
    const bytes = model.countParams() * 4;
    expect(shards).toHaveLength(Math.ceil(bytes / SHARD_BYTES));
    expect(shards.length).toBeGreaterThan(1);
    const loaded = await loadModel(dir);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(loaded.layers[0]!.getWeights()[0]!, model.layers[0]!.getWeights()[0]!))).dataSync()[0]);
    expect(diff).toBe(0);
    await saveModel(loaded, dir);
    const after = (await listDir(dir)).filter((f) => f.endsWith('.bin'));
    expect(after).toHaveLength(shards.length);
    expect(after.some((f) => shards.includes(f))).toBe(false);
    model.dispose();
    loaded.dispose();
  });
});

describe('bad input and failed saves', () => {
  it('a missing weight shard, wrong shapes, a truncated shard and broken JSON each name what is wrong', async () => {
    const model = trainedDual(44);
    const dir = freshDir();
    await saveModel(model, dir);
    const jsonPath = path.join(dir, MODEL_JSON);
    const original = await fs.readFile(jsonPath, 'utf8');
    const json = JSON.parse(original) as tf.io.ModelJSON;
    const shard = json.weightsManifest[0]!.paths[0]!;
    const shardBytes = await fs.readFile(path.join(dir, shard));

    // Wrong shape: a BN weight declared with 5 channels instead of 4 (same byte count kept by
    // shrinking the first dense bias, so only the shape check can catch it).
    const wrong = JSON.parse(original) as tf.io.ModelJSON;
    const specs = wrong.weightsManifest[0]!.weights;
    const auxGamma = specs.find((w) => w.name.endsWith('/aux_gamma'))!;
    const bias = specs.find((w) => w.name.endsWith('/bias') && w.shape[0] === 4)!;
    auxGamma.shape = [5];
    bias.shape = [3];
    await fs.writeFile(jsonPath, JSON.stringify(wrong));
    const shapeError = await loadModel(dir).catch((e: unknown) => e);
    expect(shapeError).toBeInstanceOf(DataFormatError);
    expect(String((shapeError as Error).message)).toMatch(new RegExp(`weight "${auxGamma.name}" has shape \\[5\\] in model.json but the layer expects \\[4\\]`));
    expect((shapeError as DataFormatError).file).toBe(jsonPath);

    // Malformed shape value.
    auxGamma.shape = [-1] as number[];
    bias.shape = [4];
    await fs.writeFile(jsonPath, JSON.stringify(wrong));
    await expect(loadModel(dir)).rejects.toThrow(/weight ".*aux_gamma" .* has shape \[-1\]; expected an array of non-negative integers/);

    // Truncated shard.
    await fs.writeFile(jsonPath, original);
    await fs.writeFile(path.join(dir, shard), shardBytes.subarray(0, shardBytes.byteLength - 8));
    await expect(loadModel(dir)).rejects.toThrow(new RegExp(`weight shards ${shard} hold ${shardBytes.byteLength - 8} bytes but the weights .* need ${shardBytes.byteLength}`));

    // Missing shard, through loadModel and through tf.loadLayersModel(fileSystemIO).
    await fs.rm(path.join(dir, shard));
    const missing = await loadModel(dir).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(CheckpointError);
    expect((missing as Error).message).toMatch(new RegExp(`weight shard "${shard}" listed in .*model.json is missing`));
    await expect(loadLayersModel(fileSystemIO(dir))).rejects.toThrow(/is missing/);

    // Broken JSON, a path escaping the directory, and no model at all.
    await fs.writeFile(jsonPath, original.slice(0, 40));
    await expect(loadModel(dir)).rejects.toThrow(/model.json is not valid JSON.*\(file .*model.json\)/);
    const escaping = JSON.parse(original) as tf.io.ModelJSON;
    escaping.weightsManifest[0]!.paths = ['../../etc/passwd'];
    await fs.writeFile(jsonPath, JSON.stringify(escaping));
    await expect(loadModel(dir)).rejects.toThrow(/"\.\.\/\.\.\/etc\/passwd" points outside the model directory/);
    await expect(loadModel(path.join(root, 'nope'))).rejects.toThrow(/cannot read .*nope\/model.json/);
    model.dispose();
  });

  it('a save that fails leaves the previous model files intact and adds no files', async () => {
    const dir = freshDir();
    const first = trainedDual(45);
    const second = trainedDual(46);
    const x = seeded(new SeededRandom(4), [3, 3]);
    const want = predictions(first, x);
    await saveModel(first, dir);
    const before = await listDir(dir);
    const jsonBefore = await fs.readFile(path.join(dir, MODEL_JSON), 'utf8');

    // The commit step (renaming the new model.json into place) fails, e.g. disk full.
    const realRename = fs.rename.bind(fs);
    vi.spyOn(fs, 'rename').mockImplementation(async (from, to) => {
      if (String(to).endsWith(MODEL_JSON)) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return realRename(from, to);
    });
    await expect(saveModel(second, dir)).rejects.toThrow(CheckpointError);
    await expect(saveModel(second, dir)).rejects.toThrow(/could not write .*model.json: ENOSPC/);
    vi.restoreAllMocks();

    expect(await listDir(dir)).toEqual(before);
    expect(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8')).toBe(jsonBefore);
    const loaded = await loadModel(dir);
    const got = predictions(loaded, x);
    expectClose(got.main, want.main, 1e-6);
    expectClose(got.aux, want.aux, 1e-6);
    x.dispose();
    for (const m of [first, second, loaded]) m.dispose();
  });
});

describe('integrity', () => {
  it('model.json records each shard\'s sha256; a garbled shard of the right size is an error naming it', async () => {
    const model = trainedDual(47);
    const dir = freshDir();
    await saveModel(model, dir);
    const json = JSON.parse(await fs.readFile(path.join(dir, MODEL_JSON), 'utf8')) as Record<string, unknown> & tf.io.ModelJSON;
    const shard = json.weightsManifest[0]!.paths[0]!;
    expect(Object.keys(json[WEIGHTS_SHA256_KEY] as object)).toEqual([shard]);
    const file = path.join(dir, shard);
    const bytes = await fs.readFile(file);
    bytes[5] = (bytes[5] as number) ^ 0x40;
    await fs.writeFile(file, bytes);
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toBe(`weight shard ${file} is corrupt: its sha256 differs from the one recorded in ${path.join(dir, MODEL_JSON)}`);
    await expect(loadLayersModel(fileSystemIO(dir))).rejects.toThrow(/is corrupt: its sha256 differs/);
    model.dispose();
  });

  it('removeModelLeftovers removes temporary files and shards model.json does not list, nothing else', async () => {
    const model = trainedDual(48);
    const dir = freshDir();
    await saveModel(model, dir);
    const kept = await listDir(dir);
    await fs.writeFile(path.join(dir, 'group1-shard1of1-zzzz.bin'), 'orphan');
    await fs.writeFile(path.join(dir, `.${MODEL_JSON}.123.456.0.tmp`), 'torn');
    await fs.writeFile(path.join(dir, 'notes.txt'), 'mine');
    const removed = await removeModelLeftovers(dir);
    expect(removed.map((f) => path.basename(f)).sort()).toEqual([`.${MODEL_JSON}.123.456.0.tmp`, 'group1-shard1of1-zzzz.bin']);
    expect(await listDir(dir)).toEqual([...kept, 'notes.txt'].sort());
    const loaded = await loadModel(dir);
    loaded.dispose();
    model.dispose();
  });
});
