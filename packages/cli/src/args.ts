/**
 * Command-line parsing: one strict `util.parseArgs` per command, so an unknown or malformed flag is
 * a UsageError that names the flag and lists the valid ones.
 */
import { parseArgs as nodeParseArgs } from 'node:util';
import { amountToFraction } from '@advprop/attacks';

export const COMMANDS = ['train', 'eval', 'attack', 'inspect', 'report', 'sweep', 'worker'] as const;
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
  quiet: { type: 'boolean', short: 'q', help: 'Print nothing on stderr but errors (stdout still carries the JSON result).' },
  verbose: { type: 'boolean', help: "Say more: why backends were skipped, the backend's full description, TF.js's and Dawn's own messages." },
};

const dataFlags: Record<string, FlagSpec> = {
  dataset: { type: 'string', value: 'NAME', help: 'Dataset plugin (default mnist-package).' },
  'data-dir': { type: 'string', value: 'DIR', help: 'Directory holding the dataset files (idx, cifar, image-folder...).' },
};

const attackFlags: Record<string, FlagSpec> = {
  attacker: { type: 'string', value: 'NAME', help: 'Attack plugin (train: the training attacker; default pgd).' },
  epsilon: { type: 'string', value: 'EPS', help: 'Attack budget as a fraction of the input range: a number (0.03) or a fraction (8/255).' },
  steps: { type: 'string', value: 'N', help: 'Attack iterations (PGD-style attackers).' },
};

