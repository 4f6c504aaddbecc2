/**
 * End to end through `runCli` (the function behind the `advprop` bin): a short AdvProp run on MNIST
 * from the `mnist` package, then eval / attack / inspect on its run directory, and the error paths
 * of the issue (unknown plugin, bad config field, unwritable output directory, existing run).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeNpy, memoryIo, runCli } from '@advprop/cli';

const SUMMARY_KEYS = [
  'mode',
  'dataset',
  'model',
  'backend',
  'epochs',
  'seed',
  'clean_accuracy',
  'aux_accuracy',
  'robust_accuracy',
  'images_per_second',
  'wall_seconds',
] as const;

let dir: string;
let runDir: string;
let trainOut: { code: number; out: string; err: string };

async function cli(argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

function expectFraction(value: unknown): void {
  expect(typeof value).toBe('number');
  expect(value as number).toBeGreaterThanOrEqual(0);
  expect(value as number).toBeLessThanOrEqual(1);
}

const TRAIN_ARGS = ['--limit', '300', '--epochs', '1', '--batch-size', '50', '--eval-limit', '100', '--eval-attacks', 'fgsm:0.1,pgd:0.1:2', '--seed', '3'];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-cli-e2e-'));
  runDir = path.join(dir, 'run');
  trainOut = await cli(['train', ...TRAIN_ARGS, '--quiet', '--out', runDir]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('advprop train', () => {
  it('trains, writes the run directory and prints the summary as one JSON line', async () => {
    expect(trainOut.code, trainOut.err).toBe(0);
    expect(trainOut.err).toBe(''); // --quiet: nothing but errors
    const lines = trainOut.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const printed = JSON.parse(lines[0] as string) as Record<string, unknown>;
    const summary = JSON.parse(await readFile(path.join(runDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    expect(printed).toEqual(summary);
    for (const key of SUMMARY_KEYS) expect(summary).toHaveProperty(key);
    expect(summary).toMatchObject({ mode: 'advprop', dataset: 'mnist-package', model: 'small-cnn', epochs: 1, seed: 3 });
    expect(typeof summary.backend).toBe('string');
    expectFraction(summary.clean_accuracy);
    expectFraction(summary.aux_accuracy);
    expect(Object.keys(summary.robust_accuracy as object).sort()).toEqual(['fgsm', 'pgd']);
    for (const v of Object.values(summary.robust_accuracy as object)) expectFraction(v);
    expect(summary.images_per_second as number).toBeGreaterThan(0);
    expect(summary.wall_seconds as number).toBeGreaterThan(0);
    const files = await readdir(runDir);
    for (const f of ['config.json', 'metrics.jsonl', 'checkpoints', 'model-dual', 'model-inference', 'summary.json']) expect(files).toContain(f);
    const config = JSON.parse(await readFile(path.join(runDir, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({ limit: 300, epochs: 1, batchSize: 50, seed: 3, attacker: { name: 'pgd', options: { epsilon: 0.1, steps: 1 } } });
  });

  it('refuses to overwrite an existing run without --resume, leaving it intact', async () => {
    const before = await readFile(path.join(runDir, 'summary.json'), 'utf8');
    const r = await cli(['train', ...TRAIN_ARGS, '--quiet', '--out', runDir]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('already holds a run');
    expect(r.err).toContain('--resume');
    expect(r.out).toBe('');
    expect(await readFile(path.join(runDir, 'summary.json'), 'utf8')).toBe(before);
  });
});

describe('advprop train --resume', () => {
  it('continues a finished run from its checkpoint to more epochs', async () => {
    const out = path.join(dir, 'resumed');
    const first = await cli(['train', ...TRAIN_ARGS, '--quiet', '--out', out]);
    expect(first.code, first.err).toBe(0);
    // The run's config.json is the base: only what changes needs a flag.
    const second = await cli(['train', '--epochs', '2', '--quiet', '--out', out, '--resume']);
    expect(second.code, second.err).toBe(0);
    const summary = JSON.parse(second.out.trim()) as Record<string, unknown>;
    expect(summary).toMatchObject({ epochs: 2, steps: 12, epochs_completed: 2, resumed_from: { step: 6 } });
    expect(JSON.parse(await readFile(path.join(out, 'summary.json'), 'utf8'))).toEqual(summary);
    // A changed setting that the run depends on is refused, naming it.
    const changed = await cli(['train', '--epochs', '3', '--batch-size', '25', '--quiet', '--out', out, '--resume']);
    expect(changed.code).toBe(1);
    expect(changed.err).toContain('batchSize');
  });
});

describe('advprop eval', () => {
  it('re-evaluates the run and prints one JSON object with the summary keys and the same figures', async () => {
    const r = await cli(['eval', '--run', runDir]);
    expect(r.code, r.err).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const figures = JSON.parse(lines[0] as string) as Record<string, unknown>;
    for (const key of SUMMARY_KEYS) expect(figures).toHaveProperty(key);
    const summary = JSON.parse(await readFile(path.join(runDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    // Same saved weights, same seeded subset and attack randomness, same backend: same figures.
    expect(figures).toMatchObject({ mode: 'advprop', dataset: 'mnist-package', model: 'small-cnn', epochs: 1, seed: 3, backend: summary.backend });
    expect(figures.clean_accuracy).toBeCloseTo(summary.clean_accuracy as number, 6);
    expect(figures.aux_accuracy).toBeCloseTo(summary.aux_accuracy as number, 6);
    const robust = figures.robust_accuracy as Record<string, number>;
    const saved = summary.robust_accuracy as Record<string, number>;
    expect(Object.keys(robust).sort()).toEqual(['fgsm', 'pgd']);
    expect(robust.fgsm).toBeCloseTo(saved.fgsm as number, 6);
    expect(figures.images_per_second as number).toBeGreaterThan(0);
    expect(figures.wall_seconds as number).toBeGreaterThan(0);
  });
});

describe('advprop eval --model', () => {
  it('evaluates a saved inference-only model on the same seeded subset', async () => {
    const r = await cli(['eval', '--model', path.join(runDir, 'model-inference'), '--dataset', 'mnist-package', '--eval-attacks', 'fgsm:0.1', '--limit', '100', '--seed', '3']);
    expect(r.code, r.err).toBe(0);
    const figures = JSON.parse(r.out.trim()) as Record<string, unknown>;
    const summary = JSON.parse(await readFile(path.join(runDir, 'summary.json'), 'utf8')) as Record<string, unknown>;
    // The inference model keeps the main BN only: same clean accuracy, no aux figure.
    expect(figures.clean_accuracy).toBeCloseTo(summary.clean_accuracy as number, 6);
    expect(figures.aux_accuracy).toBeNull();
    expect(Object.keys(figures.robust_accuracy as object)).toEqual(['fgsm']);
  });
});

describe('advprop attack', () => {
  it('reports robust accuracy and perturbation norms within epsilon, and saves .npy files', async () => {
    const out = path.join(dir, 'adv');
    const r = await cli(['attack', '--run', runDir, '--attacker', 'pgd', '--epsilon', '0.1', '--steps', '2', '--count', '40', '--out', out]);
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out.trim()) as Record<string, number>;
    expect(report.count).toBe(40);
    expectFraction(report.clean_accuracy);
    expectFraction(report.robust_accuracy);
    expectFraction(report.attack_success_rate);
    expect(report.max_linf).toBeGreaterThan(0);
    expect(report.max_linf).toBeLessThanOrEqual(0.1 + 1e-5);
    expect(report.mean_linf).toBeLessThanOrEqual(report.max_linf as number);
    expect(report.mean_l2).toBeGreaterThan(0);
    const adv = decodeNpy(await readFile(path.join(out, 'adversarial.npy')));
    const clean = decodeNpy(await readFile(path.join(out, 'clean.npy')));
    const labels = decodeNpy(await readFile(path.join(out, 'labels.npy')));
    expect(adv.shape).toEqual([40, 28, 28, 1]);
    expect(labels.shape).toEqual([40]);
    let maxDiff = 0;
    for (let i = 0; i < adv.data.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs((adv.data[i] as number) - (clean.data[i] as number)));
      expect(adv.data[i]).toBeGreaterThanOrEqual(0);
      expect(adv.data[i]).toBeLessThanOrEqual(1);
    }
    expect(maxDiff).toBeCloseTo(report.max_linf as number, 5);
    expect(JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8'))).toMatchObject({ count: 40, attacker: 'pgd' });
  });
});

describe('advprop inspect', () => {
  it('lists plugins by kind with option fields', async () => {
    const r = await cli(['inspect', '--json']);
    expect(r.code, r.err).toBe(0);
    const listing = JSON.parse(r.out) as { kind: string; name: string; options: { name: string; default?: unknown }[] }[];
    const names = (kind: string) => listing.filter((p) => p.kind === kind).map((p) => p.name);
    expect(names('model')).toContain('small-cnn');
    expect(names('dataset')).toContain('mnist-package');
    expect(names('attacker')).toEqual(expect.arrayContaining(['fgsm', 'pgd']));
    expect(names('backend')).toEqual(expect.arrayContaining(['wasm', 'cpu']));
    const pgd = listing.find((p) => p.kind === 'attacker' && p.name === 'pgd');
    expect(pgd?.options.map((o) => o.name)).toEqual(expect.arrayContaining(['epsilon', 'steps']));
    const text = await cli(['inspect', '--kind', 'attacker']);
    expect(text.code).toBe(0);
    expect(text.out).toContain('attacker plugins:');
    expect(text.out).toMatch(/steps: integer.*= 10/);
  });

  it('shows a run directory', async () => {
    const r = await cli(['inspect', '--run', runDir]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('mode advprop, dataset mnist-package');
    expect(r.out).toContain('checkpoints/');
    expect(r.out).toContain('clean accuracy');
  });
});

describe('bad input', () => {
  it('an unknown model lists the known ones, fails before creating the output directory', async () => {
    const out = path.join(dir, 'never');
    const r = await cli(['train', '--model', 'resnet-9000', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('No model plugin named "resnet-9000"');
    expect(r.err).toContain('"small-cnn"');
    expect(r.err).toContain('"resnet20"');
    expect(r.out).toBe('');
    expect(existsSync(out)).toBe(false);
  });

  it('an unknown attacker and dataset list the known ones', async () => {
    const a = await cli(['train', '--attacker', 'pgdd', '--out', path.join(dir, 'never2')]);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/No attacker plugin named "pgdd".*"fgsm".*"pgd"/);
    const d = await cli(['eval', '--run', runDir, '--dataset', 'mnistt']);
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/No dataset plugin named "mnistt".*"mnist-package"/);
    const b = await cli(['train', '--backend', 'tpu', '--out', path.join(dir, 'never3')]);
    expect(existsSync(path.join(dir, 'never3'))).toBe(false);
    expect(b.code).toBe(1);
    expect(b.err).toMatch(/No backend plugin named "tpu".*"wasm"/);
  });

  it('a data directory for a dataset that takes none says which datasets do', async () => {
    const r = await cli(['train', '--data-dir', dir, '--out', path.join(dir, 'never7')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/dataset "mnist-package" takes no data directory.*cifar10.*idx/);
    expect(existsSync(path.join(dir, 'never7'))).toBe(false);
  });

  it('a bad field in a YAML config names the file and the field', async () => {
    const file = path.join(dir, 'bad.yaml');
    await writeFile(file, 'epochs: 0\nbatchSize: 1.5\n');
    const r = await cli(['train', '--config', file, '--out', path.join(dir, 'never4')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`config file ${file}`);
    expect(r.err).toMatch(/epochs: Too small/);
    expect(r.err).toMatch(/batchSize: /);
    const opt = await cli(['train', '--optimizer', 'rmsprop', '--out', path.join(dir, 'never6')]);
    expect(opt.code).toBe(1);
    expect(opt.err).toMatch(/No optimizer plugin named "rmsprop".*"adam".*"sgd"/);
    expect(existsSync(path.join(dir, 'never6'))).toBe(false);
    const typo = path.join(dir, 'typo.yaml');
    await writeFile(typo, 'epoch: 2\n');
    const t = await cli(['train', '--config', typo]);
    expect(t.code).toBe(1);
    expect(t.err).toContain('epoch: unknown field (did you mean "epochs"?)');
    const badOption = path.join(dir, 'bad-option.yaml');
    await writeFile(badOption, 'attacker: { name: pgd, options: { steps: -1 } }\n');
    const o = await cli(['train', '--config', badOption, '--out', path.join(dir, 'never5')]);
    expect(o.code).toBe(1);
    expect(o.err).toMatch(/attacker "pgd"[\s\S]*steps/);
  });

  it('an unwritable output directory (a path under a regular file) fails clearly, before training', async () => {
    const file = path.join(dir, 'plain-file');
    await writeFile(file, 'keep me');
    const started = Date.now();
    const r = await cli(['train', '--out', path.join(file, 'run')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`output directory ${path.join(file, 'run')} is not writable`);
    expect(r.out).toBe('');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await readFile(file, 'utf8')).toBe('keep me');
    const attackOut = await cli(['attack', '--run', runDir, '--count', '10', '--out', path.join(file, 'adv')]);
    expect(attackOut.code).toBe(1);
    expect(attackOut.err).toContain('is not writable');
  });

  it('eval and attack name a missing run directory; --resume needs a run', async () => {
    const e = await cli(['eval', '--run', path.join(dir, 'nope')]);
    expect(e.code).toBe(1);
    expect(e.err).toContain('no such run directory');
    const empty = path.join(dir, 'empty');
    await mkdir(empty);
    const r = await cli(['train', '--resume', '--out', empty]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('holds no run to resume');
    expect((await stat(empty)).isDirectory()).toBe(true);
  });
});
