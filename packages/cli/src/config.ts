/**
 * Training configuration from three layers: the CLI's embedded defaults < a config file (JSON or
 * YAML) < command-line flags. Errors name the file and the field at fault.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from '@advprop/core';
import { deepMerge, mergeConfigLayers, trainPreset } from '@advprop/trainer';
import { closest, epsilonFlag, numberFlag, parseAttackList, parseNumber, stringFlag, UsageError, type ParsedFlags } from './args.js';

export type PlainObject = Record<string, unknown>;

/** The preset `advprop train` starts from when neither the config file nor `--preset` names one. */
export const DEFAULT_PRESET = 'mnist-advprop';

/**
 * The embedded default run (`advprop train` with no arguments): the trainer's `mnist-advprop`
 * preset (see @advprop/trainer presets.ts), so `advprop train` and `train({ preset: 'mnist-advprop' })`
 * run the same experiment. Fields absent from the preset, config file and flags take the
 * trainer's schema defaults.
 */
export const EMBEDDED_DEFAULTS: PlainObject = trainPreset(DEFAULT_PRESET);

/** Option name under which dataset plugins take their data directory (`--data-dir`). */
export const DATA_DIR_OPTION = 'dir';

export function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Read a JSON or YAML config file (by extension; unknown extensions are tried as YAML, a superset of JSON). */
export async function loadConfigFile(file: string): Promise<PlainObject> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'no such file' : e.code === 'EISDIR' ? 'it is a directory' : e.message;
    throw new ConfigError(`config file ${file}: cannot read it (${why})`, [{ path: '(file)', message: why }]);
  }
  return parseConfigText(text, file);
}

/** Parse config text; `file` is used for the format (by extension) and in error messages. */
export function parseConfigText(text: string, file: string): PlainObject {
  const ext = path.extname(file).toLowerCase();
  let data: unknown;
  if (ext === '.json') {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`config file ${file}: invalid JSON: ${(error as Error).message}`, [
        { path: '(file)', message: 'invalid JSON' },
      ]);
    }
  } else {
    try {
      data = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (error) {
      const detail =
        error instanceof YAMLParseError && error.linePos
          ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}: ${error.message.split('\n')[0]}`
          : (error as Error).message.split('\n')[0];
      throw new ConfigError(`config file ${file}: invalid YAML at ${detail}`, [{ path: '(file)', message: 'invalid YAML' }]);
    }
  }
  if (data === null || data === undefined) return {};
  if (!isPlainObject(data)) {
    throw new ConfigError(`config file ${file}: expected a mapping of config fields at the top level, got ${describe(data)}`, [
      { path: '(root)', message: 'expected an object' },
    ]);
  }
  return normalizeRefs(data);
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'a list' : value === null ? 'null' : `a ${typeof value}`;
}

/** Accept `dataset: mnist-package` as shorthand for `dataset: { name: mnist-package }` (also in attack lists). */
export function normalizeRefs(config: PlainObject): PlainObject {
  const out: PlainObject = { ...config };
  for (const key of ['dataset', 'model', 'attacker']) {
    if (typeof out[key] === 'string') out[key] = { name: out[key] };
  }
  if (isPlainObject(out.evaluation) && Array.isArray(out.evaluation.attacks)) {
    out.evaluation = {
      ...out.evaluation,
      attacks: out.evaluation.attacks.map((a) => (typeof a === 'string' ? { name: a } : a)),
    };
  }
  return out;
}

// Layers merge as the trainer's presets do (one merge rule): objects key by key, a different
// plugin name drops the lower layer's options.
export { deepMerge };
const mergeLayer = mergeConfigLayers;

/** Config fields from the train command's flags (only those given). */
export function configFromFlags(flags: ParsedFlags): PlainObject {
  const out: PlainObject = {};
  const mode = stringFlag(flags, 'mode');
  if (mode !== undefined) out.mode = mode;
  const dataset = stringFlag(flags, 'dataset');
  const dataDir = stringFlag(flags, 'data-dir');
  if (dataset !== undefined || dataDir !== undefined) {
    out.dataset = {
      ...(dataset !== undefined ? { name: dataset } : {}),
      ...(dataDir !== undefined ? { options: { [DATA_DIR_OPTION]: path.resolve(dataDir) } } : {}),
    };
  }
  const model = stringFlag(flags, 'model');
  if (model !== undefined) out.model = { name: model };
  const attacker = attackerFlags(flags);
  if (attacker) {
    out.attacker = { ...(attacker.name !== undefined ? { name: attacker.name } : {}), ...(Object.keys(attacker.options).length ? { options: attacker.options } : {}) };
  }
  const epochs = numberFlag(flags, 'epochs', { integer: true, min: 1 });
  if (epochs !== undefined) out.epochs = epochs;
  const batchSize = numberFlag(flags, 'batch-size', { integer: true, min: 1 });
  if (batchSize !== undefined) out.batchSize = batchSize;
  const limit = numberFlag(flags, 'limit', { integer: true, min: 1 });
  if (limit !== undefined) out.limit = limit;
  const seed = numberFlag(flags, 'seed', { integer: true, min: 0 });
  if (seed !== undefined) out.seed = seed;
  const lr = numberFlag(flags, 'lr', { positive: true });
  const optimizer = stringFlag(flags, 'optimizer');
  if (lr !== undefined || optimizer !== undefined) {
    out.optimizer = { ...(optimizer !== undefined ? { name: optimizer } : {}), ...(lr !== undefined ? { lr } : {}) };
  }
  const evalAttacks = stringFlag(flags, 'eval-attacks');
  const evalLimit = numberFlag(flags, 'eval-limit', { integer: true, min: 1 });
  if (evalAttacks !== undefined || evalLimit !== undefined) {
    out.evaluation = {
      ...(evalAttacks !== undefined ? { attacks: parseAttackList(evalAttacks) } : {}),
      ...(evalLimit !== undefined ? { limit: evalLimit } : {}),
    };
  }
  const backend = stringFlag(flags, 'backend');
  if (backend !== undefined) out.backend = backend;
  const outDir = stringFlag(flags, 'out');
  if (outDir !== undefined) out.outDir = path.resolve(outDir);
  if (flags.resume === true) out.resume = true;
  if (flags['resume-from-newest'] === true) out.resumeFromNewest = true;
  return out;
}

/** `--set a.b=value` overrides; the value is parsed as YAML (numbers, booleans, lists, objects). */
export function applySetFlags(config: PlainObject, sets: readonly string[]): PlainObject {
  let out = config;
  for (const item of sets) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set "${item}": expected PATH=VALUE, e.g. --set optimizer.momentum=0.9`);
    const keyPath = item.slice(0, eq).trim();
    const rawValue = item.slice(eq + 1);
    if (!/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(keyPath)) {
      throw new UsageError(`--set "${item}": "${keyPath}" is not a dotted field path`);
    }
    let value: unknown;
    const num = parseNumber(rawValue);
    if (num !== undefined) value = num;
    else {
      try {
        value = parseYaml(rawValue);
      } catch {
        value = rawValue;
      }
    }
    const patch: PlainObject = {};
    let cursor = patch;
    const keys = keyPath.split('.');
    keys.forEach((key, i) => {
      if (i === keys.length - 1) cursor[key] = value;
      else {
        const next: PlainObject = {};
        cursor[key] = next;
        cursor = next;
      }
    });
    out = deepMerge(out, normalizeRefs(patch));
  }
  return out;
}

