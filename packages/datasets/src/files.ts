/** File helpers shared by the file-based readers: reading with clear errors, transparent gunzip. */
import { readFile, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip as gunzipCb } from 'node:zlib';
import { DataFormatError } from '@advprop/core';

const gunzip = promisify(gunzipCb);

/** Read a whole file; a missing or unreadable file is a DataFormatError naming it. */
export async function readWhole(file: string, what = 'data file'): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? String(error)})`;
    throw new DataFormatError(`${what} ${reason}`, { file });
  }
}

/** Read a file, gunzipping it when it starts with the gzip magic bytes 1f 8b. */
export async function readMaybeGzip(file: string, what = 'data file'): Promise<Buffer> {
  const raw = await readWhole(file, what);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return await gunzip(raw);
    } catch (error) {
      throw new DataFormatError(`${what} is a corrupt or truncated gzip stream: ${(error as Error).message}`, {
        file,
        offset: raw.length,
      });
    }
  }
  if (file.endsWith('.gz')) {
    throw new DataFormatError(`${what} has a .gz name but does not start with the gzip magic bytes 1f 8b`, { file, offset: 0 });
  }
  return raw;
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
