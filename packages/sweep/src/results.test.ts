import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aggregateResults, defaultReportMetrics, numericMetrics, resultsMarkdown, statsOf } from './results.js';
import { DirectoryStorage, type RunResult } from './storage.js';

describe('results', () => {
  it('computes mean, sample sd and the Student-t 95 % interval', () => {
    const s = statsOf([0.8, 0.9, 1.0]);
    expect(s.mean).toBeCloseTo(0.9, 12);
    expect(s.sd).toBeCloseTo(0.1, 12);
    // t(0.975, 2) = 4.303
    expect(s.ci95?.[0]).toBeCloseTo(0.9 - (4.303 * 0.1) / Math.sqrt(3), 10);
    expect(statsOf([0.5]).ci95).toBeNull();
  });

  it('flattens every numeric metric of a summary', () => {
    expect(numericMetrics({ clean_accuracy: 0.9, robust_accuracy: { fgsm: 0.5 }, per_class_accuracy: [1, null, 0.5], mode: 'x', aux_accuracy: null })).toEqual({
      clean_accuracy: 0.9,
      'robust_accuracy/fgsm': 0.5,
      'per_class_accuracy[0]': 1,
      'per_class_accuracy[2]': 0.5,
    });
  });

  it("surfaces a class-incremental run's average accuracy and forgetting as metrics", () => {
    const summary = {
      clean_accuracy: 0.4,
      incremental: { tasks: [[0], [1]], accuracy_matrix: [[0.9, null], [0.1, 0.8]], average_accuracy: 0.45, average_incremental_accuracy: 0.675, forgetting: 0.8 },
    };
    const metrics = numericMetrics(summary);
    expect(metrics).toMatchObject({ 'incremental/average_accuracy': 0.45, 'incremental/average_incremental_accuracy': 0.675, 'incremental/forgetting': 0.8 });
    expect(metrics['incremental/accuracy_matrix[1][0]']).toBe(0.1);
    const results = aggregateResults(
      [{ id: 'a', group: 'g', axes: {}, config: { seed: 0 }, summary, cost: { cpu_seconds: 1, images_per_second: 1, wall_seconds: 1, attempts: 1 }, host: 'h', finished_at: '' } as unknown as RunResult],
      null,
    );
    // Shown by default (matrix and task entries are array entries, left out); forgetting with accuracy's 4 decimals.
    expect(defaultReportMetrics(results)).toEqual(['clean_accuracy', 'incremental/average_accuracy', 'incremental/average_incremental_accuracy', 'incremental/forgetting']);
    expect(resultsMarkdown(results)).toContain('| 0.4000 | 0.4500 | 0.6750 | 0.8000 |');
  });

  it('groups runs, keeps manifest order and prints Markdown', () => {
    const run = (id: string, group: string, seed: number, acc: number): RunResult =>
      ({
        id,
        group,
        axes: {},
        config: { seed } as RunResult['config'],
        summary: { clean_accuracy: acc, robust_accuracy: { fgsm: acc / 2 } },
        cost: { cpu_seconds: 10, images_per_second: 100, wall_seconds: 5, attempts: 1 },
        host: 'h',
        finished_at: '',
      }) as RunResult;
    const results = aggregateResults([run('a', 'g2', 0, 0.5), run('b', 'g1', 1, 0.7), run('c', 'g1', 0, 0.9)], {
      sources: [],
      groups: ['g1', 'g2'],
      runs: [
        { id: 'a', group: 'g2', axes: {}, config: {} as RunResult['config'] },
        { id: 'b', group: 'g1', axes: {}, config: {} as RunResult['config'] },
        { id: 'c', group: 'g1', axes: {}, config: {} as RunResult['config'] },
        { id: 'd', group: 'g2', axes: {}, config: {} as RunResult['config'] },
      ],
    });
    expect(results.groups.map((g) => [g.group, g.runs, g.planned, g.seeds])).toEqual([
      ['g1', 2, 2, [0, 1]],
      ['g2', 1, 2, [0]],
    ]);
    expect(results.groups[0]?.metrics.clean_accuracy?.mean).toBeCloseTo(0.8, 12);
    const md = resultsMarkdown(results);
    expect(md).toContain('| group | runs | clean_accuracy | robust_accuracy/fgsm | CPU-s / run | images/s |');
    expect(md).toContain('| g2 | 1/2 | 0.5000 | 0.2500 | 10.0 | 100.0 |');
  });

  it('names an unwritable storage root', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'advprop-storage-'));
    try {
      const file = path.join(dir, 'a-file');
      await writeFile(file, 'x');
      await expect(new DirectoryStorage(path.join(file, 'sweep')).prepare()).rejects.toThrow(`sweep storage root ${path.join(file, 'sweep')} is not writable`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
