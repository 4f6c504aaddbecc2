/**
 * One home for defaults: `advprop train` runs the trainer's `mnist-advprop` preset, so the CLI
 * and `train({ preset: 'mnist-advprop' })` train the same experiment and print the same summary
 * (timings aside). Shortened by the same overrides on both sides (cpu backend, 128 images, 1 epoch).
 * `--print-config` prints the resolved config and trains nothing.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from '@advprop/cli';
import { TRAIN_PRESETS, resolveTrainConfig, train } from '@advprop/trainer';

let dir: string;
beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-cli-preset-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const TIMINGS = ['wall_seconds', 'images_per_second'];
const withoutTimings = (s: Record<string, unknown>) => Object.fromEntries(Object.entries(s).filter(([k]) => !TIMINGS.includes(k)));

describe('advprop train and train(preset)', () => {
  it('print the same summary', async () => {
    const io = memoryIo();
    const code = await runCli(['train', '--limit', '128', '--epochs', '1', '--eval-limit', '20', '--backend', 'cpu', '--quiet', '--out', path.join(dir, 'cli')], io);
    expect(code, io.err()).toBe(0);
    const fromCli = JSON.parse(io.out().trim()) as Record<string, unknown>;

    const result = await train({ preset: 'mnist-advprop', limit: 128, epochs: 1, evaluation: { limit: 20 }, backend: 'cpu', callbacks: [] });
    const fromTrain = result.summary as unknown as Record<string, unknown>;
    result.dispose();
    expect(withoutTimings(fromCli)).toEqual(withoutTimings(fromTrain));
    expect(fromCli).toMatchObject({ mode: 'advprop', dataset: 'mnist-package', model: 'small-cnn', steps: 2 });
    expect(Object.keys(fromCli.robust_accuracy as object)).toEqual(['fgsm', 'pgd']);
  });

  it('--print-config prints the resolved preset and writes nothing', async () => {
    const io = memoryIo();
    const out = path.join(dir, 'printed');
    const code = await runCli(['train', '--print-config', '--epochs', '3', '--out', out], io);
    expect(code, io.err()).toBe(0);
    const printed = JSON.parse(io.out()) as Record<string, unknown>;
    expect(printed).toEqual(resolveTrainConfig({ preset: 'mnist-advprop', epochs: 3, outDir: out }));
    expect(printed).toMatchObject({ ...TRAIN_PRESETS['mnist-advprop'], epochs: 3, modeOptions: { lambda: 1, attackBnStatistics: 'running' } });
    await expect(readdir(out)).rejects.toThrow(/ENOENT/);
  });

  it('an unknown preset is named with the list of presets', async () => {
    expect(() => resolveTrainConfig({ preset: 'imagenet' })).toThrow(/preset: unknown preset "imagenet"; available: mnist-advprop/);
    const io = memoryIo();
    expect(await runCli(['train', '--preset', 'imagenet', '--print-config'], io)).not.toBe(0);
    expect(io.err()).toMatch(/unknown preset "imagenet"/);
  });
});
