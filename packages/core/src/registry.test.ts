import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Attacker, Callback } from './contracts.js';
import { ConfigError, DuplicatePluginError, PluginNotFoundError } from './errors.js';
import { SeededRandom } from './random.js';
import { createRegistry, definePlugin, type PluginKindMap } from './registry.js';
import { z } from './validation.js';

// A user-defined plugin kind, added through declaration merging.
interface Metric {
  readonly name: string;
  compute(a: number[], b: number[]): number;
}
declare module './registry.js' {
  interface PluginKindMap {
    metric: Metric;
  }
}

function fakeAttacker(name: string, log: string[] = []): Attacker {
  return {
    name,
    attack: (request) => request.x.clone(),
    dispose: () => {
      log.push(`dispose ${name}`);
    },
  };
}

const identity = definePlugin({
  kind: 'attacker',
  name: 'identity',
  options: z.object({ epsilon: z.number().min(0).default(0), steps: z.number().int().min(1).default(1) }).strict(),
  create: (_ctx, options) => ({ ...fakeAttacker('identity'), options }) as Attacker,
});

const accuracy = definePlugin({
  kind: 'metric',
  name: 'accuracy',
  create: () => ({
    name: 'accuracy',
    compute: (a: number[], b: number[]) => a.filter((v, i) => v === b[i]).length / a.length,
  }),
});

