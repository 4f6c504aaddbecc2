/**
 * `advprop inspect`: the registered plugins by kind with their option fields (from their zod
 * schemas), or what a run directory holds (config, summary, metrics, checkpoints, models).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, z, type AnyPlugin, type Registry } from '@advprop/core';
import { backends, probeBackends } from '@advprop/backends';
import { createDefaultRegistry } from '@advprop/trainer';
import { stringFlag, UsageError, type ParsedFlags } from './args.js';
import { isPlainObject, type PlainObject } from './config.js';
import type { CliIo } from './io.js';
import { formatSummary } from './train-command.js';

/** Kinds listed first, in this order; any other kind a registry holds follows. */
export const PLUGIN_KINDS = ['dataset', 'model', 'attacker', 'training-mode', 'optimizer', 'schedule', 'callback', 'backend'] as const;

/** The plugin kinds a registry holds, in display order. */
export function pluginKinds(registry: Registry): string[] {
  const present = new Set(registry.list().map((p) => p.kind as string));
  return [...PLUGIN_KINDS.filter((k) => present.has(k)), ...[...present].filter((k) => !(PLUGIN_KINDS as readonly string[]).includes(k)).sort()];
}

export interface OptionField {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description?: string;
}

export interface PluginListing {
  kind: string;
  name: string;
  description?: string;
  options: OptionField[];
}

/** Field list of a zod options schema, through its JSON Schema (input side, so defaults show). */
export function optionFields(schema: unknown): OptionField[] {
  if (!schema) return [];
  let json: PlainObject;
  try {
    json = z.toJSONSchema(schema as z.ZodType, { io: 'input', unrepresentable: 'any' }) as PlainObject;
  } catch {
    return [];
  }
  const props = isPlainObject(json.properties) ? json.properties : {};
  const required = new Set(Array.isArray(json.required) ? (json.required as string[]) : []);
  const shape = (schema as { shape?: Record<string, unknown> }).shape ?? {};
  return Object.entries(props).map(([name, raw]) => {
    const p = isPlainObject(raw) ? raw : {};
    const dflt = p.default !== undefined ? p.default : zodDefault(shape[name]);
    const field: OptionField = { name, type: typeText(p), required: required.has(name) && dflt === undefined };
    if (dflt !== undefined) field.default = dflt;
    if (typeof p.description === 'string') field.description = p.description;
    return field;
  });
}

/** The default of a zod field that JSON Schema could not show (a default over a transform). */
function zodDefault(field: unknown): unknown {
  const def = (field as { _zod?: { def?: { type?: string; defaultValue?: unknown } } } | undefined)?._zod?.def;
  if (def?.type !== 'default') return undefined;
  const value = def.defaultValue;
  return typeof value === 'function' ? undefined : value;
}

function typeText(p: PlainObject): string {
  if (Array.isArray(p.enum)) return p.enum.map((v) => JSON.stringify(v)).join(' | ');
  if (p.const !== undefined) return JSON.stringify(p.const);
  const variants = (Array.isArray(p.anyOf) ? p.anyOf : Array.isArray(p.oneOf) ? p.oneOf : undefined) as unknown[] | undefined;
  if (variants) return [...new Set(variants.map((v) => typeText(isPlainObject(v) ? v : {})))].join(' | ');
  let t = typeof p.type === 'string' ? p.type : Array.isArray(p.type) ? p.type.join(' | ') : 'any';
  if (t === 'array' && Array.isArray(p.prefixItems)) t = `[${p.prefixItems.map((i) => typeText(isPlainObject(i) ? i : {})).join(', ')}]`;
  else if (t === 'array' && isPlainObject(p.items)) t = `${typeText(p.items)}[]`;
  if (t === 'object' && isPlainObject(p.properties)) t = `{ ${Object.keys(p.properties).join(', ')} }`;
  const bounds: string[] = [];
  if (typeof p.minimum === 'number' && p.minimum > Number.MIN_SAFE_INTEGER) bounds.push(`>= ${p.minimum}`);
  if (typeof p.exclusiveMinimum === 'number') bounds.push(`> ${p.exclusiveMinimum}`);
  if (typeof p.maximum === 'number' && p.maximum < Number.MAX_SAFE_INTEGER) bounds.push(`<= ${p.maximum}`);
  if (typeof p.exclusiveMaximum === 'number') bounds.push(`< ${p.exclusiveMaximum}`);
  return bounds.length ? `${t} (${bounds.join(', ')})` : t;
}

