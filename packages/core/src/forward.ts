/**
 * Turning a `ModelLike` into a forward function with a chosen BN route and BN mode.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { withRoute, type BnRoute } from './bn-route.js';
import type { ApplyModel, ForwardFn, ModelLike } from './contracts.js';
import { ShapeError } from './errors.js';

export interface ForwardOptions {
  /** BN route for the pass; absent keeps the model's current route. */
  readonly route?: BnRoute;
  /** BN mode: true uses batch statistics and updates the routed BN's running statistics. */
  readonly training?: boolean;
}

export function isApplyModel(model: unknown): model is ApplyModel {
  return typeof model === 'object' && model !== null && typeof (model as ApplyModel).apply === 'function';
}

/** A `(x) => logits` for any model-like, honouring route and BN mode. */
export function toForward(model: ModelLike, options: ForwardOptions = {}): ForwardFn {
  const training = options.training ?? false;
  const run = (x: Tensor): Tensor => {
    if (typeof model === 'function') return model(x);
    const out = model.apply(x, { training });
    if (Array.isArray(out)) {
      if (out.length !== 1) throw new ShapeError(`expected a model with one output, got ${out.length} outputs`);
      return out[0] as Tensor;
    }
    return out as Tensor;
  };
  if (options.route === undefined || typeof model === 'function') return run;
  const route = options.route;
  return (x) => withRoute(model, route, () => run(x));
}
