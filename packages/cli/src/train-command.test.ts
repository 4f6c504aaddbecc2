import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, ConfigError, PluginNotFoundError } from '@advprop/core';
import { createDefaultRegistry } from '@advprop/trainer';
import { parseArgs } from './args.js';
import { buildTrainConfig, defaultRunDirectory, formatSummary, prepareRunDirectory, shortRunWarning } from './train-command.js';
import { checkPlugins, attackLabels } from './shared.js';
import { listPlugins, formatPluginListing, inspectRegistry, optionFields } from './inspect-command.js';
import { z } from '@advprop/core';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-cli-train-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const flags = (...argv: string[]) => parseArgs(['train', ...argv]).flags;

describe('buildTrainConfig', () => {
  it('gives the embedded default with no flags', async () => {
    const now = new Date(2026, 0, 2, 3, 4, 5);
    const { config } = await buildTrainConfig({}, now);
    expect(config).toMatchObject({
      mode: 'advprop',
      dataset: { name: 'mnist-package' },
      model: { name: 'small-cnn', options: { filters: 16 } },
      attacker: { name: 'pgd', options: { epsilon: 0.1, steps: 1 } },
      epochs: 2,
      seed: 0,
      resume: false,
    });
    expect(config.limit).toBeUndefined();
    expect(config.evaluation.attacks.map((a) => a.name)).toEqual(['fgsm', 'pgd']);
    expect(config.outDir).toBe(path.resolve('runs/20260102-030405-advprop-mnist-package'));
  });

  it('layers a YAML file under the flags and resolves file paths against the file', async () => {
    const file = path.join(dir, 'run.yaml');
    await writeFile(file, 'mode: adversarial\nepochs: 5\nbatchSize: 16\noutDir: out/run\noptimizer: { name: adam, lr: 0.001 }\n');
    const { config } = await buildTrainConfig(flags('--config', file, '--epochs', '3', '--seed', '4'));
    expect(config).toMatchObject({ mode: 'adversarial', epochs: 3, batchSize: 16, seed: 4, optimizer: { name: 'adam', lr: 0.001 } });
    expect(config.outDir).toBe(path.join(dir, 'out/run'));
    const { config: flagOut } = await buildTrainConfig(flags('--config', file, '--out', 'elsewhere'));
    expect(flagOut.outDir).toBe(path.resolve('elsewhere'));
  });

  it('names the file and every bad field', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'epochs: 0\nbatchSize: -3\n');
    const error = await buildTrainConfig(flags('--config', file)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain(`config file ${file}`);
    expect(message).toMatch(/epochs: Too small/);
    expect(message).toMatch(/batchSize: Too small/);
    // a field of the mode's own options (advprop's lambda) is named with its path
    const modeFile = path.join(dir, 'bad-mode.yaml');
    await writeFile(modeFile, 'mode: advprop\nmodeOptions: { lambda: -1 }\n');
    const modeError = await buildTrainConfig(flags('--config', modeFile)).catch((e: unknown) => e);
    expect((modeError as Error).message).toMatch(/mode "advprop"[\s\S]*modeOptions\.lambda/);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual(['batchSize', 'epochs']);
  });

  it('blames the command line, not the file, for a bad flag value', async () => {
    const file = path.join(dir, 'good.yaml');
    await writeFile(file, 'epochs: 1\n');
    const error = await buildTrainConfig(flags('--config', file, '--set', 'labelSmoothing=2')).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/command line \(with config file .*good\.yaml\)[\s\S]*labelSmoothing/);
  });
});

describe('checks before training', () => {
  it('lists the known plugins for an unknown name and validates plugin options', async () => {
    const registry = createDefaultRegistry();
    try {
      const { config } = await buildTrainConfig(flags('--model', 'vgg'));
      expect(() => checkPlugins(registry, config)).toThrow(PluginNotFoundError);
      expect(() => checkPlugins(registry, config)).toThrow(/No model plugin named "vgg".*"small-cnn"/);
      const { config: opt } = await buildTrainConfig(flags('--optimizer', 'rmsprop'));
      expect(() => checkPlugins(registry, opt)).toThrow(/No optimizer plugin named "rmsprop".*"sgd"/);
      const { config: bad } = await buildTrainConfig(flags('--set', 'model.options.filters=0'));
      expect(() => checkPlugins(registry, bad)).toThrow(/model "small-cnn"[\s\S]*filters/);
    } finally {
      await registry.dispose();
    }
  });

  it('refuses a directory holding a run unless resuming, and a path under a file', async () => {
    const run = path.join(dir, 'run-a');
    await mkdir(run);
    await writeFile(path.join(run, 'config.json'), '{}');
    await expect(prepareRunDirectory(run, false)).rejects.toThrow(/already holds a run; pass --resume/);
    await expect(prepareRunDirectory(run, true)).resolves.toBeUndefined();
    await expect(prepareRunDirectory(path.join(dir, 'fresh'), true)).rejects.toThrow(/holds no run to resume/);
    await expect(prepareRunDirectory(path.join(dir, 'fresh'), false)).resolves.toBeUndefined();
    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    await expect(prepareRunDirectory(path.join(file, 'run'), false)).rejects.toThrow(CheckpointError);
    await expect(prepareRunDirectory(file, false)).rejects.toThrow(/is not a directory/);
  });

  it('makes the default run directory name from time, mode and dataset', () => {
    expect(defaultRunDirectory({ mode: 'vanilla', dataset: { name: 'image/folder' } }, new Date(2026, 10, 25, 1, 2, 3))).toBe(
      path.join('runs', '20261125-010203-vanilla-image_folder'),
    );
  });
});

