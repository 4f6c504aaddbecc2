/**
 * Sweep specs: a base training config, `grid` axes (cartesian product) and `zip` axes (paired
 * lists), expanded into runs. Every run's config goes through the trainer's resolveTrainConfig, so
 * defaults are filled in, and its id is a hash of that resolved config: the same run in two specs,
 * or in the same spec submitted twice, has the same id.
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError, parseOptions, z, type AnyPlugin, type Registry } from '@advprop/core';
import { createDefaultRegistry, resolveTrainConfig, type TrainConfig } from '@advprop/trainer';
import { loadPluginModules, resolvePluginModule } from './plugins.js';
import type { SweepManifest } from './storage.js';

/** An axis key that names a group in the results table without being a training-config field. */
export const LABEL_AXIS = 'label';

const axisValues = z.array(z.unknown()).min(1, 'an axis needs at least one value');
const axes = z.record(z.string().min(1), axisValues);

export const sweepSpecSchema = z
  .object({
    /** Shown by `status` and `results`. */
    name: z.string().min(1).optional(),
    /** Partial training config every run starts from (outDir and resume are set by the sweep). */
    base: z.record(z.string(), z.unknown()).default({}),
    /** Axes whose values combine as a cartesian product: `{ seed: [0, 1], mode: [vanilla, advprop] }`. */
    grid: axes.default({}),
    /**
     * Paired axes: every list of one zip block has the same length and the i-th values go together.
     * Several blocks (a list) multiply with each other and with the grid.
     */
    zip: z.union([axes, z.array(axes)]).optional(),
    /**
     * Fields (dotted paths, or `label`) whose values name a group of the results table; runs of a
     * group differ only in the other axes (normally the seed). Default: the `label` axis when there
     * is one (its values are the group names), else every axis but `seed`.
     */
    groups: z.array(z.string().min(1)).optional(),
    /**
     * Modules whose default export is a list of plugins (the experimenter's datasets, attacks,
     * models), registered for every run; paths are relative to the spec file. Workers import them
     * at the same absolute path, so they live on the shared storage or in an installed package.
     */
    plugins: z.array(z.string().min(1)).default([]),
    /** tfjs backend the workers train on (default auto). Not part of a run's id. */
    backend: z.string().min(1).default('auto'),
    /** Attempts per run before it is marked failed (retries back off exponentially). */
    attempts: z.number().int().min(1).default(3),
    /** First retry delay in seconds (doubled on every further retry). */
    backoffSeconds: z.number().min(0).default(10),
    /** Results table: which metrics of summary.json become Markdown columns (default: every scalar one). */
    report: z
      .object({ metrics: z.array(z.string().min(1)).min(1).optional() })
      .strict()
      .optional(),
  })
  .strict();

export type SweepSpec = z.output<typeof sweepSpecSchema>;

export interface SweepRun {
  /** Stable hash of the resolved config (outDir and resume excluded). */
  readonly id: string;
  /** Group name in the results table. */
  readonly group: string;
  /** Axis values of this run (dotted path -> value), the label included. */
  readonly axes: Readonly<Record<string, unknown>>;
  /** The resolved training config, without outDir and resume. */
  readonly config: TrainConfig;
}

export interface ExpandedSweep {
  readonly spec: SweepSpec;
  /** The spec's plugin modules, as workers import them (absolute paths or package names). */
  readonly plugins: readonly string[];
  readonly runs: readonly SweepRun[];
  /** Where the spec came from (a file path, or 'spec' for an object). */
  readonly source: string;
}

/** JSON with sorted keys, so equal objects hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return v;
  });
}

/** The run id of a resolved config: 16 hex digits of the SHA-256 of its canonical JSON. */
export function runId(config: TrainConfig): string {
  const { outDir: _o, resume: _r, ...rest } = config;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex').slice(0, 16);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Set a dotted path in a copy of `target`; `null` removes the field (back to the trainer's default). */
