/**
 * The built-in attackers, as plain factories (`pgd({ epsilon: '8/255' })`) and as registry plugins
 * (`createRegistry().use(attacks)`, then `resolve('attacker', 'pgd', options)`).
 */
import { ConfigError, definePlugin, parseOptions, SeededRandom, type Attacker, type BnRoute, type z } from '@advprop/core';
import { firstSuccess } from './compose.js';
import { GradientAttack } from './gradient-attack.js';
import {
  advpropSchema,
  bimSchema,
  diFgsmSchema,
  fgmSchema,
  fgsmSchema,
  firstSuccessSchema,
  miFgsmSchema,
  pgdL2Schema,
  pgdSchema,
  type AdvpropOptions,
  type BimOptions,
  type DiFgsmOptions,
  type FgmOptions,
  type FgsmOptions,
  type MiFgsmOptions,
  type PgdL2Options,
  type PgdOptions,
} from './options.js';
import type { TargetMode } from './targets.js';

type Common = z.output<typeof fgsmSchema>;

function common(o: Common) {
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

const build = {
  fgsm: (o: z.output<typeof fgsmSchema>, random?: SeededRandom) =>
    new GradientAttack('fgsm', { ...common(o), epsilon: o.epsilon, steps: 1, norm: 'linf', randomStart: false }, random),
  fgm: (o: z.output<typeof fgmSchema>, random?: SeededRandom) =>
    new GradientAttack('fgm', { ...common(o), epsilon: o.epsilon, steps: 1, norm: 'l2', randomStart: false }, random),
  bim: (o: z.output<typeof bimSchema>, random?: SeededRandom) =>
    new GradientAttack(
      'bim',
      { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize, steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false },
      random,
    ),
  pgd: (o: z.output<typeof pgdSchema>, random?: SeededRandom, name = 'pgd') =>
    new GradientAttack(
      name,
      {
        ...common(o),
        epsilon: o.epsilon,
        stepSize: o.stepSize,
        steps: o.steps,
        norm: o.norm,
        momentum: o.momentum,
        randomStart: o.randomStart,
        restarts: o.restarts,
      },
      random,
    ),
  pgdL2: (o: z.output<typeof pgdL2Schema>, random?: SeededRandom) => build.pgd({ ...o, norm: 'l2' }, random, 'pgd-l2'),
  miFgsm: (o: z.output<typeof miFgsmSchema>, random?: SeededRandom) =>
    new GradientAttack(
      'mi-fgsm',
      { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize ?? (o.epsilon > 0 ? o.epsilon / o.steps : undefined), steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false },
      random,
    ),
  diFgsm: (o: z.output<typeof diFgsmSchema>, random?: SeededRandom) =>
    new GradientAttack(
      'di-fgsm',
      { ...common(o), epsilon: o.epsilon, stepSize: o.stepSize, steps: o.steps, norm: o.norm, momentum: o.momentum, randomStart: false },
      random,
    ),
  advprop: (o: z.output<typeof advpropSchema>, random?: SeededRandom) => {
    const preset = advpropPreset(o.epsilonPixels);
    return new GradientAttack(
      'advprop',
      {
        epsilon: preset.epsilon,
        stepSize: preset.stepSize,
        steps: preset.steps,
        norm: 'linf',
        randomStart: o.randomStart,
        targeted: o.targeted,
        loss: o.loss,
        range: o.range as [number, number],
        route: o.route,
        training: o.training,
        checkLogits: o.checkLogits,
      },
      random,
    );
  },
};

export interface AdvpropSchedule {
  /** Fraction of the range (epsPixels / 255). */
  readonly epsilon: number;
  /** Fraction of the range (1 / 255). */
  readonly stepSize: number;
  /** K = eps + 1, except K = 1 at eps = 1. */
  readonly steps: number;
  readonly norm: 'linf';
  readonly randomStart: true;
  readonly targeted: TargetMode;
  readonly route: BnRoute;
  readonly training: false;
}

/**
 * AdvProp's PGD schedule (Xie et al., 2020): eps in 1..4 pixels of 255, step 1 pixel,
 * K = eps + 1 iterations except K = 1 at eps = 1; random start, random wrong-class targets,
 * attacking through the auxiliary BN in inference mode.
 */
export function advpropPreset(epsilonPixels: number): AdvpropSchedule {
  if (!Number.isInteger(epsilonPixels) || epsilonPixels < 1 || epsilonPixels > 4) {
    throw new ConfigError(`advpropPreset: epsilonPixels must be an integer in 1..4 (AdvProp's range), got ${epsilonPixels}`, [
      { path: 'epsilonPixels', message: 'must be an integer in 1..4' },
    ]);
  }
  return {
    epsilon: epsilonPixels / 255,
    stepSize: 1 / 255,
    steps: epsilonPixels === 1 ? 1 : epsilonPixels + 1,
    norm: 'linf',
    randomStart: true,
    targeted: 'random',
    route: 'aux',
    training: false,
  };
}

// Plain factories: options validated with the same schemas the registry uses.
// (Also as classes below: `new Pgd(options).attack(request)`.)
export const fgsm = (options: FgsmOptions = {}, random?: SeededRandom): GradientAttack =>
  build.fgsm(parseOptions(fgsmSchema, options, 'attacker "fgsm"'), random);
export const fgm = (options: FgmOptions = {}, random?: SeededRandom): GradientAttack =>
  build.fgm(parseOptions(fgmSchema, options, 'attacker "fgm"'), random);
export const bim = (options: BimOptions = {}, random?: SeededRandom): GradientAttack =>
  build.bim(parseOptions(bimSchema, options, 'attacker "bim"'), random);
export const pgd = (options: PgdOptions = {}, random?: SeededRandom): GradientAttack =>
  build.pgd(parseOptions(pgdSchema, options, 'attacker "pgd"'), random);
export const pgdL2 = (options: PgdL2Options = {}, random?: SeededRandom): GradientAttack =>
  build.pgdL2(parseOptions(pgdL2Schema, options, 'attacker "pgd-l2"'), random);
export const miFgsm = (options: MiFgsmOptions = {}, random?: SeededRandom): GradientAttack =>
  build.miFgsm(parseOptions(miFgsmSchema, options, 'attacker "mi-fgsm"'), random);
export const diFgsm = (options: DiFgsmOptions = {}, random?: SeededRandom): GradientAttack =>
  build.diFgsm(parseOptions(diFgsmSchema, options, 'attacker "di-fgsm"'), random);
export const advprop = (options: AdvpropOptions = {}, random?: SeededRandom): GradientAttack =>
  build.advprop(parseOptions(advpropSchema, options, 'attacker "advprop"'), random);

export const fgsmPlugin = definePlugin({
  kind: 'attacker',
  name: 'fgsm',
  description: 'Fast gradient sign method (Goodfellow et al., 2015): one Linf step of size eps',
  options: fgsmSchema,
  create: (context, options) => build.fgsm(options, context.random),
});

export const fgmPlugin = definePlugin({
  kind: 'attacker',
  name: 'fgm',
  description: 'Fast gradient method, L2: one step of eps along the normalised gradient',
  options: fgmSchema,
  create: (context, options) => build.fgm(options, context.random),
});

export const bimPlugin = definePlugin({
  kind: 'attacker',
  name: 'bim',
  description: 'Basic iterative method / I-FGSM (Kurakin et al., 2017): PGD without random start',
  options: bimSchema,
  create: (context, options) => build.bim(options, context.random),
});

export const pgdPlugin = definePlugin({
  kind: 'attacker',
  name: 'pgd',
  description: 'Projected gradient descent (Madry et al., 2018), Linf or L2, random start and restarts',
  options: pgdSchema,
  create: (context, options) => build.pgd(options, context.random),
});

export const pgdL2Plugin = definePlugin({
  kind: 'attacker',
  name: 'pgd-l2',
  description: 'PGD in the L2 ball',
  options: pgdL2Schema,
  create: (context, options) => build.pgdL2(options, context.random),
});

export const miFgsmPlugin = definePlugin({
  kind: 'attacker',
  name: 'mi-fgsm',
  description: 'Momentum iterative FGSM (Dong et al., 2018)',
  options: miFgsmSchema,
  create: (context, options) => build.miFgsm(options, context.random),
});

export const diFgsmPlugin = definePlugin({
  kind: 'attacker',
  name: 'di-fgsm',
  description: 'Diverse-inputs iterative FGSM (Xie et al., 2019); with momentum > 0 it is M-DI2-FGSM',
  options: diFgsmSchema,
  create: (context, options) => build.diFgsm(options, context.random),
});

export const advpropPlugin = definePlugin({
  kind: 'attacker',
  name: 'advprop',
  description: "AdvProp's PGD preset: eps 1..4 of 255, K = eps + 1 (1 at eps 1), step 1/255, aux BN route",
  options: advpropSchema,
  create: (context, options) => build.advprop(options, context.random),
});

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
export const attacks = [
  fgsmPlugin,
  fgmPlugin,
  bimPlugin,
  pgdPlugin,
  pgdL2Plugin,
  miFgsmPlugin,
  diFgsmPlugin,
  advpropPlugin,
  firstSuccessPlugin,
] as const;

/** Class forms of the factories, for `new Pgd({ epsilon: '8/255' }).attack(request)`. */
export class Fgsm extends GradientAttack {
  constructor(options: FgsmOptions = {}, random?: SeededRandom) {
    super('fgsm', fgsm(options).settings, random);
  }
}
export class Fgm extends GradientAttack {
  constructor(options: FgmOptions = {}, random?: SeededRandom) {
    super('fgm', fgm(options).settings, random);
  }
}
export class Bim extends GradientAttack {
  constructor(options: BimOptions = {}, random?: SeededRandom) {
    super('bim', bim(options).settings, random);
  }
}
export class Pgd extends GradientAttack {
  constructor(options: PgdOptions = {}, random?: SeededRandom) {
    super('pgd', pgd(options).settings, random);
  }
}
export class PgdL2 extends GradientAttack {
  constructor(options: PgdL2Options = {}, random?: SeededRandom) {
    super('pgd-l2', pgdL2(options).settings, random);
  }
}
export class MiFgsm extends GradientAttack {
  constructor(options: MiFgsmOptions = {}, random?: SeededRandom) {
    super('mi-fgsm', miFgsm(options).settings, random);
  }
}
export class DiFgsm extends GradientAttack {
  constructor(options: DiFgsmOptions = {}, random?: SeededRandom) {
    super('di-fgsm', diFgsm(options).settings, random);
  }
}
