/**
 * tfjs-node cannot be installed here, so this file checks the detection path: once something
 * (normally `import '@tensorflow/tfjs-node'`) registers tfjs routers for file:// URLs, saveModel and
 * loadModel hand file:// URLs to them, while plain paths keep using fileSystemIO. Kept in its own
 * file because tfjs routers cannot be unregistered.
 */
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { toDualBN } from './index.js';
import { hasNativeFileRouter, loadModel, saveModel } from './node.js';
import { useCpu } from './__fixtures__/test-utils.js';

const root = mkdtempSync(path.join(tmpdir(), 'advprop-dual-bn-router-'));
beforeAll(useCpu);
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('delegates file:// URLs to a registered native router and keeps plain paths on fileSystemIO', async () => {
  expect(hasNativeFileRouter('save')).toBe(false);
  const stored = new Map<string, tf.io.ModelArtifacts>();
  const router = (url: string | string[]) => {
    const key = String(url);
    if (!key.startsWith('file://')) return null as unknown as tf.io.IOHandler;
    return {
      save: async (artifacts: tf.io.ModelArtifacts) => {
        stored.set(key, artifacts);
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      },
      load: async () => stored.get(key)!,
    };
  };
  tf.io.registerSaveRouter(router);
  tf.io.registerLoadRouter(router);
  expect(hasNativeFileRouter('save')).toBe(true);
  expect(hasNativeFileRouter('load')).toBe(true);

  const source = sequential({ layers: [layers.dense({ units: 2, inputShape: [3] }), layers.batchNormalization()] });
  const model = toDualBN(source);
  const url = `file://${path.join(root, 'native')}`;
  await saveModel(model, url);
  expect(stored.has(url)).toBe(true);
  expect(existsSync(path.join(root, 'native'))).toBe(false); // the native handler, not ours, ran
  const loaded = await loadModel(url);
  expect(loaded.layers[1]!.getClassName()).toBe('DualBatchNormalization');

  const plainDir = path.join(root, 'plain');
  await saveModel(model, plainDir);
  expect(existsSync(path.join(plainDir, 'model.json'))).toBe(true);
  for (const m of [source, model, loaded]) m.dispose();
});