export const FLAG_SPECS: Record<CommandName, Record<string, FlagSpec>> = {
  train: {
    config: { type: 'string', short: 'c', value: 'FILE', help: 'Config file (JSON or YAML); flags override it.' },
    ...dataFlags,
    model: { type: 'string', value: 'NAME', help: 'Model plugin (default small-cnn).' },
    preset: { type: 'string', value: 'NAME', help: 'Base preset under the config file and flags (default mnist-advprop).' },
    mode: { type: 'string', value: 'MODE', help: 'Training mode: vanilla | adversarial | advprop (default) | fast-advprop | trades, or a registered one.' },
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
    'print-config': { type: 'boolean', help: 'Print the resolved config (JSON) and exit without training.' },
    out: { type: 'string', short: 'o', value: 'DIR', help: 'Run directory (default runs/<timestamp>-<mode>-<dataset>).' },
    resume: {
      type: 'boolean',
      help: "Continue the run in --out from its last checkpoint; the run's config.json is the base (flags override, e.g. --epochs).",
    },
    'resume-from-newest': {
      type: 'boolean',
      help: 'With --resume: when checkpoints/latest.json is missing or unreadable, continue from the newest checkpoint that verifies.',
    },
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
    suite: { type: 'string', value: 'NAME', help: 'autoattack: AutoAttack (APGD-CE, APGD-T, FAB-T, Square) instead of the attack list; --epsilon is its budget.' },
    norm: { type: 'string', value: 'NORM', help: 'With --suite autoattack: linf (default, eps 8/255) or l2 (eps 0.5).' },
    version: { type: 'string', value: 'NAME', help: 'With --suite autoattack: standard (default), plus or rand (EOT for randomised models).' },
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
    backends: { type: 'boolean', help: 'Probe every backend: which can load here, and why the others cannot.' },
    json: { type: 'boolean', help: 'Print JSON instead of text.' },
    help: common.help as FlagSpec,
  },
  // `advprop report DIR`: the run or sweep directory is the one positional argument.
  report: {
    out: { type: 'string', short: 'o', value: 'DIR', help: 'Site directory (default DIR/report).' },
    'eval-attacks': {
      type: 'string',
      value: 'LIST',
      help: "Attacks of the robust-accuracy curve, comma-separated NAME[:EPS[:STEPS]]; EPS is set by --epsilons (default: the run's evaluation attacks).",
    },
    epsilons: { type: 'string', value: 'LIST', help: "Epsilons of the curve, comma-separated (default: 0 and 1/4 to 3 times the run's evaluation epsilon)." },
    limit: { type: 'string', value: 'N', help: 'Test images for the curve and the corruptions (default 300, a fixed seeded subset).' },
    examples: { type: 'string', value: 'N', help: 'Adversarial examples in the grid (default 8).' },
    serve: { type: 'boolean', help: "Serve the live attack page for the run on localhost instead (stop with Ctrl-C)." },
    port: { type: 'string', value: 'N', help: 'Port of --serve (default 0: any free port; the URL is printed).' },
    ...common,
  },
  // `advprop sweep run|submit|status|results [SPEC]`: the subcommand and the spec file are positional.
  sweep: {
    out: { type: 'string', short: 'o', value: 'DIR', help: 'Storage root of the sweep (default sweeps/<spec file name>; status and results need it).' },
    redis: { type: 'string', value: 'URL', help: 'Redis of the queue, e.g. redis://host:6379 (submit; status reads the queue state from it).' },
    concurrency: { type: 'string', value: 'N', help: 'run: runs at once on this machine (default 1).' },
    threads: { type: 'string', value: 'N', help: 'run: threads per run (default: cores / concurrency).' },
    only: {
      type: 'string',
      value: 'AXIS=VALUE',
      multiple: true,
      help: 'run, submit: only the runs with this axis value, e.g. --only label=advprop-pgd1 --only seed=0 (repeatable: all must match).',
    },
    format: { type: 'string', value: 'FORMAT', help: 'results: md (default) or json; status: text (default) or json.' },
    first: { type: 'boolean', help: 'submit: queue the runs ahead of the runs already waiting (in the spec\'s order).' },
    quiet: common.quiet as FlagSpec,
    help: common.help as FlagSpec,
  },
  worker: {
    redis: { type: 'string', value: 'URL', help: 'Redis of the queue, e.g. redis://host:6379 (required).' },
    concurrency: { type: 'string', value: 'N', help: 'Runs at once in this worker (default 1).' },
    threads: { type: 'string', value: 'N', help: 'Threads per run (default: cores / concurrency).' },
    'lock-seconds': { type: 'string', value: 'S', help: "Lock of a running run; a dead worker's run is retried after it expires (default 600)." },
    'stalled-seconds': { type: 'string', value: 'S', help: 'How often to look for runs of dead workers (default 300).' },
    quiet: common.quiet as FlagSpec,
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
    const { values, positionals } = nodeParseArgs({ args: joinNegativeValues(rest, specs), options, strict: true, allowPositionals: command === 'report' || command === 'sweep' });
    return { command, flags: values as ParsedFlags, positionals };
  } catch (error) {
    throw new UsageError(explainParseError(error as Error & { code?: string }, command, specs), command);
  }
}

/**
 * `--epsilon -0.1` as `--epsilon=-0.1`: Node's parser reads a value starting with a dash as a
 * flag ("argument is ambiguous"); a negative number after a string flag is meant as its value, and
 * the flag's own check then says what is wrong with it.
 */
function joinNegativeValues(args: readonly string[], specs: Record<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name !== undefined && specs[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
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

/**
 * An epsilon as written on the command line, checked by the one epsilon parser (`amountToFraction`
 * of @advprop/attacks) and kept as written ("8/255"), so the config records what the user typed.
 */
export function epsilonFlag(raw: string, where: string): string | number {
  try {
    amountToFraction(raw, where);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const asNumber = Number(raw.trim());
  return Number.isFinite(asNumber) ? asNumber : raw.trim();
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
    if (eps !== undefined && eps !== '') options.epsilon = epsilonFlag(eps, `${flag}: epsilon of "${item}"`);
    if (steps !== undefined && steps !== '') {
      const s = parseNumber(steps);
      if (s === undefined || !Number.isInteger(s) || s < 1) throw new UsageError(`${flag}: steps "${steps}" of "${item}" is not an integer >= 1`);
      options.steps = s;
    }
    return { name, options };
  });
}
