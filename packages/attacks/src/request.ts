/**
 * What every attacker does around its own algorithm: check the request, build the routed forward
 * function, run the clean forward pass (logit checks, number of classes, least-likely targets),
 * keep BN statistics untouched, and release everything afterwards.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  assertBnRoute,
  isApplyModel,
  SeededRandom,
  toForward,
  type AttackRequest,
  type BnRoute,
  type ForwardFn,
} from '@advprop/core';
import { assertGradientsRegistered } from './gradients.js';
import { checkBatch, checkLogits } from './validate.js';
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

export interface PreparedRequest {
  /** Routed forward function (route and BN mode of the request applied per pass). */
  readonly forward: ForwardFn;
  readonly x: tf.Tensor;
  readonly n: number;
  readonly numClasses: number;
  readonly labels: Int32Array;
  readonly targets: Int32Array | undefined;
  /** Logits of the clean batch [N, K]; owned by the preparation, disposed after the attack. */
  readonly cleanLogits: tf.Tensor2D;
  readonly random: SeededRandom;
  readonly range: InputRange;
  readonly where: string;
}

interface LayerVariableLike {
  read(): tf.Tensor;
  write(value: tf.Tensor): unknown;
}

/**
 * Run `attack` on a checked, prepared request. Disposes the clean logits and restores the BN
 * route (per pass, through `toForward`) and, when the request runs BN in training mode, the BN
 * running statistics that the forward passes updated.
 */
export function runPrepared(
  request: AttackRequest,
  settings: RequestSettings,
  attack: (prepared: PreparedRequest) => tf.Tensor,
): tf.Tensor {
  if (request === null || typeof request !== 'object') throw new TypeError(`${settings.where}: attack() needs a request object`);
  const { model, x } = request;
  if (typeof model !== 'function' && !isApplyModel(model)) {
    throw new TypeError(`${settings.where}: model must be a layers model (with apply) or a (x) => logits function`);
  }
  assertGradientsRegistered(settings.where);
  const route = request.route ?? settings.route;
  if (route !== undefined) assertBnRoute(route, 'route');
  const training = request.training ?? settings.training ?? false;
  const checked = checkBatch(x, request.labels, request.targets, settings.range, settings.where);
  const forward = toForward(model, { route, training });
  const restore = training ? snapshotStatistics(model) : undefined;
  let cleanLogits: tf.Tensor2D | undefined;
  try {
    cleanLogits = tf.tidy(() => forward(x)) as tf.Tensor2D;
    const numClasses = checkLogits(cleanLogits, checked.n, checked, settings.checkLogits ?? true, settings.where);
    const result = attack({
      forward,
      x,
      n: checked.n,
      numClasses,
      labels: checked.labels,
      targets: checked.targets,
      cleanLogits,
      random: request.random ?? settings.random,
      range: settings.range,
      where: settings.where,
    });
    if (!(result instanceof tf.Tensor)) throw new TypeError(`${settings.where}: the attack did not return a tensor`);
    return result;
  } finally {
    cleanLogits?.dispose();
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
