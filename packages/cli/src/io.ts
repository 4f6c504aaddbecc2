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

/** The trainer's and the plugins' log lines, on this invocation's stderr. */
export function cliLogger(io: CliIo, quiet = false): Logger {
  return {
    debug: (m) => {
      if (process.env.ADVPROP_DEBUG) io.stderr.write(`${m}\n`);
    },
    info: (m) => {
      if (!quiet) io.stderr.write(`${m}\n`);
    },
    warn: (m) => io.stderr.write(`warning: ${m}\n`),
  };
}

export function formatPercent(value: number | null | undefined): string {
  return typeof value === 'number' && Number.isFinite(value) ? `${(value * 100).toFixed(2)}%` : 'n/a';
}

export function formatNumber(value: number | null | undefined, digits = 1): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}
