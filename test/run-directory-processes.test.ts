/**
 * Run directories across processes (issue 13): `advprop train` interrupted by SIGINT or SIGTERM in
 * the middle of an epoch checkpoints its true position, exits non-zero saying how to resume, and
 * `--resume` ends bit for bit where an uninterrupted run ends; two processes on one run directory:
 * the second refuses cleanly and the first is unharmed.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finalWeights, spawnFixture, type ChildExit } from './fixtures/trainer-child-process.js';

let tmp: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-run-processes-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

// 400 images in batches of 20: 20 steps per epoch, 40 in all; the small CNN with 4 filters on cpu.
const trainArgs = (out: string, ...extra: string[]) => [
  'train',
  '--out', out,
  '--mode', 'advprop',
  '--dataset', 'mnist-package',
  '--model', 'small-cnn',
  '--set', 'model.options.filters=4',
  '--limit', '400',
  '--batch-size', '20',
  '--epochs', '2',
  '--seed', '5',
  '--backend', 'cpu',
  '--eval-limit', '100',
  '--set', 'evaluation.attacks=[]',
  '--set', 'evaluation.epochLimit=50',
  '--quiet',
  ...extra,
];

async function batchSteps(outDir: string): Promise<number[]> {
  const text = await fs.readFile(path.join(outDir, 'metrics.jsonl'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{') && l.endsWith('}'))
    .map((l) => JSON.parse(l) as { type: string; step: number })
    .filter((r) => r.type === 'batch')
    .map((r) => r.step);
}

async function waitFor(condition: () => Promise<boolean>, what: string, child: Promise<ChildExit>): Promise<void> {
  let exited: ChildExit | undefined;
  void child.then((e) => (exited = e));
  const deadline = Date.now() + 120_000;
  while (!(await condition())) {
    if (exited) throw new Error(`the child exited before ${what}: ${exited.stderr}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('1: advprop train interrupted by a signal mid-epoch, then --resume', () => {
  let expected: number[][];
  beforeAll(async () => {
    const full = path.join(tmp, 'full');
    const exit = await spawnFixture('cli-child.mts', trainArgs(full)).done;
    expect(exit.code, exit.stderr).toBe(0);
    expected = await finalWeights(full);
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('%s: the step in flight finishes, a checkpoint of the true position, exit %i; the resume ends bitwise equal', async (signal, status) => {
    const outDir = path.join(tmp, signal);
    const child = spawnFixture('cli-child.mts', trainArgs(outDir));
    await waitFor(async () => (await batchSteps(outDir)).length >= 4, 'step 4', child.done);
    child.proc.kill(signal);
    const exit = await child.done;
    expect(exit.code, exit.stderr).toBe(status);
    expect(exit.stderr).toMatch(new RegExp(`training stopped at epoch 1, after batch \\d+ of 20 \\(step \\d+\\): interrupted by ${signal}`));
    expect(exit.stderr).toContain(`To continue: advprop train --out ${outDir} --resume`);
    await expect(fs.access(path.join(outDir, 'summary.json'))).rejects.toThrow();
    await expect(fs.access(path.join(outDir, 'lock.json'))).rejects.toThrow();
    const latest = JSON.parse(await fs.readFile(path.join(outDir, 'checkpoints', 'latest.json'), 'utf8')) as {
      position: { epoch: number; batchInEpoch: number; step: number };
    };
    const stoppedAt = (await batchSteps(outDir)).at(-1) as number;
    // The true position: mid epoch 1, at the last logged step (before: "epoch 2, batch 0").
    expect(latest.position).toEqual({ epoch: 0, batchInEpoch: stoppedAt, step: stoppedAt });
    expect(stoppedAt).toBeLessThan(20);

    const resumed = await spawnFixture('cli-child.mts', ['train', '--out', outDir, '--resume', '--backend', 'cpu', '--quiet']).done;
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout.trim().split('\n').at(-1) as string) as { steps: number; resumed_from: unknown };
    expect(summary.steps).toBe(40);
    expect(summary.resumed_from).toEqual({ epoch: 0, step: stoppedAt });
    expect(await batchSteps(outDir)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(await finalWeights(outDir)).toEqual(expected);
  });
});

describe('7: two processes on one run directory', () => {
  it('the second refuses cleanly, naming the first; the first run is unharmed', async () => {
    const outDir = path.join(tmp, 'shared');
    const first = spawnFixture('trainer-child.mts', [outDir]);
    await waitFor(
      () => fs.access(path.join(outDir, 'lock.json')).then(() => true, () => false),
      'the lock file',
      first.done,
    );
    const second = await spawnFixture('trainer-child.mts', [outDir, 'resume']).done;
    expect(second.code).not.toBe(0);
    expect(second.stderr).toMatch(new RegExp(`RunLockedError: run directory ${outDir} is in use by process ${first.proc.pid} on host ${os.hostname()}`));
    const exit = await first.done;
    expect(exit.code, exit.stderr).toBe(0);
    expect(await batchSteps(outDir)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    await expect(fs.access(path.join(outDir, 'lock.json'))).rejects.toThrow();
  });
});
