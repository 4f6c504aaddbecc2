/**
 * Golden weights: a few steps of every training mode on the tiny model must reproduce the weights
 * and losses recorded from the trainer before modes became plugins (to 1e-6), so refactoring the
 * training step cannot change the numerics unnoticed.
 *
 * Regenerate (only when a numeric change is intended):
 *   ADVPROP_WRITE_GOLDEN=1 npx vitest run packages/trainer/src/modes/golden.test.ts
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Callback } from '@advprop/core';
import { testRegistry, tinyConfig } from '../__fixtures__/tiny.js';
import { train } from '../node-train.js';

const GOLDEN_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '__golden__', 'golden-weights.json');
const WRITE = process.env.ADVPROP_WRITE_GOLDEN === '1';

interface Golden {
  weights: Record<string, number[]>;
  losses: Record<string, number>[];
}

/** Cases: each mode with the tiny config's attacker and with the mode's default attacker. */
// (Recorded before modes became plugins, when lambda and the Fast AdvProp options were top-level
// fields `advLossWeight` and `fastAdvprop`; they are `modeOptions` now.)
const CASES: Record<string, Record<string, unknown>> = {
  vanilla: { mode: 'vanilla' },
  adversarial: { mode: 'adversarial' },
  'adversarial default attacker': { mode: 'adversarial', attacker: undefined },
  advprop: { mode: 'advprop' },
  'advprop default attacker, lambda 0.5, smoothing 0.1': { mode: 'advprop', attacker: undefined, modeOptions: { lambda: 0.5 }, labelSmoothing: 0.1 },
  'fast-advprop': { mode: 'fast-advprop' },
  'fast-advprop default attacker, no shuffle': { mode: 'fast-advprop', attacker: undefined, modeOptions: { pAdv: 0.3, shuffle: false } },
};

async function runCase(overrides: Record<string, unknown>): Promise<Golden> {
  const registry = testRegistry();
  const losses: Record<string, number>[] = [];
  const recorder: Callback = {
    onBatchEnd(event) {
      const m = event.metrics ?? {};
      const row: Record<string, number> = {};
      for (const key of ['loss', 'clean_loss', 'adv_loss', 'accuracy', 'grad_norm']) if (m[key] !== undefined) row[key] = m[key] as number;
      losses.push(row);
    },
  };
  const config: Record<string, unknown> = { ...tinyConfig(), epochs: 1, limit: 96, evaluation: { attacks: [], epochLimit: 0, limit: 32 }, ...overrides };
  if (config.attacker === undefined) delete config.attacker;
  const result = await train(config, { registry, callbacks: [recorder] });
  try {
    const weights: Record<string, number[]> = {};
    // Keyed by position and the weight's own name: layer names carry a process-wide counter.
    for (const [i, w] of result.model.weights.entries()) weights[`${i}:${w.originalName.split('/').pop()}`] = Array.from(w.read().dataSync());
    return { weights, losses };
  } finally {
    result.dispose();
    await registry.dispose();
  }
}

let golden: Record<string, Golden> = {};
const produced: Record<string, Golden> = {};

beforeAll(async () => {
  await tf.setBackend('cpu');
  if (!WRITE) golden = JSON.parse(await fs.readFile(GOLDEN_FILE, 'utf8')) as Record<string, Golden>;
});

afterAll(async () => {
  if (WRITE) await fs.writeFile(GOLDEN_FILE, `${JSON.stringify(produced)}\n`);
});

describe('training modes reproduce the golden weights (3 steps, tiny model, cpu)', () => {
  it.each(Object.keys(CASES))('%s', async (name) => {
    const got = await runCase(CASES[name] as Record<string, unknown>);
    produced[name] = got;
    if (WRITE) return;
    const want = golden[name];
    expect(want, `no golden entry for "${name}"; regenerate with ADVPROP_WRITE_GOLDEN=1`).toBeDefined();
    expect(got.losses.length).toBe(3);
    expect(Object.keys(got.weights).sort()).toEqual(Object.keys(want!.weights).sort());
    let worst = 0;
    for (const [key, values] of Object.entries(want!.weights)) {
      const actual = got.weights[key]!;
      expect(actual.length, key).toBe(values.length);
      for (let i = 0; i < values.length; i++) worst = Math.max(worst, Math.abs((actual[i] as number) - (values[i] as number)));
    }
    expect(worst).toBeLessThanOrEqual(1e-6);
    expect(got.losses.map((r) => Object.keys(r).sort())).toEqual(want!.losses.map((r) => Object.keys(r).sort()));
    for (const [i, row] of want!.losses.entries()) {
      for (const [key, value] of Object.entries(row)) expect(Math.abs((got.losses[i]![key] as number) - value), `step ${i} ${key}`).toBeLessThanOrEqual(1e-6);
    }
  });
});
