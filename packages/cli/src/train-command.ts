/**
 * `advprop train`: config from defaults < file < flags, plugin names and output directory checked
 * before any work, backend selected, training with a progress display, summary printed.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, CheckpointError, TrainingInterruptedError, type AnyPlugin, type Callback, type Registry } from '@advprop/core';
import { ensureWritableDirectory, pathExists } from '@advprop/core/node';
import { createDefaultRegistry, progressBar, resolveTrainConfig, train, trainConfigSchema, type TrainConfig } from '@advprop/trainer';
import { numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { EMBEDDED_DEFAULTS, isPlainObject, layerTrainConfig, loadConfigFile, type PlainObject } from './config.js';
import { cliLogger, formatNumber, formatPercent, verbosityOf, type CliIo } from './io.js';
import { checkBackendName, checkDataDirectory, checkPlugins, checkWritableLocation, selectBackend } from './shared.js';

/** Top-level fields of the train config (for unknown-field errors with suggestions). */
export function knownConfigFields(): string[] {
  const shape = (trainConfigSchema as unknown as { shape?: Record<string, unknown> }).shape;
  return shape ? ['preset', 'plugins', ...Object.keys(shape)] : [];
}

/** Build and validate the complete train config from the command line (and its --config file). */
export async function buildTrainConfig(
  flags: ParsedFlags,
  now: Date = new Date(),
): Promise<{ config: TrainConfig; file?: string; explicitCallbacks: boolean; plugins: string[] }> {
  let file = stringFlag(flags, 'config');
  let fileConfig = file !== undefined ? await loadConfigFile(file) : undefined;
  // `plugins`: modules (paths relative to the config file) whose exported plugins the command registers.
  const plugins = fileConfig && file ? pluginModules(fileConfig.plugins, file) : [];
  if (fileConfig) delete fileConfig.plugins;
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
      delete fileConfig.resumeFromNewest;
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
  return file ? { config, file, explicitCallbacks, plugins } : { config, explicitCallbacks, plugins };
}

function pluginModules(value: unknown, file: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.trim() === '')) {
    throw new ConfigError(`Invalid options for config file ${file}:\n  - plugins: expected a list of module paths`, [{ path: 'plugins', message: 'expected a list of module paths' }]);
  }
  return (value as string[]).map((v) => path.resolve(path.dirname(file), v));
}

/**
 * Import plugin modules and register what they export: the default export or a `plugins` export,
 * each a plugin (definePlugin, defineTrainingMode, declareAttack...) or a list of them.
 */
export async function registerPluginModules(registry: Registry, modules: readonly string[]): Promise<void> {
  for (const file of modules) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(`plugins: cannot load ${file}: ${(error as Error).message}`, [{ path: 'plugins', message: 'cannot load module' }]);
    }
    const exported = mod.default ?? mod.plugins;
    const list = (Array.isArray(exported) ? exported : [exported]) as AnyPlugin[];
    if (exported === undefined || list.some((p) => typeof p?.kind !== 'string' || typeof p?.create !== 'function')) {
      throw new ConfigError(`plugins: ${file} must export plugins (a plugin or a list of them) as its default export or as \`plugins\``, [
        { path: 'plugins', message: 'no plugins exported' },
      ]);
    }
    registry.use(list);
  }
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
export async function prepareRunDirectory(outDir: string, resume: boolean, options: { create?: boolean } = {}): Promise<void> {
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
  if (options.create === false) await checkWritableLocation(outDir);
  else await ensureWritableDirectory(outDir);
}

