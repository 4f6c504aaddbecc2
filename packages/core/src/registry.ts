/**
 * A small typed dependency-injection registry, in the spirit of typed-inject and Stryker's
 * `declareClassPlugin`: plugins are descriptors (kind, name, options schema, factory), the registry's
 * type accumulates what was registered, so `resolve('attacker', 'pgdd')` on a registry without
 * that plugin is a compile error, and a name only known at run time (`resolveDynamic`, used by the
 * CLI) fails with an error that lists the names available.
 *
 * Plugin kinds are an interface users extend through declaration merging:
 *
 *   declare module '@advprop/core' {
 *     interface PluginKindMap { metric: MyMetric }
 *   }
 */
import type { z } from 'zod';
import type { Attacker, BackendProvider, Callback, DatasetAdapter, Logger, ModelFactory } from './contracts.js';
import { consoleLogger } from './contracts.js';
import { DuplicatePluginError, PluginNotFoundError } from './errors.js';
import { SeededRandom } from './random.js';
import { parseOptions, type OptionsSchema } from './validation.js';

/** Plugin kind -> the instance type its factories produce. Extend through declaration merging. */
export interface PluginKindMap {
  attacker: Attacker;
  dataset: DatasetAdapter;
  model: ModelFactory;
  callback: Callback;
  backend: BackendProvider;
}

export type PluginKind = keyof PluginKindMap & string;

/** What a plugin factory receives besides its options. */
export interface PluginContext {
  /** The registry resolving this plugin, so a plugin can resolve the plugins it needs. */
  readonly registry: Registry<AnyPlugin>;
  /** A stream forked for this plugin from the registry's seed. */
  readonly random: SeededRandom;
  readonly log: Logger;
}

export interface Plugin<K extends PluginKind = PluginKind, N extends string = string, S extends OptionsSchema = OptionsSchema> {
  readonly kind: K;
  readonly name: N;
  readonly description?: string;
  /** zod schema of the options; absent means the plugin takes none. */
  readonly options?: S;
  create(context: PluginContext, options: z.output<S>): PluginKindMap[K] | Promise<PluginKindMap[K]>;
  /** Releases an instance; when absent, the instance's own `dispose()` is called if it has one. */
  dispose?(instance: PluginKindMap[K]): void | Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyPlugin = Plugin<any, string, any>;

/** Declare a plugin; the literal types of kind and name are kept so the registry can check them. */
export function definePlugin<const K extends PluginKind, const N extends string, S extends OptionsSchema = z.ZodObject<{}>>(
  plugin: Plugin<K, N, S>,
): Plugin<K, N, S> {
  if (!plugin.kind || !plugin.name) throw new TypeError('a plugin needs a kind and a name');
  return Object.freeze({ ...plugin });
}

type KindsOf<P extends AnyPlugin> = P['kind'] & PluginKind;
type NamesOf<P extends AnyPlugin, K extends PluginKind> = Extract<P, { kind: K }>['name'];
type PluginOf<P extends AnyPlugin, K extends PluginKind, N extends string> = Extract<P, { kind: K; name: N }>;
type InputOf<P extends AnyPlugin, K extends PluginKind, N extends string> =
  PluginOf<P, K, N> extends Plugin<K, N, infer S> ? (S extends z.ZodType ? z.input<S> : never) : never;

export interface RegisterOptions {
  /** Replace a plugin of the same kind and name in this registry instead of throwing. */
  readonly replace?: boolean;
}

export interface RegistryOptions {
  /** Seed of the random streams handed to plugins (each plugin gets its own fork). */
  readonly seed?: number;
  readonly log?: Logger;
}

type PluginList = readonly AnyPlugin[] | AnyPlugin;
type Flatten<L> = L extends readonly (infer E)[] ? E : L;

interface Created {
  readonly plugin: AnyPlugin;
  readonly instance: unknown;
}

export class Registry<P extends AnyPlugin = AnyPlugin> {
  private readonly plugins = new Map<string, AnyPlugin>();
  private readonly created: Created[] = [];
  private readonly children: Registry<AnyPlugin>[] = [];
  private readonly random: SeededRandom;
  private disposed = false;
  readonly log: Logger;

  constructor(
    private readonly parent?: Registry<AnyPlugin>,
    options: RegistryOptions = {},
  ) {
    this.log = options.log ?? parent?.log ?? consoleLogger;
    this.random = new SeededRandom(options.seed ?? 0);
  }

  /** Register every plugin of a list (each package exports its plugins as an array). */
  use<L extends PluginList>(plugins: L, options: RegisterOptions = {}): Registry<P | Flatten<L>> {
    const list: readonly AnyPlugin[] = Array.isArray(plugins) ? plugins : [plugins as AnyPlugin];
    for (const plugin of list) this.register(plugin, options);
    return this as unknown as Registry<P | Flatten<L>>;
  }

