/**
 * tfjs-core registers no gradient functions by itself; the tfjs-layers entry point (like the
 * @tensorflow/tfjs union package) registers all of them. Attacks need input gradients even for a
 * plain `(x) => logits` function, so this package loads tfjs-layers for that side effect.
 */
import '@tensorflow/tfjs-layers';
import { getGradient } from '@tensorflow/tfjs-core';
import { ConfigError } from '@advprop/core';

/** Throws a clear error when the gradient functions are missing (e.g. two copies of tfjs-core). */
export function assertGradientsRegistered(where: string): void {
  if (!getGradient('Sum') || !getGradient('Multiply')) {
    throw new ConfigError(
      `${where}: tfjs gradient functions are not registered; import '@tensorflow/tfjs-layers' or '@tensorflow/tfjs' ` +
        'once in your program, and make sure only one copy of @tensorflow/tfjs-core is installed',
    );
  }
}
