/**
 * Shared building blocks of the model builders: spec validation, seeded initialisers, the BN
 * helper (plain / dual / none) and small layer helpers on tfjs-layers' functional API.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { BatchNormKind, ModelSpec } from '@advprop/core';
import { ConfigError, SeededRandom, ShapeError } from '@advprop/core';
import { batchNormalization, dualBatchNormalization, type BnActivation } from '@advprop/dual-bn';
import { PaddedConv2D } from './padded-conv2d.js';
import { SeededDropout } from './seeded-dropout.js';

export type SymbolicTensor = tfl.SymbolicTensor;
type Layer = tfl.layers.Layer;
type Initializer = ReturnType<typeof tfl.initializers.heNormal>;
/** Activation names tfjs-layers knows ('relu', 'relu6', 'swish', 'sigmoid', ...). */
export type ActivationIdentifier = NonNullable<NonNullable<Parameters<typeof tfl.layers.activation>[0]>['activation']>;
/** Arguments of tf.layers.batchNormalization (and of the dual-BN layer, which takes the same). */
export type BatchNormArgs = NonNullable<Parameters<typeof tfl.layers.batchNormalization>[0]>;

/** Seed used for the initialisers when a spec carries no `random`. */
export const DEFAULT_MODEL_SEED = 0x5eed;

export type SupportResult = { ok: true } | { ok: false; reason: string };

/** Human-readable form of an input shape, e.g. `[28, 28, 1]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * Common checks of a spec: a 3-d integer input shape with height and width >= `minSize`, at least
 * one channel, an integer class count >= 1, a known batch-norm kind.
 */
export function checkSpec(name: string, spec: ModelSpec, minSize: number): SupportResult {
  const shape = spec?.inputShape as readonly number[] | undefined;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
    return {
      ok: false,
      reason: `${name}: inputShape must be [height, width, channels] of positive integers, got ${Array.isArray(shape) ? formatShape(shape) : String(shape)}`,
    };
  }
  const [h, w] = shape as [number, number, number];
  if (h < minSize || w < minSize) {
    return {
      ok: false,
      reason: `${name}: input shape ${formatShape(shape)} is too small; height and width must be at least ${minSize}`,
    };
  }
  return { ok: true };
}

/** Throws ShapeError / ConfigError when the spec cannot be built; called by every builder. */
export function assertSpec(name: string, spec: ModelSpec, minSize: number): void {
  if (!Number.isInteger(spec?.numClasses) || spec.numClasses < 1) {
    throw new ConfigError(`${name}: numClasses must be a positive integer, got ${String(spec?.numClasses)}`, [
      { path: 'numClasses', message: 'must be a positive integer' },
    ]);
  }
  if (!['dual', 'plain', 'none'].includes(spec.batchNorm)) {
    throw new ConfigError(
      `${name}: batchNorm must be "dual", "plain" or "none", got ${JSON.stringify(spec.batchNorm)}`,
      [{ path: 'batchNorm', message: 'unknown batch-norm kind' }],
    );
  }
  const result = checkSpec(name, spec, minSize);
  if (!result.ok) throw new ShapeError(result.reason);
}

/**
 * Per-build context: the seed stream for initialisers, the BN kind and BN defaults, and a layer
 * name prefix. One build draws one seed from `spec.random` (advancing it once), then every layer's
 * initialiser takes the next seed of a private stream in construction order, so builds from equal
 * streams are identical and the caller's stream moves by one draw only.
 */
export class BuildContext {
  readonly bn: BatchNormKind;
  private readonly seeds: SeededRandom;

  constructor(
    spec: ModelSpec,
    readonly bnDefaults: Partial<BatchNormArgs> = {},
  ) {
    this.bn = spec.batchNorm;
    this.seeds = new SeededRandom(spec.random ? spec.random.tfSeed() : DEFAULT_MODEL_SEED);
  }

  /** Next initialiser seed. */
  seed(): number {
    return this.seeds.tfSeed();
  }

  /** Whether convolutions followed by BN should carry a bias (only when there is no BN). */
  get convBias(): boolean {
    return this.bn === 'none';
  }

  heNormal(): Initializer {
    return tfl.initializers.heNormal({ seed: this.seed() });
  }

  glorotUniform(): Initializer {
    return tfl.initializers.glorotUniform({ seed: this.seed() });
  }

  /** A BN layer of the context's kind (null for 'none'). */
  batchNorm(args: BatchNormArgs): Layer | null {
    if (this.bn === 'none') return null;
    return batchNorm(this.bn, { ...this.bnDefaults, ...args });
  }

