/**
 * `advprop sweep submit --first`: the runs go ahead of the runs already waiting, in the spec's
 * order. A plain BullMQ worker on the sweep queue records the order in which it is handed the
 * jobs (no training). Needs ADVPROP_TEST_REDIS_URL (CI starts one).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from '@advprop/cli';
import { jobIdOf, loadSweep, QUEUE_NAME, redisConnection } from '@advprop/sweep';
import { tinySpec } from './sweep-helpers.js';

const REDIS = process.env.ADVPROP_TEST_REDIS_URL;
// A database of its own, so other tests on the same server never share this queue.
const URL = REDIS ? `${REDIS.replace(/\/\d*$/, '')}/8` : '';

describe.skipIf(!REDIS)('advprop sweep submit --first (ADVPROP_TEST_REDIS_URL)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'advprop-submit-first-'));
    const redis = new Redis(URL, { maxRetriesPerRequest: 1 });
    await redis.flushdb();
    redis.disconnect();
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('queues the runs ahead of the waiting ones, keeping the spec order', async () => {
    const long = path.join(dir, 'long.yaml');
    const urgent = path.join(dir, 'urgent.yaml');
    await writeFile(long, tinySpec([0, 1], 64));
    await writeFile(urgent, tinySpec([7], 64));
    const root = path.join(dir, 'root');

    const submit = async (args: string[]) => {
      const io = memoryIo();
      expect(await runCli(['sweep', 'submit', ...args, '--redis', URL, '--out', root, '--quiet'], io), io.err()).toBe(0);
      return JSON.parse(io.out()) as { enqueued: number };
    };
    expect(await submit([long])).toMatchObject({ enqueued: 4 });
    expect(await submit([urgent, '--first'])).toMatchObject({ enqueued: 2 });
    // Submitting again with --first moves nothing: the runs are queued already.
    expect(await submit([long, '--first'])).toMatchObject({ enqueued: 0 });

    const order = [...(await loadSweep(urgent)).runs, ...(await loadSweep(long)).runs].map((r) => jobIdOf(path.resolve(root), r.id));
    const seen: string[] = [];
    const connection = redisConnection(URL);
    const worker = new Worker(
      QUEUE_NAME,
      async (job) => {
        seen.push(job.id ?? '');
      },
      { connection, concurrency: 1 },
    );
    try {
      const deadline = Date.now() + 20_000;
      while (seen.length < order.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await worker.close();
      connection.disconnect();
    }
    expect(seen).toEqual(order);
  });

  it('refuses --first outside submit', async () => {
    const io = memoryIo();
    expect(await runCli(['sweep', 'run', path.join(dir, 'long.yaml'), '--first', '--out', path.join(dir, 'never')], io)).toBe(2);
    expect(io.err()).toContain('--first applies to "advprop sweep submit" only, not "run"');
  });
});