/**
 * The raw (unvalidated) train config: `base` (the embedded defaults) < file < flags < --set.
 * Unknown top-level fields of the file are reported with the nearest known field.
 */
export function layerTrainConfig(
  fileConfig: PlainObject | undefined,
  flags: ParsedFlags,
  knownFields?: readonly string[],
  file?: string,
  base: PlainObject = EMBEDDED_DEFAULTS,
): PlainObject {
  if (fileConfig && knownFields && knownFields.length > 0) {
    const unknown = Object.keys(fileConfig).filter((k) => !knownFields.includes(k));
    if (unknown.length > 0) {
      const issues = unknown.map((k) => {
        const near = closest(k, knownFields);
        return { path: k, message: `unknown field${near ? ` (did you mean "${near}"?)` : ''}` };
      });
      throw new ConfigError(
        `Invalid options for config file ${file ?? ''}:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}\n  known fields: ${knownFields.join(', ')}`,
        issues,
      );
    }
  }
  // A preset named by the flag or the file replaces the embedded default as the base layer.
  const presetName = stringFlag(flags, 'preset') ?? (typeof fileConfig?.preset === 'string' ? fileConfig.preset : undefined);
  const { preset: _preset, ...fileFields } = fileConfig ?? {};
  let config = mergeLayer(presetName !== undefined ? trainPreset(presetName, file ? `config file ${file}` : '--preset') : base, fileFields);
  const flagFields = configFromFlags(flags);
  config = mergeLayer(config, flagFields);
  const sets = flags.set;
  if (Array.isArray(sets)) config = applySetFlags(config, sets);
  // An incremental run's epochs follow from its tasks unless a layer above the base gives them
  // (the base's count, e.g. the preset's, yields as in the trainer's mergeConfigLayers).
  const givesEpochs = fileFields.epochs !== undefined || flagFields.epochs !== undefined || (Array.isArray(sets) && sets.some((s) => /^\s*epochs\s*=/.test(String(s))));
  if (config.incremental !== undefined && !givesEpochs) delete config.epochs;
  return config;
}

/** `--attacker`, `--epsilon` and `--steps` together, or undefined when none is given. */
export function attackerFlags(flags: ParsedFlags): { name: string | undefined; options: PlainObject } | undefined {
  const name = stringFlag(flags, 'attacker');
  const rawEpsilon = stringFlag(flags, 'epsilon');
  const epsilon = rawEpsilon !== undefined ? epsilonFlag(rawEpsilon, '--epsilon') : undefined;
  const steps = numberFlag(flags, 'steps', { integer: true, min: 1 });
  if (name === undefined && epsilon === undefined && steps === undefined) return undefined;
  const options: PlainObject = {};
  if (epsilon !== undefined) options.epsilon = epsilon;
  if (steps !== undefined) options.steps = steps;
  return { name, options };
}