export function listPlugins(registry: Registry, kind?: string): PluginListing[] {
  const kinds = kind ? [kind] : pluginKinds(registry);
  const out: PluginListing[] = [];
  for (const k of kinds) {
    const plugins = registry.list(k).sort((a: AnyPlugin, b: AnyPlugin) => a.name.localeCompare(b.name));
    for (const p of plugins) {
      out.push({ kind: k, name: p.name, ...(p.description ? { description: p.description } : {}), options: optionFields(p.options) });
    }
  }
  return out;
}

export function formatPluginListing(listing: readonly PluginListing[]): string {
  const lines: string[] = [];
  let kind = '';
  for (const p of listing) {
    if (p.kind !== kind) {
      kind = p.kind;
      lines.push(`${lines.length ? '\n' : ''}${kind} plugins:`);
    }
    lines.push(`  ${p.name}${p.description ? ` - ${p.description}` : ''}`);
    for (const f of p.options) {
      const dflt = f.default !== undefined ? ` = ${JSON.stringify(f.default)}` : f.required ? ' (required)' : '';
      lines.push(`      ${f.name}: ${f.type}${dflt}${f.description ? `  ${f.description}` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** A registry with every plugin kind, backends included. */
export function inspectRegistry(): Registry {
  const registry = createDefaultRegistry() as unknown as Registry;
  for (const b of backends as readonly AnyPlugin[]) if (!registry.has(b.kind, b.name)) registry.register(b);
  return registry;
}

async function readJson(file: string): Promise<unknown> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CheckpointError(`${file}: cannot read it as JSON: ${(error as Error).message}`);
  }
}

async function listDir(dir: string): Promise<{ name: string; bytes: number; modified: string }[] | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch {
    return undefined;
  }
  const out = [];
  for (const name of names.sort()) {
    const stat = await fs.stat(path.join(dir, name));
    let bytes = stat.size;
    if (stat.isDirectory()) {
      bytes = 0;
      for (const f of await fs.readdir(path.join(dir, name))) bytes += (await fs.stat(path.join(dir, name, f))).size;
    }
    out.push({ name: stat.isDirectory() ? `${name}/` : name, bytes, modified: stat.mtime.toISOString() });
  }
  return out;
}

export interface RunInfo {
  dir: string;
  config?: unknown;
  summary?: unknown;
  metrics: { lines: number; last?: unknown };
  checkpoints?: { name: string; bytes: number; modified: string }[];
  models: Record<string, boolean>;
  files: string[];
}

export async function inspectRun(dirArg: string): Promise<RunInfo> {
  const dir = path.resolve(dirArg);
  let files: string[];
  try {
    files = (await fs.readdir(dir)).sort();
  } catch {
    throw new CheckpointError(`--run ${dirArg}: no such run directory`);
  }
  const config = await readJson(path.join(dir, 'config.json'));
  const summary = await readJson(path.join(dir, 'summary.json'));
  if (config === undefined && summary === undefined) {
    throw new CheckpointError(`--run ${dirArg}: not a run directory (no config.json or summary.json); it holds: ${files.join(', ') || 'nothing'}`);
  }
  let metricLines: string[] = [];
  try {
    metricLines = (await fs.readFile(path.join(dir, 'metrics.jsonl'), 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch {
    /* no metrics */
  }
  let last: unknown;
  const lastLine = metricLines[metricLines.length - 1];
  if (lastLine) {
    try {
      last = JSON.parse(lastLine);
    } catch {
      last = lastLine;
    }
  }
  const checkpoints = await listDir(path.join(dir, 'checkpoints'));
  const models: Record<string, boolean> = {};
  for (const m of ['model-dual', 'model-inference']) models[m] = files.includes(m);
  return {
    dir,
    ...(config !== undefined ? { config } : {}),
    ...(summary !== undefined ? { summary } : {}),
    metrics: { lines: metricLines.length, ...(last !== undefined ? { last } : {}) },
    ...(checkpoints ? { checkpoints } : {}),
    models,
    files,
  };
}

function formatRunInfo(info: RunInfo): string {
  const lines = [`run ${info.dir}`, `  files: ${info.files.join(', ')}`];
  if (isPlainObject(info.config)) {
    const c = info.config;
    const ref = (r: unknown) => (isPlainObject(r) ? `${String(r.name)}${r.options ? ` ${JSON.stringify(r.options)}` : ''}` : String(r));
    lines.push(
      '  config:',
      `    mode ${String(c.mode)}, dataset ${ref(c.dataset)}, model ${ref(c.model)}`,
      `    attacker ${c.attacker === undefined ? '(none)' : ref(c.attacker)}`,
      `    epochs ${String(c.epochs)}, batch ${String(c.batchSize)}, seed ${String(c.seed)}${c.limit ? `, limit ${String(c.limit)}` : ''}`,
      `    optimizer ${JSON.stringify(c.optimizer)}`,
    );
  }
  lines.push(`  metrics.jsonl: ${info.metrics.lines} line(s)${info.metrics.last ? `; last: ${JSON.stringify(info.metrics.last)}` : ''}`);
  if (info.checkpoints) {
    lines.push(`  checkpoints/ (${info.checkpoints.length}):`);
    for (const c of info.checkpoints) lines.push(`    ${c.name}  ${(c.bytes / 1024).toFixed(1)} KiB  ${c.modified}`);
  } else lines.push('  checkpoints/: none');
  lines.push(`  models: ${Object.entries(info.models).map(([k, v]) => `${k}${v ? '' : ' (missing)'}`).join(', ')}`);
  let text = `${lines.join('\n')}\n`;
  if (isPlainObject(info.summary)) text += formatSummary(info.summary);
  else text += '  summary.json: none (the run has not finished)\n';
  return text;
}

/** `advprop inspect --backends`: every backend in `auto`'s order, and why each that cannot load does not. */
export async function inspectBackends(io: CliIo, json: boolean): Promise<number> {
  const report = await probeBackends();
  if (json) {
    io.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const lines = ['backends, in the order `--backend auto` tries them:'];
  for (const b of report.backends) lines.push(`  ${b.name.padEnd(10)} ${b.available ? 'available' : `not available: ${b.reason ?? ''}`}`);
  const n = report.nativeKernels;
  lines.push(`native kernels (serve wasm and cpu): ${n.available ? n.detail : `off: ${n.reason}`}`);
  io.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function inspectCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const run = stringFlag(flags, 'run');
  const kind = stringFlag(flags, 'kind');
  const json = flags.json === true;
  if (flags.backends === true) {
    if (run !== undefined || kind !== undefined) throw new UsageError('--backends goes alone (with --json at most)', 'inspect');
    return inspectBackends(io, json);
  }
  if (run !== undefined) {
    if (kind !== undefined) throw new UsageError('--kind lists plugins; it does not go with --run', 'inspect');
    const info = await inspectRun(run);
    io.stdout.write(json ? `${JSON.stringify(info, null, 2)}\n` : formatRunInfo(info));
    return 0;
  }
  const registry = inspectRegistry();
  try {
    if (kind !== undefined && !pluginKinds(registry).includes(kind)) {
      throw new UsageError(`--kind: unknown plugin kind "${kind}"; kinds: ${pluginKinds(registry).join(', ')}`, 'inspect');
    }
    const listing = listPlugins(registry, kind);
    io.stdout.write(json ? `${JSON.stringify(listing, null, 2)}\n` : formatPluginListing(listing));
  } finally {
    await registry.dispose().catch(() => {});
  }
  return 0;
}
