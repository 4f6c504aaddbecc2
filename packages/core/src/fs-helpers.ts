/**
 * Small file-system helpers shared by the packages that read run directories and checkpoints.
 * Node-only; import from '@advprop/core/node'.
 */
import { promises as fs, constants as fsConstants } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from './errors.js';

export async function pathExists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch {
    return false;
  }
}

/**
 * Read and parse a JSON file; `what` names it in errors ("checkpoint pointer", "run config"), and
 * both failures (unreadable, not JSON) are CheckpointErrors naming the file.
 */
export async function readJsonFile<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(`cannot read ${what} ${file}: ${(error as Error).message}`, { cause: error });
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new CheckpointError(`${what} ${file} is corrupt (not valid JSON: ${(error as Error).message})`, { cause: error });
  }
}

/** The nearest existing ancestor of `dir` (itself included) and the components missing below it. */
async function existingAncestor(dir: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let current = path.resolve(dir);
  for (;;) {
    try {
      const stat = await fs.stat(current);
      if (!stat.isDirectory()) {
        throw new CheckpointError(`output directory ${dir} is not writable: ${current} exists and is not a directory`);
      }
      return { existing: current, missing: missing.reverse() };
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw new CheckpointError(`output directory ${dir} is not writable: ${(error as Error).message}`, { cause: error });
      const parent = path.dirname(current);
      if (parent === current) throw new CheckpointError(`output directory ${dir} is not writable: no existing ancestor`);
      missing.push(current);
      current = parent;
    }
  }
}

/**
 * Check, without creating anything, that `dir` is a writable directory or could be created as one:
 * its nearest existing ancestor must be a writable directory. Fails fast on pseudo file systems
 * such as /proc, where Node's recursive mkdir loops forever.
 */
export async function checkWritableTarget(dir: string): Promise<void> {
  const { existing } = await existingAncestor(dir);
  try {
    await fs.access(existing, fsConstants.W_OK);
  } catch (error) {
    throw new CheckpointError(`output directory ${dir} is not writable: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Create `dir` and its missing parents one level at a time (never Node's recursive mkdir, which
 * loops forever under /proc/self). Resolves to the topmost directory it created, or undefined when
 * `dir` already existed, so a caller can remove what it created if it fails later.
 */
export async function makeDirectory(dir: string): Promise<string | undefined> {
  const { missing } = await existingAncestor(dir);
  let first: string | undefined;
  for (const component of missing) {
    try {
      await fs.mkdir(component);
      first ??= component;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await fs.stat(component).then((s) => s.isDirectory(), () => false))) continue;
      throw new CheckpointError(`output directory ${dir} is not writable: ${(error as Error).message}`, { cause: error });
    }
  }
  return first;
}
