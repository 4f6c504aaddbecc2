/**
 * Small file-system helpers shared by the packages that read run directories and checkpoints.
 * Node-only; import from '@advprop/core/node'.
 */
import { promises as fs } from 'node:fs';
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
