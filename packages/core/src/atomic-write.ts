/**
 * Atomic file writes: write to a temporary file in the same directory, fsync, then rename over
 * the target. A crash (even SIGKILL) leaves either the old file or the new one, never a torn one.
 * Node-only; import from '@advprop/core/node'.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './errors.js';
import { makeDirectory } from './fs-helpers.js';

let counter = 0;

/** Names of writeFileAtomic's temporary files (`.<name>.<pid>.<time>.<n>.tmp`): a crash can leave them behind. */
export const ATOMIC_TEMP_FILE = /^\..+\.\d+\.\d+\.\d+\.tmp$/;

export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.${counter++}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, file);
    await syncDirectory(dir);
  } catch (error) {
    await handle?.close().catch(() => {});
    await fs.rm(tmp, { force: true }).catch(() => {});
    throw new CheckpointError(`could not write ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Ensure a directory exists and is writable, or throw a CheckpointError naming it. */
export async function ensureWritableDirectory(dir: string): Promise<void> {
  try {
    await makeDirectory(dir);
    await fs.access(dir, fsConstants.W_OK);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`output directory ${dir} is not writable: ${(error as Error).message}`, { cause: error });
  }
}

async function syncDirectory(dir: string): Promise<void> {
  // Persist the rename itself; not every platform lets a directory be opened, so best effort.
  try {
    const h = await fs.open(dir, 'r');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  } catch {
    /* directory fsync unsupported here */
  }
}
