/**
 * zod schemas of the attacker options. Epsilon and step sizes parse to fractions of the input
 * range (see units.ts); `range` turns them into input units.
 */
import { z } from '@advprop/core';
import { TARGET_MODES } from './targets.js';
import { epsilonSchema, rangeSchema, stepSizeSchema } from './units.js';

export const diversitySchema = z
  .object({
    /** Probability of transforming the input at a step. */
    probability: z.number().min(0).max(1).default(0.5),
    /** Resize factor (DI-FGSM default 0.9: sizes between 0.9 H and H, padded to H). */
    resizeRate: z.number().positive().default(0.9),
  })
  .strict();

/** Options every gradient attacker takes. */
export const commonShape = {
  targeted: z.enum(TARGET_MODES).default('none'),
  loss: z.enum(['ce', 'cw']).default('ce'),
  /** CW only: cap on the margin (kappa). */
  confidence: z.number().min(0).optional(),
  diversity: diversitySchema.optional(),
  range: rangeSchema.default([0, 1]),
  /** BN route to attack through when the request names none. */
  route: z.enum(['main', 'aux']).optional(),
  /** BN mode while attacking (false: running statistics). */
  training: z.boolean().default(false),
  /** Reject models whose outputs look like probabilities. */
  checkLogits: z.boolean().default(true),
};

const eps = (fallback: number) => epsilonSchema.default(fallback);

export const fgsmSchema = z.object({ epsilon: eps(8 / 255), ...commonShape }).strict();
export const fgmSchema = z.object({ epsilon: eps(1), ...commonShape }).strict();

const iterativeShape = {
  stepSize: stepSizeSchema.optional(),
  steps: z.number().int().min(1).default(10),
  momentum: z.number().min(0).default(0),
  ...commonShape,
};

export const bimSchema = z.object({ epsilon: eps(8 / 255), norm: z.enum(['linf', 'l2']).default('linf'), ...iterativeShape }).strict();

export const pgdSchema = z
  .object({
    epsilon: eps(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    randomStart: z.boolean().default(true),
    restarts: z.number().int().min(1).default(1),
    ...iterativeShape,
  })
  .strict();

export const pgdL2Schema = z
  .object({
    epsilon: eps(1),
    randomStart: z.boolean().default(true),
    restarts: z.number().int().min(1).default(1),
    ...iterativeShape,
  })
  .strict();

export const miFgsmSchema = z
  .object({
    epsilon: eps(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    ...iterativeShape,
    momentum: z.number().min(0).default(1),
  })
  .strict();

export const diFgsmSchema = z
  .object({
    epsilon: eps(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    ...iterativeShape,
    diversity: diversitySchema.default({ probability: 0.5, resizeRate: 0.9 }),
  })
  .strict();

export const advpropSchema = z
  .object({
    /** Epsilon k/255 with k in 1..4 (AdvProp's range); steps and step size follow from it. */
    epsilon: epsilonSchema.default(1 / 255).refine((e) => {
      const k = Math.round(e * 255);
      return k >= 1 && k <= 4 && Math.abs(e * 255 - k) <= 1e-6;
    }, 'must be k/255 with k in 1..4 (AdvProp\'s range), e.g. "2/255"'),
    randomStart: z.boolean().default(true),
    targeted: z.enum(TARGET_MODES).default('random'),
    loss: z.enum(['ce', 'cw']).default('ce'),
    range: rangeSchema.default([0, 1]),
    route: z.enum(['main', 'aux']).default('aux'),
    training: z.boolean().default(false),
    checkLogits: z.boolean().default(true),
  })
  .strict();

export const firstSuccessSchema = z
  .object({
    /** Attackers to try in order, each by registered name with its options. */
    attacks: z
      .array(z.object({ name: z.string().min(1), options: z.record(z.string(), z.unknown()).optional() }).strict())
      .min(1),
  })
  .strict();

export type FgsmOptions = z.input<typeof fgsmSchema>;
export type FgmOptions = z.input<typeof fgmSchema>;
export type BimOptions = z.input<typeof bimSchema>;
export type PgdOptions = z.input<typeof pgdSchema>;
export type PgdL2Options = z.input<typeof pgdL2Schema>;
export type MiFgsmOptions = z.input<typeof miFgsmSchema>;
export type DiFgsmOptions = z.input<typeof diFgsmSchema>;
export type AdvpropOptions = z.input<typeof advpropSchema>;
export type FirstSuccessOptions = z.input<typeof firstSuccessSchema>;
