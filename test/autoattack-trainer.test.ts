/**
 * The AutoAttack suite in the trainer's evaluation config: summary.json gets the per-attack
 * breakdown under `autoattack`.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '@advprop/backends';
import { train } from '@advprop/trainer';
import { memoryIo, runCli } from '@advprop/cli';

let tmp: string;
beforeAll(async () => {
  await useBackend('wasm');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-autoattack-'));
});
afterAll(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

describe('evaluation.autoattack', () => {
  it('runs after training and lands in summary.json', async () => {
    const outDir = path.join(tmp, 'run');
    const result = await train({
      mode: 'vanilla',
      dataset: { name: 'mnist-package' },
      model: { name: 'small-cnn', options: { filters: 8 } },
      limit: 400,
      epochs: 1,
      batchSize: 32,
      seed: 1,
      evaluation: { attacks: [], limit: 50, epochLimit: 0, autoattack: { epsilon: '0.1', limit: 12, steps: 5, squareQueries: 50 } },
      callbacks: [],
      outDir,
    });
    const aa = result.summary.autoattack;
    expect(aa).toMatchObject({ suite: 'autoattack', version: 'standard', norm: 'linf', epsilon: 0.1, examples: 12 });
    expect(aa?.attacks.map((a) => a.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(aa?.robustAccuracy).toBeLessThanOrEqual(aa?.cleanAccuracy ?? 0);
    const written = JSON.parse(await fs.readFile(path.join(outDir, 'summary.json'), 'utf8'));
    expect(written.autoattack).toEqual(JSON.parse(JSON.stringify(aa)));
    // the same suite from the command line, on the run directory
    const io = memoryIo();
    const code = await runCli(['eval', '--run', outDir, '--suite', 'autoattack', '--epsilon', '0.1', '--steps', '5', '--limit', '12', '--quiet'], io);
    expect(code).toBe(0);
    const printed = JSON.parse(io.out().trim().split('\n').at(-1) as string);
    expect(printed.autoattack.attacks.map((a: { name: string }) => a.name)).toEqual(['apgd-ce', 'apgd-t', 'fab-t', 'square']);
    expect(printed.autoattack.cleanAccuracy).toBe(aa?.cleanAccuracy);
    const bad = memoryIo();
    expect(await runCli(['eval', '--run', outDir, '--suite', 'autoattack', '--version', 'fast'], bad)).toBe(2);
    expect(bad.err()).toMatch(/--version/);
    await expect(
      train({ mode: 'vanilla', dataset: { name: 'mnist-package' }, epochs: 1, limit: 32, evaluation: { autoattack: { norm: 'l1' } as never }, callbacks: [] }),
    ).rejects.toThrow(/evaluation\.autoattack\.norm/);
  });
});
