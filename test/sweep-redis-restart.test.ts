/**
 * Redis restarted in the middle of a sweep: no run is lost and the worker reconnects by itself.
 * The test starts its own redis-server (append-only file, fsync on every write, as a sweep's Redis
 * should run) on a free port and kills it with SIGKILL while runs train.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from '@advprop/cli';
import { checkRedis, DirectoryStorage } from '@advprop/sweep';
import { exited, resultsById, spawnCli, tinySpec, waitFor } from './sweep-helpers.js';

const hasRedis = spawnSync('redis-server', ['--version']).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe.skipIf(!hasRedis)('advprop sweep across a Redis restart', () => {
  let dir: string;
  let redis: ChildProcess | undefined;
  let worker: ReturnType<typeof spawnCli> | undefined;

  afterAll(async () => {
    if (worker && worker.exitCode === null) worker.kill('SIGKILL');
    if (redis && redis.exitCode === null) redis.kill('SIGKILL');
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses no run and the worker reconnects', async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'advprop-sweep-restart-'));
    const port = await freePort();
    const url = `redis://127.0.0.1:${port}`;
    const startRedis = () =>
      spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir], {
        stdio: 'ignore',
      });
    redis = startRedis();
    await waitFor('redis-server', () => checkRedis(url, 500).then(() => true, () => false), 20_000, 100);

    const spec = path.join(dir, 'spec.yaml');
    await writeFile(spec, tinySpec([0, 1], 640));
    const out = path.join(dir, 'out');
    const io = memoryIo();
    expect(await runCli(['sweep', 'submit', spec, '--redis', url, '--out', out, '--quiet'], io), io.err()).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ enqueued: 4 });

    worker = spawnCli(['worker', '--redis', url, '--threads', '1', '--lock-seconds', '20', '--stalled-seconds', '5']);
    const storage = new DirectoryStorage(out);
    // Restart Redis once the first run has finished (the others are queued or training).
    await waitFor('a first result', async () => (await storage.readResults()).length >= 1, 180_000, 200);
    const restartedAt = Date.now();
    redis.kill('SIGKILL');
    await exited(redis);
    await new Promise((r) => setTimeout(r, 2000));
    redis = startRedis();

    const results = await waitFor(
      'all 4 runs in results.jsonl',
      async () => {
        const r = await resultsById(out).catch(() => new Map());
        return r.size === 4 ? r : undefined;
      },
      240_000,
      500,
    );
    expect(results.size).toBe(4);
    // Runs finished after the restart: the sweep went on with the restarted Redis.
    expect([...results.values()].filter((r) => Date.parse(r.finished_at) > restartedAt).length).toBeGreaterThan(0);
    expect(worker.exitCode).toBeNull();
    expect(worker.output()).toMatch(/reconnect/);

    // The queue came back from the append-only file: every job is there, completed.
    const status = memoryIo();
    expect(await runCli(['sweep', 'status', '--out', out, '--redis', url, '--format', 'json'], status), status.err()).toBe(0);
    expect(JSON.parse(status.out())).toMatchObject({ counts: { done: 4, failed: 0 } });
    worker.kill('SIGTERM');
    await exited(worker);
  }, 480_000);
});
