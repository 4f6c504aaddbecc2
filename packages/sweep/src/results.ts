/**
 * The results table: per group, mean, standard deviation and 95 % confidence interval over the
 * group's runs (normally its seeds) of every numeric metric of summary.json, plus the cost
 * (CPU-seconds and images per second). Markdown for people, JSON for programs.
 */
import type { ManifestRun, RunResult, SweepManifest } from './storage.js';

export interface MetricStats {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n - 1); 0 for a single run. */
  readonly sd: number;
  /** 95 % confidence interval of the mean (Student's t); null for a single run. */
  readonly ci95: readonly [number, number] | null;
  readonly values: readonly number[];
}

export interface GroupResult {
  readonly group: string;
  readonly runs: number;
  /** Runs of the group in the manifest (finished or not). */
  readonly planned: number;
  readonly seeds: readonly number[];
  readonly metrics: Readonly<Record<string, MetricStats>>;
  readonly cost: { readonly cpu_seconds: MetricStats; readonly images_per_second: MetricStats };
}

export interface SweepResults {
  readonly name?: string;
  readonly finished: number;
  readonly planned: number;
  readonly groups: readonly GroupResult[];
}

/** Two-sided 97.5 % quantiles of Student's t for 1..30 degrees of freedom. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074,
  2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function tQuantile975(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T975[df - 1] as number;
  // Beyond 30 degrees of freedom: the normal quantile with the first correction term.
  return 1.96 + 2.4 / df;
}

export function statsOf(values: readonly number[]): MetricStats {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  const half = n > 1 ? (tQuantile975(n - 1) * sd) / Math.sqrt(n) : Number.NaN;
  return { n, mean, sd, ci95: n > 1 ? [mean - half, mean + half] : null, values };
}

/** Every finite number of a summary, nested objects as `a/b` (as the trainer names them), arrays as `a[i]`. */
export function numericMetrics(summary: unknown, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (value: unknown, key: string) => {
    if (typeof value === 'number') {
      if (Number.isFinite(value)) out[key] = value;
    } else if (Array.isArray(value)) {
      value.forEach((v, i) => visit(v, `${key}[${i}]`));
    } else if (value && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) visit(v, key === '' ? k : `${key}/${k}`);
    }
  };
  visit(summary, prefix);
  return out;
}

/** Aggregate the finished runs by group, in the manifest's group order. */
export function aggregateResults(results: readonly RunResult[], manifest: SweepManifest | null): SweepResults {
  const planned = new Map<string, ManifestRun[]>();
  for (const r of manifest?.runs ?? []) planned.set(r.group, [...(planned.get(r.group) ?? []), r]);
  const byGroup = new Map<string, RunResult[]>();
  for (const r of results) byGroup.set(r.group, [...(byGroup.get(r.group) ?? []), r]);
  const order = [...(manifest?.groups ?? []), ...[...byGroup.keys()].filter((g) => !(manifest?.groups ?? []).includes(g))];
  const groups: GroupResult[] = [];
  for (const group of order) {
    const runs = (byGroup.get(group) ?? []).slice().sort((a, b) => a.config.seed - b.config.seed);
    if (runs.length === 0) continue;
    const perRun = runs.map((r) => numericMetrics(r.summary));
    const keys = [...new Set(perRun.flatMap((m) => Object.keys(m)))];
    const metrics: Record<string, MetricStats> = {};
    for (const k of keys) {
      const values = perRun.map((m) => m[k]).filter((v): v is number => v !== undefined);
      metrics[k] = statsOf(values);
    }
    groups.push({
      group,
      runs: runs.length,
      planned: planned.get(group)?.length ?? runs.length,
      seeds: runs.map((r) => r.config.seed),
      metrics,
      cost: { cpu_seconds: statsOf(runs.map((r) => r.cost.cpu_seconds)), images_per_second: statsOf(runs.map((r) => r.cost.images_per_second)) },
    });
  }
  return {
    ...(manifest?.name ? { name: manifest.name } : {}),
    finished: results.length,
    planned: manifest?.runs.length ?? results.length,
    groups,
  };
}

/** Metrics shown by default: the scalar ones (no array entries), without bookkeeping fields. */
const BOOKKEEPING = new Set(['seed', 'epochs', 'epochs_completed', 'steps', 'train_examples', 'evaluated_examples', 'robust_examples', 'wall_seconds', 'images_per_second', 'resumed_from/epoch', 'resumed_from/step']);

export function defaultReportMetrics(results: SweepResults): string[] {
  const keys = new Set<string>();
  for (const g of results.groups) for (const k of Object.keys(g.metrics)) if (!k.includes('[') && !BOOKKEEPING.has(k)) keys.add(k);
  return [...keys];
}

function formatStat(s: MetricStats | undefined, digits: number): string {
  if (!s || s.n === 0) return 'n/a';
  const f = (v: number) => v.toFixed(digits);
  if (s.n === 1) return f(s.mean);
  const [lo, hi] = s.ci95 as [number, number];
  return `${f(s.mean)} ± ${f(s.sd)} [${f(lo)}, ${f(hi)}]`;
}

/** Accuracy-like metrics (values in [0, 1], forgetting a difference of two) get 4 decimals, others 2. */
function digitsFor(key: string): number {
  return /accuracy|robust|corrupted|forgetting/.test(key) ? 4 : 2;
}

/** The Markdown table: one row per group, each cell mean ± sd [95 % CI]. */
export function resultsMarkdown(results: SweepResults, metrics?: readonly string[]): string {
  const cols = metrics && metrics.length > 0 ? [...metrics] : defaultReportMetrics(results);
  const header = ['group', 'runs', ...cols, 'CPU-s / run', 'images/s'];
  const lines = [
    `${results.name ? `**${results.name}**: ` : ''}${results.finished} of ${results.planned} runs finished. Cells: mean ± sd [95 % CI] over the group's runs (seeds).`,
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
  ];
  for (const g of results.groups) {
    const row = [
      g.group,
      g.planned !== g.runs ? `${g.runs}/${g.planned}` : String(g.runs),
      ...cols.map((c) => formatStat(g.metrics[c], digitsFor(c))),
      formatStat(g.cost.cpu_seconds, 1),
      formatStat(g.cost.images_per_second, 1),
    ];
    lines.push(`| ${row.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}
