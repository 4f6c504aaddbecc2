/**
 * The report of a sweep directory (packages/sweep's layout): results.jsonl, one line per finished
 * run with its id, group (the arm), axes, resolved config, summary and cost, and sweep.json with
 * the group order and the metrics of the results table. Writes the results table, the spread of
 * each metric per arm and one chart per question: a metric against the arms, with the 95 %
 * confidence interval of the mean over seeds.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, DataFormatError, z } from '@advprop/core';
import { readJsonFile } from '@advprop/core/node';
import { numericMetrics, statsOf } from '@advprop/sweep';
import type { SweepArmStats, SweepReportData } from './report-data.js';
import { describeIssues, isFile } from './run-reader.js';
import type { WrittenReport } from './run-report.js';
import { writeSite } from './site.js';

export const SWEEP_FILES = { results: 'results.jsonl', manifest: 'sweep.json', runs: 'runs' } as const;

const resultSchema = z.looseObject({
  id: z.string().min(1),
  group: z.string().optional(),
  axes: z.record(z.string(), z.unknown()).optional(),
  config: z.looseObject({ seed: z.number().optional() }),
  summary: z.record(z.string(), z.unknown()),
  cost: z.record(z.string(), z.unknown()).optional(),
});
export type SweepResultLine = z.output<typeof resultSchema>;

const manifestSchema = z.looseObject({
  name: z.string().optional(),
  groups: z.array(z.string()).optional(),
  reportMetrics: z.array(z.string()).optional(),
});

export function isSweepDirectory(dir: string): Promise<boolean> {
  return isFile(path.join(dir, SWEEP_FILES.results));
}

/** Parse results.jsonl; a torn last line (a writer killed mid-append) is skipped, any other bad line names the file and line. */
export function parseResults(text: string, file: string): SweepResultLine[] {
  const lines = text.split('\n');
  const last = lines.reduce((l, line, i) => (line.trim() ? i : l), -1);
  const out: SweepResultLine[] = [];
  const seen = new Set<string>();
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      if (i === last) continue;
      throw new DataFormatError(`line ${i + 1} of results.jsonl is not JSON (${(error as Error).message})`, { file });
    }
    const parsed = resultSchema.safeParse(value);
    if (!parsed.success) {
      throw new DataFormatError(`line ${i + 1} of results.jsonl: ${describeIssues(parsed.error)}`, { file });
    }
    // The first line per id counts, as the sweep itself reads it.
    if (seen.has(parsed.data.id)) continue;
    seen.add(parsed.data.id);
    out.push(parsed.data);
  }
  return out;
}

/** The scalar metrics of a summary, nested records flattened as `robust_accuracy/pgd` (the sweep's names; arrays left out). */
export function summaryMetrics(summary: Record<string, unknown>): Record<string, number> {
  return Object.fromEntries(Object.entries(numericMetrics(summary)).filter(([k]) => !k.includes('[')));
}

/** Mean, sample standard deviation and the 95 % Student-t interval of the mean (a point for n = 1), as the sweep's results table computes them. */
export function armStats(arm: string, values: readonly number[]): SweepArmStats {
  const s = statsOf(values);
  return { arm, n: s.n, mean: s.mean, std: s.sd, low: s.ci95?.[0] ?? s.mean, high: s.ci95?.[1] ?? s.mean, values: [...values] };
}

/** Metrics shown by default: clean accuracy and every robust and corrupted accuracy the runs recorded. */
function defaultMetrics(results: readonly SweepResultLine[]): string[] {
  const keys = new Set<string>();
  for (const r of results) for (const k of Object.keys(summaryMetrics(r.summary))) keys.add(k);
  return [...keys].filter((k) => k === 'clean_accuracy' || k.startsWith('robust_accuracy/') || k.startsWith('corrupted_accuracy/')).sort((a, b) => (a === 'clean_accuracy' ? -1 : b === 'clean_accuracy' ? 1 : a.localeCompare(b)));
}

export async function readSweepDirectory(dir: string): Promise<{ results: SweepResultLine[]; name?: string; groups?: string[]; metrics?: string[] }> {
  const file = path.join(dir, SWEEP_FILES.results);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    throw new CheckpointError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const results = parseResults(text, file);
  if (results.length === 0) throw new DataFormatError('results.jsonl holds no finished run yet', { file });
  const manifestFile = path.join(dir, SWEEP_FILES.manifest);
  let manifest: z.output<typeof manifestSchema> | undefined;
  try {
    await fs.access(manifestFile);
    const parsed = manifestSchema.safeParse(await readJsonFile<unknown>(manifestFile, 'sweep manifest'));
    if (!parsed.success) throw new DataFormatError(`sweep manifest: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { file: manifestFile });
    manifest = parsed.data;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  return {
    results,
    ...(manifest?.name ? { name: manifest.name } : {}),
    ...(manifest?.groups ? { groups: manifest.groups } : {}),
    ...(manifest?.reportMetrics ? { metrics: manifest.reportMetrics } : {}),
  };
}

/** An arm's name: the sweep's group, else the axes other than the seed. */
function armOf(r: SweepResultLine): string {
  if (r.group) return r.group;
  const axes = Object.entries(r.axes ?? {}).filter(([k]) => k !== 'seed');
  return axes.length ? axes.map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ') : 'all';
}

export function sweepReportData(dir: string, sweep: Awaited<ReturnType<typeof readSweepDirectory>>): SweepReportData {
  const { results } = sweep;
  const metrics = sweep.metrics?.length ? sweep.metrics : defaultMetrics(results);
  const arms = [...new Set([...(sweep.groups ?? []), ...results.map(armOf)])].filter((a) => results.some((r) => armOf(r) === a));
  const rows = results
    .map((r) => {
      const m = summaryMetrics(r.summary);
      const cost = r.cost ?? {};
      return {
        id: r.id,
        arm: armOf(r),
        seed: typeof r.config.seed === 'number' ? r.config.seed : null,
        ...Object.fromEntries(metrics.map((k) => [k, m[k] ?? null])),
        cpu_seconds: typeof cost.cpu_seconds === 'number' ? cost.cpu_seconds : null,
        wall_seconds: typeof cost.wall_seconds === 'number' ? cost.wall_seconds : null,
      };
    })
    .sort((a, b) => arms.indexOf(a.arm) - arms.indexOf(b.arm) || (a.seed ?? 0) - (b.seed ?? 0));
  const questions = metrics.map((metric) => ({
    question: `${metric}: ${arms.join(' vs ')}`,
    metric,
    arms: arms
      .map((arm) => armStats(arm, rows.filter((r) => r.arm === arm).map((r) => r[metric as keyof typeof r]).filter((v): v is number => typeof v === 'number')))
      .filter((a) => a.n > 0),
  }));
  return {
    kind: 'sweep',
    title: `advprop sweep report: ${sweep.name ?? path.basename(dir)}`,
    generated: new Date().toISOString(),
    dir,
    columns: ['id', 'arm', 'seed', ...metrics, 'cpu_seconds', 'wall_seconds'],
    rows,
    questions: questions.filter((q) => q.arms.length > 0),
  };
}

export async function writeSweepReport(dir: string, options: { out?: string; onProgress?: (message: string) => void } = {}): Promise<WrittenReport> {
  const root = path.resolve(dir);
  const sweep = await readSweepDirectory(root);
  const out = path.resolve(options.out ?? path.join(root, 'report'));
  const index = await writeSite(out, sweepReportData(root, sweep));
  options.onProgress?.(`report written to ${index}`);
  return { kind: 'sweep', out, index };
}
