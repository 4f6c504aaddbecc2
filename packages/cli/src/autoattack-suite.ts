/**
 * `advprop eval --suite autoattack [--norm linf|l2] [--epsilon 8/255] [--version standard] [--steps 100]`:
 * the flags of the AutoAttack suite, checked before any backend loads, and its run with progress
 * per attack on stderr. The suite itself is @advprop/attacks' `runAutoAttackSuite`.
 */
import { autoAttackSuiteSchema, runAutoAttackSuite, type AutoAttackSuiteOptions, type AutoAttackSummary } from '@advprop/attacks';
import type { DatasetAdapter, ModelLike } from '@advprop/core';
import { numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import type { CliIo } from './io.js';

export const EVAL_SUITES = ['autoattack'] as const;

/** The AutoAttack options the flags ask for, or undefined without `--suite`. */
export function autoAttackSuiteFlags(flags: ParsedFlags, limit: number | undefined): AutoAttackSuiteOptions | undefined {
  const suite = stringFlag(flags, 'suite');
  if (suite === undefined) {
    for (const name of ['norm', 'version']) if (flags[name] !== undefined) throw new UsageError(`--${name} needs --suite autoattack`);
    return undefined;
  }
  if (!(EVAL_SUITES as readonly string[]).includes(suite)) throw new UsageError(`--suite: unknown suite "${suite}"; available: ${EVAL_SUITES.join(', ')}`);
  const options: Record<string, unknown> = {};
  const norm = stringFlag(flags, 'norm');
  const epsilon = stringFlag(flags, 'epsilon');
  const version = stringFlag(flags, 'version');
  const seed = numberFlag(flags, 'seed', { integer: true, min: 0 });
  const steps = numberFlag(flags, 'steps', { integer: true, min: 1 });
  if (norm !== undefined) options.norm = norm;
  if (epsilon !== undefined) options.epsilon = epsilon;
  if (version !== undefined) options.version = version;
  if (limit !== undefined) options.limit = limit;
  if (seed !== undefined) options.seed = seed;
  if (steps !== undefined) options.steps = steps;
  const parsed = autoAttackSuiteSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new UsageError(`--${String(issue?.path[0] ?? 'suite')}: ${issue?.message ?? 'invalid value'}`);
  }
  return options as AutoAttackSuiteOptions;
}

/** Run the suite on the test split, one stderr line per attack unless quiet. */
export function runAutoAttackForCli(model: ModelLike, dataset: DatasetAdapter, options: AutoAttackSuiteOptions, io: CliIo, quiet: boolean): AutoAttackSummary {
  return runAutoAttackSuite(model, dataset, options, {
    onProgress: (e) => {
      if (quiet) return;
      const label = e.attack === 'clean' ? 'clean' : `${e.index}/${e.total} ${e.attack}`;
      io.stderr.write(`advprop eval: autoattack ${label}: ${e.attack === 'clean' ? 'accuracy' : 'robust accuracy'} ${(100 * e.robustAccuracy).toFixed(2)}% (${e.seconds.toFixed(1)} s)\n`);
    },
  });
}
