import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureWritableDirectory, writeFileAtomic } from './atomic-write.js';
import { CheckpointError } from './errors.js';

describe('writeFileAtomic', () => {
  it('replaces the file and leaves no temporary files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-atomic-'));
    const file = join(dir, 'a.json');
    writeFileSync(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('keeps the previous file when the write fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-atomic-'));
    const file = join(dir, 'a.json');
    writeFileSync(file, 'old');
    // a target that is a directory cannot be replaced by rename
    const target = join(dir, 'sub');
    await ensureWritableDirectory(join(target, 'x'));
    await expect(writeFileAtomic(target, 'data')).rejects.toThrow(CheckpointError);
    await expect(writeFileAtomic(join(dir, 'missing', 'deep', 'f'), 'data')).rejects.toThrow(/could not write .*missing/);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir).sort()).toEqual(['a.json', 'sub']);
  });

  it('names a directory that cannot be created', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-atomic-'));
    const blocker = join(dir, 'file');
    writeFileSync(blocker, 'x');
    await expect(ensureWritableDirectory(join(blocker, 'out'))).rejects.toThrow(/output directory .*file\/out is not writable/);
  });
});

describe('readJsonFile and pathExists', () => {
  it('reads JSON and names the file when it is missing or corrupt', async () => {
    const { readJsonFile, pathExists } = await import('./fs-helpers.js');
    const dir = mkdtempSync(join(tmpdir(), 'advprop-json-'));
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, '{"a":1}');
    writeFileSync(bad, '{"a":');
    expect(await readJsonFile(good, 'run config')).toEqual({ a: 1 });
    await expect(readJsonFile(bad, 'run config')).rejects.toThrow(/run config .*bad\.json is corrupt \(not valid JSON/);
    await expect(readJsonFile(join(dir, 'none.json'), 'checkpoint pointer')).rejects.toThrow(/cannot read checkpoint pointer .*none\.json/);
    expect(await pathExists(good)).toBe(true);
    expect(await pathExists(join(dir, 'none.json'))).toBe(false);
  });
});
