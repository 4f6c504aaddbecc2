/**
 * Any TF.js model as an attack target. Attacks work on images in [0, 1] (NHWC) and ascend losses
 * of logits; models in the wild expect [0, 255] or [-1, 1] pixels, normalise with a mean and std,
 * take NCHW batches, end in a softmax, or are GraphModels from tfjs-converter. `wrapModel` puts
 * all of that inside the model, so epsilon keeps meaning "a fraction of a [0, 1] image":
 *
 *   images x in [0, 1], NHWC
 *     -> v = lo + x * (hi - lo)          inputRange [lo, hi] of the model
 *     -> (v - mean) / std                per channel (last axis), in the model's input units
 *     -> transpose to NCHW               layout 'nchw'
 *     -> model                           LayersModel, GraphModel or (x) => y function
 *     -> log(p) when outputs are probabilities (log-probabilities are logits up to a constant)
 *
 * The result is an ApplyModel (routes and BN mode pass through to a layers model), accepted by
 * every attack and by `autoAttack`. A bare GraphModel given to an attack is wrapped with the
 * defaults.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, isApplyModel, ShapeError, type ApplyModel, type ModelLike } from '@advprop/core';
import { assertRange, DEFAULT_RANGE, type InputRange } from './units.js';

/** What tfjs-converter's GraphModel offers (structural, so this package does not import the converter). */
export interface GraphModelLike {
  execute(inputs: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, outputs?: string | string[]): tf.Tensor | tf.Tensor[];
  executeAsync(inputs: tf.Tensor | tf.Tensor[] | tf.NamedTensorMap, outputs?: string | string[]): Promise<tf.Tensor | tf.Tensor[]>;
  readonly inputs?: readonly { readonly name: string; readonly shape?: readonly number[] }[];
  readonly outputs?: readonly { readonly name: string }[];
}

/** Anything an attack accepts as its model. */
export type AnyModel = ModelLike | GraphModelLike | WrappedModel;

export type OutputKind = 'logits' | 'probabilities' | 'log-probabilities';
export type Layout = 'nhwc' | 'nchw';

export interface ModelWrapperOptions {
  /** Pixel range the model expects; images in [0, 1] are mapped onto it (default [0, 1]). */
  readonly inputRange?: InputRange;
  /** Per-channel mean subtracted after the range mapping, in the model's input units (default 0). */
  readonly mean?: number | readonly number[];
  /** Per-channel std divided by after subtracting the mean (default 1). */
  readonly std?: number | readonly number[];
  /** Layout the model takes; attacks always see NHWC (default 'nhwc'). */
  readonly layout?: Layout;
  /** What the model returns (default 'logits'); probabilities are turned into log-probabilities. */
  readonly outputs?: OutputKind;
  /** GraphModel only: the output node to read, for models with several outputs. */
  readonly outputNode?: string;
}

export interface ResolvedWrapperOptions {
  readonly inputRange: InputRange;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly layout: Layout;
  readonly outputs: OutputKind;
  readonly outputNode: string | undefined;
}

export const WRAPPED_MODEL: unique symbol = Symbol.for('@advprop/attacks/wrapped-model');

/** Range of the images a wrapped model takes: attacks see [0, 1] images. */
export const WRAPPED_DATA_RANGE: InputRange = DEFAULT_RANGE;

export interface WrappedModel extends ApplyModel {
  readonly [WRAPPED_MODEL]: true;
  readonly kind: 'layers' | 'graph' | 'function';
  readonly inner: ModelLike | GraphModelLike;
  readonly options: ResolvedWrapperOptions;
  /** The inner model (for BN routing, which walks `layers`). */
  readonly layers: readonly unknown[];
  /** The inner layers model's non-trainable weights (BN statistics), restored after training-mode attacks. */
  readonly nonTrainableWeights: readonly unknown[];
  /** Logits for images in [0, 1] (NHWC). */
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: { training?: boolean }): tf.Tensor;
}

export function isWrappedModel(model: unknown): model is WrappedModel {
  return typeof model === 'object' && model !== null && (model as Partial<WrappedModel>)[WRAPPED_MODEL] === true;
}

/** A GraphModel (tfjs-converter): `execute` and `executeAsync`, and no layers-style `apply`. */
export function isGraphModel(model: unknown): model is GraphModelLike {
  return (
    typeof model === 'object' &&
    model !== null &&
    !isApplyModel(model) &&
    typeof (model as GraphModelLike).execute === 'function' &&
    typeof (model as GraphModelLike).executeAsync === 'function'
  );
}

function bad(path: string, message: string): ConfigError {
  return new ConfigError(`wrapModel: ${path}: ${message}`, [{ path, message }]);
}

function perChannel(value: number | readonly number[] | undefined, fallback: number, path: string, positive: boolean): readonly number[] {
  const list = value === undefined ? [fallback] : typeof value === 'number' ? [value] : Array.from(value);
  if (list.length === 0) throw bad(path, 'expected a number or one number per channel, got an empty list');
  list.forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw bad(`${path}[${i}]`, `expected a finite number, got ${JSON.stringify(v)}`);
    if (positive && !(v > 0)) throw bad(`${path}[${i}]`, `must be > 0, got ${v}`);
  });
  return list;
}

