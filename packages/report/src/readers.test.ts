import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CheckpointError, DataFormatError } from '@advprop/core';
import { parseMetrics, readRunDirectory } from './run-reader.js';
import { defaultAttacks, metricRows } from './run-report.js';
import { armStats, parseResults, sweepReportData, summaryMetrics } from './sweep-report.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-report-readers-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('run directory reader', () => {
  it('names the missing directory and each missing file', async () => {
    await expect(readRunDirectory(path.join(dir, 'none'))).rejects.toThrow(`run directory ${path.join(dir, 'none')} does not exist`);
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ mode: 'advprop', dataset: { name: 'x' }, model: { name: 'y' }, seed: 0 }));
    const error = await readRunDirectory(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect((error as Error).message).toContain(path.join(dir, 'summary.json'));
  });

  it('names the file and field of a summary that does not fit', async () => {
    await writeFile(path.join(dir, 'summary.json'), JSON.stringify({ mode: 'advprop', dataset: 'x', model: 'y', clean_accuracy: 'high' }));
    await writeFile(path.join(dir, 'metrics.jsonl'), '');
    const error = await readRunDirectory(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataFormatError);
    expect((error as Error).message).toContain('clean_accuracy');
    expect((error as Error).message).toContain(path.join(dir, 'summary.json'));
  });

  it('parses metrics.jsonl and names a malformed line', () => {
    const good = '{"type":"batch","epoch":0,"step":1,"loss":2}\n\n{"type":"eval","epoch":0,"step":1,"val_accuracy":0.5}\n';
    expect(parseMetrics(good, 'm.jsonl')).toHaveLength(2);
    expect(() => parseMetrics('{"type":"batch","epoch":0,"step":1}\nnot json\n', 'm.jsonl')).toThrow(/line 2 of metrics.jsonl is not JSON.*m\.jsonl/);
    expect(() => parseMetrics('{"type":"batch","epoch":0}\n', 'm.jsonl')).toThrow(/line 1 of metrics.jsonl: step/);
  });

  it('turns metric records into chart rows: every numeric batch metric, validation metrics of evaluations', () => {
    const rows = metricRows([
      { type: 'batch', epoch: 0, step: 1, batch: 0, loss: 2, lr: 0.1, time: 'x' },
      { type: 'eval', epoch: 0, step: 1, loss: 2, val_accuracy: 0.5 },
      { type: 'end', epoch: 1, step: 1, clean_accuracy: 0.5 },
    ]);
    expect(rows).toEqual([
      { step: 1, epoch: 0, source: 'batch', metric: 'loss', value: 2 },
      { step: 1, epoch: 0, source: 'batch', metric: 'lr', value: 0.1 },
      { step: 1, epoch: 0, source: 'eval', metric: 'val_accuracy', value: 0.5 },
    ]);
  });

  it("takes the curve's attacks and epsilon from the run's evaluation", () => {
    const d = defaultAttacks({ evaluation: { attacks: [{ name: 'fgsm', options: { epsilon: 0.1 } }, { name: 'pgd', options: { epsilon: '8/255', steps: 10 } }] } });
    expect(d.attacks).toEqual([{ name: 'fgsm', options: {} }, { name: 'pgd', options: { steps: 10 } }]);
    expect(d.epsilon).toBe(0.1);
    expect(defaultAttacks({}).attacks.map((a) => a.name)).toEqual(['fgsm', 'pgd']);
  });
});

describe('sweep reader', () => {
  const line = (id: string, group: string, seed: number, clean: number) =>
    JSON.stringify({ id, group, axes: { seed }, config: { seed }, summary: { clean_accuracy: clean, robust_accuracy: { pgd: clean / 2 } }, cost: { cpu_seconds: 1 } });

  it('keeps the first line per id, skips a torn last line and names any other bad line', () => {
    const text = [line('a', 'g1', 0, 0.9), line('a', 'g1', 0, 0.1), line('b', 'g2', 0, 0.8), '{"id": "c", "gro'].join('\n');
    const results = parseResults(text, 'results.jsonl');
    expect(results.map((r) => r.id)).toEqual(['a', 'b']);
    expect(results[0]!.summary.clean_accuracy).toBe(0.9);
    expect(() => parseResults(`{"id": \n${line('a', 'g', 0, 1)}`, '/s/results.jsonl')).toThrow(/line 1 of results.jsonl is not JSON.*\/s\/results\.jsonl/);
    expect(() => parseResults(`{"id": "x"}\n${line('a', 'g', 0, 1)}`, 'r')).toThrow(/line 1 of results.jsonl: (config|summary)/);
  });

  it('computes the mean, standard deviation and the Student-t 95 % interval', () => {
    const s = armStats('a', [0.8, 0.9, 1.0]);
    expect(s.mean).toBeCloseTo(0.9, 12);
    expect(s.std).toBeCloseTo(0.1, 12);
    // t(0.975, 2 df) = 4.303
    expect(s.high - s.mean).toBeCloseTo((4.303 * 0.1) / Math.sqrt(3), 6);
    expect(armStats('b', [0.5])).toMatchObject({ n: 1, mean: 0.5, low: 0.5, high: 0.5 });
  });

  it('builds one question per metric with the arms in the sweep order', () => {
    expect(summaryMetrics({ clean_accuracy: 0.9, robust_accuracy: { pgd: 0.3 }, mode: 'x', per_class_accuracy: [1] })).toEqual({
      clean_accuracy: 0.9,
      'robust_accuracy/pgd': 0.3,
    });
    const results = parseResults([line('a', 'vanilla', 0, 0.9), line('b', 'advprop', 0, 0.8), line('c', 'advprop', 1, 0.7)].join('\n'), 'r');
    const data = sweepReportData('/sweep', { results, groups: ['advprop', 'vanilla'] });
    expect(data.questions.map((q) => q.metric)).toEqual(['clean_accuracy', 'robust_accuracy/pgd']);
    expect(data.questions[0]!.arms.map((a) => [a.arm, a.n])).toEqual([
      ['advprop', 2],
      ['vanilla', 1],
    ]);
    expect(data.rows.map((r) => r.id)).toEqual(['b', 'c', 'a']);
  });
});