  /** Apply BN of the context's kind, or pass `x` through for 'none'. */
  applyBn(x: SymbolicTensor, name: string): SymbolicTensor {
    const layer = this.batchNorm({ name });
    return layer ? (layer.apply(x) as SymbolicTensor) : x;
  }

  /**
   * BN, then + `residual` (when given), then ReLU. With BN, one layer does all three (named
   * `bnName`: DualBatchNormalization or BatchNormalizationRelu with `activation: 'relu'`; one fused
   * kernel each way where the backend has them); without BN, an Add (`names.add`) and an
   * Activation (`names.relu`).
   */
  bnRelu(x: SymbolicTensor, bnName: string, names: { relu: string; add?: string }, residual?: SymbolicTensor): SymbolicTensor {
    if (this.bn !== 'none') {
      const layer = batchNorm(this.bn, { ...this.bnDefaults, name: bnName, activation: 'relu' });
      return layer.apply(residual ? [x, residual] : x) as SymbolicTensor;
    }
    const h = residual ? add(x, residual, names.add ?? `${names.relu}_add`) : x;
    return activation(h, 'relu', names.relu);
  }

  conv(
    x: SymbolicTensor,
    filters: number,
    kernelSize: number,
    strides: number,
    name: string,
    padding: 'same' | 'valid' | number = 'same',
  ): SymbolicTensor {
    const args = { filters, kernelSize, strides, useBias: this.convBias, kernelInitializer: this.heNormal(), biasInitializer: 'zeros' as const, name };
    // A number pads that many pixels on every side inside the convolution (PyTorch's `padding`).
    const layer = typeof padding === 'number' ? new PaddedConv2D({ ...args, explicitPadding: padding }) : tfl.layers.conv2d({ ...args, padding });
    return layer.apply(x) as SymbolicTensor;
  }

  depthwise(x: SymbolicTensor, kernelSize: number, strides: number, name: string): SymbolicTensor {
    return tfl.layers
      .depthwiseConv2d({
        kernelSize,
        strides,
        padding: 'same',
        depthMultiplier: 1,
        useBias: this.convBias,
        depthwiseInitializer: this.heNormal(),
        biasInitializer: 'zeros',
        name,
      })
      .apply(x) as SymbolicTensor;
  }

  dense(x: SymbolicTensor, units: number, name: string, activation?: ActivationIdentifier): SymbolicTensor {
    return tfl.layers
      .dense({
        units,
        activation,
        kernelInitializer: this.glorotUniform(),
        biasInitializer: 'zeros',
        name,
      })
      .apply(x) as SymbolicTensor;
  }

  /** Seeded dropout (a new mask every training call); `noiseShape` [null, 1, 1, 1] gives drop-connect. */
  dropout(x: SymbolicTensor, rate: number, name: string, noiseShape?: (number | null)[]): SymbolicTensor {
    const seed = this.seed(); // drawn even when unused, so weights do not depend on dropout settings
    if (rate <= 0) return x;
    return new SeededDropout({ rate, seed, noiseShape, name }).apply(x) as SymbolicTensor;
  }
}

export function activation(x: SymbolicTensor, act: ActivationIdentifier, name: string): SymbolicTensor {
  return tfl.layers.activation({ activation: act, name }).apply(x) as SymbolicTensor;
}

export function add(a: SymbolicTensor, b: SymbolicTensor, name: string): SymbolicTensor {
  return tfl.layers.add({ name }).apply([a, b]) as SymbolicTensor;
}

export function input(spec: ModelSpec): SymbolicTensor {
  return tfl.input({ shape: [...spec.inputShape], name: 'input' });
}

/**
 * The BN layer for a kind: @advprop/dual-bn's `batchNormalization(args)` for 'plain' (tfjs-layers'
 * BatchNormalization, saved as one, taking the fused training kernel when the backend has it; with
 * `activation: 'relu'` its BatchNormalizationRelu), `dualBatchNormalization(args)` from
 * @advprop/dual-bn for 'dual' (same arguments).
 */
export function batchNorm(kind: 'plain' | 'dual', args: BatchNormArgs & { activation?: BnActivation }): Layer {
  return kind === 'dual' ? dualBatchNormalization(args) : batchNormalization(args);
}

/** Round a channel count to a multiple of `divisor`, never below 90% of the request (MobileNet / EfficientNet rule). */
export function makeDivisible(value: number, divisor = 8, min = divisor): number {
  const rounded = Math.max(min, Math.floor((value + divisor / 2) / divisor) * divisor);
  return rounded < 0.9 * value ? rounded + divisor : rounded;
}