/** Wrap `model` so that attacks can take it: see the file comment for what each option does. */
export function wrapModel(model: ModelLike | GraphModelLike, options: ModelWrapperOptions = {}): WrappedModel {
  if (isWrappedModel(model)) throw bad('model', 'is already wrapped; pass the inner model with all options at once');
  const kind: WrappedModel['kind'] = typeof model === 'function' ? 'function' : isApplyModel(model) ? 'layers' : isGraphModel(model) ? 'graph' : (undefined as never);
  if (kind === undefined) {
    throw new TypeError('wrapModel: model must be a tfjs-layers model, a GraphModel from @tensorflow/tfjs-converter, or an (images) => logits function');
  }
  const inputRange = options.inputRange ?? DEFAULT_RANGE;
  assertRange(inputRange, 'inputRange');
  const layout = options.layout ?? 'nhwc';
  if (layout !== 'nhwc' && layout !== 'nchw') throw bad('layout', `expected "nhwc" or "nchw", got ${JSON.stringify(layout)}`);
  const outputs = options.outputs ?? 'logits';
  if (!['logits', 'probabilities', 'log-probabilities'].includes(outputs)) {
    throw bad('outputs', `expected "logits", "probabilities" or "log-probabilities", got ${JSON.stringify(outputs)}`);
  }
  if (options.outputNode !== undefined && kind !== 'graph') throw bad('outputNode', 'only applies to GraphModels');
  const mean = perChannel(options.mean, 0, 'mean', false);
  const std = perChannel(options.std, 1, 'std', true);
  const resolved: ResolvedWrapperOptions = { inputRange: [inputRange[0], inputRange[1]], mean, std, layout, outputs, outputNode: options.outputNode };
  const [lo, hi] = resolved.inputRange;
  const identity = lo === 0 && hi === 1 && mean.every((m) => m === 0) && std.every((s) => s === 1);

  const preprocess = (x: tf.Tensor): tf.Tensor => {
    const channels = x.shape[x.rank - 1] as number;
    for (const [name, list] of [['mean', mean], ['std', std]] as const) {
      if (list.length !== 1 && list.length !== channels) {
        throw new ShapeError(`wrapModel: ${name} has ${list.length} values but the images have ${channels} channels (last axis of [${x.shape.join(', ')}])`);
      }
    }
    let v = x;
    if (!identity) {
      // (lo + x * (hi - lo) - mean) / std as one scale and shift per channel
      const count = Math.max(mean.length, std.length);
      const at = (list: readonly number[], c: number) => list[list.length === 1 ? 0 : c] as number;
      const scales = Array.from({ length: count }, (_, c) => (hi - lo) / at(std, c));
      const shifts = Array.from({ length: count }, (_, c) => (lo - at(mean, c)) / at(std, c));
      const scale = count === 1 ? (scales[0] as number) : tf.tensor1d(scales);
      const shift = count === 1 ? (shifts[0] as number) : tf.tensor1d(shifts);
      v = tf.add(tf.mul(x, scale), shift);
    }
    if (layout === 'nchw') {
      if (v.rank !== 4) throw new ShapeError(`wrapModel: layout "nchw" needs NHWC image batches of rank 4, got [${x.shape.join(', ')}]`);
      v = tf.transpose(v, [0, 3, 1, 2]);
    }
    return v;
  };

  const run = (v: tf.Tensor, training: boolean): tf.Tensor => {
    if (kind === 'function') return (model as (x: tf.Tensor) => tf.Tensor)(v);
    if (kind === 'layers') {
      const out = (model as ApplyModel).apply(v, { training });
      if (Array.isArray(out)) {
        if (out.length !== 1) throw new ShapeError(`wrapModel: the model has ${out.length} outputs; wrap a model with one output`);
        return out[0] as tf.Tensor;
      }
      return out as tf.Tensor;
    }
    const graph = model as GraphModelLike;
    const out = resolved.outputNode !== undefined ? graph.execute(v, resolved.outputNode) : graph.execute(v);
    if (Array.isArray(out)) {
      const names = (graph.outputs ?? []).map((o) => o.name).join(', ');
      tf.dispose(out);
      throw new ShapeError(`wrapModel: the GraphModel returns ${out.length} outputs (${names}); choose one with the outputNode option`);
    }
    return out;
  };

  const wrapped: WrappedModel = {
    [WRAPPED_MODEL]: true,
    kind,
    inner: model,
    options: resolved,
    get layers() {
      return kind === 'layers' ? [model] : [];
    },
    get nonTrainableWeights() {
      const weights = kind === 'layers' ? (model as { nonTrainableWeights?: unknown }).nonTrainableWeights : undefined;
      return Array.isArray(weights) ? weights : [];
    },
    apply(inputs, kwargs) {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (!(x instanceof tf.Tensor) || (Array.isArray(inputs) && inputs.length !== 1)) throw new TypeError('wrapModel: apply takes one image batch');
      return tf.tidy(() => {
        const out = run(preprocess(x), kwargs?.training ?? false);
        if (!(out instanceof tf.Tensor)) throw new TypeError('wrapModel: the model did not return a tensor');
        if (out.rank !== 2 || out.shape[0] !== x.shape[0]) {
          throw new ShapeError(`wrapModel: the model output must be [batch, classes] = [${x.shape[0]}, K], got [${out.shape.join(', ')}]`);
        }
        if (outputs === 'probabilities') return tf.log(tf.maximum(out, 1e-30));
        return out;
      });
    },
  };
  return wrapped;
}

