/**
 * Run directories (issue 13), in process on the tiny synthetic setup: each numbered finding is
 * reproduced and the fixed behaviour asserted. Stops and resumes must end bit for bit where an
 * uninterrupted run ends; refusals must name the file or field and change nothing.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  ConfigError,
  RunLockedError,
  ShapeError,
  TrainingDivergedError,
  TrainingInterruptedError,
  type Callback,
  type Logger,
} from '@advprop/core';
import { memoryIo, runCli } from '@advprop/cli';
import { loadModel } from '@advprop/dual-bn/node';
import { loadCheckpoint, loadRun, train } from '@advprop/trainer';
import { buildTinyModel, testRegistry, tinyConfig } from '../packages/trainer/src/__fixtures__/tiny.js';

let tmp: string;
let registry: ReturnType<typeof testRegistry>;
let expected: number[][];
const base = tinyConfig({ epochs: 2, callbacks: [{ name: 'metrics-logger' }] }); // 8 steps per epoch
const dir = (name: string) => path.join(tmp, name);
const weightsOf = (model: LayersModel) => model.weights.map((w) => Array.from(w.read().dataSync()));
const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {} };

beforeAll(async () => {
  await tf.setBackend('cpu');
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-run-directory-'));
  registry = testRegistry();
  const full = await train({ ...base, outDir: dir('full') }, { registry, log: silent });
  expected = weightsOf(full.model);
  full.dispose();
});
afterAll(async () => {
  await registry.dispose();
  await fs.rm(tmp, { recursive: true, force: true });
});

async function records(outDir: string): Promise<{ type: string; step: number; epoch: number }[]> {
  const text = await fs.readFile(path.join(outDir, 'metrics.jsonl'), 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; step: number; epoch: number });
}

async function expectEachStepOnce(outDir: string, steps = 16): Promise<void> {
  const all = await records(outDir);
  expect(all.filter((r) => r.type === 'batch').map((r) => r.step)).toEqual(Array.from({ length: steps }, (_, i) => i + 1));
  expect(all.filter((r) => r.type === 'epoch').map((r) => r.epoch)).toEqual(Array.from({ length: Math.ceil(steps / 8) }, (_, i) => i));
  expect(all.filter((r) => r.type === 'end')).toHaveLength(1);
}

/** Every path under `root` with the bytes of each file, to show that a refusal changed nothing. */
async function snapshot(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        out[`${path.relative(root, p)}/`] = '';
        await walk(p);
      } else out[path.relative(root, p)] = (await fs.readFile(p)).toString('base64');
    }
  };
  await walk(root);
  return out;
}

const crashAt = (step: number): Callback => ({
  onBatchEnd: (e) => {
    if (e.step === step) throw new Error('simulated crash');
  },
});

async function resumeAndCompare(outDir: string, extra: Record<string, unknown> = {}): Promise<void> {
  const resumed = await train({ ...base, ...extra, outDir, resume: true }, { registry, log: silent });
  try {
    expect(resumed.summary.steps).toBe(16);
    expect(weightsOf(resumed.model)).toEqual(expected); // bitwise
  } finally {
    resumed.dispose();
  }
  await expectEachStepOnce(outDir);
}

