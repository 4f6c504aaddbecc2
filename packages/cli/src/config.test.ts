import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@advprop/core';
import { resolveTrainConfig } from '@advprop/trainer';
import { applySetFlags, configFromFlags, deepMerge, EMBEDDED_DEFAULTS, layerTrainConfig, loadConfigFile, parseConfigText } from './config.js';
import { parseArgs, UsageError } from './args.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-cli-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('config files', () => {
  it('reads YAML and JSON, expanding plugin shorthands', async () => {
    const yamlFile = path.join(dir, 'run.yaml');
    await writeFile(yamlFile, 'mode: adversarial\nmodel: resnet20\nepochs: 4\nevaluation:\n  attacks: [fgsm, {name: pgd, options: {steps: 5}}]\n');
    expect(await loadConfigFile(yamlFile)).toEqual({
      mode: 'adversarial',
      model: { name: 'resnet20' },
      epochs: 4,
      evaluation: { attacks: [{ name: 'fgsm' }, { name: 'pgd', options: { steps: 5 } }] },
    });
    const jsonFile = path.join(dir, 'run.json');
    await writeFile(jsonFile, JSON.stringify({ epochs: 2, dataset: { name: 'idx', options: { dir: 'x' } } }));
    expect(await loadConfigFile(jsonFile)).toEqual({ epochs: 2, dataset: { name: 'idx', options: { dir: 'x' } } });
    expect(parseConfigText('', 'empty.yaml')).toEqual({});
  });

  it('names the file and the line of a syntax error', () => {
    const e = configError(() => parseConfigText('epochs: 2\n  batchSize: [1\n', 'bad.yaml'));
    expect(e.message).toMatch(/config file bad\.yaml: invalid YAML at line \d+, column \d+/);
    expect(configError(() => parseConfigText('{"epochs": 2,}', 'bad.json')).message).toMatch(/config file bad\.json: invalid JSON/);
    expect(configError(() => parseConfigText('epochs: 1\nepochs: 2\n', 'dup.yaml')).message).toMatch(/dup\.yaml/);
  });

  it('rejects a top level that is not a mapping and a missing file', async () => {
    expect(configError(() => parseConfigText('- 1\n- 2\n', 'list.yaml')).message).toContain('config file list.yaml: expected a mapping');
    await expect(loadConfigFile(path.join(dir, 'nope.yaml'))).rejects.toThrow(/config file .*nope\.yaml: cannot read it \(no such file\)/);
  });
});

