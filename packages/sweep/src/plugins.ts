/**
 * Plugin modules of a spec (`plugins:`): modules whose default export is a list of registry plugins
 * (datasets, attacks, models... of the experimenter's own), registered for every run of the sweep,
 * at submit time (to check the runs) and in each worker's training process.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, type AnyPlugin } from '@advprop/core';

/** A spec's module reference as workers import it: relative paths resolved against the spec's directory. */
export function resolvePluginModule(specifier: string, specFile: string | undefined): string {
  if (specifier.startsWith('.') || path.isAbsolute(specifier)) {
    return path.resolve(specFile ? path.dirname(specFile) : process.cwd(), specifier);
  }
  return specifier;
}

function isPlugin(value: unknown): value is AnyPlugin {
  const v = value as { kind?: unknown; name?: unknown; create?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof v.kind === 'string' && typeof v.name === 'string' && typeof v.create === 'function';
}

/** Import the modules and collect their plugins; an error names the module at fault. */
export async function loadPluginModules(modules: readonly string[]): Promise<AnyPlugin[]> {
  const out: AnyPlugin[] = [];
  for (const specifier of modules) {
    let mod: { default?: unknown; plugins?: unknown };
    try {
      mod = (await import(path.isAbsolute(specifier) ? pathToFileURL(specifier).href : specifier)) as typeof mod;
    } catch (error) {
      throw new ConfigError(`plugin module ${specifier} cannot be imported: ${(error as Error).message}`, [{ path: 'plugins', message: 'cannot import' }]);
    }
    const list = mod.default ?? mod.plugins;
    if (!Array.isArray(list) || !list.every(isPlugin)) {
      throw new ConfigError(`plugin module ${specifier} must export a list of plugins (definePlugin objects) as its default export`, [
        { path: 'plugins', message: 'no plugin list' },
      ]);
    }
    out.push(...list);
  }
  return out;
}
