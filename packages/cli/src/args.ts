/**
 * Command-line parsing: one strict `util.parseArgs` per command, so an unknown or malformed flag is
 * a UsageError that names the flag and lists the valid ones.
 */
import { parseArgs as nodeParseArgs } from 'node:util';

export const COMMANDS = ['train', 'eval', 'attack', 'inspect'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** Wrong command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(
    message: string,
    readonly command?: CommandName,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** Placeholder shown in help, e.g. NAME. */
  readonly value?: string;
  readonly help: string;
}

const common: Record<string, FlagSpec> = {
  help: { type: 'boolean', short: 'h', help: 'Show help for this command.' },
  backend: {
    type: 'string',
    value: 'NAME',
    help: 'tfjs backend: auto (default), tensorflow, webgpu, wasm or cpu.',
  },
  seed: { type: 'string', value: 'N', help: 'Seed of every random stream (default 0 for train).' },
  threads: {
    type: 'string',
    value: 'N',
    help: 'CPU threads for the native kernels on wasm/cpu (default: one per core; needs @advprop/native-kernels built).',
  },
};

const dataFlags: Record<string, FlagSpec> = {
  dataset: { type: 'string', value: 'NAME', help: 'Dataset plugin (default mnist-package).' },
  'data-dir': { type: 'string', value: 'DIR', help: 'Directory holding the dataset files (idx, cifar, image-folder...).' },
};

const attackFlags: Record<string, FlagSpec> = {
  attacker: { type: 'string', value: 'NAME', help: 'Attack plugin (train: the training attacker; default pgd).' },
  epsilon: { type: 'string', value: 'EPS', help: 'Attack budget in input units; a number or a fraction like 8/255.' },
  steps: { type: 'string', value: 'N', help: 'Attack iterations (PGD-style attackers).' },
};

export const FLAG_SPECS: Record<CommandName, Record<string, FlagSpec>> = {
  train: {
    config: { type: 'string', short: 'c', value: 'FILE', help: 'Config file (JSON or YAML); flags override it.' },
    ...dataFlags,
    model: { type: 'string', value: 'NAME', help: 'Model plugin (default small-cnn).' },
    mode: { type: 'string', value: 'MODE', help: 'vanilla | adversarial | advprop (default) | fast-advprop.' },
    ...attackFlags,
    epochs: { type: 'string', value: 'N', help: 'Training epochs.' },
    'batch-size': { type: 'string', value: 'N', help: 'Mini-batch size.' },
    lr: { type: 'string', value: 'RATE', help: 'Learning rate of the optimizer.' },
    optimizer: { type: 'string', value: 'NAME', help: 'sgd | adam | adamw.' },
    limit: { type: 'string', value: 'N', help: 'Use only the first N training images.' },
    'eval-attacks': {
      type: 'string',
      value: 'LIST',
      help: 'Comma-separated attacks for robust accuracy, each NAME or NAME:EPS or NAME:EPS:STEPS.',
    },
    'eval-limit': { type: 'string', value: 'N', help: 'Evaluate on N test images only (a fixed seeded subset).' },
    set: {
      type: 'string',
      multiple: true,
      value: 'PATH=VALUE',
      help: 'Set any config field, e.g. --set optimizer.momentum=0.9 (repeatable; VALUE parsed as YAML).',
    },
    ...common,
    out: { type: 'string', short: 'o', value: 'DIR', help: 'Run directory (default runs/<timestamp>-<mode>-<dataset>).' },
    resume: {
      type: 'boolean',
      help: "Continue the run in --out from its last checkpoint; the run's config.json is the base (flags override, e.g. --epochs).",
    },
    quiet: { type: 'boolean', short: 'q', help: 'No progress output on stderr.' },
  },
  eval: {
    run: { type: 'string', value: 'DIR', help: 'Run directory written by `advprop train`.' },
    model: { type: 'string', value: 'DIR', help: 'A saved model directory (model-dual/ or model-inference/) instead of --run.' },
    ...dataFlags,
    'eval-attacks': {
      type: 'string',
      value: 'LIST',
      help: "Comma-separated attacks (NAME[:EPS[:STEPS]]); default: the run's evaluation attacks.",
    },
    ...attackFlags,
    limit: { type: 'string', value: 'N', help: 'Evaluate on N test images only (a fixed seeded subset).' },
    'batch-size': { type: 'string', value: 'N', help: 'Evaluation batch size (default 100).' },
    ...common,
  },
  attack: {
    run: { type: 'string', value: 'DIR', help: 'Run directory written by `advprop train`.' },
    model: { type: 'string', value: 'DIR', help: 'A saved model directory instead of --run.' },
    ...dataFlags,
    ...attackFlags,
    count: { type: 'string', short: 'n', value: 'N', help: 'Number of test images to attack (default 500).' },
    'batch-size': { type: 'string', value: 'N', help: 'Batch size (default 100).' },
    route: { type: 'string', value: 'ROUTE', help: 'BN route of a dual model while attacking and predicting: main (default) or aux.' },
    ...common,
    out: {
      type: 'string',
      short: 'o',
      value: 'DIR',
      help: 'Save adversarial.npy, clean.npy, labels.npy, predictions.npy and report.json there.',
    },
  },
  inspect: {
    run: { type: 'string', value: 'DIR', help: "Show a run's config, summary, metrics and checkpoints." },
    kind: { type: 'string', value: 'KIND', help: 'Only list plugins of this kind (dataset, model, attacker, optimizer, schedule, callback, backend).' },
    json: { type: 'boolean', help: 'Print JSON instead of text.' },
    help: common.help as FlagSpec,
  },
};

export type ParsedFlags = Record<string, string | boolean | string[] | undefined>;

export interface ParsedCommand {
  readonly command: CommandName | undefined;
  readonly flags: ParsedFlags;
  readonly positionals: readonly string[];
}

/** Split argv into a command and its flags, validated strictly against that command's flags. */
export function parseArgs(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  if (first === undefined) return { command: undefined, flags: {}, positionals: [] };
  if (first === '--help' || first === '-h' || first === 'help') {
    const target = rest[0];
    if (target !== undefined && (COMMANDS as readonly string[]).includes(target)) {
      return { command: target as CommandName, flags: { help: true }, positionals: [] };
    }
    return { command: undefined, flags: { help: true }, positionals: [] };
  }
  if (first === '--version' || first === '-v') return { command: undefined, flags: { version: true }, positionals: [] };
  if (!(COMMANDS as readonly string[]).includes(first)) {
    throw new UsageError(
      first.startsWith('-')
        ? `expected a command before ${first}; commands: ${COMMANDS.join(', ')}`
        : `unknown command "${first}"; commands: ${COMMANDS.join(', ')}`,
    );
  }
  const command = first as CommandName;
  const specs = FLAG_SPECS[command];
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, spec] of Object.entries(specs)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = nodeParseArgs({ args: [...rest], options, strict: true, allowPositionals: false });
    return { command, flags: values as ParsedFlags, positionals };
  } catch (error) {
    throw new UsageError(explainParseError(error as Error & { code?: string }, command, specs), command);
  }
}

