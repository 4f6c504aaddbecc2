/**
 * User-defined attackers as first-class plugins: `defineAttacker({ name, options, attack })`
 * returns a registry plugin of kind 'attacker'. The wrapper does what every built-in attacker
 * does: validated options, checked request (shapes, label range, logits not probabilities), BN
 * route and mode, tidy memory, output clipped to the input range and shaped like `x`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  consoleLogger,
  SeededRandom,
  ShapeError,
  z,
  type Attacker,
  type AttackRequest,
  type BnRoute,
  type ForwardFn,
  type Logger,
  type OptionsSchema,
} from '@advprop/core';
import { declareAttack, type AttackDeclaration } from './declare-attack.js';
import { project, type Norm } from './gradient-attack.js';
import { inputGradient } from './input-gradient.js';
import { attackObjective, type AttackLoss } from './losses.js';
import { runPrepared, type PreparedRequest } from './request.js';
import { chooseTargets, type TargetMode } from './targets.js';
import { DEFAULT_RANGE, type InputRange } from './units.js';

/** What a custom attack function receives. */
export interface AttackContext {
  /** The clean batch (do not dispose). */
  readonly x: tf.Tensor;
  /** Routed forward function: route and BN mode of the request applied per pass. */
  readonly forward: ForwardFn;
  readonly n: number;
  readonly numClasses: number;
  readonly labels: Int32Array;
  /** Targets from the request, if any. */
  readonly targets: Int32Array | undefined;
  /** Clean logits [N, K] (do not dispose). */
  readonly cleanLogits: tf.Tensor2D;
  /** The request's random stream, or the plugin's. */
  readonly random: SeededRandom;
  readonly range: InputRange;
  readonly log: Logger;
  /** Gradient w.r.t. the input of the summed per-sample objective (ascend it to attack). */
  gradient(
    xAdv: tf.Tensor,
    classes: ArrayLike<number>,
    options?: { loss?: AttackLoss; targeted?: boolean; confidence?: number },
  ): tf.Tensor;
  /** Project onto the eps-ball (absolute eps, input units) around x and the input range. */
  project(candidate: tf.Tensor, options: { norm: Norm; epsilon: number }): tf.Tensor;
  /** Targets for a mode (random wrong class, least-likely, or the request's). */
  chooseTargets(mode: Exclude<TargetMode, 'none'>): Int32Array;
}

export interface AttackerDefinition<N extends string, S extends OptionsSchema> {
  readonly name: N;
  readonly description?: string;
  /** zod schema of the options (validated by the registry). */
  readonly options?: S;
  /** Input range (default [0, 1]), or a function of the parsed options. */
  readonly range?: InputRange | ((options: z.output<S>) => InputRange);
  /** Default BN route when the request names none. */
  readonly route?: BnRoute;
  /** Default BN mode when the request names none (false). */
  readonly training?: boolean;
  /** Reject models returning probabilities (default true). */
  readonly checkLogits?: boolean;
  /**
   * The attack: return the adversarial batch. Everything created inside is disposed for you
   * (it runs in tf.tidy), except the returned tensor.
   */
  attack(context: AttackContext, options: z.output<S>): tf.Tensor;
}

/**
 * Declare a custom attack, like the built-ins (declare-attack.ts): the result is the registry
 * plugin (`registry.use([myAttack])`) and the factory (`myAttack(options).attack(request)`).
 */
export function defineAttacker<const N extends string, S extends OptionsSchema = z.ZodObject<{}>>(
  definition: AttackerDefinition<N, S>,
): AttackDeclaration<N, S> {
  if (typeof definition?.attack !== 'function') throw new TypeError('defineAttacker needs an attack(context, options) function');
  const schema = (definition.options ?? z.object({}).strict()) as S;
  return declareAttack<N, S, Attacker>({
    name: definition.name,
    ...(definition.description !== undefined ? { description: definition.description } : {}),
    options: schema,
    build: (options, random, context) => customAttacker(definition, options, { random: random ?? new SeededRandom(0), log: context?.log ?? consoleLogger }),
  });
}

function customAttacker<N extends string, S extends OptionsSchema>(
  definition: AttackerDefinition<N, S>,
  options: z.output<S>,
  plugin: { readonly random: SeededRandom; readonly log: Logger },
): Attacker {
  const range = typeof definition.range === 'function' ? definition.range(options) : (definition.range ?? DEFAULT_RANGE);
  const where = `attacker "${definition.name}"`;
  return {
    name: definition.name,
    attack(request: AttackRequest): tf.Tensor {
      return runPrepared(
        request,
        { where, range, route: definition.route, training: definition.training, checkLogits: definition.checkLogits, random: plugin.random },
        (p) => {
          const out = tf.tidy(() => definition.attack(contextFor(p, plugin.log), options));
          if (!(out instanceof tf.Tensor)) throw new TypeError(`${where}: attack() must return a tensor`);
          if (out.shape.length !== p.x.shape.length || out.shape.some((d, i) => d !== p.x.shape[i])) {
            if (out !== p.x) out.dispose();
            throw new ShapeError(`${where}: returned shape [${out.shape.join(', ')}], expected the shape of x [${p.x.shape.join(', ')}]`);
          }
          const clipped = tf.tidy(() => tf.clipByValue(tf.cast(out, 'float32'), range[0], range[1]));
          if (out !== p.x) out.dispose();
          return clipped;
        },
      );
    },
  };
}

function contextFor(p: PreparedRequest, log: Logger): AttackContext {
  return {
    x: p.x,
    forward: p.forward,
    n: p.n,
    numClasses: p.numClasses,
    labels: p.labels,
    targets: p.targets,
    cleanLogits: p.cleanLogits,
    random: p.random,
    range: p.range,
    log,
    gradient(xAdv, classes, options = {}) {
      return tf.tidy(() => {
        const classTensor = tf.tensor1d(Array.from(classes), 'int32');
        const objective = (xa: tf.Tensor) =>
          tf.sum(
            attackObjective(p.forward(xa) as tf.Tensor2D, classTensor, {
              loss: options.loss ?? 'ce',
              targeted: options.targeted ?? false,
              confidence: options.confidence,
            }),
          );
        return inputGradient(objective)(xAdv);
      });
    },
    project: (candidate, { norm, epsilon }) => project(candidate, p.x, norm, epsilon, p.range),
    chooseTargets(mode) {
      if (mode === 'given' || p.targets) return chooseTargets('given', { labels: p.labels, numClasses: p.numClasses, targets: p.targets });
      return chooseTargets(mode, { labels: p.labels, numClasses: p.numClasses, random: p.random, logits: p.cleanLogits });
    },
  };
}
