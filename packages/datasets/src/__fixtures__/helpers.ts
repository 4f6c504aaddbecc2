/** Test helpers (not published). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DataFormatError } from '@advprop/core';

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = 'advprop-datasets-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Await a promise that must reject with a DataFormatError; returns it for further checks. */
export async function formatError(promise: Promise<unknown>): Promise<DataFormatError> {
  try {
    await promise;
  } catch (error) {
    if ((error as { code?: string }).code !== 'ERR_DATA_FORMAT') throw error;
    return error as DataFormatError;
  }
  throw new Error('expected a DataFormatError, but the promise resolved');
}

/** Deterministic pseudo-random bytes. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}