  /** Register one plugin; throws DuplicatePluginError on a name already taken here unless `replace`. */
  register<Q extends AnyPlugin>(plugin: Q, options: RegisterOptions = {}): Registry<P | Q> {
    this.assertLive();
    if (!plugin || typeof plugin.kind !== 'string' || typeof plugin.name !== 'string' || typeof plugin.create !== 'function') {
      throw new TypeError('register() needs a plugin descriptor { kind, name, create } (see definePlugin)');
    }
    const key = keyOf(plugin.kind, plugin.name);
    if (this.plugins.has(key) && !options.replace) throw new DuplicatePluginError(plugin.kind, plugin.name);
    this.plugins.set(key, plugin);
    return this as unknown as Registry<P | Q>;
  }

  /** Whether a plugin is visible here (this registry or a parent). */
  has(kind: string, name: string): boolean {
    return this.find(kind, name) !== undefined;
  }

  /** The descriptor of a plugin, or a PluginNotFoundError listing the names available. */
  get(kind: string, name: string): AnyPlugin {
    const plugin = this.find(kind, name);
    if (!plugin) throw new PluginNotFoundError(kind, name, this.names(kind));
    return plugin;
  }

  /** Names of the plugins of a kind visible here, sorted. */
  names(kind: string): string[] {
    const names = new Set<string>(this.parent?.names(kind) ?? []);
    for (const plugin of this.plugins.values()) if (plugin.kind === kind) names.add(plugin.name);
    return [...names].sort();
  }

  /** Every plugin descriptor visible here (scope overrides shadow their parent's). */
  list(kind?: string): AnyPlugin[] {
    const byKey = new Map<string, AnyPlugin>();
    for (const plugin of this.parent?.list(kind) ?? []) byKey.set(keyOf(plugin.kind, plugin.name), plugin);
    for (const [key, plugin] of this.plugins) if (kind === undefined || plugin.kind === kind) byKey.set(key, plugin);
    return [...byKey.values()];
  }

  /** Create an instance of a registered plugin, its options validated against its schema. */
  resolve<K extends KindsOf<P>, N extends NamesOf<P, K>>(
    kind: K,
    name: N,
    options?: InputOf<P, K, N>,
  ): Promise<PluginKindMap[K]> {
    return this.resolveDynamic(kind, name, options);
  }

  /** `resolve` for names known only at run time (configuration files, the CLI). */
  async resolveDynamic<K extends PluginKind>(kind: K, name: string, options?: unknown): Promise<PluginKindMap[K]> {
    this.assertLive();
    const plugin = this.get(kind, name);
    const parsed = plugin.options ? parseOptions(plugin.options, options, `${kind} "${name}"`) : undefined;
    if (!plugin.options && options !== undefined && Object.keys(options as object).length > 0) {
      this.log.warn(`${kind} "${name}" takes no options; ignoring ${Object.keys(options as object).join(', ')}`);
    }
    const context: PluginContext = {
      registry: this as unknown as Registry<AnyPlugin>,
      random: this.random.fork(`${kind}:${name}:${this.created.length}`),
      log: this.log,
    };
    const instance = (await plugin.create(context, parsed)) as PluginKindMap[K];
    this.created.push({ plugin, instance });
    return instance;
  }

  /** Validate options for a plugin without creating it (used by config validation). */
  validateOptions(kind: string, name: string, options: unknown): unknown {
    const plugin = this.get(kind, name);
    return plugin.options ? parseOptions(plugin.options, options, `${kind} "${name}"`) : options;
  }

  /**
   * A child registry: it sees every plugin of this one, and what is registered in it (an override
   * of a parent's plugin included) stays in it. Disposing the parent disposes its scopes first.
   */
  createScope(options: RegistryOptions = {}): Registry<P> {
    this.assertLive();
    const child = new Registry<P>(this as unknown as Registry<AnyPlugin>, {
      seed: options.seed ?? this.random.fork(`scope:${this.children.length}`).nextUint32(),
      log: options.log ?? this.log,
    });
    this.children.push(child as unknown as Registry<AnyPlugin>);
    return child;
  }

  /**
   * Dispose every instance this registry created, in reverse order of creation, after disposing
   * its scopes (newest first). Every disposer runs even if one throws; failures are rethrown
   * together at the end.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const errors: unknown[] = [];
    for (const child of [...this.children].reverse()) {
      try {
        await child.dispose();
      } catch (error) {
        errors.push(error);
      }
    }
    for (const { plugin, instance } of [...this.created].reverse()) {
      try {
        if (plugin.dispose) await plugin.dispose(instance as never);
        else if (instance && typeof (instance as { dispose?: unknown }).dispose === 'function') {
          await (instance as { dispose(): unknown }).dispose();
        }
      } catch (error) {
        errors.push(error);
      }
    }
    this.created.length = 0;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} plugins failed to dispose`);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private find(kind: string, name: string): AnyPlugin | undefined {
    return this.plugins.get(keyOf(kind, name)) ?? this.parent?.find(kind, name);
  }

  private assertLive(): void {
    if (this.disposed) throw new Error('this registry has been disposed');
  }
}

function keyOf(kind: string, name: string): string {
  return `${kind}\u0000${name}`;
}

/** A new, empty registry. Chain `.use(attacks).use(datasets)` to fill it. */
export function createRegistry(options: RegistryOptions = {}): Registry<never> {
  return new Registry<never>(undefined, options);
}
