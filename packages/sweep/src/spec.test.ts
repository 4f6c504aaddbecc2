import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@advprop/core';
import { loadPluginModules, resolvePluginModule } from './plugins.js';
import { expandSweep, loadSweep, parseSweepSpec, parseSweepSpecText, runId, selectRuns } from './spec.js';
import { resolveTrainConfig } from '@advprop/trainer';

const base = { mode: 'vanilla', model: { name: 'small-cnn', options: { filters: 4 } }, limit: 64, epochs: 1 };
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('sweep spec', () => {
  it('expands grid axes as a product and zip axes as pairs, with ids from the resolved config', () => {
    const sweep = expandSweep(
      parseSweepSpec({
        base,
        grid: { seed: [0, 1] },
        zip: { mode: ['vanilla', 'advprop'], 'optimizer.lr': [0.05, 0.1] },
      }),
    );
    expect(sweep.runs.map((r) => [r.config.seed, r.config.mode, r.config.optimizer.lr])).toEqual([
      [0, 'vanilla', 0.05],
      [0, 'advprop', 0.1],
      [1, 'vanilla', 0.05],
      [1, 'advprop', 0.1],
    ]);
    // Seeds pool into one group per zip entry.
    expect(new Set(sweep.runs.map((r) => r.group))).toEqual(new Set(['mode=vanilla, optimizer.lr=0.05', 'mode=advprop, optimizer.lr=0.1']));
    // The id hashes the resolved config: writing a default explicitly changes nothing.
    const explicit = resolveTrainConfig({ ...base, seed: 0, batchSize: 64, callbacks: [{ name: 'metrics-logger' }] });
    expect(sweep.runs[0]?.id).toBe(runId(explicit));
    expect(new Set(sweep.runs.map((r) => r.id)).size).toBe(4);
  });

  it('expands a class-incremental spec: epochs derived from the tasks, incremental as an axis', () => {
    const { epochs: _epochs, ...rest } = base;
    const sweep = expandSweep(
      parseSweepSpec({
        base: { ...rest, dataset: { name: 'fashion-mnist' }, incremental: { tasks: [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]] } },
        grid: { mode: ['vanilla', 'advprop'], 'incremental.epochsPerTask': [1, 2] },
      }),
    );
    expect(sweep.runs.map((r) => [r.config.mode, r.config.incremental?.epochsPerTask, r.config.epochs])).toEqual([
      ['vanilla', 1, 5],
      ['vanilla', 2, 10],
      ['advprop', 1, 5],
      ['advprop', 2, 10],
    ]);
    // An explicit epochs that does not match is named.
    expect(() => expandSweep(parseSweepSpec({ base: { ...base, incremental: { tasks: [[0], [1]] } }, grid: { seed: [0] } }))).toThrow(/epochs: 1 does not match incremental/);
  });

  it('names a group by the label axis, which is not a config field', () => {
    const sweep = expandSweep(parseSweepSpec({ base, zip: { label: ['short', 'long'], epochs: [1, 2] }, grid: { seed: [3] } }));
    expect(sweep.runs.map((r) => r.group)).toEqual(['short', 'long']);
    expect(sweep.runs[1]?.config).not.toHaveProperty('label');
  });

  it('selects the runs of one cell with AXIS=VALUE filters, and names a bad filter', () => {
    const sweep = expandSweep(
      parseSweepSpec({
        base,
        grid: { seed: [0, 1, 2] },
        zip: { label: ['plain', 'adv'], mode: ['vanilla', 'advprop'], attacker: [null, { name: 'pgd', options: { steps: 1 } }] },
      }),
    );
    const cell = selectRuns(sweep, ['label=adv']);
    expect(cell.runs.map((r) => r.config.seed)).toEqual([0, 1, 2]);
    expect(cell.runs.every((r) => r.config.mode === 'advprop')).toBe(true);
    const one = selectRuns(sweep, ['label=adv', 'seed=1']);
    expect(one.runs.map((r) => r.id)).toEqual([sweep.runs.find((r) => r.config.seed === 1 && r.group === 'adv')?.id]);
    // Object values match through their YAML / canonical JSON form, whatever the key order.
    expect(selectRuns(sweep, ['attacker={options: {steps: 1}, name: pgd}']).runs).toHaveLength(3);
    expect(selectRuns(sweep, [])).toBe(sweep);
    expect(() => selectRuns(sweep, ['lr=0.1'])).toThrow(/"lr" is not an axis of this sweep; axes: seed, label, mode, attacker/);
    expect(() => selectRuns(sweep, ['seed=7'])).toThrow(/keep none of the 6 runs/);
    expect(() => selectRuns(sweep, ['seed'])).toThrow(/expected AXIS=VALUE/);
  });

  it('rejects an unknown spec field, naming it', () => {
    expect(() => parseSweepSpec({ base, grid: { seed: [0] }, grids: {} })).toThrow(/grids/);
  });

  it('rejects an unknown config field set by an axis, naming it and the run', () => {
    let error: unknown;
    try {
      expandSweep(parseSweepSpec({ base, grid: { 'optimiser.lr': [0.1] } }));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/optimiser/);
    expect((error as Error).message).toMatch(/run \{optimiser\.lr=0\.1\}/);
  });

  it('rejects an empty grid and an axis without values', () => {
    expect(() => expandSweep(parseSweepSpec({ base }))).toThrow(/grid is empty/);
    expect(() => parseSweepSpec({ base, grid: { seed: [] } })).toThrow(/grid\.seed/);
  });

  it('rejects two runs with the same id, naming both', () => {
    // batchSize 64 is the default: both runs resolve to the same config.
    expect(() => expandSweep(parseSweepSpec({ base, zip: { batchSize: [64, null] } }))).toThrow(/same config \(id [0-9a-f]{16}\).*batchSize=64.*batchSize=null/);
  });

  it('rejects zip lists of different lengths and outDir in the base', () => {
    expect(() => expandSweep(parseSweepSpec({ base, zip: { seed: [0, 1], mode: ['vanilla'] } }))).toThrow(/"mode" has 1 values/);
    expect(() => expandSweep(parseSweepSpec({ base: { ...base, outDir: 'x' }, grid: { seed: [0] } }))).toThrow(/base\.outDir/);
  });

  it('checks plugin options before anything is queued', () => {
    expect(() => expandSweep(parseSweepSpec({ base, grid: { 'model.options.filterz': [4] } }))).toThrow(/model/);
  });

  it('registers the plugins of the modules a spec lists, relative to the spec file', async () => {
    const fixtures = path.join(import.meta.dirname, '__fixtures__');
    const file = path.join(fixtures, 'spec.yaml');
    const spec = parseSweepSpec({ base: { ...base, dataset: { name: 'fixture-dataset' } }, grid: { seed: [0] }, plugins: ['./extra-plugins.mjs'] });
    expect(() => expandSweep(spec, file)).toThrow(/fixture-dataset/);
    const plugins = await loadPluginModules(spec.plugins.map((m) => resolvePluginModule(m, file)));
    const sweep = expandSweep(spec, file, plugins);
    expect(sweep.plugins).toEqual([path.join(fixtures, 'extra-plugins.mjs')]);
    await expect(loadPluginModules([path.join(fixtures, 'not-plugins.mjs')])).rejects.toThrow(/not-plugins\.mjs must export a list of plugins/);
    await expect(loadPluginModules([path.join(fixtures, 'missing.mjs')])).rejects.toThrow(/missing\.mjs cannot be imported/);
  });

  it('reads YAML files and names the file in errors', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'advprop-spec-'));
    dirs.push(dir);
    const file = path.join(dir, 'spec.yaml');
    await writeFile(file, 'base: { mode: vanilla, limit: 64 }\ngrid: { seed: [0, 1] }\n');
    expect((await loadSweep(file)).runs).toHaveLength(2);
    expect(() => parseSweepSpecText('base: [1,\n', file)).toThrow(new RegExp(file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')));
    await expect(loadSweep(path.join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml.*no such file/);
  });
});
