/**
 * Target selection for targeted attacks.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom } from '@advprop/core';

export const TARGET_MODES = ['none', 'random', 'least-likely', 'given'] as const;
export type TargetMode = (typeof TARGET_MODES)[number];

export interface ChooseTargetsOptions {
  /** True labels, one per sample. */
  readonly labels: ArrayLike<number>;
  readonly numClasses: number;
  /** `random`: the stream the offsets are drawn from. */
  readonly random?: SeededRandom;
  /** `least-likely`: clean logits [N, K] (or their values, row-major). */
  readonly logits?: tf.Tensor | ArrayLike<number>;
  /** `given`: the targets. */
  readonly targets?: ArrayLike<number>;
}

/**
 * Targets for each sample:
 * - `random`: a uniformly random wrong class (AdvProp's rule: target = (label + o) mod K with o
 *   drawn from 1..K-1, so never the true class);
 * - `least-likely`: the class with the lowest clean logit (Kurakin et al.);
 * - `given`: the targets passed in, checked.
 */
export function chooseTargets(mode: Exclude<TargetMode, 'none'>, options: ChooseTargetsOptions): Int32Array {
  const { labels, numClasses: k } = options;
  const n = labels.length;
  if (!Number.isInteger(k) || k < 2) throw new ConfigError(`chooseTargets: numClasses must be an integer >= 2, got ${k}`);
  const out = new Int32Array(n);
  if (mode === 'random') {
    const random = options.random;
    if (!random) throw new ConfigError('chooseTargets: mode "random" needs a SeededRandom');
    for (let i = 0; i < n; i++) {
      const label = labels[i] as number;
      out[i] = (label + 1 + random.int(k - 1)) % k;
    }
  } else if (mode === 'least-likely') {
    if (options.logits === undefined) throw new ConfigError('chooseTargets: mode "least-likely" needs the clean logits');
    const values = options.logits instanceof tf.Tensor ? options.logits.dataSync() : options.logits;
    if (values.length !== n * k) {
      throw new ConfigError(`chooseTargets: logits hold ${values.length} values, expected ${n} x ${k}`);
    }
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let j = 1; j < k; j++) if ((values[i * k + j] as number) < (values[i * k + best] as number)) best = j;
      out[i] = best;
    }
  } else if (mode === 'given') {
    const targets = options.targets;
    if (!targets) {
      throw new ConfigError('targeted: "given" needs `targets` in the attack request', [
        { path: 'targets', message: 'required when targeted is "given"' },
      ]);
    }
    if (targets.length !== n) throw new ConfigError(`chooseTargets: ${targets.length} targets for ${n} labels`);
    for (let i = 0; i < n; i++) {
      const t = targets[i] as number;
      if (!Number.isInteger(t) || t < 0 || t >= k) {
        throw new ConfigError(`targets[${i}] = ${t} is out of range 0..${k - 1}`, [{ path: `targets[${i}]`, message: 'out of range' }]);
      }
      out[i] = t;
    }
  } else {
    throw new ConfigError(`chooseTargets: unknown mode ${JSON.stringify(mode)}`);
  }
  return out;
}
