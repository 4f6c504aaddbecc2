/**
 * `advprop train`: config from defaults < file < flags, plugin names and output directory checked
 * before any work, backend selected, training with a progress display, summary printed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConfigError, CheckpointError, type Callback } from '@advprop/core';
import { ensureWritableDirectory, pathExists } from '@advprop/core/node';
import { createDefaultRegistry, resolveTrainConfig, train, trainConfigSchema, type TrainConfig } from '@advprop/trainer';
import { numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { EMBEDDED_DEFAULTS, isPlainObject, layerTrainConfig, loadConfigFile, type PlainObject } from './config.js';
import { cliLogger, formatNumber, formatPercent, type CliIo } from './io.js';
import { checkBackendName, checkPlugins, selectBackend } from './shared.js';
import { progressCallback } from './progress.js';

/** Top-level fields of the train config (for unknown-field errors with suggestions). */
export function knownConfigFields(): string[] {
  const shape = (trainConfigSchema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape) : [];
}

/** Build and validate the complete train config from the command line (and its --config file). */
export async function buildTrainConfig(
  flags: ParsedFlags,
  now: Date = new Date(),
): Promise<{ config: TrainConfig; file?: string; explicitCallbacks: boolean }> {
  let file = stringFlag(flags, 'config');
  let fileConfig = file !== undefined ? await loadConfigFile(file) : undefined;
  let base: PlainObject = EMBEDDED_DEFAULTS;
  // `--resume --out DIR` without --config: the run's own resolved config is the base, so the
  // command needs no other flags (flags still override, e.g. --epochs to train longer).
  const outFlag = stringFlag(flags, 'out');
  if (fileConfig === undefined && flags.resume === true && outFlag !== undefined) {
    const runConfig = path.join(path.resolve(outFlag), 'config.json');
    if (await pathExists(runConfig)) {
      file = runConfig;
      fileConfig = await loadConfigFile(runConfig);
      delete fileConfig.outDir;
      delete fileConfig.resume;
      base = {};
    }
  }
  const fields = knownConfigFields();
  if (fileConfig) {
    // Validate the file on its own first, so its errors name the file and not the flags.
    const fileLayer = layerTrainConfig(fileConfig, {}, fields, file, base);
    resolveTrainConfig(fileLayer, `config file ${file}`);
  }
  const raw = layerTrainConfig(fileConfig, flags, fields, file, base);
  // Relative paths in the file are relative to the file's directory.
  if (fileConfig && typeof fileConfig.outDir === 'string' && flags.out === undefined && file) {
    raw.outDir = path.resolve(path.dirname(file), fileConfig.outDir);
  }
  if (
    fileConfig &&
    file &&
    isPlainObject(fileConfig.dataset) &&
    isPlainObject(fileConfig.dataset.options) &&
    typeof fileConfig.dataset.options.dir === 'string' &&
    flags['data-dir'] === undefined &&
    isPlainObject(raw.dataset) &&
    isPlainObject(raw.dataset.options)
  ) {
    raw.dataset = { ...raw.dataset, options: { ...raw.dataset.options, dir: path.resolve(path.dirname(file), fileConfig.dataset.options.dir) } };
  }
  if (raw.outDir === undefined) raw.outDir = path.resolve(defaultRunDirectory(raw, now));
  const where = file ? `command line (with config file ${file})` : 'command line';
  const config = resolveTrainConfig(raw, where);
  const sets = Array.isArray(flags.set) ? flags.set : [];
  const explicitCallbacks = fileConfig?.callbacks !== undefined || sets.some((s) => s.trim().startsWith('callbacks'));
  return file ? { config, file, explicitCallbacks } : { config, explicitCallbacks };
}

