/**
 * A user-defined plugin kind added from user code through declaration merging on the published
 * module name, and a custom plugin of that kind resolved through the registry.
 */
import { createRegistry, definePlugin, PluginNotFoundError, z } from '@advprop/core';
import { describe, expect, expectTypeOf, it } from 'vitest';

interface Scheduler {
  readonly name: string;
  rate(step: number): number;
}

declare module '@advprop/core' {
  interface PluginKindMap {
    scheduler: Scheduler;
  }
}

const halving = definePlugin({
  kind: 'scheduler',
  name: 'halving',
  options: z.object({ every: z.number().int().positive() }),
  create: (_ctx, { every }): Scheduler => ({ name: 'halving', rate: (step) => 0.5 ** Math.floor(step / every) }),
});

describe('user-defined plugin kinds', () => {
  it('resolve with their own types and options', async () => {
    const registry = createRegistry().use([halving] as const);
    const scheduler = await registry.resolve('scheduler', 'halving', { every: 10 });
    expectTypeOf(scheduler).toEqualTypeOf<Scheduler>();
    expect(scheduler.rate(25)).toBe(0.25);
    await expect(registry.resolveDynamic('scheduler', 'cosine')).rejects.toBeInstanceOf(PluginNotFoundError);
    await expect(registry.resolveDynamic('scheduler', 'halving', { every: 0 })).rejects.toThrow(/every: /);
    // @ts-expect-error: options must match the schema
    void registry.resolve('scheduler', 'halving', { every: 'often' }).catch(() => undefined);
  });
});
