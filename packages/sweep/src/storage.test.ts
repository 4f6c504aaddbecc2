import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTrainConfig } from '@advprop/trainer';
import { DirectoryStorage, type ManifestRun } from './storage.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const run = (id: string, group: string): ManifestRun => ({ id, group, axes: { label: group }, config: resolveTrainConfig({ mode: 'vanilla' }) });

describe('DirectoryStorage manifest', () => {
  it('merges the specs submitted to one root: sources, groups and runs once each, named after every spec', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'advprop-storage-'));
    dirs.push(root);
    const storage = new DirectoryStorage(root);
    await storage.prepare();
    await storage.addToManifest({ name: 'grid-a', sources: ['a.yaml'], groups: ['vanilla', 'advprop'], runs: [run('1', 'vanilla'), run('2', 'advprop')] });
    await storage.addToManifest({ name: 'grid-b', sources: ['b.yaml'], groups: ['advprop', 'few-shot'], runs: [run('2', 'advprop'), run('3', 'few-shot')] });
    // Submitting a spec again changes nothing.
    await storage.addToManifest({ name: 'grid-a', sources: ['a.yaml'], groups: ['vanilla', 'advprop'], runs: [run('1', 'vanilla')] });
    const manifest = await storage.readManifest();
    expect(manifest?.name).toBe('grid-a + grid-b');
    expect(manifest?.sources).toEqual(['a.yaml', 'b.yaml']);
    expect(manifest?.groups).toEqual(['vanilla', 'advprop', 'few-shot']);
    expect(manifest?.runs.map((r) => r.id)).toEqual(['1', '2', '3']);
  });
});
