/**
 * One declaration per attack. `declareAttack({ name, options, build })` returns a value that is
 * both the registry plugin (`registry.use([pgd])`, then `resolve('attacker', 'pgd', options)`) and
 * the plain factory (`pgd({ epsilon: '8/255' })`), so an attack is written once and both forms
 * validate options with the same schema.
 */
import { parseOptions, type Attacker, type OptionsSchema, type Plugin, type PluginContext, type SeededRandom, type z } from '@advprop/core';

/** An attack: call it with options (validated) for an instance, or register it as a plugin. */
export type AttackDeclaration<N extends string, S extends OptionsSchema, A extends Attacker = Attacker> = Plugin<'attacker', N, S> &
  ((options?: z.input<S>, random?: SeededRandom) => A);

export interface AttackSpec<N extends string, S extends OptionsSchema, A extends Attacker> {
  readonly name: N;
  /** One line: the algorithm and its paper. */
  readonly description?: string;
  /** zod schema of the options; epsilon and step sizes use units.ts's amount schemas. */
  readonly options: S;
  /**
   * Build an instance from parsed options. `random` is the registry's stream for the plugin or
   * the caller's; `context` is present only when resolved through a registry.
   */
  build(options: z.output<S>, random: SeededRandom | undefined, context?: PluginContext): A;
}

export function declareAttack<const N extends string, S extends OptionsSchema, A extends Attacker>(spec: AttackSpec<N, S, A>): AttackDeclaration<N, S, A> {
  const where = `attacker "${spec.name}"`;
  const factory = (options: z.input<S> = {} as z.input<S>, random?: SeededRandom): A => spec.build(parseOptions(spec.options, options, where), random);
  Object.defineProperty(factory, 'name', { value: spec.name });
  const plugin: Omit<Plugin<'attacker', N, S>, 'name'> = {
    kind: 'attacker',
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    options: spec.options,
    create: (context: PluginContext, options: z.output<S>) => spec.build(options, context.random, context),
  };
  return Object.freeze(Object.assign(factory, plugin)) as unknown as AttackDeclaration<N, S, A>;
}
