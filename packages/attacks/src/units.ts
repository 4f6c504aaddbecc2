/**
 * Perturbation sizes: the one epsilon vocabulary of the project. Epsilon and step sizes are a
 * fraction of the input range, written as a number (`0.03`) or a string (`"8/255"`, `"0.03"`),
 * everywhere: attack options, training configs, config files and CLI flags. `amountToFraction`
 * is the one parser; an attacker turns the fraction into input units, `fraction * (max - min)` of
 * its `range`.
 */
import { ConfigError, z } from '@advprop/core';

/** What a user may write for epsilon or a step size. */
export type AmountInput = number | string;

export type InputRange = readonly [number, number];

export const DEFAULT_RANGE: InputRange = [0, 1];

const FRACTION = /^\s*([-+]?[0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(?:\/\s*([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*)?$/i;

/**
 * An amount as a fraction of the input range: `0.03` -> 0.03, `"4/255"` -> 4/255. Throws ConfigError naming `field` for anything else (negative,
 * not finite, malformed string, zero denominator).
 */
export function amountToFraction(value: AmountInput, field = 'epsilon'): number {
  let fraction: number;
  if (typeof value === 'number') {
    fraction = value;
  } else if (typeof value === 'string') {
    const match = FRACTION.exec(value);
    if (!match) throw badAmount(field, `${JSON.stringify(value)} is not a number or a fraction like "8/255"`);
    const numerator = Number(match[1]);
    const denominator = match[2] === undefined ? 1 : Number(match[2]);
    if (denominator === 0) throw badAmount(field, `${JSON.stringify(value)} divides by zero`);
    fraction = numerator / denominator;
  } else {
    throw badAmount(field, `expected a number or a string like "8/255", got ${JSON.stringify(value)}`);
  }
  if (!Number.isFinite(fraction)) throw badAmount(field, `${JSON.stringify(value)} is not finite`);
  if (fraction < 0) throw badAmount(field, `must be >= 0, got ${JSON.stringify(value)}`);
  return fraction;
}

/** An epsilon (or step size) in absolute input units for `range` (default [0, 1]). */
export function resolveEpsilon(value: AmountInput, range: InputRange = DEFAULT_RANGE, field = 'epsilon'): number {
  assertRange(range);
  return amountToFraction(value, field) * (range[1] - range[0]);
}

export function assertRange(range: InputRange, field = 'range'): void {
  if (
    !Array.isArray(range) ||
    range.length !== 2 ||
    !Number.isFinite(range[0]) ||
    !Number.isFinite(range[1]) ||
    !(range[1] > range[0])
  ) {
    throw new ConfigError(`${field}: expected [min, max] with min < max, got ${JSON.stringify(range)}`, [
      { path: field, message: 'expected [min, max] with min < max' },
    ]);
  }
}

function badAmount(field: string, message: string): ConfigError {
  return new ConfigError(`${field}: ${message}`, [{ path: field, message }]);
}

/** zod schema of an amount; its output is the fraction of the range (a number >= 0). */
export const amountSchema = z
  .union([z.number(), z.string()])
  .transform((value, ctx) => {
    try {
      return amountToFraction(value as AmountInput, 'value');
    } catch (error) {
      ctx.issues.push({
        code: 'custom',
        message: (error as ConfigError).issues?.[0]?.message ?? String(error),
        input: value,
      });
      return z.NEVER;
    }
  });

/** Epsilon: fraction of the range, >= 0. */
export const epsilonSchema = amountSchema;

/** Step size: fraction of the range, > 0. */
export const stepSizeSchema = amountSchema.refine((v) => v > 0, { message: 'step size must be > 0' });

export const rangeSchema = z
  .tuple([z.number(), z.number()])
  .refine(([lo, hi]) => Number.isFinite(lo) && Number.isFinite(hi) && hi > lo, {
    message: 'range must be [min, max] with min < max',
  });
