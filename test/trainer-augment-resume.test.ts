/**
 * Kill and resume with data augmentation: crops and flips are drawn from each step's random
 * stream, so a run SIGKILLed after a checkpoint and resumed in a new process ends with the same
 * weights, bit for bit, as an uninterrupted run (the child of trainer-resume.test.ts, with
 * ADVPROP_CHILD_AUGMENT=1), and differs from the same run without augmentation.
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
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-augment-resume-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

const start = (outDir: string, options: { resume?: boolean; augment?: boolean } = {}) =>
  startTrainerChild(outDir, { ...(options.resume ? { resume: true } : {}), env: { ADVPROP_CHILD_AUGMENT: options.augment === false ? '0' : '1' } });

describe('kill and resume with augmentation', () => {
  it('a SIGKILLed augmented run resumes to the same final weights as an uninterrupted one', async () => {
    const full = path.join(tmp, 'full');
    const killed = path.join(tmp, 'killed');
    const plain = path.join(tmp, 'plain');
    const a = start(full);
    const b = start(killed);
    const latestFile = path.join(killed, 'checkpoints', 'latest.json');
    const deadline = Date.now() + 120_000;
    while (!(await exists(latestFile))) {
      if (Date.now() > deadline) throw new Error(`no checkpoint appeared: ${(await b.done).stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    b.proc.kill('SIGKILL');
    const killedExit = await b.done;
    expect(killedExit.signal).toBe('SIGKILL');
    expect(await exists(path.join(killed, 'summary.json'))).toBe(false);
    const latest = JSON.parse(await fs.readFile(latestFile, 'utf8')) as { position: { epoch: number; step: number } };
    expect(latest.position.step).toBeLessThan(20);

    const resumed = start(killed, { resume: true });
    const [fullExit, resumedExit] = await Promise.all([a.done, resumed.done]);
    expect(fullExit.code, fullExit.stderr).toBe(0);
    expect(resumedExit.code, resumedExit.stderr).toBe(0);
    const summary = JSON.parse(resumedExit.stdout.trim().split('\n').at(-1) as string) as { resumed_from: unknown; steps: number };
    expect(summary.resumed_from).toEqual({ epoch: latest.position.epoch, step: latest.position.step });
    expect(summary.steps).toBe(20);
    const expected = await finalWeights(full);
    expect(await finalWeights(killed)).toEqual(expected);

    // The augmentation is really applied: without it the same run ends elsewhere.
    const p = start(plain, { augment: false });
    expect((await p.done).code).toBe(0);
    expect(await finalWeights(plain)).not.toEqual(expected);
  });
});
