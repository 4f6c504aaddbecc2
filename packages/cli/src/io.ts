/**
 * Output streams of one CLI invocation: machine-readable results on stdout, everything a person
 * reads (progress, backend, summaries, errors) on stderr.
 */
import type { Logger } from '@advprop/core';

export interface OutputStream {
  write(chunk: string): unknown;
  readonly isTTY?: boolean;
}

export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
}

export function defaultIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** Collects output in memory (tests, embedding). */
export function memoryIo(): CliIo & { out(): string; err(): string } {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    out: () => out,
    err: () => err,
  };
}

/** How much a command says on stderr: `--quiet` only errors, `--verbose` everything. */
export type Verbosity = 'quiet' | 'normal' | 'verbose';

export function verbosityOf(flags: { readonly quiet?: unknown; readonly verbose?: unknown }): Verbosity {
  return flags.quiet === true ? 'quiet' : flags.verbose === true ? 'verbose' : 'normal';
}

/** The trainer's and the plugins' log lines, on this invocation's stderr. */
export function cliLogger(io: CliIo, verbosity: Verbosity | boolean = 'normal'): Logger {
  // A boolean is the older `quiet` argument.
  const level: Verbosity = verbosity === true ? 'quiet' : verbosity === false ? 'normal' : verbosity;
  return {
    debug: (m) => {
      if (level === 'verbose' || process.env.ADVPROP_DEBUG) io.stderr.write(`${m}\n`);
    },
    info: (m) => {
      if (level !== 'quiet') io.stderr.write(`${m}\n`);
    },
    warn: (m) => {
      if (level !== 'quiet') io.stderr.write(`warning: ${m}\n`);
    },
  };
}

export function formatPercent(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${(value * 100).toFixed(2)}%` : 'n/a';
}

export function formatNumber(value: number | null | undefined, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}