export async function trainCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const { config: resolved, explicitCallbacks, plugins } = await buildTrainConfig(flags);
  if (flags['print-config'] === true) {
    io.stdout.write(`${JSON.stringify(resolved, null, 2)}\n`);
    return 0;
  }
  const config: TrainConfig = { ...resolved };
  const outDir = config.outDir as string;

  const verbosity = verbosityOf(flags);
  const log = cliLogger(io, verbosity);
  const registry = createDefaultRegistry({ seed: config.seed, log });
  const callbacks: Callback[] = [];
  try {
    // Everything is checked before a backend loads or a directory is made: a bad flag costs
    // nothing and leaves nothing behind.
    await registerPluginModules(registry, plugins);
    checkPlugins(registry, config);
    await checkDataDirectory(config.dataset);
    checkBackendName(stringFlag(flags, 'backend'));
    const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });
    await prepareRunDirectory(outDir, config.resume, { create: false });
    const short = shortRunWarning(config);
    if (short) log.warn(short);

    const backend = await selectBackend(stringFlag(flags, 'backend'), io, threads, verbosity);
    config.backend = backend.name;
    // train() creates and locks the run directory once the config and plugins validate.

    if (!explicitCallbacks) {
      // The trainer's progress bar, drawn on this invocation's stderr (not process.stderr), and
      // none with --quiet; the trainer's other default callbacks stay.
      config.callbacks = config.callbacks.filter((c) => c.name !== 'progress-bar');
      if (verbosity !== 'quiet') callbacks.push(progressBar({ stream: io.stderr }));
    }

    if (verbosity !== 'quiet') io.stderr.write(
      `advprop train: ${config.mode} | dataset ${config.dataset.name} | model ${config.model.name} | attacker ${config.attacker ? config.attacker.name : '(none)'}` +
        `${config.attacker?.options ? ` ${JSON.stringify(config.attacker.options)}` : ''} | ${config.epochs} epoch(s), batch ${config.batchSize}` +
        `${config.limit ? `, first ${config.limit} images` : ''} | seed ${config.seed}\n` +
        `run directory: ${outDir}\n`,
    );

    // SIGINT (Ctrl-C) / SIGTERM: the step in flight finishes, a checkpoint of the true position is
    // written, and the command exits with 130 / 143 saying how to resume. A second signal quits at once.
    const abort = new AbortController();
    const onSignal = (signal: NodeJS.Signals) => {
      if (abort.signal.aborted) process.exit(signal === 'SIGTERM' ? 143 : 130);
      io.stderr.write(`\nadvprop train: ${signal}: stopping after this step and saving a checkpoint (${signal} again to quit at once)\n`);
      abort.abort(`interrupted by ${signal}`);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    let result: Awaited<ReturnType<typeof train>>;
    try {
      result = await train(config, { registry, callbacks, log, signal: abort.signal });
    } catch (error) {
      if (!(error instanceof TrainingInterruptedError)) throw error;
      io.stderr.write(`advprop train: ${error.message}\n${error.checkpoint ? `To continue: advprop train --out ${outDir} --resume\n` : ''}`);
      return error.reason.endsWith('SIGTERM') ? 143 : error.reason.endsWith('SIGINT') ? 130 : 1;
    } finally {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    try {
      const summary = result.summary as unknown as PlainObject;
      if (verbosity !== 'quiet') io.stderr.write(formatSummary(summary, outDir));
      io.stdout.write(`${JSON.stringify(summary)}\n`);
    } finally {
      result.dispose();
    }
    return 0;
  } finally {
    for (const cb of callbacks) (cb as { dispose?: () => void }).dispose?.();
    await registry.dispose().catch(() => {});
  }
}

/** Below this many optimizer steps the bundled models barely leave chance accuracy. */
export const FEW_STEPS = 200;

/**
 * A run too short to learn looks broken (one epoch on 1,280 images ends near 10 %): say why
 * before it starts. Undefined when the run is long enough or its length is not known yet (no
 * --limit: the whole training split).
 */
export function shortRunWarning(config: Pick<TrainConfig, 'epochs' | 'batchSize' | 'limit'>): string | undefined {
  if (config.limit === undefined) return undefined;
  const perEpoch = Math.floor(config.limit / config.batchSize);
  const steps = perEpoch * config.epochs;
  if (steps >= FEW_STEPS) return undefined;
  return (
    `this run makes only ${steps} optimizer step${steps === 1 ? '' : 's'} (${config.epochs} epoch${config.epochs === 1 ? '' : 's'} x ${perEpoch} batches of ${config.batchSize}); ` +
    `the models need a few hundred to rise clearly above chance accuracy, so expect figures near chance. ` +
    `For a meaningful result give more --epochs or a larger --limit (at least ${FEW_STEPS} steps).`
  );
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
