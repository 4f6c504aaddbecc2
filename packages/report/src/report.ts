/** `writeReport(dir)`: a run directory or a sweep directory, told apart by the files they hold. */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError } from '@advprop/core';
import { isRunDirectory } from './run-reader.js';
import { writeRunReport, type RunReportOptions, type WrittenReport } from './run-report.js';
import { isSweepDirectory, writeSweepReport } from './sweep-report.js';

export type ReportOptions = RunReportOptions;

export async function writeReport(dir: string, options: ReportOptions = {}): Promise<WrittenReport> {
  const root = path.resolve(dir);
  let stat;
  try {
    stat = await fs.stat(root);
  } catch {
    throw new CheckpointError(`${root} does not exist (expected a run directory from \`advprop train\` or a sweep directory)`);
  }
  if (!stat.isDirectory()) throw new CheckpointError(`${root} is not a directory (expected a run directory or a sweep directory)`);
  if (await isSweepDirectory(root)) return writeSweepReport(root, options);
  if (await isRunDirectory(root)) return writeRunReport(root, options);
  throw new CheckpointError(
    `${root} is neither a run directory (no ${path.join(root, 'config.json')}) nor a sweep directory (no ${path.join(root, 'results.jsonl')})`,
  );
}
