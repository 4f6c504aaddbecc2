/**
 * The sweep on a real Redis with two worker processes, one of them killed with SIGKILL in the
 * middle of a run: the run is retried, resumes from its last checkpoint, and the finished sweep
 * equals the same spec run on the embedded default (summaries, and the saved models byte for byte).
 * Submitting the spec twice runs each run once. Needs ADVPROP_TEST_REDIS_URL (CI starts one).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from '@advprop/cli';
import { checkRedis, DirectoryStorage, STORAGE_FILES, type RunAttempt } from '@advprop/sweep';
import { comparableSummary, exited, modelFiles, resultsById, spawnCli, tinySpec, waitFor } from './sweep-helpers.js';

const REDIS = process.env.ADVPROP_TEST_REDIS_URL;
// A database of its own, so other tests on the same server never share this queue.
const URL = REDIS ? `${REDIS.replace(/\/\d*$/, '')}/7` : '';

describe.skipIf(!REDIS)('advprop sweep on Redis (ADVPROP_TEST_REDIS_URL)', () => {
  let dir: string;
  let spec: string;
  const workers: ReturnType<typeof spawnCli>[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'advprop-sweep-'));
    spec = path.join(dir, 'spec.yaml');
    // 8 runs of 60 steps (960 images, batch 16), a checkpoint every 4 steps.
    await writeFile(spec, tinySpec([0, 1, 2, 3], 960));
    const redis = new Redis(URL, { maxRetriesPerRequest: 1 });
    await redis.flushdb();
    redis.disconnect();
  });

  afterAll(async () => {
    for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('fails fast on an unreachable Redis, naming the URL', async () => {
    const io = memoryIo();
    const t0 = Date.now();
    expect(await runCli(['sweep', 'submit', spec, '--redis', 'redis://127.0.0.1:1', '--out', path.join(dir, 'never')], io)).toBe(1);
    expect(io.err()).toContain('cannot reach Redis at redis://127.0.0.1:1');
    expect(Date.now() - t0).toBeLessThan(10_000);
    await expect(checkRedis('redis://127.0.0.1:1')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('survives a worker killed mid-run and matches the embedded default', async () => {
    const embedded = path.join(dir, 'embedded');
    const queued = path.join(dir, 'queued');

    // The embedded default: same spec, no Redis, runs in child processes on this machine.
    const io = memoryIo();
    const code = await runCli(['sweep', 'run', spec, '--out', embedded, '--concurrency', '2', '--threads', '1', '--quiet'], io);
    expect(code, io.err()).toBe(0);
    expect(JSON.parse(io.out())).toMatchObject({ total: 8, ran: 8, failed: [] });

    // Submitted twice: the second submit finds every run queued and adds nothing.
    const first = memoryIo();
    expect(await runCli(['sweep', 'submit', spec, '--redis', URL, '--out', queued, '--quiet'], first), first.err()).toBe(0);
    expect(JSON.parse(first.out())).toMatchObject({ total: 8, enqueued: 8, queued: 0, finished: 0 });
    const second = memoryIo();
    expect(await runCli(['sweep', 'submit', spec, '--redis', URL, '--out', queued, '--quiet'], second), second.err()).toBe(0);
    expect(JSON.parse(second.out())).toMatchObject({ total: 8, enqueued: 0, queued: 8 });

    // Two workers, one thread each (as the embedded run), short locks so a dead worker's run is
    // picked up within seconds.
    for (let i = 0; i < 2; i++) {
      workers.push(spawnCli(['worker', '--redis', URL, '--threads', '1', '--lock-seconds', '4', '--stalled-seconds', '2']));
    }
    const storage = new DirectoryStorage(queued);

    // Kill the worker of an AdvProp run (the slower mode) whose last checkpoint is in its first
    // 24 of 60 steps: the run has a checkpoint to resume from and most of its steps still to do.
    const victim = await waitFor(
      'a running AdvProp run with an early checkpoint',
      async () => {
        const manifest = await storage.readManifest();
        for (const run of manifest?.runs ?? []) {
          if (run.config.mode !== 'advprop') continue;
          const runDir = path.join(queued, STORAGE_FILES.runs, run.id);
          const attempt = JSON.parse(await readFile(path.join(runDir, STORAGE_FILES.attempt), 'utf8').catch(() => 'null')) as RunAttempt | null;
          const latest = JSON.parse(await readFile(path.join(runDir, 'checkpoints', 'latest.json'), 'utf8').catch(() => 'null')) as {
            position?: { step?: number };
          } | null;
          const worker = workers.find((w) => w.pid === attempt?.parent_pid);
          const step = latest?.position?.step;
          if (worker && step !== undefined && step > 0 && step <= 24) return { id: run.id, worker };
        }
        return undefined;
      },
      180_000,
      10,
    );
    victim.worker.kill('SIGKILL');
    await exited(victim.worker);

    const results = await waitFor(
      'all 8 runs in results.jsonl',
      async () => {
        const r = await resultsById(queued).catch(() => new Map());
        return r.size === 8 ? r : undefined;
      },
      300_000,
      500,
    );

    // The killed run was retried and resumed from its checkpoint; every other run ran once.
    const killed = results.get(victim.id);
    expect(killed?.cost.attempts).toBeGreaterThan(1);
    expect(killed?.summary.resumed_from).toBeDefined();
    for (const [id, r] of results) if (id !== victim.id) expect(r.cost.attempts, `run ${id}`).toBe(1);

    // Equal to the embedded default: summaries (timing fields aside) and model files byte for byte.
    const reference = await resultsById(embedded);
    expect([...results.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [id, r] of results) {
      const ref = reference.get(id);
      expect(comparableSummary(r.summary), `run ${id} (${r.group})`).toEqual(comparableSummary(ref!.summary));
      expect(r.config).toEqual(ref!.config);
      const a = await modelFiles(queued, id);
      const b = await modelFiles(embedded, id);
      expect([...a.keys()]).toEqual([...b.keys()]);
      for (const [f, bytes] of a) expect(bytes.equals(b.get(f)!), `run ${id}: ${f} differs`).toBe(true);
    }

    // Status: every run done, the killed one counted as retried.
    const status = memoryIo();
    expect(await runCli(['sweep', 'status', '--out', queued, '--redis', URL, '--format', 'json'], status), status.err()).toBe(0);
    const s = JSON.parse(status.out()) as { counts: Record<string, number>; retried: number };
    expect(s.counts.done).toBe(8);
    expect(s.retried).toBeGreaterThanOrEqual(1);

    // Submitting again enqueues nothing: every run is finished.
    const third = memoryIo();
    expect(await runCli(['sweep', 'submit', spec, '--redis', URL, '--out', queued, '--quiet'], third), third.err()).toBe(0);
    expect(JSON.parse(third.out())).toMatchObject({ total: 8, enqueued: 0, finished: 8 });

    // The results table over the queued sweep.
    const table = memoryIo();
    expect(await runCli(['sweep', 'results', '--out', queued], table)).toBe(0);
    expect(table.out()).toMatch(/\| mode=vanilla \| 4 \| .*\|/);
    expect(table.out()).toContain('8 of 8 runs finished');

    for (const w of workers) w.kill('SIGTERM');
    for (const w of workers) await exited(w);
    // results.jsonl lists each run once (resultsById checks it), so each run ran to completion once.
    expect((await resultsById(queued)).size).toBe(8);
  }, 600_000);
});