describe('output pieces', () => {
  it('labels attacks as the trainer does', () => {
    expect(attackLabels([{ name: 'fgsm' }, { name: 'pgd', options: { steps: 2 } }])).toEqual(['fgsm', 'pgd']);
    expect(attackLabels([{ name: 'pgd', options: { steps: 2 } }, { name: 'pgd', options: { steps: 5 } }])).toEqual([
      'pgd {"steps":2}',
      'pgd {"steps":5}',
    ]);
    expect(() => attackLabels([{ name: 'pgd' }, { name: 'pgd' }])).toThrow(/share the label/);
  });

  it('formats the summary block', () => {
    const text = formatSummary({
      mode: 'advprop',
      dataset: 'mnist-package',
      model: 'small-cnn',
      backend: 'wasm',
      epochs: 2,
      seed: 0,
      clean_accuracy: 0.9812,
      aux_accuracy: null,
      robust_accuracy: { fgsm: 0.5 },
      images_per_second: 123.45,
      wall_seconds: 99.9,
    });
    expect(text).toContain('clean accuracy      98.12%');
    expect(text).toContain('aux-BN accuracy     n/a');
    expect(text).toContain('robust (fgsm)       50.00%');
    expect(text).toContain('images / second     123.5');
  });

  it('warns before a run too short to learn, naming its step count', () => {
    expect(shortRunWarning({ epochs: 1, batchSize: 64, limit: 1280 })).toMatch(/only 20 optimizer steps \(1 epoch x 20 batches of 64\).*near chance/);
    expect(shortRunWarning({ epochs: 10, batchSize: 64, limit: 1280 })).toBe(undefined);
    expect(shortRunWarning({ epochs: 1, batchSize: 64, limit: undefined })).toBe(undefined);
  });

  it('lists plugins with their option fields', async () => {
    const registry = inspectRegistry();
    try {
      const listing = listPlugins(registry);
      const kinds = new Set(listing.map((p) => p.kind));
      expect([...kinds]).toEqual(expect.arrayContaining(['dataset', 'model', 'attacker', 'callback', 'backend']));
      expect([...kinds][0]).toBe('dataset');
      const cnn = listing.find((p) => p.kind === 'model' && p.name === 'small-cnn');
      expect(cnn?.options.find((o) => o.name === 'filters')).toMatchObject({ default: 32 });
      const text = formatPluginListing(listPlugins(registry, 'model'));
      expect(text).toContain('model plugins:');
      expect(text).toMatch(/filters: integer \(>= 1, <= 1024\) = 32/);
    } finally {
      await registry.dispose();
    }
    expect(optionFields(z.object({ a: z.enum(['x', 'y']).default('x'), b: z.number() }))).toEqual([
      { name: 'a', type: '"x" | "y"', required: false, default: 'x' },
      { name: 'b', type: 'number', required: true },
    ]);
  });
});

describe('README', () => {
  it('its YAML config example is valid and names only registered plugins', async () => {
    const readme = await import('node:fs/promises').then((fs) => fs.readFile(path.join(__dirname, '..', 'README.md'), 'utf8'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const file = path.join(dir, 'readme.yaml');
    await writeFile(file, yaml as string);
    const { config } = await buildTrainConfig(flags('--config', file));
    expect(config).toMatchObject({ mode: 'advprop', epochs: 2, model: { name: 'small-cnn', options: { filters: 16 } } });
    expect(config.outDir).toBe(path.join(dir, 'runs/mnist-advprop'));
    const registry = createDefaultRegistry();
    try {
      checkPlugins(registry, config);
    } finally {
      await registry.dispose();
    }
  });
});