describe('registry', () => {
  it('resolves registered plugins with validated, defaulted options', async () => {
    const registry = createRegistry().use([identity, accuracy] as const);
    const attacker = (await registry.resolve('attacker', 'identity', { epsilon: 0.5 })) as Attacker & {
      options: { epsilon: number; steps: number };
    };
    expect(attacker.name).toBe('identity');
    expect(attacker.options).toEqual({ epsilon: 0.5, steps: 1 });
    const metric = await registry.resolve('metric', 'accuracy');
    expect(metric.compute([1, 2, 3], [1, 0, 3])).toBeCloseTo(2 / 3);
  });

  it('throws on a duplicate name unless replacing is asked for', () => {
    const registry = createRegistry().use(identity);
    expect(() => registry.register(identity)).toThrow(DuplicatePluginError);
    expect(() => registry.register(identity)).toThrow(/attacker plugin named "identity" is already registered/);
    const replacement = definePlugin({ kind: 'attacker', name: 'identity', create: () => fakeAttacker('replaced') });
    registry.register(replacement, { replace: true });
    return expect(registry.resolveDynamic('attacker', 'identity')).resolves.toMatchObject({ name: 'replaced' });
  });

  it('lists the known names when a name is unknown', async () => {
    const other = definePlugin({ kind: 'attacker', name: 'fgsm', create: () => fakeAttacker('fgsm') });
    const registry = createRegistry().use([identity, other]);
    const error = await registry.resolveDynamic('attacker', 'pgdd').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PluginNotFoundError);
    expect((error as Error).message).toBe(
      'No attacker plugin named "pgdd" is registered. Available attacker plugins: "fgsm", "identity".',
    );
    expect((error as PluginNotFoundError).available).toEqual(['fgsm', 'identity']);
    await expect(registry.resolveDynamic('dataset', 'x')).rejects.toThrow(/Available dataset plugins: \(none registered\)/);
  });

  it('names each invalid option field', async () => {
    const registry = createRegistry().use(identity);
    const error = await registry.resolveDynamic('attacker', 'identity', { epsilon: -1, steps: 1.5, bogus: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    const paths = (error as ConfigError).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['epsilon', 'steps']));
    expect((error as Error).message).toMatch(/Invalid options for attacker "identity"/);
    expect((error as Error).message).toMatch(/epsilon: .*>=\s*0/);
    expect((error as Error).message).toMatch(/bogus/);
  });

  it('lets a scope override a plugin without touching its parent', async () => {
    const root = createRegistry().use(identity);
    const scope = root.createScope();
    scope.register(definePlugin({ kind: 'attacker', name: 'identity', create: () => fakeAttacker('scoped') }));
    scope.register(definePlugin({ kind: 'attacker', name: 'extra', create: () => fakeAttacker('extra') }));
    expect((await scope.resolveDynamic('attacker', 'identity')).name).toBe('scoped');
    expect((await root.resolveDynamic('attacker', 'identity')).name).toBe('identity');
    expect(scope.names('attacker')).toEqual(['extra', 'identity']);
    expect(root.names('attacker')).toEqual(['identity']);
    expect(root.has('attacker', 'extra')).toBe(false);
    expect(scope.list('attacker').map((p) => p.name).sort()).toEqual(['extra', 'identity']);
  });

  it('disposes instances in reverse order of creation, scopes first, even when one fails', async () => {
    const log: string[] = [];
    const make = (name: string) =>
      definePlugin({ kind: 'attacker', name, create: () => fakeAttacker(name, log) });
    const failing = definePlugin({
      kind: 'callback',
      name: 'failing',
      create: (): Callback => ({ name: 'failing' }),
      dispose: () => {
        log.push('dispose failing');
        throw new Error('cannot dispose');
      },
    });
    const root = createRegistry().use([make('a'), make('b'), failing]);
    await root.resolveDynamic('attacker', 'a');
    await root.resolveDynamic('callback', 'failing');
    await root.resolveDynamic('attacker', 'b');
    const scope = root.createScope().use(make('c'));
    await scope.resolveDynamic('attacker', 'c');
    await expect(root.dispose()).rejects.toThrow('cannot dispose');
    expect(log).toEqual(['dispose c', 'dispose b', 'dispose failing', 'dispose a']);
    await expect(root.resolveDynamic('attacker', 'a')).rejects.toThrow(/disposed/);
  });

  it('hands each plugin a seeded random stream that repeats for the same registry seed', async () => {
    const draws: number[] = [];
    const plugin = definePlugin({
      kind: 'attacker',
      name: 'random',
      create: (ctx) => {
        expect(ctx.random).toBeInstanceOf(SeededRandom);
        draws.push(ctx.random.nextUint32());
        return fakeAttacker('random');
      },
    });
    await createRegistry({ seed: 1 }).use(plugin).resolveDynamic('attacker', 'random');
    await createRegistry({ seed: 1 }).use(plugin).resolveDynamic('attacker', 'random');
    await createRegistry({ seed: 2 }).use(plugin).resolveDynamic('attacker', 'random');
    expect(draws[0]).toBe(draws[1]);
    expect(draws[0]).not.toBe(draws[2]);
  });

  it('rejects malformed descriptors', () => {
    expect(() => createRegistry().register({ kind: 'attacker' } as never)).toThrow(/plugin descriptor/);
    expect(() => definePlugin({ kind: 'attacker', name: '', create: () => fakeAttacker('') })).toThrow(/kind and a name/);
  });

  it('types follow the tokens (checked by tsc on this file)', () => {
    const registry = createRegistry().use([identity, accuracy] as const);
    expectTypeOf(registry.resolve('metric', 'accuracy')).resolves.toEqualTypeOf<Metric>();
    expectTypeOf(registry.resolve('attacker', 'identity')).resolves.toEqualTypeOf<Attacker>();
    expectTypeOf<PluginKindMap['metric']>().toEqualTypeOf<Metric>();
    // @ts-expect-error: no attacker named "pgd" is registered in this registry's type
    void registry.resolve('attacker', 'pgd').catch(() => undefined);
    // @ts-expect-error: the options type follows the plugin's schema
    void registry.resolve('attacker', 'identity', { epsilon: 'big' }).catch(() => undefined);
    const empty = createRegistry();
    // @ts-expect-error: an empty registry resolves nothing
    void empty.resolve('attacker', 'identity').catch(() => undefined);
  });
});
