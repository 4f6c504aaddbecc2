/**
 * Composition for robust-accuracy evaluation: run attackers in order and keep, per sample, the
 * first adversarial example that succeeds (AutoAttack's worst-case-over-attacks rule). Each later
 * attacker only attacks the samples still standing.
 */
import * as tf from '@tensorflow/tfjs-core';
import { SeededRandom, type Attacker, type AttackRequest, type BnRoute } from '@advprop/core';
import { runPrepared } from './request.js';
import { readValues } from './validate.js';
import { DEFAULT_RANGE, type InputRange } from './units.js';

export interface FirstSuccessOptions {
  readonly name?: string;
  readonly range?: InputRange;
  /** Route for the success check when the request names none (the attackers use their own defaults). */
  readonly route?: BnRoute;
  readonly random?: SeededRandom;
  /** Samples the model already gets wrong are returned unchanged and not attacked (default true). */
  readonly skipMisclassified?: boolean;
  /** dispose() disposes the attackers too (default true; false when a registry owns them). */
  readonly ownsAttackers?: boolean;
}

/**
 * An attacker that runs `attackers` in order. Success is misclassification (prediction != label),
 * or reaching the request's `targets` when it has some. Samples no attacker fooled get the last
 * attacker's output.
 */
export function firstSuccess(attackers: readonly Attacker[], options: FirstSuccessOptions = {}): Attacker & { readonly attackers: readonly Attacker[] } {
  if (!Array.isArray(attackers) || attackers.length === 0) throw new TypeError('firstSuccess needs at least one attacker');
  const name = options.name ?? `first-success(${attackers.map((a) => a.name).join(', ')})`;
  const fallback = options.random ?? new SeededRandom(0);
  return {
    name,
    attackers,
    attack(request: AttackRequest): tf.Tensor {
      return runPrepared(
        request,
        { where: `attacker "${name}"`, range: options.range ?? DEFAULT_RANGE, route: options.route, random: fallback, training: false },
        (p) => {
          const classes = p.targets ?? p.labels;
          const targeted = p.targets !== undefined;
          const done = new Uint8Array(p.n);
          const choice = new Int32Array(p.n);
          for (let i = 0; i < p.n; i++) choice[i] = i;
          if (options.skipMisclassified ?? true) {
            const predicted = readValues(() => tf.argMax(p.cleanLogits, 1));
            for (let i = 0; i < p.n; i++) done[i] = targeted ? Number(predicted[i] === classes[i]) : Number(predicted[i] !== classes[i]);
          }
          const pieces: tf.Tensor[] = [p.x];
          try {
            let offset = p.n;
            for (let k = 0; k < attackers.length; k++) {
              const pending: number[] = [];
              for (let i = 0; i < p.n; i++) if (!done[i]) pending.push(i);
              if (pending.length === 0) break;
              const index = tf.tensor1d(pending, 'int32');
              const subX = tf.gather(p.x, index);
              const subLabels = tf.tensor1d(pending.map((i) => p.labels[i] as number), 'int32');
              const subTargets = p.targets ? tf.tensor1d(pending.map((i) => p.targets?.[i] as number), 'int32') : undefined;
              let adv: tf.Tensor;
              try {
                adv = (attackers[k] as Attacker).attack({
                  model: request.model,
                  x: subX,
                  labels: subLabels as tf.Tensor1D,
                  ...(subTargets ? { targets: subTargets as tf.Tensor1D } : {}),
                  ...(request.route !== undefined ? { route: request.route } : {}),
                  ...(request.training !== undefined ? { training: request.training } : {}),
                  random: new SeededRandom(p.random.tfSeed()),
                });
              } finally {
                tf.dispose([index, subX, subLabels, ...(subTargets ? [subTargets] : [])]);
              }
              pieces.push(adv);
              const predicted = readValues(() => tf.argMax(p.forward(adv), 1));
              pending.forEach((i, j) => {
                choice[i] = offset + j;
                const hit = targeted ? predicted[j] === classes[i] : predicted[j] !== classes[i];
                if (hit) done[i] = 1;
              });
              offset += pending.length;
            }
            return tf.tidy(() => tf.gather(pieces.length === 1 ? p.x : tf.concat(pieces, 0), tf.tensor1d(choice, 'int32')));
          } finally {
            tf.dispose(pieces.slice(1));
          }
        },
      );
    },
    dispose() {
      if (options.ownsAttackers ?? true) for (const a of attackers) a.dispose?.();
    },
  };
}