describe('1: a stop at any point resumes exactly where it stopped', () => {
  it.each([
    ['control.stop()', 5],
    ['an aborted signal', 11],
  ] as const)('%s mid-epoch checkpoints the true position, and the resume ends bitwise equal to an uninterrupted run', async (how, at) => {
    const outDir = dir(`stop-${at}`);
    const controller = new AbortController();
    const stopper: Callback = {
      onBatchEnd: (e, control) => {
        if (e.step !== at) return;
        if (how === 'control.stop()') control.stop('paused by a test');
        else controller.abort();
      },
    };
    const error = await train({ ...base, outDir }, { registry, log: silent, callbacks: [stopper], signal: controller.signal }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingInterruptedError);
    const position = { epoch: Math.floor(at / 8), batchInEpoch: at % 8, step: at };
    // Before: the epoch-end block still ran and the checkpoint said "next epoch, batch 0".
    expect((error as TrainingInterruptedError).position).toEqual(position);
    expect((await loadCheckpoint(outDir))?.position).toEqual(position);
    expect((error as Error).message).toMatch(/resume: true .*continues exactly here/);
    await expect(fs.access(path.join(outDir, 'summary.json'))).rejects.toThrow();
    await expect(fs.access(path.join(outDir, 'lock.json'))).rejects.toThrow();
    await resumeAndCompare(outDir);
  });

  it('early stopping records that it stopped: a resume refuses, and one after a kill during the export trains no further', async () => {
    const outDir = dir('early');
    // Monitoring the training loss in "max" mode never improves after the first epoch: patience 1 ends epoch 2 of 4.
    const config = { ...base, epochs: 4, earlyStopping: { monitor: 'loss', mode: 'max', patience: 1 } };
    const first = await train({ ...config, outDir }, { registry, log: silent });
    const weights = weightsOf(first.model);
    first.dispose();
    expect(first.summary.stopped_early).toMatch(/early stopping/);
    expect(first.summary.steps).toBe(16);
    expect((await loadCheckpoint(outDir))?.finished).toMatch(/early stopping/);
    await expect(train({ ...config, outDir, resume: true }, { registry, log: silent })).rejects.toThrow(/is finished: it stopped early/);
    // A kill during the final export leaves no summary.json and no models: the resume exports, without training on.
    for (const f of ['summary.json', 'model-dual', 'model-inference']) await fs.rm(path.join(outDir, f), { recursive: true });
    const again = await train({ ...config, outDir, resume: true }, { registry, log: silent });
    try {
      expect(again.summary.steps).toBe(16);
      expect(again.summary.stopped_early).toMatch(/early stopping/);
      expect(weightsOf(again.model)).toEqual(weights);
    } finally {
      again.dispose();
    }
  });
});