function explainParseError(error: Error & { code?: string }, command: CommandName, specs: Record<string, FlagSpec>): string {
  const valid = Object.keys(specs)
    .map((n) => `--${n}`)
    .join(', ');
  const message = error.message;
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
    const suggestion = closest(flag.replace(/^-+/, ''), Object.keys(specs));
    return `unknown flag ${flag} for "advprop ${command}"${suggestion ? ` (did you mean --${suggestion}?)` : ''}. Valid flags: ${valid}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const arg = /'([^']+)'/.exec(message)?.[1] ?? '';
    return `unexpected argument ${arg ? `"${arg}" ` : ''}for "advprop ${command}": every option is a --flag. Valid flags: ${valid}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    // node: "Option '--epochs <value>' argument missing" or "Option '--resume' does not take an argument"
    return `${message.replace(/^Option /, 'flag ')} (advprop ${command})`;
  }
  return message;
}

/** The nearest name by edit distance, when near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] as number;
}

// ---------------------------------------------------------------------------------------------
// Typed flag values

/** A number flag; `--epochs abc` names the flag. */
export function numberFlag(
  flags: ParsedFlags,
  name: string,
  options: { integer?: boolean; min?: number; max?: number; positive?: boolean } = {},
): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value`);
  const value = parseNumber(raw);
  if (value === undefined) throw new UsageError(`--${name}: expected a number, got "${raw}"`);
  if (options.integer && !Number.isInteger(value)) throw new UsageError(`--${name}: expected an integer, got "${raw}"`);
  if (options.positive && !(value > 0)) throw new UsageError(`--${name}: expected a number > 0, got "${raw}"`);
  if (options.min !== undefined && value < options.min) throw new UsageError(`--${name}: expected a number >= ${options.min}, got "${raw}"`);
  if (options.max !== undefined && value > options.max) throw new UsageError(`--${name}: expected a number <= ${options.max}, got "${raw}"`);
  return value;
}

/** A decimal number or a fraction "a/b" (epsilons are often written 8/255). */
export function parseNumber(raw: string): number | undefined {
  const text = raw.trim();
  const fraction = /^([+-]?\d*\.?\d+(?:e[+-]?\d+)?)\s*\/\s*(\d*\.?\d+(?:e[+-]?\d+)?)$/i.exec(text);
  if (fraction) {
    const denominator = Number(fraction[2]);
    if (denominator === 0) return undefined;
    return Number(fraction[1]) / denominator;
  }
  if (text === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return undefined;
  return Number(text);
}

export function stringFlag(flags: ParsedFlags, name: string): string | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string') throw new UsageError(`--${name} needs a value`);
  if (raw.trim() === '') throw new UsageError(`--${name}: expected a non-empty value`);
  return raw;
}

export interface AttackSpec {
  name: string;
  options: Record<string, unknown>;
}

/** `fgsm:0.1,pgd:0.1:10` -> attack suite entries. */
export function parseAttackList(raw: string, flag = '--eval-attacks'): AttackSpec[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`${flag}: expected a comma-separated list of attacks`);
  return items.map((item) => {
    const [name, eps, steps, ...extra] = item.split(':').map((s) => s.trim());
    if (!name || extra.length > 0) throw new UsageError(`${flag}: "${item}" is not NAME, NAME:EPS or NAME:EPS:STEPS`);
    const options: Record<string, unknown> = {};
    if (eps !== undefined && eps !== '') {
      const e = parseNumber(eps);
      if (e === undefined || e < 0) throw new UsageError(`${flag}: epsilon "${eps}" of "${item}" is not a number >= 0`);
      options.epsilon = e;
    }
    if (steps !== undefined && steps !== '') {
      const s = parseNumber(steps);
      if (s === undefined || !Number.isInteger(s) || s < 1) throw new UsageError(`${flag}: steps "${steps}" of "${item}" is not an integer >= 1`);
      options.steps = s;
    }
    return { name, options };
  });
}
