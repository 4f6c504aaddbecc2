/**
 * `advprop sweep run|submit|status|results` and `advprop worker`: experiment sweeps from a spec
 * file (see docs/sweeps.md), on the embedded in-process queue or on BullMQ workers over Redis.
 */
import * as path from 'node:path';
import {
  aggregateResults,
  DirectoryStorage,
  formatStatus,
  loadSweep,
  resultsMarkdown,
  runSweepEmbedded,
  selectRuns,
  startWorker,
  submitSweep,
  sweepStatus,
} from '@advprop/sweep';
import { numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { cliLogger, type CliIo } from './io.js';

export const SWEEP_SUBCOMMANDS = ['run', 'submit', 'status', 'results'] as const;

/** Storage root: --out, else sweeps/<spec file name without extension>. */
function storageRoot(flags: ParsedFlags, spec?: string): string {
  const out = stringFlag(flags, 'out');
  if (out !== undefined) return path.resolve(out);
  if (spec === undefined) throw new UsageError('--out DIR is required: the storage root of the sweep', 'sweep');
  return path.resolve('sweeps', path.basename(spec, path.extname(spec)));
}

function specArgument(sub: string, positionals: readonly string[]): string {
  const spec = positionals[1];
  if (spec === undefined) throw new UsageError(`"advprop sweep ${sub}" needs the spec file: advprop sweep ${sub} SPEC`, 'sweep');
  if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}" after the spec file`, 'sweep');
  return spec;
}

/** --only AXIS=VALUE filters (repeatable). */
function onlyFilters(flags: ParsedFlags): string[] {
  const only = flags.only;
  return only === undefined ? [] : Array.isArray(only) ? only : [String(only)];
}

function noSpec(sub: string, positionals: readonly string[]): void {
  if (positionals.length > 1) throw new UsageError(`"advprop sweep ${sub}" takes no spec file (got "${positionals[1]}"); give --out DIR`, 'sweep');
}

export async function sweepCommand(flags: ParsedFlags, positionals: readonly string[], io: CliIo): Promise<number> {
  const sub = positionals[0];
  if (sub === undefined || !(SWEEP_SUBCOMMANDS as readonly string[]).includes(sub)) {
    throw new UsageError(
      `${sub === undefined ? 'which sweep command?' : `unknown sweep command "${sub}";`} commands: ${SWEEP_SUBCOMMANDS.join(', ')}`,
      'sweep',
    );
  }
  if (flags.first === true && sub !== 'submit') throw new UsageError(`--first applies to "advprop sweep submit" only, not "${sub}"`, 'sweep');
  const quiet = flags.quiet === true;
  const say = (line: string) => {
    if (!quiet) io.stderr.write(`${line}\n`);
  };
  switch (sub) {
    case 'run': {
      const file = specArgument(sub, positionals);
      const sweep = selectRuns(await loadSweep(file), onlyFilters(flags));
      const concurrency = numberFlag(flags, 'concurrency', { integer: true, min: 1 });
      const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });
      const root = storageRoot(flags, file);
      const report = await runSweepEmbedded(sweep, {
        root,
        ...(concurrency !== undefined ? { concurrency } : {}),
        ...(threads !== undefined ? { threads } : {}),
        report: say,
        childStderr: quiet ? 'ignore' : 'inherit',
      });
      const storage = new DirectoryStorage(root);
      const manifest = await storage.readManifest();
      const results = aggregateResults(await storage.readResults(), manifest);
      // The table for a person (stderr), the outcome as JSON for programs (stdout).
      say(`\n${resultsMarkdown(results, manifest?.reportMetrics)}`);
      say(`results: ${path.join(root, 'results.jsonl')} (advprop sweep results --out ${path.relative(process.cwd(), root) || '.'})`);
      for (const f of report.failed) io.stderr.write(`advprop sweep: run ${f.id} (${f.group}) failed: ${f.error}\n`);
      io.stdout.write(`${JSON.stringify({ ...report, root })}\n`);
      return report.failed.length > 0 ? 1 : 0;
    }
    case 'submit': {
      const file = specArgument(sub, positionals);
      const redis = stringFlag(flags, 'redis');
      if (redis === undefined) throw new UsageError('"advprop sweep submit" needs --redis URL (e.g. redis://host:6379)', 'sweep');
      const sweep = selectRuns(await loadSweep(file), onlyFilters(flags));
      const root = storageRoot(flags, file);
      const report = await submitSweep(sweep, { redis, root, first: flags.first === true });
      say(
        `sweep ${sweep.spec.name ?? file}: ${report.total} runs: ${report.enqueued} enqueued, ${report.queued} already queued, ` +
          `${report.retried} failed runs enqueued again, ${report.finished} finished; storage ${root}`,
      );
      io.stdout.write(`${JSON.stringify({ ...report, root })}\n`);
      return 0;
    }
    case 'status': {
      noSpec(sub, positionals);
      const redis = stringFlag(flags, 'redis');
      const status = await sweepStatus(storageRoot(flags), redis !== undefined ? { redis } : {});
      const format = stringFlag(flags, 'format') ?? 'text';
      if (format !== 'text' && format !== 'json') throw new UsageError(`--format: expected text or json for "sweep status", got "${format}"`, 'sweep');
      io.stdout.write(format === 'json' ? `${JSON.stringify(status)}\n` : formatStatus(status));
      return 0;
    }
    case 'results': {
      noSpec(sub, positionals);
      const storage = new DirectoryStorage(storageRoot(flags));
      const manifest = await storage.readManifest();
      if (!manifest) throw new UsageError(`${storage.location} holds no sweep (no sweep.json)`, 'sweep');
      const results = aggregateResults(await storage.readResults(), manifest);
      const format = stringFlag(flags, 'format') ?? 'md';
      if (format !== 'md' && format !== 'json') throw new UsageError(`--format: expected md or json for "sweep results", got "${format}"`, 'sweep');
      io.stdout.write(format === 'json' ? `${JSON.stringify(results, null, 1)}\n` : resultsMarkdown(results, manifest.reportMetrics));
      return 0;
    }
  }
  return 2;
}

/** `advprop worker`: process sweep runs from Redis until SIGINT / SIGTERM (then finish the running ones). */
export async function workerCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const redis = stringFlag(flags, 'redis');
  if (redis === undefined) throw new UsageError('"advprop worker" needs --redis URL (e.g. redis://host:6379)', 'worker');
  const concurrency = numberFlag(flags, 'concurrency', { integer: true, min: 1 }) ?? 1;
  const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });
  const lockSeconds = numberFlag(flags, 'lock-seconds', { positive: true });
  const stalledSeconds = numberFlag(flags, 'stalled-seconds', { positive: true });
  const log = cliLogger(io, flags.quiet === true);
  const worker = await startWorker({
    redis,
    concurrency,
    ...(threads !== undefined ? { threads } : {}),
    ...(lockSeconds !== undefined ? { lockDurationMs: lockSeconds * 1000 } : {}),
    ...(stalledSeconds !== undefined ? { stalledIntervalMs: stalledSeconds * 1000 } : {}),
    log,
  });
  log.info(`advprop worker ${process.pid}: ${concurrency} run(s) at once, ${worker.threads} thread(s) each, queue on ${redis.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info(`advprop worker: ${signal}: finishing the running runs, then exiting (send it again to quit now)`);
      process.once(signal as NodeJS.Signals, () => process.exit(130));
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await worker.close();
  return 0;
}
