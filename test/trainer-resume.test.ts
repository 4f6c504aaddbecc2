/**
 * Kill and resume: a child process training AdvProp on MNIST is SIGKILLed after its first
 * checkpoint (preferably while it is writing the next one), then resumed in a new process; its final
 * weights must equal, bit for bit, those of an uninterrupted run with the same seed.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exists, finalWeights, startTrainerChild } from './fixtures/trainer-child-process.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-resume-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const start = (outDir: string, resume = false, env: Record<string, string> = {}) => startTrainerChild(outDir, { resume, env });

describe('kill and resume', () => {
  it('a SIGKILLed run resumes to the same final weights as an uninterrupted run', async () => {
    const full = path.join(tmp, 'full');
    const killed = path.join(tmp, 'killed');
    const a = start(full);
    const b = start(killed);
    const checkpoints = path.join(killed, 'checkpoints');
    // Wait for the first complete checkpoint, then for a checkpoint write in progress (.tmp-*),
    // and kill the child there (or after 3 s if no write was caught).
    const deadline = Date.now() + 120_000;
    while (!(await exists(path.join(checkpoints, 'latest.json')))) {
      if (Date.now() > deadline) throw new Error(`no checkpoint appeared: ${(await b.done).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    let duringWrite = false;
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      const entries = await fs.readdir(checkpoints).catch(() => [] as string[]);
      if (entries.some((e) => e.startsWith('.tmp-'))) {
        duringWrite = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    b.proc.kill('SIGKILL');
    const killedExit = await b.done;
    expect(killedExit.signal).toBe('SIGKILL');
    expect(await exists(path.join(killed, 'summary.json'))).toBe(false);
    const latest = JSON.parse(await fs.readFile(path.join(checkpoints, 'latest.json'), 'utf8'));
    console.info(`killed at checkpoint ${latest.checkpoint}${duringWrite ? ' during a checkpoint write' : ''}`);

    const resumed = start(killed, true);
    const [fullExit, resumedExit] = await Promise.all([a.done, resumed.done]);
    expect(fullExit.code, fullExit.stderr).toBe(0);
    expect(resumedExit.code, resumedExit.stderr).toBe(0);
    const summary = JSON.parse(resumedExit.stdout.trim().split('\n').at(-1) as string);
    expect(summary.resumed_from).toEqual({ epoch: latest.position.epoch, step: latest.position.step });
    expect(summary.steps).toBe(20);

    const expected = await finalWeights(full);
    const actual = await finalWeights(killed);
    expect(actual.length).toBe(expected.length);
    expect(actual).toEqual(expected);
    // metrics.jsonl holds each step once.
    const steps = (await fs.readFile(path.join(killed, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type === 'batch')
      .map((l) => l.step);
    expect(steps).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it('a kill during the final export leaves no leftovers after the next start, and the run ends as an uninterrupted one', async () => {
    const full = path.join(tmp, 'full');
    const killed = path.join(tmp, 'killed-in-export');
    const first = await start(killed, false, { ADVPROP_TEST_KILL_IN_EXPORT: '1' }).done;
    expect(first.signal, first.stderr).toBe('SIGKILL');
    expect(await exists(path.join(killed, 'summary.json'))).toBe(false);
    const inference = path.join(killed, 'model-inference');
    const leftBehind = await fs.readdir(inference);
    // The kill came before model.json: its temporary file and the unreferenced shards are there.
    expect(leftBehind.some((f) => f.startsWith('.model.json.') && f.endsWith('.tmp'))).toBe(true);
    expect(leftBehind.some((f) => f.endsWith('.bin'))).toBe(true);
    expect(leftBehind).not.toContain('model.json');

    const resumed = await start(killed, true).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout.trim().split('\n').at(-1) as string);
    expect(summary.steps).toBe(20);
    const json = JSON.parse(await fs.readFile(path.join(inference, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    expect((await fs.readdir(inference)).sort()).toEqual(['model.json', ...json.weightsManifest.flatMap((g) => g.paths)].sort());
    const everything = async (d: string): Promise<string[]> =>
      (await fs.readdir(d, { withFileTypes: true })).flatMap((e) => [e.name]).concat(
        ...(await Promise.all((await fs.readdir(d, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => everything(path.join(d, e.name))))),
      );
    const names = await everything(killed);
    expect(names.filter((n) => n.endsWith('.tmp') || n.startsWith('.tmp-') || n === 'lock.json')).toEqual([]);
    expect(await finalWeights(killed)).toEqual(await finalWeights(full)); // `full` from the test above
  });
});
