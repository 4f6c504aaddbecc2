/**
 * What every attacker does around its own algorithm: check the request, build the routed forward
 * function, check the model's output (logits [N, K], classes < K, not probabilities) on the clean
 * forward pass (`runPrepared`) or on the attack's first forward pass (`runChecked`), keep BN
 * statistics untouched, and release everything afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  assertBnRoute,
  SeededRandom,
  toForward,
  type AttackRequest,
  type BnRoute,
  type ForwardFn,
} from '@advprop/core';
import { assertGradientsRegistered } from './gradients.js';
import { checkBatch, checkLogits, readValues } from './validate.js';
import { asAttackModel, checkWrappedData, isWrappedModel } from './model-wrapper.js';
import type { InputRange } from './units.js';

export interface RequestSettings {
  /** Used in error messages: `attacker "pgd"`. */
  readonly where: string;
  readonly range: InputRange;
  /** Route when the request names none. */
  readonly route?: BnRoute | undefined;
  /** BN mode when the request names none (default false: running statistics). */
  readonly training?: boolean | undefined;
  /** Reject models that return probabilities (default true). */
  readonly checkLogits?: boolean | undefined;
  /** Stream used when the request carries no `random`. */
  readonly random: SeededRandom;
}

/** A checked request, before any forward pass. */
export interface CheckedRequest {
  /** Routed forward function (route and BN mode of the request applied per pass). */
  readonly forward: ForwardFn;
  readonly x: tf.Tensor;
  readonly n: number;
  readonly labels: Int32Array;
  readonly targets: Int32Array | undefined;
  readonly random: SeededRandom;
  readonly range: InputRange;
  readonly where: string;
  /**
   * Check the logits of a forward pass of the batch ([N, K], K >= 2, labels / targets < K, and
   * unless disabled, logits rather than probabilities) and return K. Only the first call checks
   * (and reads values back); later calls return the cached K.
   */
  checkOutput(logits: tf.Tensor): number;
}

/** A checked request with its clean forward pass done. */
export interface PreparedRequest extends CheckedRequest {
  readonly numClasses: number;
  /** Logits of the clean batch [N, K]; owned by the preparation, disposed after the attack. */
  readonly cleanLogits: tf.Tensor2D;
}

interface LayerVariableLike {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/**
 * Run `attack` on a checked, prepared request (clean forward pass done and checked). Disposes the
 * clean logits and restores the BN route (per pass, through `toForward`) and, when the request
 * runs BN in training mode, the BN running statistics that the forward passes updated.
 */
export function runPrepared(
  request: AttackRequest,
  settings: RequestSettings,
  attack: (prepared: PreparedRequest) => tf.Tensor,
): tf.Tensor {
  return runChecked(request, settings, (checked) => {
    const cleanLogits = tf.tidy(() => checked.forward(checked.x)) as tf.Tensor2D;
    try {
      const numClasses = checked.checkOutput(cleanLogits);
      return attack({ ...checked, numClasses, cleanLogits });
    } finally {
      cleanLogits.dispose();
    }
  });
}

/**
 * Run `attack` on a checked request without a clean forward pass: the attack must call
 * `checkOutput` on the logits of its first forward pass (before using K or the classes).
 */
export function runChecked(
  request: AttackRequest,
  settings: RequestSettings,
  attack: (checked: CheckedRequest) => tf.Tensor,
): tf.Tensor {
  if (request === null || typeof request !== 'object') throw new TypeError(`${settings.where}: attack() needs a request object`);
  const { x } = request;
  // layers models, functions and wrapModel(...) as they are; a bare GraphModel wrapped with the defaults
  const model = asAttackModel(request.model, settings.where);
  assertGradientsRegistered(settings.where);
  const route = request.route ?? settings.route;
  if (route !== undefined) assertBnRoute(route, 'route');
  const training = request.training ?? settings.training ?? false;
  if (isWrappedModel(model) && x instanceof tf.Tensor && !x.isDisposed && x.size > 0) {
    const [lo, hi] = readValues(() => tf.stack([tf.min(x), tf.max(x)])) as [number, number];
    checkWrappedData(model, settings.range, lo, hi, settings.where);
  }
  const checked = checkBatch(x, request.labels, request.targets, settings.range, settings.where);
  const forward = toForward(model, { route, training });
  const restore = training ? snapshotStatistics(model) : undefined;
  let numClasses: number | undefined;
  try {
    const result = attack({
      forward,
      x,
      n: checked.n,
      labels: checked.labels,
      targets: checked.targets,
      random: request.random ?? settings.random,
      range: settings.range,
      where: settings.where,
      checkOutput(logits) {
        numClasses ??= checkLogits(logits, checked.n, checked, settings.checkLogits ?? true, settings.where);
        return numClasses;
      },
    });
    if (!(result instanceof tf.Tensor)) throw new TypeError(`${settings.where}: the attack did not return a tensor`);
    return result;
  } finally {
    restore?.();
  }
}

/** Copy a layers model's non-trainable weights (BN running statistics) and return a restorer. */
function snapshotStatistics(model: unknown): (() => void) | undefined {
  const variables = (model as { nonTrainableWeights?: unknown }).nonTrainableWeights;
  if (!Array.isArray(variables) || variables.length === 0) return undefined;
  const list = variables.filter(
    (v): v is LayerVariableLike => typeof (v as LayerVariableLike)?.read === 'function' && typeof (v as LayerVariableLike)?.write === 'function',
  );
  const saved = list.map((v) => tf.clone(v.read()));
  return () => {
    list.forEach((v, i) => v.write(saved[i] as tf.Tensor));
    tf.dispose(saved);
  };
}
