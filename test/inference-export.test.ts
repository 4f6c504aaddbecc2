/**
 * The plain inference export of models built by @advprop/models: `toInferenceModel` writes our
 * layer classes as stock tfjs-layers ones (the ResNets' PaddedConv2D as ZeroPadding2D + a 'valid'
 * Conv2D, SeededDropout as Dropout), so the saved model loads in a process that imports no
 * @advprop package and predicts what the dual model's main route predicts.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SeededRandom, withRoute } from '@advprop/core';
import { toInferenceModel } from '@advprop/dual-bn';
import { saveModel } from '@advprop/dual-bn/node';
import { buildResNet20, buildWideResNet } from '@advprop/models';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dualBnPackage = path.join(repo, 'packages', 'dual-bn');
const childScript = path.join(dualBnPackage, 'src', '__fixtures__', 'child-predict.ts');
const work = mkdtempSync(path.join(tmpdir(), 'advprop-inference-export-'));

beforeAll(async () => {
  await tf.setBackend('cpu');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function batch(random: SeededRandom, n: number): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: n * 8 * 8 * 3 }, () => random.uniform(0, 1)), [n, 8, 8, 3]);
}

/** Move both BN sets' statistics apart, so that the main route is not the aux one (a plain-BN model: its statistics away from 0 / 1). */
function trainStatistics(model: LayersModel, random: SeededRandom): void {
  tf.tidy(() => {
    const dual = model.layers.some((l) => l.getClassName() === 'DualBatchNormalization');
    for (const route of dual ? (['main', 'aux'] as const) : (['main'] as const)) {
      const x = route === 'main' ? batch(random, 8) : tf.mul(batch(random, 8), 3);
      const train = () => model.apply(x, { training: true });
      for (let i = 0; i < 3; i++) {
        if (dual) withRoute(model, route, train);
        else train();
      }
    }
  });
}

function classNames(topology: unknown): string[] {
  const names = new Set<string>();
  JSON.stringify(topology, (key, value: unknown) => {
    if (key === 'class_name' && typeof value === 'string') names.add(value);
    return value;
  });
  return [...names].sort();
}

describe('inference export of @advprop/models networks', () => {
  const cases = [
    { name: 'resnet20', build: (random: SeededRandom) => buildResNet20({ inputShape: [8, 8, 3], numClasses: 3, batchNorm: 'dual', random }) },
    {
      name: 'wrn-10-1 with dropout',
      build: (random: SeededRandom) => buildWideResNet({ inputShape: [8, 8, 3], numClasses: 3, batchNorm: 'dual', random }, { depth: 10, widen: 1, dropout: 0.3 }),
    },
    // A vanilla run's model: plain BN layers with their ReLU (BatchNormalizationRelu), one route.
    { name: 'resnet20 with plain BN', build: (random: SeededRandom) => buildResNet20({ inputShape: [8, 8, 3], numClasses: 3, batchNorm: 'plain', random }) },
  ];

  it.each(cases)('$name: only stock layer classes, loadable without @advprop, main-route predictions', async ({ name, build }) => {
    const random = new SeededRandom(3);
    const model = build(random.fork('model'));
    trainStatistics(model, random.fork('statistics'));
    const plain = toInferenceModel(model);
    const x = batch(random.fork('input'), 4);
    const main = Array.from((model.predict(x) as tf.Tensor).dataSync());
    if (!name.includes('plain BN')) {
      const aux = Array.from(withRoute(model, 'aux', () => model.predict(x) as tf.Tensor).dataSync());
      expect(Math.max(...main.map((v, i) => Math.abs(v - aux[i]!)))).toBeGreaterThan(1e-4);
    }
    expect(Math.max(...Array.from((plain.predict(x) as tf.Tensor).dataSync(), (v, i) => Math.abs(v - main[i]!)))).toBeLessThan(1e-5);

    const dir = path.join(work, name.replace(/\W+/g, '-'));
    await saveModel(plain, dir);
    const topology = (JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON).modelTopology;
    const stockLayers = ['Activation', 'Add', 'BatchNormalization', 'Conv2D', 'Dense', 'Dropout', 'Functional', 'GlobalAveragePooling2D', 'InputLayer', 'Model', 'ZeroPadding2D'];
    const stock = [...stockLayers, 'GlorotUniform', 'Ones', 'VarianceScaling', 'Zeros']; // and the initialisers
    expect(classNames(topology).filter((c) => !stock.includes(c))).toEqual([]);
    expect(classNames(topology)).toContain('ZeroPadding2D');

    const inputFile = path.join(work, `${name.replace(/\W+/g, '-')}-input.json`);
    writeFileSync(inputFile, JSON.stringify({ shape: x.shape, values: Array.from(x.dataSync()) }));
    const { stdout } = await run(process.execPath, ['--conditions=@advprop/source', '--import', 'tsx', childScript, 'plain', dir, inputFile], {
      cwd: dualBnPackage,
      timeout: 120_000,
    });
    const result = JSON.parse(stdout) as { main?: number[]; error?: string };
    expect(result.error).toBeUndefined();
    expect(Math.max(...result.main!.map((v, i) => Math.abs(v - main[i]!)))).toBeLessThan(1e-5);
    tf.dispose(x);
    model.dispose();
    plain.dispose();
  });
});