export function setPath(target: Record<string, unknown>, dotted: string, value: unknown): Record<string, unknown> {
  const keys = dotted.split('.');
  if (keys.some((k) => k === '')) throw new ConfigError(`axis "${dotted}": not a dotted field path`, [{ path: dotted, message: 'empty path segment' }]);
  const copy = structuredClone(target);
  let node: Record<string, unknown> = copy;
  for (const [i, key] of keys.entries()) {
    if (i === keys.length - 1) {
      if (value === null) delete node[key];
      else node[key] = structuredClone(value);
    } else {
      const next = node[key];
      if (next === undefined) node[key] = {};
      else if (!isPlainObject(next)) {
        throw new ConfigError(`axis "${dotted}": ${keys.slice(0, i + 1).join('.')} is ${JSON.stringify(next)}, not an object`, [
          { path: dotted, message: 'parent is not an object' },
        ]);
      }
      node = node[key] as Record<string, unknown>;
    }
  }
  return copy;
}

/** Parse spec text (YAML, or JSON by extension); errors name the file. */
export function parseSweepSpecText(text: string, file: string): SweepSpec {
  let data: unknown;
  try {
    data = path.extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true });
  } catch (error) {
    const detail =
      error instanceof YAMLParseError && error.linePos
        ? `line ${error.linePos[0].line}, column ${error.linePos[0].col}: ${error.message.split('\n')[0]}`
        : (error as Error).message.split('\n')[0];
    throw new ConfigError(`sweep spec ${file}: cannot parse it (${detail})`, [{ path: '(file)', message: 'unparsable' }]);
  }
  return parseSweepSpec(data, `sweep spec ${file}`);
}

/** Validate a spec object; an unknown field is an error naming it. */
export function parseSweepSpec(data: unknown, where = 'sweep spec'): SweepSpec {
  if (!isPlainObject(data)) throw new ConfigError(`${where}: expected a mapping with base, grid, zip... at the top level`, [{ path: '(root)', message: 'expected an object' }]);
  return parseOptions(sweepSpecSchema, data, where);
}

export async function loadSweepSpec(file: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new ConfigError(`sweep spec ${file}: cannot read it (${e.code === 'ENOENT' ? 'no such file' : e.message})`, [{ path: '(file)', message: 'unreadable' }]);
  }
  return parseSweepSpecText(text, file);
}

type Assignment = Record<string, unknown>;

function zipBlocks(spec: SweepSpec): Record<string, unknown[]>[] {
  if (spec.zip === undefined) return [];
  return Array.isArray(spec.zip) ? spec.zip : [spec.zip];
}

/** Every combination of axis values, in spec order (the first grid axis varies slowest). */
function assignments(spec: SweepSpec, where: string): Assignment[] {
  const dimensions: Assignment[][] = [];
  for (const [key, values] of Object.entries(spec.grid)) dimensions.push(values.map((v) => ({ [key]: v })));
  for (const [b, block] of zipBlocks(spec).entries()) {
    const entries = Object.entries(block);
    if (entries.length === 0) continue;
    const length = (entries[0] as [string, unknown[]])[1].length;
    for (const [key, values] of entries) {
      if (values.length !== length) {
        const name = Array.isArray(spec.zip) ? `zip[${b}]` : 'zip';
        const first = (entries[0] as [string, unknown[]])[0];
        throw new ConfigError(`${where}: ${name} pairs lists of equal length, but "${key}" has ${values.length} values and "${first}" has ${length}`, [
          { path: `${name}.${key}`, message: 'length differs' },
        ]);
      }
    }
    dimensions.push(Array.from({ length }, (_, i) => Object.fromEntries(entries.map(([k, vs]) => [k, vs[i]]))));
  }
  const keys = dimensions.flatMap((d) => Object.keys(d[0] ?? {}));
  const seen = new Set<string>();
  for (const k of keys) {
    if (seen.has(k)) throw new ConfigError(`${where}: the axis "${k}" appears twice (grid and zip, or two zip blocks)`, [{ path: k, message: 'duplicate axis' }]);
    seen.add(k);
  }
  let out: Assignment[] = [{}];
  for (const dim of dimensions) out = out.flatMap((a) => dim.map((d) => ({ ...a, ...d })));
  return out;
}

function formatValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The axis paths naming groups: `groups`, else every axis but `seed`. */
export function groupFields(spec: SweepSpec): string[] {
  if (spec.groups) return spec.groups;
  const all = [...Object.keys(spec.grid), ...zipBlocks(spec).flatMap((b) => Object.keys(b))];
  // A label names the group by itself.
  if (all.includes(LABEL_AXIS)) return [LABEL_AXIS];
  return all.filter((k) => k !== 'seed');
}

function valueAt(config: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = config;
  for (const key of dotted.split('.')) {
    if (!isPlainObject(node)) return undefined;
    node = node[key];
  }
  return node;
}

/**
 * Expand a spec into runs, each with its resolved config and id. Errors: no runs (an empty
 * grid), a field the trainer does not know (named with the run's axis values), plugin options
 * that do not validate, and two runs with the same id.
 */
export function expandSweep(spec: SweepSpec, source = 'spec', plugins: readonly AnyPlugin[] = []): ExpandedSweep {
  const where = source === 'spec' ? 'sweep spec' : `sweep spec ${source}`;
  for (const forbidden of ['outDir', 'resume'] as const) {
    if (forbidden in spec.base) {
      throw new ConfigError(`${where}: base.${forbidden} is set by the sweep (runs live in <out>/runs/<id>); remove it`, [
        { path: `base.${forbidden}`, message: 'set by the sweep' },
      ]);
    }
  }
  const hasAxes = Object.keys(spec.grid).length > 0 || zipBlocks(spec).some((b) => Object.keys(b).length > 0);
  if (!hasAxes) {
    throw new ConfigError(`${where}: the grid is empty: give at least one axis under grid or zip (e.g. grid: { seed: [0, 1] })`, [
      { path: 'grid', message: 'no axes' },
    ]);
  }
  const combos = assignments(spec, where);
  const fields = groupFields(spec);
  const registry = createDefaultRegistry({ seed: 0 }).use(plugins);
  const runs: SweepRun[] = [];
  const byId = new Map<string, Assignment>();
  try {
    for (const combo of combos) {
      let raw: Record<string, unknown> = structuredClone(spec.base);
      // Progress bars are noise in worker logs; a spec that lists callbacks keeps its own.
      if (!('callbacks' in raw)) raw.callbacks = [{ name: 'metrics-logger' }];
      for (const [key, value] of Object.entries(combo)) if (key !== LABEL_AXIS) raw = setPath(raw, key, value);
      const label = Object.entries(combo)
        .map(([k, v]) => `${k}=${formatValue(v)}`)
        .join(', ');
      const config = resolveTrainConfig(raw, `${where}, run {${label}}`);
      checkRunPlugins(registry, config, `${where}, run {${label}}`);
      const id = runId(config);
      const other = byId.get(id);
      if (other) {
        throw new ConfigError(
          `${where}: two runs resolve to the same config (id ${id}): {${Object.entries(other).map(([k, v]) => `${k}=${formatValue(v)}`).join(', ')}} and {${label}}; an axis changes nothing, or a value is repeated`,
          [{ path: 'grid', message: 'duplicate run id' }],
        );
      }
      byId.set(id, combo);
      const group = fields
        .map((f) => (f === LABEL_AXIS ? formatValue(combo[LABEL_AXIS]) : `${f}=${formatValue(combo[f] ?? valueAt(config as unknown as Record<string, unknown>, f))}`))
        .join(', ');
      runs.push({ id, group: fields.length === 0 ? 'all' : group, axes: combo, config });
    }
  } finally {
    void registry.dispose();
  }
  return { spec, runs, source, plugins: spec.plugins.map((m) => resolvePluginModule(m, source === 'spec' ? undefined : source)) };
}

