import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError } from './errors.js';
import { checkWritableTarget, makeDirectory } from './fs-helpers.js';

let tmp: string;
beforeAll(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-fs-helpers-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('makeDirectory / checkWritableTarget', () => {
  it('creates missing parents one level at a time and says which directory it created first', async () => {
    const target = path.join(tmp, 'a', 'b', 'c');
    await checkWritableTarget(target);
    await expect(fs.access(path.join(tmp, 'a'))).rejects.toThrow(); // checking creates nothing
    expect(await makeDirectory(target)).toBe(path.join(tmp, 'a'));
    expect((await fs.stat(target)).isDirectory()).toBe(true);
    expect(await makeDirectory(target)).toBeUndefined();
  });

  it('a path under a regular file, and one under /proc/self, fail at once with a CheckpointError', async () => {
    const file = path.join(tmp, 'file');
    await fs.writeFile(file, 'x');
    await expect(makeDirectory(path.join(file, 'run'))).rejects.toThrow(/output directory .*file\/run is not writable: ENOTDIR/);
    await expect(checkWritableTarget(path.join(file, 'run'))).rejects.toThrow(CheckpointError);
    // Node's own fs.mkdir('/proc/self/x', { recursive: true }) never returns.
    await expect(makeDirectory('/proc/self/x/y')).rejects.toThrow(CheckpointError);
    await expect(checkWritableTarget('/proc/self/x')).rejects.toThrow(CheckpointError);
  }, 5_000);
});