describe('2-4: resume refuses rather than guesses, naming the file', () => {
  it('2: latest.json deleted while checkpoints exist: refused, nothing changed; resumeFromNewest takes the newest valid one', async () => {
    const outDir = dir('no-latest');
    const config = { ...base, checkpoint: { everySteps: 4 } };
    await expect(train({ ...config, outDir }, { registry, log: silent, callbacks: [crashAt(10)] })).rejects.toThrow('simulated crash');
    await fs.rm(path.join(outDir, 'checkpoints', 'latest.json'));
    const before = await snapshot(outDir);
    const error = await train({ ...config, outDir, resume: true }, { registry, log: silent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toMatch(/latest\.json is missing, but .*checkpoints holds checkpoints \(ckpt-e1-b0-s8.*\); pass resumeFromNewest: true/);
    expect(await snapshot(outDir)).toEqual(before); // no restart, no deleted checkpoint, no doubled metrics
    await resumeAndCompare(outDir, { checkpoint: { everySteps: 4 }, resumeFromNewest: true });
  });

  it('3: a garbled best.json deletes nothing: every earlier checkpoint survives the resume', async () => {
    const outDir = dir('garbled-best');
    const one = await train({ ...base, epochs: 1, outDir }, { registry, log: silent });
    one.dispose();
    const root = path.join(outDir, 'checkpoints');
    const earlier = (await fs.readdir(root)).filter((e) => e.startsWith('ckpt-'));
    expect(earlier.length).toBeGreaterThan(0);
    await fs.writeFile(path.join(root, 'best.json'), '{"checkpoint": "ckpt-e');
    const resumed = await train({ ...base, outDir, resume: true }, { registry, log: silent });
    resumed.dispose();
    const after = await fs.readdir(root);
    for (const name of earlier) expect(after).toContain(name);
  });

  it('4: config.json deleted: refused naming it, instead of falling back to defaults', async () => {
    const outDir = dir('no-config');
    await expect(train({ ...base, outDir }, { registry, log: silent, callbacks: [crashAt(10)] })).rejects.toThrow('simulated crash');
    await fs.rm(path.join(outDir, 'config.json'));
    const before = await snapshot(outDir);
    const error = await train({ ...base, batchSize: 64, outDir, resume: true }, { registry, log: silent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain(`${path.join(outDir, 'config.json')} is missing`);
    expect(await snapshot(outDir)).toEqual(before);
  });
});

describe('5: a resume continues the same training', () => {
  it('refuses changed training fields and a finished run; config.json and summary.json stay as they were', async () => {
    const outDir = dir('changed');
    const first = await train({ ...base, outDir }, { registry, log: silent });
    first.dispose();
    const before = await snapshot(outDir);
    const attacker = base.attacker as { name: string; options: Record<string, unknown> };
    const changes: [Record<string, unknown>, RegExp][] = [
      [{ attacker: { ...attacker, options: { ...attacker.options, epsilon: 0.1 } } }, /attacker\.options\.epsilon was 0\.05, now 0\.1/],
      [{ attacker: { ...attacker, options: { ...attacker.options, steps: 3 } } }, /attacker\.options\.steps was 2, now 3/],
      [{ gradClipNorm: 1 }, /gradClipNorm was unset, now 1/],
      [{ schedule: { name: 'cosine' } }, /schedule\.name was "constant", now "cosine"/],
      [{ epochs: 1 }, /epochs was 2, now 1/],
    ];
    for (const [change, message] of changes) {
      const error = await train({ ...base, epochs: 3, ...change, outDir, resume: true }, { registry, log: silent }).catch((e: unknown) => e);
      expect(error, JSON.stringify(change)).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
    await expect(train({ ...base, outDir, resume: true }, { registry, log: silent })).rejects.toThrow(/is finished: all 2 epoch\(s\) are done \(.*summary\.json\); raise epochs/);
    expect(await snapshot(outDir)).toEqual(before);
    // More epochs are allowed, and the display callbacks and checkpoint policy may change.
    const longer = await train({ ...base, epochs: 3, callbacks: [], checkpoint: { keepLast: 2 }, outDir, resume: true }, { registry, log: silent });
    longer.dispose();
    expect(JSON.parse(await fs.readFile(path.join(outDir, 'summary.json'), 'utf8')).epochs).toBe(3);
  });
});

describe('6: every path the trainer writes lies inside the run directory', () => {
  it('a crafted config.json naming an outside metrics file is refused; the outside file is untouched', async () => {
    const outDir = dir('crafted');
    await expect(train({ ...base, outDir }, { registry, log: silent, callbacks: [crashAt(10)] })).rejects.toThrow('simulated crash');
    const outside = dir('outside.txt');
    await fs.writeFile(outside, 'x'.repeat(6001));
    const configFile = path.join(outDir, 'config.json');
    const crafted = { ...JSON.parse(await fs.readFile(configFile, 'utf8')), callbacks: [{ name: 'metrics-logger', options: { file: outside } }] };
    await fs.writeFile(configFile, JSON.stringify(crafted));
    // What `advprop train --resume --out DIR` does: the run's config.json is the base config.
    const { outDir: _o, resume: _r, ...fromFile } = crafted as Record<string, unknown>;
    const error = await train({ ...fromFile, outDir, resume: true }, { registry, log: silent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/callbacks\[0\]\.options\.file: ".*outside\.txt" is outside the run directory/);
    expect(await fs.readFile(outside, 'utf8')).toBe('x'.repeat(6001));
    // A metrics log that is a symbolic link to an outside file is refused too.
    await fs.rm(path.join(outDir, 'metrics.jsonl'));
    await fs.symlink(outside, path.join(outDir, 'metrics.jsonl'));
    await expect(train({ ...base, outDir, resume: true }, { registry, log: silent })).rejects.toThrow(/metrics\.jsonl is a symbolic link/);
    expect(await fs.readFile(outside, 'utf8')).toBe('x'.repeat(6001));
  });
});

describe('7: one process per run directory', () => {
  it('a second train() on a locked directory is refused cleanly and the first run is unharmed', async () => {
    const outDir = dir('locked');
    let second: unknown;
    const intruder: Callback = {
      onBatchEnd: async (e) => {
        if (e.step === 3) second = await train({ ...base, outDir, resume: true }, { registry, log: silent }).catch((err: unknown) => err);
      },
    };
    const first = await train({ ...base, outDir }, { registry, log: silent, callbacks: [intruder] });
    try {
      expect(weightsOf(first.model)).toEqual(expected);
    } finally {
      first.dispose();
    }
    expect(second).toBeInstanceOf(RunLockedError);
    expect((second as Error).message).toMatch(new RegExp(`in use by process ${process.pid} on host ${os.hostname()}`));
    await expectEachStepOnce(outDir);
    await expect(fs.access(path.join(outDir, 'lock.json'))).rejects.toThrow();
  });

  it('takes over a stale lock (dead pid here, or an old heartbeat elsewhere) but not a live one', async () => {
    const outDir = dir('stale');
    await fs.mkdir(outDir);
    const lock = path.join(outDir, 'lock.json');
    const warnings: string[] = [];
    const log: Logger = { ...silent, warn: (m: string) => void warnings.push(m) };
    await fs.writeFile(lock, JSON.stringify({ pid: 2 ** 22 + 12345, host: os.hostname(), token: 'dead', started: 'then' }));
    const a = await train({ ...base, epochs: 1, outDir }, { registry, log });
    a.dispose();
    expect(warnings.some((w) => /took over the stale lock .*is not running/.test(w))).toBe(true);

    await fs.writeFile(lock, JSON.stringify({ pid: 1, host: 'other-machine', token: 'live', started: 'now' }));
    await expect(train({ ...base, outDir, resume: true }, { registry, log })).rejects.toThrow(/in use by process 1 on host other-machine/);
    const old = new Date(Date.now() - 20 * 60_000);
    await fs.utimes(lock, old, old);
    const b = await train({ ...base, outDir, resume: true }, { registry, log });
    b.dispose();
    expect(warnings.some((w) => /heartbeat is \d+ s old/.test(w))).toBe(true);
    await expect(fs.access(lock)).rejects.toThrow();
  });
});

describe('8: leftovers are cleaned up at the next start', () => {
  it('a kill before the first checkpoint: the restart logs each step once and ends like an uninterrupted run', async () => {
    const outDir = dir('early-kill');
    await expect(train({ ...base, outDir }, { registry, log: silent, callbacks: [crashAt(3)] })).rejects.toThrow('simulated crash');
    expect((await records(outDir)).length).toBe(3);
    await resumeAndCompare(outDir);
  });

  it('a torn last line of metrics.jsonl is dropped, not glued to the next record', async () => {
    const outDir = dir('torn');
    const config = { ...base, checkpoint: { everySteps: 4 } };
    await expect(train({ ...config, outDir }, { registry, log: silent, callbacks: [crashAt(10)] })).rejects.toThrow('simulated crash');
    await fs.appendFile(path.join(outDir, 'metrics.jsonl'), '{"type":"batch","epoch":1,"st');
    await resumeAndCompare(outDir, { checkpoint: { everySteps: 4 } });
  });

  it('temporary files, incomplete checkpoints and orphan shards are gone at the next start; checkpoints are kept', async () => {
    const outDir = dir('leftovers');
    const config = { ...base, checkpoint: { everySteps: 4 } };
    await expect(train({ ...config, outDir }, { registry, log: silent, callbacks: [crashAt(10)] })).rejects.toThrow('simulated crash');
    const root = path.join(outDir, 'checkpoints');
    const checkpoints = (await fs.readdir(root)).filter((e) => e.startsWith('ckpt-'));
    const leftovers = [
      path.join(root, '.tmp-ckpt-e1-b2-s10-99999'),
      path.join(root, '.latest.json.99999.1.0.tmp'),
      path.join(outDir, '.summary.json.99999.1.0.tmp'),
      path.join(outDir, 'model-dual', 'group1-shard1of1-deadbeef.bin'),
      path.join(outDir, 'model-dual', '.model.json.99999.1.0.tmp'),
    ];
    await fs.mkdir(leftovers[0]!);
    await fs.writeFile(path.join(leftovers[0]!, 'weights.bin'), 'partial');
    await fs.mkdir(path.join(outDir, 'model-dual'));
    for (const f of leftovers.slice(1)) await fs.writeFile(f, 'partial');
    let seenAtStart: boolean[] = [];
    const probe: Callback = {
      onTrainBegin: async () => {
        seenAtStart = await Promise.all(leftovers.map((f) => fs.access(f).then(() => true, () => false)));
      },
    };
    const resumed = await train({ ...config, outDir, resume: true }, { registry, log: silent, callbacks: [probe] });
    resumed.dispose();
    expect(seenAtStart).toEqual(leftovers.map(() => false));
    const after = await fs.readdir(root);
    for (const name of checkpoints) expect(after).toContain(name); // written by the crashed process: never deleted
  });
});

describe('9: data and output edge cases', () => {
  it('--out under /proc/self fails fast instead of hanging in mkdir', async () => {
    const started = Date.now();
    await expect(train({ ...base, outDir: '/proc/self/x' }, { registry, log: silent })).rejects.toThrow(CheckpointError);
    expect(Date.now() - started).toBeLessThan(5000);
  }, 10_000);

  it('a run failing on bad options leaves no folder behind, also when it fails after creating it', async () => {
    const parent = dir('never');
    await expect(train({ ...base, model: { name: 'resnet-9000' }, outDir: path.join(parent, 'run') }, { registry, log: silent })).rejects.toThrow(/No model plugin/);
    await expect(fs.access(parent)).rejects.toThrow();
    const wrongClasses = buildTinyModel({ inputShape: [8, 8, 1], numClasses: 3, batchNorm: 'dual' });
    try {
      await expect(train({ ...base, outDir: path.join(parent, 'run') }, { registry, log: silent, model: wrongClasses })).rejects.toThrow(ShapeError);
    } finally {
      wrongClasses.dispose();
    }
    await expect(fs.access(parent)).rejects.toThrow();
  });

  it('an Linf epsilon larger than the input range is an error before anything is written', async () => {
    const outDir = dir('big-epsilon');
    const attacker = base.attacker as { name: string; options: Record<string, unknown> };
    for (const config of [
      { ...base, attacker: { ...attacker, options: { ...attacker.options, epsilon: 1.5 } } },
      { ...base, evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: '300/255' } }] } },
    ]) {
      const error = await train({ ...config, outDir }, { registry, log: silent }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(/epsilon [\d.]+ is larger than the whole image range/);
    }
    await expect(fs.access(outDir)).rejects.toThrow();
  });

  it('through the CLI: --epsilon 1.5 and --out /proc/self/x fail at once and create nothing', async () => {
    const cli = async (argv: string[]) => {
      const io = memoryIo();
      const code = await runCli(argv, io);
      return { code, err: io.err() };
    };
    const out = dir('cli-never');
    const eps = await cli(['train', '--out', path.join(out, 'run'), '--attacker', 'pgd', '--epsilon', '1.5', '--limit', '100', '--backend', 'cpu', '--quiet']);
    expect(eps.code).toBe(1);
    expect(eps.err).toMatch(/epsilon 1\.5 is larger than the whole image range/);
    await expect(fs.access(out)).rejects.toThrow();
    const started = Date.now();
    const proc = await cli(['train', '--out', '/proc/self/x', '--limit', '100', '--backend', 'cpu', '--quiet']);
    expect(proc.code).toBe(1);
    expect(proc.err).toMatch(/\/proc\/self\/x/);
    expect(Date.now() - started).toBeLessThan(10_000);
  }, 60_000);

  it('a loss above maxLoss stops training like a NaN loss', async () => {
    const error = await train({ ...base, maxLoss: 1e-3 }, { registry, log: silent }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    expect((error as Error).message).toMatch(/^training diverged at epoch 1, step 1 \(batch 1 of the epoch\): loss is [\d.e+-]+, above maxLoss 0\.001; no update was applied/);
  });
});

describe('10: silent corruption is an error naming the file', () => {
  it('a garbled model shard of the right size, and an edited state.json', async () => {
    const outDir = dir('corrupt');
    const first = await train({ ...base, outDir }, { registry, log: silent });
    first.dispose();
    for (const model of ['model-dual', 'model-inference']) {
      const json = JSON.parse(await fs.readFile(path.join(outDir, model, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
      const shard = path.join(outDir, model, json.weightsManifest[0]!.paths[0]!);
      const bytes = await fs.readFile(shard);
      bytes[bytes.length - 3] = (bytes[bytes.length - 3] as number) ^ 0x7f;
      await fs.writeFile(shard, bytes);
      const load = model === 'model-dual' ? loadRun(outDir, { registry }) : loadModel(path.join(outDir, model));
      await expect(load).rejects.toThrow(`weight shard ${shard} is corrupt: its sha256 differs from the one recorded in ${path.join(outDir, model, 'model.json')}`);
    }
    const ck = await loadCheckpoint(outDir);
    const stateFile = path.join(ck!.dir, 'state.json');
    const state = await fs.readFile(stateFile, 'utf8');
    await fs.writeFile(stateFile, state.replace('"step": 16', '"step": 15'));
    await expect(train({ ...base, epochs: 3, outDir, resume: true }, { registry, log: silent })).rejects.toThrow(
      `checkpoint file ${stateFile} is corrupt or was edited: its stateSha256 does not match its content`,
    );
  });
});
