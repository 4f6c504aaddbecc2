/**
 * A training mode defined outside the trainer package (test/fixtures/gaussian-noise-mode.ts) is
 * registered and trained with, from user code and through the CLI's config file (`plugins:`).
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, PluginNotFoundError } from '@advprop/core';
import { runCli, type CliIo } from '@advprop/cli';
import { createDefaultRegistry, train } from '@advprop/trainer';
import plugins, { calls, gaussianNoise } from './fixtures/gaussian-noise-mode.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-mode-plugin-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const config = {
  mode: 'gaussian-noise',
  modeOptions: { sigma: 0.1 },
  dataset: { name: 'synthetic' },
  model: { name: 'tiny-dense' },
  epochs: 3,
  batchSize: 32,
  seed: 3,
  optimizer: { name: 'sgd', lr: 0.1, momentum: 0.9 },
  evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: 0.05 } }], epochLimit: 0, limit: 128 },
  callbacks: [],
};

function memoryIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => ((out += s), true) },
    stderr: { write: (s: string) => ((err += s), true) },
    out: () => out,
    err: () => err,
  } as unknown as CliIo & { out: () => string; err: () => string };
}

describe('a training mode from user code', () => {
  it('trains when registered, with its options validated by its own schema', async () => {
    const registry = createDefaultRegistry({ seed: 0 }).use(plugins);
    expect(registry.names('training-mode')).toEqual(['adversarial', 'advprop', 'fast-advprop', 'gaussian-noise', 'trades', 'vanilla']);
    const before = calls.steps;
    const result = await train(config, { registry });
    try {
      expect(calls.steps - before).toBe(3 * 8); // 256 images / 32 per batch, 3 epochs
      expect(result.summary.mode).toBe('gaussian-noise');
      expect(result.summary.aux_accuracy).toBeNull(); // plain BN, as the mode declares
      // 4 classes (chance 0.25); measured 1.0 with sigma 0.1
      expect(result.summary.clean_accuracy).toBeGreaterThan(0.9);
    } finally {
      result.dispose();
    }
    await expect(train({ ...config, modeOptions: { sigma: -1 } }, { registry })).rejects.toThrow(/training-mode "gaussian-noise"[\s\S]*sigma/);
    await expect(train({ ...config, modeOptions: { sigma: -1 } }, { registry })).rejects.toBeInstanceOf(ConfigError);
    await registry.dispose();
  });

  it('is unknown to a registry it was not registered in, and the error lists the modes', async () => {
    const registry = createDefaultRegistry({ seed: 0 }).use(plugins.filter((p) => p !== gaussianNoise));
    const error = await train(config, { registry }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginNotFoundError);
    expect((error as Error).message).toMatch(/training-mode plugin named "gaussian-noise"[\s\S]*"advprop"[\s\S]*"trades"/);
    await registry.dispose();
  });
});

describe('a training mode through the CLI config file', () => {
  it('loads the plugin module named in `plugins:` and trains with the mode', async () => {
    const file = path.join(tmp, 'run.yaml');
    const pluginFile = path.relative(tmp, path.join(here, 'fixtures', 'gaussian-noise-mode.ts'));
    await fs.writeFile(
      file,
      [
        `plugins: [${JSON.stringify(pluginFile)}]`,
        'mode: gaussian-noise',
        'modeOptions: { sigma: 0.1 }',
        'dataset: synthetic',
        'model: tiny-dense',
        'epochs: 3',
        'batchSize: 32',
        'seed: 3',
        'schedule: { name: constant }',
        'optimizer: { name: sgd, lr: 0.1, momentum: 0.9 }',
        'evaluation: { attacks: [{ name: fgsm, options: { epsilon: 0.05 } }], epochLimit: 0, limit: 128 }',
        'callbacks: []',
        'outDir: out',
      ].join('\n'),
    );
    const before = calls.steps;
    const io = memoryIo();
    const code = await runCli(['train', '--config', file, '--quiet', '--backend', 'cpu'], io);
    expect(io.err()).toBe('');
    expect(code).toBe(0);
    expect(calls.steps - before).toBe(3 * 8);
    const summary = JSON.parse(io.out().trim().split('\n').pop() as string) as Record<string, unknown>;
    expect(summary).toMatchObject({ mode: 'gaussian-noise', dataset: 'synthetic', model: 'tiny-dense', steps: 24 });
    expect(summary.clean_accuracy as number).toBeGreaterThan(0.9);
    const saved = JSON.parse(await fs.readFile(path.join(tmp, 'out', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ mode: 'gaussian-noise', modeOptions: { sigma: 0.1 } });
    expect(saved.attacker).toBeUndefined(); // the mode uses none, so the preset's is not recorded
  });
});
