/**
 * `advprop eval`: evaluate a trained model on the test split (clean, aux-BN and robust accuracy)
 * and print one JSON object with the keys of summary.json on stdout.
 */
import * as path from 'node:path';
import { createDefaultRegistry, evaluate, type PluginRef } from '@advprop/trainer';
import { SeededRandom, type Attacker } from '@advprop/core';
import { corrupt, type CorruptionType } from '@advprop/datasets';
import { numberFlag, parseAttackList, stringFlag, type ParsedFlags } from './args.js';
import { DATA_DIR_OPTION, EMBEDDED_DEFAULTS, attackerFlags, type PlainObject } from './config.js';
import { formatSummary } from './train-command.js';
import { autoAttackSuiteFlags, runAutoAttackForCli } from './autoattack-suite.js';
import { cliLogger, verbosityOf, type CliIo } from './io.js';
import { attackLabels, checkBackendName, checkDataDirectory, checkDataset, checkModelSource, loadModelFrom, selectBackend } from './shared.js';

/** The dataset a command works on: the run's, overridden by --dataset / --data-dir. */
export function datasetRef(flags: ParsedFlags, fromRun: PluginRef | undefined): PluginRef {
  const name = stringFlag(flags, 'dataset');
  const dir = stringFlag(flags, 'data-dir');
  const base: PluginRef = fromRun ?? (EMBEDDED_DEFAULTS.dataset as PluginRef);
  let ref: PluginRef = name !== undefined && name !== base.name ? { name } : { ...base };
  if (dir !== undefined) ref = { ...ref, options: { ...(ref.options ?? {}), [DATA_DIR_OPTION]: path.resolve(dir) } };
  return ref;
}

/** The attack suite: --eval-attacks, else --attacker/--epsilon/--steps, else the run's suite, else the default one. */
export function attackSuite(flags: ParsedFlags, fromRun: readonly PluginRef[] | undefined): PluginRef[] {
  const list = stringFlag(flags, 'eval-attacks');
  if (list !== undefined) return parseAttackList(list);
  const attacker = attackerFlags(flags);
  if (attacker) return [{ name: attacker.name ?? 'pgd', options: attacker.options }];
  if (fromRun && fromRun.length > 0) return [...fromRun];
  const evaluation = EMBEDDED_DEFAULTS.evaluation as { attacks: PluginRef[] };
  return evaluation.attacks;
}

export async function evalCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const limitFlag = numberFlag(flags, 'limit', { integer: true, min: 1 });
  const batchSize = numberFlag(flags, 'batch-size', { integer: true, min: 1 });
  const seedFlag = numberFlag(flags, 'seed', { integer: true, min: 0 });
  const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });
  const verbosity = verbosityOf(flags);
  // Everything the command line names is checked before a backend loads.
  checkBackendName(stringFlag(flags, 'backend'));
  const { config } = await checkModelSource(stringFlag(flags, 'run'), stringFlag(flags, 'model'));
  const seed = seedFlag ?? config?.seed ?? 0;
  const registry = createDefaultRegistry({ seed, log: cliLogger(io, verbosity) });
  let loaded: Awaited<ReturnType<typeof loadModelFrom>> | undefined;
  try {
    const dataset = datasetRef(flags, config?.dataset);
    // --suite autoattack replaces the attack list (--epsilon is then AutoAttack's budget)
    const autoattack = autoAttackSuiteFlags(flags, limitFlag ?? config?.evaluation.limit);
    const suite = autoattack ? [] : attackSuite(flags, config?.evaluation.attacks);
    checkDataset(registry, dataset);
    await checkDataDirectory(dataset);
    for (const a of suite) registry.validateOptions('attacker', a.name, a.options ?? {});
    attackLabels(suite);
    const backend = await selectBackend(stringFlag(flags, 'backend'), io, threads, verbosity);
    loaded = await loadModelFrom(stringFlag(flags, 'run'), stringFlag(flags, 'model'));
    const adapter = await registry.resolveDynamic('dataset', dataset.name, dataset.options ?? {});
    const labels = attackLabels(suite);
    const attacks: { name: string; attacker: Attacker }[] = [];
    for (const [i, a] of suite.entries()) {
      attacks.push({ name: labels[i] as string, attacker: await registry.resolveDynamic('attacker', a.name, a.options ?? {}) });
    }
    const limit = limitFlag ?? config?.evaluation.limit;
    if (verbosity !== 'quiet') io.stderr.write(
      `advprop eval: ${loaded.source} on ${dataset.name} test split${limit ? ` (first ${limit})` : ''}; attacks: ${labels.join(', ') || 'none'}\n`,
    );
    const started = performance.now();
    const corruptions = config?.evaluation.corruptions ?? [];
    // The same seeded stream as the trainer's final evaluation: same subset, same attack randomness,
    // so `advprop eval --run` reproduces summary.json's figures on the same backend.
    const result = await evaluate(loaded.model, adapter, {
      attacks,
      ...(limit !== undefined ? { limit } : {}),
      batchSize: batchSize ?? config?.evaluation.batchSize ?? 100,
      corruptions,
      corrupt: (images, shape, o) => corrupt(images, shape, { type: o.type as CorruptionType, severity: o.severity, random: o.random }),
      random: new SeededRandom(seed).fork('final-evaluation'),
    });
    const wallSeconds = (performance.now() - started) / 1000;
    const autoattackSummary = autoattack ? runAutoAttackForCli(loaded.model, adapter, autoattack, io, verbosity === 'quiet') : undefined;
    const summary: PlainObject = {
      mode: config?.mode ?? null,
      dataset: dataset.name,
      model: config?.model.name ?? loaded.source,
      backend: backend.name,
      epochs: config?.epochs ?? null,
      seed,
      clean_accuracy: result.clean_accuracy,
      aux_accuracy: result.aux_accuracy,
      robust_accuracy: result.robust_accuracy,
      ...(corruptions.length > 0 ? { corrupted_accuracy: result.corrupted_accuracy } : {}),
      per_class_accuracy: result.per_class_accuracy,
      evaluated_examples: result.count,
      clean_loss: result.clean_loss,
      // Evaluation throughput: examples evaluated (clean, aux and every attack) per wall second.
      images_per_second: wallSeconds > 0 ? result.count / wallSeconds : 0,
      wall_seconds: wallSeconds,
      // clean/robust accuracy, per-attack breakdown (robust accuracy after each, time, passes) and the checks' warnings
      ...(autoattackSummary ? { autoattack: autoattackSummary as unknown as PlainObject } : {}),
    };
    if (verbosity !== 'quiet') io.stderr.write(formatSummary(summary));
    io.stdout.write(`${JSON.stringify(summary)}\n`);
    return 0;
  } finally {
    loaded?.model.dispose();
    await registry.dispose().catch(() => {});
  }
}
