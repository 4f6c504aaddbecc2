/**
 * Reading a run directory written by `advprop train` for a report: the resolved config, the
 * summary and metrics.jsonl, each checked enough that a missing or broken file is an error naming
 * that file (and the line or field at fault), before any work is done.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, DataFormatError, z } from '@advprop/core';
import { readJsonFile } from '@advprop/core/node';
import { RUN_FILES, type RunSummary } from '@advprop/trainer';

/** One line of metrics.jsonl: `type` is batch, eval, epoch or end; the rest are numbers. */
export interface MetricRecord {
  readonly type: string;
  readonly epoch: number;
  readonly step: number;
  readonly [metric: string]: unknown;
}

export interface RunData {
  /** Absolute path of the run directory. */
  readonly dir: string;
  /** The resolved config the run was trained with (config.json). */
  readonly config: Record<string, unknown>;
  readonly summary: RunSummary;
  readonly metrics: readonly MetricRecord[];
}

const summarySchema = z.looseObject({
    mode: z.string(),
    dataset: z.string(),
    model: z.string(),
    clean_accuracy: z.number(),
    aux_accuracy: z.number().nullable(),
    robust_accuracy: z.record(z.string(), z.number()),
    corrupted_accuracy: z.record(z.string(), z.number()).optional(),
    per_class_accuracy: z.array(z.number().nullable()),
    evaluated_examples: z.number(),
});

const configSchema = z.looseObject({
    mode: z.string(),
    dataset: z.looseObject({ name: z.string() }),
    model: z.looseObject({ name: z.string() }),
    seed: z.number(),
});

const metricSchema = z.looseObject({ type: z.string(), epoch: z.number(), step: z.number() });

/** A zod error as `field: message; ...` for the DataFormatErrors of the readers. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(top level)'}: ${i.message}`).join('; ');
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** True when `p` is a regular file. */
export async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isFile();
  } catch {
    return false;
  }
}

/** True when `dir` looks like a run directory (it has config.json). */
export function isRunDirectory(dir: string): Promise<boolean> {
  return isFile(path.join(dir, RUN_FILES.config));
}

/** Parse metrics.jsonl; a malformed line is a DataFormatError naming the file and the line. */
export function parseMetrics(text: string, file: string): MetricRecord[] {
  const records: MetricRecord[] = [];
  const lines = text.split('\n');
  for (const [i, line] of lines.entries()) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new DataFormatError(`line ${i + 1} of metrics.jsonl is not JSON (${(error as Error).message})`, { file });
    }
    const parsed = metricSchema.safeParse(value);
    if (!parsed.success) throw new DataFormatError(`line ${i + 1} of metrics.jsonl: ${describeIssues(parsed.error)}`, { file });
    records.push(parsed.data as MetricRecord);
  }
  return records;
}

/** Read a finished run directory: config.json, summary.json and metrics.jsonl. */
export async function readRunDirectory(dir: string): Promise<RunData> {
  const root = path.resolve(dir);
  if (!(await isDirectory(root))) throw new CheckpointError(`run directory ${root} does not exist`);
  const configFile = path.join(root, RUN_FILES.config);
  const summaryFile = path.join(root, RUN_FILES.summary);
  const metricsFile = path.join(root, RUN_FILES.metrics);
  for (const [file, what] of [
    [configFile, 'the resolved config'],
    [summaryFile, 'the final summary (the run has not finished?)'],
    [metricsFile, 'the training metrics'],
  ] as const) {
    try {
      await fs.access(file);
    } catch {
      throw new CheckpointError(`${file} is missing (${what}); is ${root} a run directory written by \`advprop train\`?`);
    }
  }
  const configRaw = await readJsonFile<unknown>(configFile, 'run config');
  const config = configSchema.safeParse(configRaw);
  if (!config.success) throw new DataFormatError(`run config: ${describeIssues(config.error)}`, { file: configFile });
  const summaryRaw = await readJsonFile<unknown>(summaryFile, 'run summary');
  const summary = summarySchema.safeParse(summaryRaw);
  if (!summary.success) throw new DataFormatError(`run summary: ${describeIssues(summary.error)}`, { file: summaryFile });
  const metrics = parseMetrics(await fs.readFile(metricsFile, 'utf8'), metricsFile);
  return { dir: root, config: config.data as Record<string, unknown>, summary: summary.data as unknown as RunSummary, metrics };
}