/** Plugin names and options checked before anything is queued (a typo fails at submit, not in a worker). */
function checkRunPlugins(registry: Registry<AnyPlugin>, config: TrainConfig, where: string): void {
  const check = (kind: string, ref: { name: string; options?: Record<string, unknown> }, field: string) => {
    try {
      registry.validateOptions(kind as never, ref.name as never, (ref.options ?? {}) as never);
    } catch (error) {
      throw new ConfigError(`${where}: ${field}: ${(error as Error).message}`, [{ path: field, message: (error as Error).message }]);
    }
  };
  check('dataset', config.dataset, 'dataset');
  check('model', config.model, 'model');
  // The trainer fills in the mode's default attacker; a mode without one (vanilla) may have none.
  const attacker = (config as { attacker?: { name: string; options?: Record<string, unknown> } }).attacker;
  if (attacker && config.mode !== 'vanilla') check('attacker', attacker, 'attacker');
  config.evaluation.attacks.forEach((a, i) => check('attacker', a, `evaluation.attacks[${i}]`));
}

/** Expand a spec file (its plugin modules imported first, so runs that use them are checked too). */
export async function loadSweep(file: string): Promise<ExpandedSweep> {
  const spec = await loadSweepSpec(file);
  const plugins = await loadPluginModules(spec.plugins.map((m) => resolvePluginModule(m, file)));
  return expandSweep(spec, file, plugins);
}

/**
 * The runs of `sweep` whose axis values match every `AXIS=VALUE` filter (`seed=0`,
 * `label=advprop-pgd1`): one cell of a results table, or one run, without copying the spec. A
 * value matches when it equals the axis value written as YAML would read it (numbers, booleans,
 * strings) or as canonical JSON (objects). An unknown axis and a filter that keeps nothing are errors.
 */
export function selectRuns(sweep: ExpandedSweep, filters: readonly string[]): ExpandedSweep {
  if (filters.length === 0) return sweep;
  const axes = [...new Set(sweep.runs.flatMap((r) => Object.keys(r.axes)))];
  const parsed = filters.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new ConfigError(`run filter "${f}": expected AXIS=VALUE, e.g. seed=0`, [{ path: 'only', message: 'expected AXIS=VALUE' }]);
    const axis = f.slice(0, eq);
    if (!axes.includes(axis)) {
      throw new ConfigError(`run filter "${f}": "${axis}" is not an axis of this sweep; axes: ${axes.join(', ')}`, [{ path: 'only', message: `unknown axis "${axis}"` }]);
    }
    return { axis, value: f.slice(eq + 1) };
  });
  const matches = (value: unknown, wanted: string) =>
    value !== null && typeof value === 'object' ? canonicalJson(value) === canonicalJson(parseYaml(wanted)) : String(value) === wanted;
  const runs = sweep.runs.filter((r) => parsed.every(({ axis, value }) => axis in r.axes && matches(r.axes[axis], value)));
  if (runs.length === 0) {
    throw new ConfigError(`run filters ${filters.join(', ')} keep none of the ${sweep.runs.length} runs of this sweep`, [{ path: 'only', message: 'no run matches' }]);
  }
  return { ...sweep, runs };
}

/** What storage keeps of an expanded sweep (sweep.json). */
export function manifestOf(sweep: ExpandedSweep): SweepManifest {
  return {
    ...(sweep.spec.name ? { name: sweep.spec.name } : {}),
    sources: [sweep.source],
    groups: [...new Set(sweep.runs.map((r) => r.group))],
    ...(sweep.spec.report?.metrics ? { reportMetrics: sweep.spec.report.metrics } : {}),
    runs: sweep.runs.map((r) => ({ id: r.id, group: r.group, axes: r.axes, config: r.config })),
  };
}
