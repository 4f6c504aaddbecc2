/**
 * One process per run directory: `<outDir>/lock.json` holds the owner's pid, host and a random
 * token, and is created with O_EXCL so only one of two racing processes gets it. A lock is stale,
 * and is taken over, when its owner is a dead process on this host, or when its heartbeat (the
 * file's mtime, refreshed while the owner lives) is older than `staleAfterMs` on any host. A
 * takeover goes through `lock.json.takeover` (also O_EXCL), so two processes never both take it.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunLockedError, type Logger } from '@advprop/core';

export const LOCK_FILE = 'lock.json';

export interface LockInfo {
  readonly pid: number;
  readonly host: string;
  readonly token: string;
  readonly started: string;
}

export interface RunLockOptions {
  /** A lock whose heartbeat is older than this is stale on any host (default 10 minutes). */
  readonly staleAfterMs?: number;
  /** How often the owner refreshes the heartbeat (default 30 s). */
  readonly heartbeatMs?: number;
  readonly log?: Logger;
}

const DEFAULT_STALE_MS = 10 * 60_000;
const DEFAULT_HEARTBEAT_MS = 30_000;
/** A lock file still empty or torn after this long was left by a process killed while creating it. */
const TORN_LOCK_MS = 5_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readLock(file: string): Promise<{ info: LockInfo | null; mtimeMs: number } | null> {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = (await fs.stat(file)).mtimeMs;
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    const info = JSON.parse(text) as LockInfo;
    if (typeof info?.pid !== 'number' || typeof info.host !== 'string' || typeof info.token !== 'string') return { info: null, mtimeMs };
    return { info, mtimeMs };
  } catch {
    return { info: null, mtimeMs };
  }
}

/** Why a lock is stale, or null when its owner may still be alive. */
function staleReason(holder: { info: LockInfo | null; mtimeMs: number }, staleAfterMs: number): string | null {
  const age = Date.now() - holder.mtimeMs;
  if (!holder.info) return age > TORN_LOCK_MS ? 'the lock file is empty or unreadable' : null;
  if (holder.info.host === os.hostname() && !alive(holder.info.pid)) return `process ${holder.info.pid} on ${holder.info.host} is not running`;
  if (age > staleAfterMs) return `its heartbeat is ${Math.round(age / 1000)} s old`;
  return null;
}

export class RunLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    readonly file: string,
    readonly info: LockInfo,
    heartbeatMs: number,
  ) {
    this.timer = setInterval(() => {
      const now = new Date();
      fs.utimes(this.file, now, now).catch(() => {});
    }, heartbeatMs);
    this.timer.unref();
  }

  /** Take the lock of `dir` (which must exist), or throw RunLockedError naming the live owner. */
  static async acquire(dir: string, options: RunLockOptions = {}): Promise<RunLock> {
    const file = path.join(dir, LOCK_FILE);
    const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_MS;
    const info: LockInfo = { pid: process.pid, host: os.hostname(), token: randomBytes(8).toString('hex'), started: new Date().toISOString() };
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        const handle = await fs.open(file, 'wx');
        try {
          await handle.writeFile(`${JSON.stringify(info)}\n`);
          await handle.sync();
        } finally {
          await handle.close();
        }
        return new RunLock(file, info, options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await readLock(file);
      if (!holder) continue; // released in the meantime
      const reason = staleReason(holder, staleAfterMs);
      if (reason === null) {
        const who = holder.info ? `process ${holder.info.pid} on host ${holder.info.host} (since ${holder.info.started})` : 'another process';
        throw new RunLockedError(dir, `run directory ${dir} is in use by ${who}: ${file} is held; wait for it to finish, or remove ${file} if that process is gone`);
      }
      await takeOver(file, holder, reason, options.log);
    }
    throw new RunLockedError(dir, `run directory ${dir}: could not take ${file}; other processes keep taking it`);
  }

  /** Remove the lock file if it is still this process's (idempotent). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    const holder = await readLock(this.file).catch(() => null);
    if (holder?.info?.token === this.info.token) await fs.rm(this.file, { force: true });
  }
}

/** Remove a stale lock, guarded by an O_EXCL takeover file so only one process removes it. */
async function takeOver(file: string, stale: { info: LockInfo | null; mtimeMs: number }, reason: string, log: Logger | undefined): Promise<void> {
  const guard = `${file}.takeover`;
  try {
    await (await fs.open(guard, 'wx')).close();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // A guard left by a process killed mid-takeover is removed after a while; others back off.
    const age = await fs.stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > TORN_LOCK_MS * 6) await fs.rm(guard, { force: true });
    await new Promise((r) => setTimeout(r, 50));
    return;
  }
  try {
    const now = await readLock(file);
    // Remove only the very lock judged stale (same token, or the same unreadable file).
    if (now && (now.info?.token ?? null) === (stale.info?.token ?? null) && now.mtimeMs === stale.mtimeMs) {
      await fs.rm(file, { force: true });
      log?.warn(`took over the stale lock ${file}: ${reason}`);
    }
  } finally {
    await fs.rm(guard, { force: true });
  }
}
