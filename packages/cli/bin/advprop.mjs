#!/usr/bin/env node
// The `advprop` command: a thin wrapper around runCli from the built package.
import { runCli } from '../dist/index.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`advprop: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