describe('layering', () => {
  it('applies defaults < file < flags < --set', () => {
    const file = { epochs: 5, batchSize: 32, optimizer: { name: 'adam', lr: 0.001 } };
    const { flags } = parseArgs(['train', '--epochs', '7', '--lr', '0.01', '--set', 'optimizer.momentum=0.5', '--set', 'labelSmoothing=0.1']);
    const c = layerTrainConfig(file, flags);
    expect(c.epochs).toBe(7);
    expect(c.batchSize).toBe(32);
    expect(c.optimizer).toEqual({ name: 'adam', lr: 0.01, momentum: 0.5 });
    expect(c.labelSmoothing).toBe(0.1);
    expect(c.mode).toBe(EMBEDDED_DEFAULTS.mode);
    expect(c.dataset).toEqual({ name: 'mnist-package' });
  });

  it("derives an incremental run's epochs from its tasks unless a layer above the defaults gives them", () => {
    const tasks = '[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]';
    // The embedded defaults' 2 epochs yield to 5 tasks * 1 epoch, from --set and from a file.
    const viaSet = layerTrainConfig(undefined, parseArgs(['train', '--set', `incremental.tasks=${tasks}`]).flags);
    expect(resolveTrainConfig(viaSet).epochs).toBe(5);
    const viaFile = layerTrainConfig({ incremental: { tasks: [[0, 1], [2, 3]], epochsPerTask: 3 } }, {});
    expect(resolveTrainConfig(viaFile).epochs).toBe(6);
    // A count the user gives must match.
    expect(resolveTrainConfig(layerTrainConfig(undefined, parseArgs(['train', '--epochs', '5', '--set', `incremental.tasks=${tasks}`]).flags)).epochs).toBe(5);
    const wrong = layerTrainConfig(undefined, parseArgs(['train', '--set', 'epochs=3', '--set', `incremental.tasks=${tasks}`]).flags);
    expect(configError(() => resolveTrainConfig(wrong)).issues.map((i) => i.path)).toEqual(['epochs']);
  });

  it('keeps the default attacker options when only epsilon changes, drops them for another attacker', () => {
    const eps = layerTrainConfig(undefined, parseArgs(['train', '--epsilon', '8/255']).flags);
    expect(eps.attacker).toMatchObject({ name: 'pgd', options: { epsilon: '8/255', steps: 1 } }); // kept as written
    const fgsm = layerTrainConfig(undefined, parseArgs(['train', '--attacker', 'fgsm', '--epsilon', '0.2']).flags);
    expect(fgsm.attacker).toEqual({ name: 'fgsm', options: { epsilon: 0.2 } });
    const fromFile = layerTrainConfig({ attacker: { name: 'bim', options: { steps: 4 } } }, {});
    expect(fromFile.attacker).toEqual({ name: 'bim', options: { steps: 4 } });
  });

  it('maps every train flag to its config field', () => {
    const { flags } = parseArgs([
      'train',
      '--dataset', 'idx',
      '--data-dir', 'data/mnist',
      '--model', 'resnet20',
      '--mode', 'vanilla',
      '--steps', '3',
      '--batch-size', '16',
      '--limit', '300',
      '--seed', '9',
      '--optimizer', 'adamw',
      '--eval-attacks', 'fgsm:0.1',
      '--eval-limit', '50',
      '--backend', 'cpu',
      '--out', 'runs/x',
      '--resume',
    ]);
    const c = configFromFlags(flags);
    expect(c).toMatchObject({
      mode: 'vanilla',
      dataset: { name: 'idx', options: { dir: path.resolve('data/mnist') } },
      model: { name: 'resnet20' },
      attacker: { options: { steps: 3 } },
      batchSize: 16,
      limit: 300,
      seed: 9,
      optimizer: { name: 'adamw' },
      evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: 0.1 } }], limit: 50 },
      backend: 'cpu',
      outDir: path.resolve('runs/x'),
      resume: true,
    });
  });

  it('reports unknown file fields with a suggestion and the file name', () => {
    const e = configError(() => layerTrainConfig({ epoch: 3 }, {}, ['epochs', 'batchSize'], 'run.yaml'));
    expect(e.message).toContain('config file run.yaml');
    expect(e.message).toContain('epoch: unknown field (did you mean "epochs"?)');
    expect(e.issues[0]?.path).toBe('epoch');
  });

  it('rejects malformed --set and bad flag values', () => {
    expect(() => applySetFlags({}, ['novalue'])).toThrow(UsageError);
    expect(() => applySetFlags({}, ['a..b=1'])).toThrow(/not a dotted field path/);
    expect(applySetFlags({}, ['schedule.milestones=[2, 4]', 'evaluation.attacks=[fgsm]'])).toEqual({
      schedule: { milestones: [2, 4] },
      evaluation: { attacks: [{ name: 'fgsm' }] },
    });
    expect(() => configFromFlags(parseArgs(['train', '--epochs', '0']).flags)).toThrow('--epochs: expected a number >= 1, got "0"');
    expect(() => configFromFlags(parseArgs(['train', '--limit', 'ten']).flags)).toThrow('--limit: expected a number, got "ten"');
  });

  it('deep-merges objects and replaces arrays', () => {
    expect(deepMerge({ a: { b: 1, c: [1, 2] } }, { a: { c: [3] } })).toEqual({ a: { b: 1, c: [3] } });
  });
});