/** runs/<yyyymmdd-hhmmss>-<mode>-<dataset> */
export function defaultRunDirectory(raw: PlainObject, now: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`;
  const mode = typeof raw.mode === 'string' ? raw.mode : String(EMBEDDED_DEFAULTS.mode);
  const dataset = isPlainObject(raw.dataset) && typeof raw.dataset.name === 'string' ? raw.dataset.name : 'dataset';
  const safe = (s: string) => s.replace(/[^\w.-]+/g, '_');
  return path.join('runs', `${stamp}-${safe(mode)}-${safe(dataset)}`);
}

/**
 * The run directory must be writable, and must not hold an earlier run unless resuming it:
 * nothing written before is overwritten by accident.
 */
export async function prepareRunDirectory(outDir: string, resume: boolean): Promise<void> {
  let entries: string[] | undefined;
  try {
    const stat = await fs.stat(outDir);
    if (!stat.isDirectory()) throw new CheckpointError(`output directory ${outDir} is not writable: it exists and is not a directory`);
    entries = await fs.readdir(outDir);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') {
      throw new CheckpointError(`output directory ${outDir} is not writable: ${(error as Error).message}`, { cause: error });
    }
  }
  const hasRun = entries !== undefined && entries.some((e) => e === 'config.json' || e === 'summary.json' || e === 'checkpoints');
  if (resume && !hasRun) {
    throw new ConfigError(`--resume: ${outDir} holds no run to resume (no config.json or checkpoints/)`, [
      { path: 'resume', message: 'no run to resume' },
    ]);
  }
  if (!resume && hasRun) {
    throw new ConfigError(
      `output directory ${outDir} already holds a run; pass --resume to continue it, or choose another --out`,
      [{ path: 'outDir', message: 'already holds a run' }],
    );
  }
  await ensureWritableDirectory(outDir);
}

export async function trainCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const { config: resolved, explicitCallbacks } = await buildTrainConfig(flags);
  const config: TrainConfig = { ...resolved };
  const outDir = config.outDir as string;

  const log = cliLogger(io, flags.quiet === true);
  const registry = createDefaultRegistry({ seed: config.seed, log });
  try {
    checkPlugins(registry, config);
    checkBackendName(stringFlag(flags, 'backend'));
    const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });

    await prepareRunDirectory(outDir, config.resume);

    const backend = await selectBackend(stringFlag(flags, 'backend'), io, threads);
    config.backend = backend.name;

    const callbacks: Callback[] = [];
    if (!explicitCallbacks) {
      // The CLI draws its own progress on its stderr; keep the trainer's other default callbacks.
      config.callbacks = config.callbacks.filter((c) => c.name !== 'progress-bar');
    }
    if (flags.quiet !== true && !config.callbacks.some((c) => c.name === 'progress-bar')) {
      callbacks.push(progressCallback(io.stderr));
    }

    io.stderr.write(
      `advprop train: ${config.mode} | dataset ${config.dataset.name} | model ${config.model.name} | attacker ${config.attacker.name}` +
        `${config.attacker.options ? ` ${JSON.stringify(config.attacker.options)}` : ''} | ${config.epochs} epoch(s), batch ${config.batchSize}` +
        `${config.limit ? `, first ${config.limit} images` : ''} | seed ${config.seed}\n` +
        `run directory: ${outDir}\n`,
    );

    // Ctrl-C stops after the current batch; the run still evaluates and writes its outputs.
    // A second Ctrl-C quits at once (the handler is installed once).
    const abort = new AbortController();
    const onSigint = () => {
      io.stderr.write('\nadvprop train: stopping after this batch (Ctrl-C again to quit now)\n');
      abort.abort();
    };
    process.once('SIGINT', onSigint);
    let result: Awaited<ReturnType<typeof train>>;
    try {
      result = await train(config, { registry, callbacks, log, signal: abort.signal });
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    try {
      const summary = result.summary as unknown as PlainObject;
      io.stderr.write(formatSummary(summary, outDir));
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    } finally {
      result.dispose();
    }
    return 0;
  } finally {
    await registry.dispose().catch(() => {});
  }
}

/** The readable result block (stderr). */
export function formatSummary(summary: PlainObject, outDir?: string): string {
  const robust = isPlainObject(summary.robust_accuracy) ? summary.robust_accuracy : {};
  const lines = [
    '',
    `Result (${String(summary.mode)}, ${String(summary.dataset)}, ${String(summary.model)}, backend ${String(summary.backend)}, ${String(summary.epochs)} epoch(s), seed ${String(summary.seed)})`,
    `  clean accuracy      ${formatPercent(summary.clean_accuracy as number)}`,
    `  aux-BN accuracy     ${formatPercent(summary.aux_accuracy as number | null)}`,
    ...Object.entries(robust).map(([name, acc]) => `  robust (${name})`.padEnd(22) + formatPercent(acc as number)),
    `  images / second     ${formatNumber(summary.images_per_second as number)}`,
    `  wall time           ${formatNumber(summary.wall_seconds as number)} s`,
  ];
  if (outDir) lines.push(`  run directory       ${outDir}`);
  return `${lines.join('\n')}\n`;
}

export { UsageError };
