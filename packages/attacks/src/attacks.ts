/**
 * The built-in attacks, one declaration each (see declare-attack.ts): `pgd` is at once the factory
 * (`pgd({ epsilon: '8/255' }).attack(request)`) and the registry plugin (`registry.use(attacks)`,
 * then `resolve('attacker', 'pgd', options)`). All of them run the gradient engine of
 * gradient-attack.ts; each declaration says which of its knobs the algorithm turns.
 */
import { ConfigError, definePlugin, type Attacker, type BnRoute, type z } from '@advprop/core';
import { firstSuccess } from './compose.js';
import { declareAttack } from './declare-attack.js';
import { apgd, apgdT } from './apgd.js';
import { fab } from './fab.js';
import { square } from './square.js';
import { GradientAttack } from './gradient-attack.js';
import { advpropSchema, bimSchema, diFgsmSchema, fgmSchema, fgsmSchema, firstSuccessSchema, miFgsmSchema, pgdL2Schema, pgdSchema } from './options.js';
import type { TargetMode } from './targets.js';
import { amountToFraction, type AmountInput } from './units.js';

/** The options every gradient attack shares, as engine settings. */
function common(o: z.output<typeof fgsmSchema>) {
  return {
    targeted: o.targeted,
    loss: o.loss,
    confidence: o.confidence,
    diversity: o.diversity,
    range: o.range as [number, number],
    route: o.route,
    training: o.training,
    checkLogits: o.checkLogits,
  };
}

export const fgsm = declareAttack({
  name: 'fgsm',
  description: 'Fast gradient sign method (Goodfellow et al., 2015): one Linf step of size eps',
  options: fgsmSchema,
  build: (o, random) => new GradientAttack('fgsm', { ...common(o), epsilon: o.epsilon, steps: 1, norm: 'linf', randomStart: false }, random),
});

export const fgm = declareAttack({
  name: 'fgm',
  description: 'Fast gradient method, L2: one step of eps along the normalised gradient',
  options: fgmSchema,
  build: (o, random) => new GradientAttack('fgm', { ...common(o), epsilon: o.epsilon, steps: 1, norm: 'l2', randomStart: false }, random),
});

export const bim = declareAttack({
  name: 'bim',
  description: 'Basic iterative method / I-FGSM (Kurakin et al., 2017): PGD without random start',
  options: bimSchema,
  build: (o, random) =>
    new GradientAttack('bim', { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize, steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false }, random),
});

function pgdAttack(name: string, o: z.output<typeof pgdSchema>, random: Parameters<typeof fgsm>[1]): GradientAttack {
  const settings = { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize, steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: o.randomStart, restarts: o.restarts };
  return new GradientAttack(name, settings, random);
}

export const pgd = declareAttack({
  name: 'pgd',
  description: 'Projected gradient descent (Madry et al., 2018), Linf or L2, random start and restarts',
  options: pgdSchema,
  build: (o, random) => pgdAttack('pgd', o, random),
});

export const pgdL2 = declareAttack({
  name: 'pgd-l2',
  description: 'PGD in the L2 ball',
  options: pgdL2Schema,
  build: (o, random) => pgdAttack('pgd-l2', { ...o, norm: 'l2' }, random),
});

export const miFgsm = declareAttack({
  name: 'mi-fgsm',
  description: 'Momentum iterative FGSM (Dong et al., 2018)',
  options: miFgsmSchema,
  build: (o, random) =>
    new GradientAttack(
      'mi-fgsm',
      { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize ?? (o.epsilon > 0 ? o.epsilon / o.steps : undefined), steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false },
      random,
    ),
});

export const diFgsm = declareAttack({
  name: 'di-fgsm',
  description: 'Diverse-inputs iterative FGSM (Xie et al., 2019); with momentum > 0 it is M-DI2-FGSM',
  options: diFgsmSchema,
  build: (o, random) =>
    new GradientAttack('di-fgsm', { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize, steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false }, random),
});

export interface AdvpropSchedule {
  /** Fraction of the range (k / 255). */
  readonly epsilon: number;
  /** Fraction of the range (1 / 255). */
  readonly stepSize: number;
  /** K = k + 1, except K = 1 at k = 1. */
  readonly steps: number;
  readonly norm: 'linf';
  readonly randomStart: true;
  readonly targeted: TargetMode;
  readonly route: BnRoute;
  readonly training: false;
}

/**
 * AdvProp's PGD schedule (Xie et al., 2020): epsilon k/255 with k in 1..4, step 1/255,
 * K = k + 1 iterations except K = 1 at k = 1; random start, random wrong-class targets,
 * attacking through the auxiliary BN in inference mode.
 */
export function advpropPreset(epsilon: AmountInput): AdvpropSchedule {
  const k = Math.round(amountToFraction(epsilon) * 255);
  if (k < 1 || k > 4 || Math.abs(amountToFraction(epsilon) * 255 - k) > 1e-6) {
    throw new ConfigError(`advpropPreset: epsilon must be k/255 with k in 1..4 (AdvProp's range), got ${JSON.stringify(epsilon)}`, [
      { path: 'epsilon', message: 'must be k/255 with k in 1..4' },
    ]);
  }
  return { epsilon: k / 255, stepSize: 1 / 255, steps: k === 1 ? 1 : k + 1, norm: 'linf', randomStart: true, targeted: 'random', route: 'aux', training: false };
}

export const advprop = declareAttack({
  name: 'advprop',
  description: "AdvProp's PGD preset: eps k/255 (k 1..4), K = k + 1 (1 at k = 1), step 1/255, aux BN route",
  options: advpropSchema,
  build: (o, random) => {
    const preset = advpropPreset(o.epsilon);
    const { epsilon, stepSize, steps } = preset;
    const { randomStart, targeted, loss, route, training, checkLogits } = o;
    return new GradientAttack('advprop', { epsilon, stepSize, steps, norm: 'linf', randomStart, targeted, loss, range: o.range as [number, number], route, training, checkLogits }, random);
  },
});

/** Composition by registered names; the factory form is compose.ts's `firstSuccess(attackers)`. */
export const firstSuccessPlugin = definePlugin({
  kind: 'attacker',
  name: 'first-success',
  description: 'Runs registered attackers in order and keeps, per sample, the first that succeeds',
  options: firstSuccessSchema,
  create: async (context, options): Promise<Attacker> => {
    const attackers: Attacker[] = [];
    for (const entry of options.attacks) {
      attackers.push(await context.registry.resolveDynamic('attacker', entry.name, entry.options ?? {}));
    }
    return firstSuccess(attackers, { name: 'first-success', random: context.random, ownsAttackers: false });
  },
});

/** Every built-in attacker plugin: `createRegistry().use(attacks)`. */
export const attacks = [fgsm, fgm, bim, pgd, pgdL2, miFgsm, diFgsm, advprop, firstSuccessPlugin, apgd, apgdT, fab, square] as const;
