/**
 * @advprop/cli: the `advprop` command (train | eval | attack | inspect).
 *
 * `runCli(argv, io)` runs one command and resolves to its exit code: 0 on success, 1 when the
 * command failed (bad config, missing plugin, unwritable directory...), 2 on a bad command line.
 * Errors are printed on stderr, naming the flag, the file or the field at fault; stdout carries
 * only machine-readable results (one JSON object per command).
 */
import { AdvpropError, ConfigError } from '@advprop/core';
import { parseArgs, UsageError, type CommandName, type ParsedFlags } from './args.js';
import { commandHelp, mainHelp } from './help.js';
import { defaultIo, type CliIo } from './io.js';
import { trainCommand } from './train-command.js';
import { evalCommand } from './eval-command.js';
import { attackCommand } from './attack-command.js';
import { inspectCommand } from './inspect-command.js';
import { sweepCommand, workerCommand } from './sweep-command.js';
import { reportCommand } from './report-command.js';

export { parseArgs, parseNumber, parseAttackList, closest, UsageError, COMMANDS, FLAG_SPECS } from './args.js';
export type { CommandName, ParsedCommand, ParsedFlags, FlagSpec, AttackSpec } from './args.js';
export {
  loadConfigFile,
  parseConfigText,
  layerTrainConfig,
  configFromFlags,
  applySetFlags,
  deepMerge,
  EMBEDDED_DEFAULTS,
  DATA_DIR_OPTION,
} from './config.js';
export { buildTrainConfig, defaultRunDirectory, prepareRunDirectory, formatSummary, shortRunWarning } from './train-command.js';
export { listPlugins, optionFields, inspectRun, PLUGIN_KINDS, type PluginListing, type OptionField, type RunInfo } from './inspect-command.js';
export { encodeNpy, decodeNpy } from './npy.js';
export { commandHelp, mainHelp } from './help.js';
export { memoryIo, type CliIo, type OutputStream } from './io.js';
export type { AttackReport } from './attack-command.js';

export const VERSION = '0.1.0';

async function dispatch(command: CommandName, flags: ParsedFlags, io: CliIo, positionals: readonly string[] = []): Promise<number> {
  switch (command) {
    case 'train':
      return trainCommand(flags, io);
    case 'eval':
      return evalCommand(flags, io);
    case 'attack':
      return attackCommand(flags, io);
    case 'inspect':
      return inspectCommand(flags, io);
    case 'sweep':
      return sweepCommand(flags, positionals, io);
    case 'worker':
      return workerCommand(flags, io);
    case 'report':
      return reportCommand(positionals, flags, io);
  }
}

/** Run the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo = defaultIo()): Promise<number> {
  let command: CommandName | undefined;
  try {
    const parsed = parseArgs(argv);
    command = parsed.command;
    if (parsed.flags.version === true) {
      io.stdout.write(`${VERSION}\n`);
      return 0;
    }
    if (command === undefined) {
      const help = mainHelp();
      if (parsed.flags.help === true) {
        io.stdout.write(help);
        return 0;
      }
      io.stderr.write(help);
      return 2;
    }
    if (parsed.flags.help === true) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    return await dispatch(command, parsed.flags, io, parsed.positionals);
  } catch (error) {
    return reportError(error, command, io);
  }
}

/** Print an error for a person and choose the exit code. */
export function reportError(error: unknown, command: CommandName | undefined, io: CliIo): number {
  const prefix = `advprop${command ? ` ${command}` : ''}: error:`;
  if (error instanceof UsageError) {
    const cmd = error.command ?? command;
    io.stderr.write(`${prefix} ${error.message}\nRun "advprop ${cmd ? `${cmd} ` : ''}--help" for usage.\n`);
    return 2;
  }
  if (error instanceof ConfigError) {
    io.stderr.write(`${prefix} ${error.message}\n`);
    return 1;
  }
  if (error instanceof AdvpropError) {
    io.stderr.write(`${prefix} ${error.message}\n`);
    if (process.env.ADVPROP_DEBUG && error.stack) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
  const e = error as Error;
  const message = e?.message ?? String(error);
  io.stderr.write(`${prefix} ${message}\n`);
  if (process.env.ADVPROP_DEBUG && e?.stack) io.stderr.write(`${e.stack}\n`);
  else if (!(error instanceof Error) || error.constructor === Error) {
    // Unexpected failures: point at the debug switch rather than dumping a stack by default.
    io.stderr.write('(set ADVPROP_DEBUG=1 for the stack trace)\n');
  }
  return 1;
}