const defaultWrappers = new WeakMap<object, WrappedModel>();

/**
 * The model as something `toForward` understands: layers models, functions and wrapped models
 * as they are, GraphModels wrapped with the defaults. Throws a TypeError naming `where` otherwise.
 */
export function asAttackModel(model: unknown, where: string): ModelLike {
  if (typeof model === 'function' || isApplyModel(model)) return model as ModelLike;
  if (isGraphModel(model)) {
    let wrapped = defaultWrappers.get(model);
    if (!wrapped) {
      wrapped = wrapModel(model);
      defaultWrappers.set(model, wrapped);
    }
    return wrapped;
  }
  throw new TypeError(
    `${where}: model must be a tfjs-layers model, a GraphModel from @tensorflow/tfjs-converter, an (images) => logits function, or wrapModel(...) of one`,
  );
}

/**
 * Check that the batch fits the wrapper: a wrapped model takes images in [0, 1] whatever the
 * model's own input range, so the attacker's range must be [0, 1] and x must lie inside it.
 * `lo` / `hi` are the batch's min and max.
 */
export function checkWrappedData(model: unknown, attackerRange: InputRange, lo: number, hi: number, where: string): void {
  if (!isWrappedModel(model)) return;
  const [modelLo, modelHi] = model.options.inputRange;
  if (attackerRange[0] !== 0 || attackerRange[1] !== 1) {
    throw new ConfigError(
      `${where}: the attacker's range is [${attackerRange.join(', ')}], but a wrapped model takes images in [0, 1] ` +
        `(its inputRange [${modelLo}, ${modelHi}] is applied inside the wrapper); leave the attacker's range at [0, 1]`,
      [{ path: 'range', message: 'must be [0, 1] for a wrapped model' }],
    );
  }
  if (lo < -1e-5 || hi > 1 + 1e-5) {
    throw new ConfigError(
      `${where}: x has values in [${lo}, ${hi}], but the model wrapper takes images in [0, 1] and maps them to the model's inputRange ` +
        `[${modelLo}, ${modelHi}] itself; pass the images in [0, 1]` +
        (hi > 1.5 && hi <= 255 + 1e-3 && lo >= -1e-5 ? ' (divide 0-255 pixels by 255)' : lo < -1e-5 && lo >= -1 - 1e-5 ? ' (map [-1, 1] data with (x + 1) / 2)' : ''),
      [{ path: 'inputRange', message: 'the data is not in [0, 1]' }],
    );
  }
}

/**
 * Epsilon (a fraction of the [0, 1] image range) must make sense for the norm: Linf above 1 moves
 * every pixel across the whole range, typically an epsilon written in 0-255 pixels; L2 above
 * sqrt(size) of one image cannot be reached either.
 */
export function checkEpsilonFraction(epsilon: number, norm: 'linf' | 'l2', sampleSize: number | undefined, where: string, model?: unknown): void {
  const range = isWrappedModel(model) ? model.options.inputRange : undefined;
  const hint = range
    ? ` (epsilon is given on [0, 1] images; the wrapper's inputRange [${range[0]}, ${range[1]}] is applied inside the model)`
    : ' (epsilon is a fraction of the input range)';
  if (!Number.isFinite(epsilon) || epsilon < 0) throw new ConfigError(`${where}: epsilon must be a finite number >= 0, got ${epsilon}`, [{ path: 'epsilon', message: 'must be >= 0' }]);
  if (norm === 'linf' && epsilon > 1) {
    throw new ConfigError(`${where}: epsilon ${epsilon} is larger than the whole image range${hint}; write e.g. "8/255" for 8 of 255 levels`, [
      { path: 'epsilon', message: 'Linf epsilon above 1 (the whole range)' },
    ]);
  }
  if (norm === 'l2' && sampleSize !== undefined && epsilon > Math.sqrt(sampleSize)) {
    throw new ConfigError(
      `${where}: L2 epsilon ${epsilon} is larger than the L2 diameter sqrt(${sampleSize}) = ${Math.sqrt(sampleSize).toFixed(3)} of an image${hint}`,
      [{ path: 'epsilon', message: 'L2 epsilon above the diameter of the image box' }],
    );
  }
}
