/**
 * tfjs kernel functions backed by the addon: convolutions (plain, fused with bias and ReLU/ReLU6,
 * depthwise) with their data and filter gradients through oneDNN, and the fused training-mode
 * batch norm of @advprop/core's kernel contract. Each one hands anything it does not cover (NCHW,
 * non-float32, PReLU/ELU/... activations, a geometry oneDNN rejects) to the kernel that was
 * registered before it.
 */
import { backend_util, util } from '@tensorflow/tfjs-core';
import type { KernelBackend, KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';
import {
  BATCH_NORM_RELU_KERNEL,
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  MOVING_AVERAGE_KERNEL,
  SGD_UPDATE_KERNEL,
} from '@advprop/core';
import type { NativeAddon } from './addon.js';
import { TensorAccess, type SupportedBackend } from './tensor-access.js';

type Shape4 = [number, number, number, number];
type KernelArgs = Parameters<KernelFunc>[0];

/** Activations applied inside the native forward pass (0 = none). */
const ACTIVATIONS: Readonly<Record<string, number>> = { linear: 0, relu: 1, relu6: 2 };

function isNhwc(dataFormat: unknown): boolean {
  return dataFormat === undefined || dataFormat === null || dataFormat === 'NHWC' || dataFormat === 'channelsLast';
}

/** [n, h, w, ci, oh, ow, co, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, groups], as the addon reads it. */
export function convGeometry(info: backend_util.Conv2DInfo, groups: number): number[] | undefined {
  const p = info.padInfo;
  if (p.top < 0 || p.left < 0 || p.bottom < 0 || p.right < 0) return undefined;
  return [
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.dilationHeight,
    info.dilationWidth,
    p.top,
    p.left,
    p.bottom,
    p.right,
    groups,
  ];
}

/** tfjs' geometry of an NHWC convolution from a kernel's attributes (strides, dilations, pad, rounding). */
function convInfo(xShape: Shape4, filterShape: Shape4, attrs: Record<string, unknown>, depthwise: boolean): backend_util.Conv2DInfo {
  return backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs['strides'] as number | [number, number],
    (attrs['dilations'] ?? 1) as number | [number, number],
    attrs['pad'] as 'same' | 'valid' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
    'channelsLast',
  );
}

/** The variance epsilon of a batch-norm kernel call (tfjs' default 1e-3). */
function varianceEpsilon(args: KernelArgs): number {
  return Number((args.attrs as Record<string, unknown>)['varianceEpsilon'] ?? 1e-3);
}

function fallbackOrThrow(name: string, fallback: KernelFunc | undefined, args: KernelArgs, why: string): ReturnType<KernelFunc> {
  if (!fallback) throw new Error(`@advprop/native-kernels: ${name}: ${why}, and the backend has no other ${name} kernel`);
  return fallback(args);
}

/**
 * Runs `compute` on freshly allocated outputs; if the addon throws (oneDNN rejects a geometry),
 * frees them and falls back.
 */
function runNative(
  name: string,
  access: TensorAccess,
  fallback: KernelFunc | undefined,
  args: KernelArgs,
  shapes: number[][],
  compute: (outputs: TensorInfo[]) => void,
): TensorInfo | TensorInfo[] {
  const outputs = shapes.map((shape) => access.allocate(shape));
  try {
    compute(outputs);
  } catch (error) {
    for (const out of outputs) access.dispose(out);
    const why = error instanceof Error ? error.message : String(error);
    return fallbackOrThrow(name, fallback, args, `the native kernel failed (${why})`);
  }
  return outputs.length === 1 ? outputs[0]! : outputs;
}

interface ForwardOptions {
  readonly depthwise: boolean;
  readonly fused: boolean;
}

function makeForward(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, options: ForwardOptions): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as NamedAttrMap & Record<string, unknown>;
    const { x, filter, bias, preluActivationWeights } = inputs as Record<string, TensorInfo | undefined>;
    const activation = options.fused ? String(attrs['activation'] ?? 'linear') : 'linear';
    const code = ACTIVATIONS[activation];
    if (!x || !filter || x.dtype !== 'float32' || filter.dtype !== 'float32' || !isNhwc(attrs['dataFormat']) || code === undefined || preluActivationWeights) {
      return fallbackOrThrow(name, fallback, args, 'unsupported inputs');
    }
    const info = convInfo(x.shape as Shape4, filter.shape as Shape4, attrs, options.depthwise);
    const geometry = convGeometry(info, options.depthwise ? info.inChannels : 1);
    if (!geometry || (bias && (bias.dtype !== 'float32' || util.sizeFromShape(bias.shape) !== info.outChannels))) {
      return fallbackOrThrow(name, fallback, args, 'unsupported geometry or bias');
    }
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [[info.batchSize, info.outHeight, info.outWidth, info.outChannels]], ([y]) => {
      addon.convForward(access.view(x), access.view(filter), access.view(y!), geometry, bias ? access.view(bias) : null, code);
    });
  };
}

function makeBackwardData(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, depthwise: boolean): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as NamedAttrMap & Record<string, unknown>;
    const { dy, filter } = inputs as Record<string, TensorInfo | undefined>;
    if (!dy || !filter || dy.dtype !== 'float32' || filter.dtype !== 'float32' || !isNhwc(attrs['dataFormat'])) {
      return fallbackOrThrow(name, fallback, args, 'unsupported inputs');
    }
    const inputShape = attrs['inputShape'] as Shape4;
    const info = convInfo(inputShape, filter.shape as Shape4, attrs, depthwise);
    const geometry = convGeometry(info, depthwise ? info.inChannels : 1);
    if (!geometry) return fallbackOrThrow(name, fallback, args, 'unsupported geometry');
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [[...inputShape]], ([dx]) => {
      addon.convBackwardData(access.view(dy), access.view(filter), access.view(dx!), geometry);
    });
  };
}

function makeBackwardFilter(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, depthwise: boolean): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as NamedAttrMap & Record<string, unknown>;
    const { x, dy } = inputs as Record<string, TensorInfo | undefined>;
    if (!x || !dy || x.dtype !== 'float32' || dy.dtype !== 'float32' || !isNhwc(attrs['dataFormat'])) {
      return fallbackOrThrow(name, fallback, args, 'unsupported inputs');
    }
    const filterShape = attrs['filterShape'] as Shape4;
    const info = convInfo(x.shape as Shape4, filterShape, attrs, depthwise);
    const geometry = convGeometry(info, depthwise ? info.inChannels : 1);
    if (!geometry) return fallbackOrThrow(name, fallback, args, 'unsupported geometry');
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [[...filterShape]], ([dw]) => {
      addon.convBackwardWeights(access.view(x), access.view(dy), access.view(dw!), geometry);
    });
  };
}

function channelsOf(x: TensorInfo): { rows: number; channels: number } {
  const channels = x.shape[x.shape.length - 1] ?? 1;
  return { rows: util.sizeFromShape(x.shape) / channels, channels };
}

/** A residual input, when given, is float32 of x's shape (the ReLU kernels); else an error naming both shapes. */
function assertResidual(name: string, residual: TensorInfo | undefined, x: TensorInfo | undefined): void {
  if (residual && (residual.dtype !== 'float32' || !util.arraysEqual(residual.shape, x?.shape ?? []))) {
    throw new Error(`@advprop/native-kernels: ${name}: residual is ${residual.dtype} [${residual.shape}], expected float32 [${x?.shape ?? []}]`);
  }
}

/** The training batch norm; with `relu`, core's BATCH_NORM_RELU_TRAINING_KERNEL (an optional residual, then ReLU). */
function makeBatchNormTraining(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, relu = false): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { x, scale, offset, residual } = inputs as Record<string, TensorInfo | undefined>;
    if (relu) assertResidual(name, residual, x);
    const epsilon = varianceEpsilon(args);
    if (!x || x.dtype !== 'float32' || x.shape.length < 1 || util.sizeFromShape(x.shape) === 0) {
      return fallbackOrThrow(name, fallback, args, 'unsupported input');
    }
    const { rows, channels } = channelsOf(x);
    for (const [label, t] of [['scale', scale], ['offset', offset]] as const) {
      if (t && (t.dtype !== 'float32' || util.sizeFromShape(t.shape) !== channels)) {
        throw new Error(`@advprop/native-kernels: ${name}: ${label} has shape [${t.shape}], expected [${channels}] for input [${x.shape}]`);
      }
    }
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [[...x.shape], [channels], [channels]], ([y, mean, variance]) => {
      addon.batchNormForward(
        access.view(x),
        rows,
        channels,
        scale ? access.view(scale) : null,
        offset ? access.view(offset) : null,
        epsilon,
        access.view(y!),
        access.view(mean!),
        access.view(variance!),
        residual ? access.view(residual) : null,
        relu,
      );
    });
  };
}

/** The training batch norm's gradient; with `relu`, core's BATCH_NORM_RELU_TRAINING_GRAD_KERNEL (masked by the output y). */
function makeBatchNormTrainingGrad(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, relu = false): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { dy, x, y, mean, variance, scale } = inputs as Record<string, TensorInfo | undefined>;
    const epsilon = varianceEpsilon(args);
    const withResidual = relu && Boolean((args.attrs as Record<string, unknown>)['residual']);
    if (relu && (!y || y.dtype !== 'float32' || !util.arraysEqual(y.shape, x?.shape ?? []))) {
      throw new Error(`@advprop/native-kernels: ${name}: y is ${y ? `${y.dtype} [${y.shape}]` : 'missing'}, expected float32 [${x?.shape ?? []}]`);
    }
    if (!dy || !x || !mean || !variance || x.dtype !== 'float32' || dy.dtype !== 'float32' || !util.arraysEqual(dy.shape, x.shape)) {
      return fallbackOrThrow(name, fallback, args, 'unsupported inputs');
    }
    const { rows, channels } = channelsOf(x);
    const access = new TensorAccess(backend as KernelBackend, kind);
    const shapes = [[...x.shape], [channels], [channels], ...(withResidual ? [[...x.shape]] : [])];
    return runNative(name, access, fallback, args, shapes, ([dx, dscale, doffset, dresidual]) => {
      addon.batchNormBackward(
        access.view(dy),
        access.view(x),
        rows,
        channels,
        access.view(mean),
        access.view(variance),
        scale ? access.view(scale) : null,
        epsilon,
        access.view(dx!),
        access.view(dscale!),
        access.view(doffset!),
        relu ? access.view(y!) : null,
        dresidual ? access.view(dresidual) : null,
      );
    });
  };
}

/**
 * tfjs' FusedBatchNorm (normalisation with given statistics; inference-mode BN) over the last axis;
 * with `relu`, core's BATCH_NORM_RELU_KERNEL (an optional residual, then ReLU).
 */
function makeFusedBatchNorm(name: string, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined, relu = false): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { x, mean, variance, scale, offset, residual } = inputs as Record<string, TensorInfo | undefined>;
    if (relu) assertResidual(name, residual, x);
    const epsilon = varianceEpsilon(args);
    if (!x || !mean || !variance || x.dtype !== 'float32' || x.shape.length < 1 || util.sizeFromShape(x.shape) === 0) {
      return fallbackOrThrow(name, fallback, args, 'unsupported input');
    }
    const { rows, channels } = channelsOf(x);
    // Only per-channel parameters ([C] or [1, ..., C]); anything broadcast differently goes to the fallback.
    const perChannel = (t: TensorInfo | undefined) =>
      !t || (t.dtype === 'float32' && util.sizeFromShape(t.shape) === channels && (t.shape[t.shape.length - 1] ?? 1) === channels);
    if (![mean, variance, scale, offset].every(perChannel)) return fallbackOrThrow(name, fallback, args, 'parameters not per channel');
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [[...x.shape]], ([y]) => {
      addon.batchNormInference(
        access.view(x),
        rows,
        channels,
        access.view(mean),
        access.view(variance),
        scale ? access.view(scale) : null,
        offset ? access.view(offset) : null,
        epsilon,
        access.view(y!),
        residual ? access.view(residual) : null,
        relu,
      );
    });
  };
}

/**
 * The x gradient of BATCH_NORM_RELU_KERNEL: ((dy * mask(y)) * inverseStd) * scale, the ReLU
 * gradient and the two per-channel multiplies of the composite form in one pass (register.ts
 * computes inverseStd with tfjs' ops, as tfjs-core's FusedBatchNorm gradient does).
 */
export const RELU_MASKED_SCALE_KERNEL = 'AdvpropReluMaskedScale';

function makeReluMaskedScale(addon: NativeAddon, kind: SupportedBackend): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { dy, y, inverseStd, scale } = inputs as Record<string, TensorInfo | undefined>;
    const channels = dy?.shape[dy.shape.length - 1] ?? 0;
    const perChannel = (t: TensorInfo | undefined) => !t || (t.dtype === 'float32' && util.sizeFromShape(t.shape) === channels);
    if (!dy || !y || !inverseStd || dy.dtype !== 'float32' || y.dtype !== 'float32' || !util.arraysEqual(dy.shape, y.shape) || !perChannel(inverseStd) || !perChannel(scale)) {
      const describe = (t: TensorInfo | undefined) => (t ? `${t.dtype} [${t.shape}]` : 'none');
      throw new Error(
        `@advprop/native-kernels: ${RELU_MASKED_SCALE_KERNEL} takes float32 dy and y of one shape and per-channel inverseStd and scale, got dy ${describe(dy)}, y ${describe(y)}, inverseStd ${describe(inverseStd)}, scale ${describe(scale)}`,
      );
    }
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(RELU_MASKED_SCALE_KERNEL, access, undefined, args, [[...dy.shape]], ([out]) => {
      addon.reluMaskedScale(access.view(dy), access.view(y), access.view(inverseStd), scale ? access.view(scale) : null, access.view(out!));
    });
  };
}

/**
 * Sum and Mean over every axis but the last (per-channel statistics of NHWC activations, as
 * tfjs-layers' BatchNormalization and tfjs-core's batch-norm gradient compute them); any other
 * reduction goes to the stock kernel. The wasm backend transposes the tensor before such a
 * reduction; this reads it once.
 */
const SMALL_REDUCTION = 4096;

function makeChannelReduction(name: 'Sum' | 'Mean', addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as Record<string, unknown>;
    const { x } = inputs as Record<string, TensorInfo | undefined>;
    // Small reductions (losses, logits) stay on the backend: a native call is not worth it there.
    if (!x || x.dtype !== 'float32' || x.shape.length < 2 || util.sizeFromShape(x.shape) < SMALL_REDUCTION) {
      return fallbackOrThrow(name, fallback, args, 'unsupported or small input');
    }
    const rank = x.shape.length;
    const axes = util.parseAxisParam(attrs['axis'] as number | number[], x.shape);
    const sorted = [...new Set(axes)].sort((a, b) => a - b);
    if (sorted.length !== rank - 1 || sorted.some((a, i) => a !== i)) {
      return fallbackOrThrow(name, fallback, args, 'not a reduction over every axis but the last');
    }
    const { rows, channels } = channelsOf(x);
    const outShape = attrs['keepDims'] ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [outShape], ([out]) => {
      addon.channelSums(access.view(x), rows, channels, access.view(out!), name === 'Mean' ? 1 / rows : 1);
    });
  };
}

/**
 * Sub, Multiply and Add with one input repeating per channel ([C] or [1,...,C], or any trailing block,
 * against [..., C]): the wasm backend broadcasts through an index loop, about 5x slower than ours,
 * from BROADCAST_NATIVE_MIN elements (tools/bench/elementwise-ab.ts; docs/performance.md). Equal
 * shapes and scalars stay with the backend (XNNPACK), as fast as ours on one thread and not beaten
 * by two (quiet machine, 2026-11-30); so do Relu and Step. The ReLU gradient has its own kernel
 * (RELU_GRAD_KERNEL).
 */
export const BROADCAST_NATIVE_MIN = 1 << 15;

const BINARY_OPS = { Sub: 1, Multiply: 2, Add: 3, Maximum: 4, Minimum: 5 } as const;
/**
 * Ops served natively on equal shapes too: the wasm backend's Maximum and Minimum run about 7x
 * slower than its Add there (an attack's projection onto the eps-ball: 1.9 ms per 393K-element
 * call). Sub, Multiply and Add on equal shapes stay with XNNPACK, which is as fast.
 */
const EQUAL_SHAPES_NATIVE: ReadonlySet<string> = new Set(['Maximum', 'Minimum']);

/** The size of `shape` when, broadcast to `outShape`, it repeats whole with a period of 2 or more elements (a suffix of out's shape); else undefined. */
function repeatPeriod(shape: readonly number[], outShape: readonly number[]): number | undefined {
  const size = util.sizeFromShape(shape as number[]);
  if (size < 2 || size >= util.sizeFromShape(outShape as number[])) return undefined;
  const trimmed = shape.slice(shape.findIndex((d) => d !== 1));
  return util.arraysEqual(trimmed, outShape.slice(outShape.length - trimmed.length)) ? size : undefined;
}

function makeElementwiseBinary(name: keyof typeof BINARY_OPS, addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined): KernelFunc {
  const op = BINARY_OPS[name];
  return (args) => {
    const { inputs, backend } = args;
    const { a, b } = inputs as Record<string, TensorInfo | undefined>;
    if (!a || !b || a.dtype !== 'float32' || b.dtype !== 'float32') return fallbackOrThrow(name, fallback, args, 'unsupported inputs');
    const outShape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = util.sizeFromShape(outShape);
    const full = (t: TensorInfo) => util.sizeFromShape(t.shape) === size;
    // One input whole, the other repeating (or whole too, for Maximum and Minimum); anything else
    // (scalars, [B,1,1,C]) goes to the backend.
    const periodic = (full(a) && repeatPeriod(b.shape, outShape) !== undefined) || (full(b) && repeatPeriod(a.shape, outShape) !== undefined);
    const equal = EQUAL_SHAPES_NATIVE.has(name) && full(a) && full(b);
    if (size < BROADCAST_NATIVE_MIN || !(periodic || equal)) return fallbackOrThrow(name, fallback, args, 'small output or not a per-channel broadcast');
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(name, access, fallback, args, [outShape], ([out]) => {
      addon.elementwiseBinary(op, access.view(a), access.view(b), access.view(out!));
    });
  };
}

/** Sign (float32, from BROADCAST_NATIVE_MIN elements): the wasm backend's runs about 8x its Add (an attack's sign step). */
function makeSign(addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { x } = inputs as Record<string, TensorInfo | undefined>;
    if (!x || x.dtype !== 'float32' || util.sizeFromShape(x.shape) < BROADCAST_NATIVE_MIN) return fallbackOrThrow('Sign', fallback, args, 'small or not float32');
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative('Sign', access, fallback, args, [[...x.shape]], ([out]) => {
      addon.sign(access.view(x), access.view(out!));
    });
  };
}

/**
 * tfjs-core's ReLU gradient, dy * cast(step(x)), in one pass instead of two kernels; register.ts
 * routes the Relu gradient here (from RELU_GRAD_NATIVE_MIN elements on) when the backend has it.
 */
export const RELU_GRAD_KERNEL = 'AdvpropReluGrad';
export const RELU_GRAD_NATIVE_MIN = 1 << 15;

function makeReluGrad(addon: NativeAddon, kind: SupportedBackend): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { dy, x } = inputs as Record<string, TensorInfo | undefined>;
    if (!dy || !x || dy.dtype !== 'float32' || x.dtype !== 'float32' || !util.arraysEqual(dy.shape, x.shape)) {
      throw new Error(
        `@advprop/native-kernels: ${RELU_GRAD_KERNEL} takes float32 dy and x of one shape, got dy ${dy ? `${dy.dtype} [${dy.shape}]` : 'none'} and x ${x ? `${x.dtype} [${x.shape}]` : 'none'}`,
      );
    }
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(RELU_GRAD_KERNEL, access, undefined, args, [[...x.shape]], ([out]) => {
      addon.reluGrad(access.view(dy), access.view(x), access.view(out!));
    });
  };
}

/**
 * MaxPoolGrad (NHWC, float32): the gradient of a max pool, one pass over each window. The wasm
 * backend's took over a third of the small CNN's AdvProp step (tools/bench/elementwise-ab.ts
 * --mode profile --model small-cnn).
 */
const POOL_NATIVE_MIN = 4096;

function makeMaxPoolGrad(addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as Record<string, unknown>;
    const { dy, input } = inputs as Record<string, TensorInfo | undefined>;
    if (!dy || !input || dy.dtype !== 'float32' || input.dtype !== 'float32' || input.shape.length !== 4 || util.sizeFromShape(input.shape) < POOL_NATIVE_MIN) {
      return fallbackOrThrow('MaxPoolGrad', fallback, args, 'unsupported or small input');
    }
    const info = backend_util.computePool2DInfo(
      input.shape as Shape4,
      attrs['filterSize'] as number | [number, number],
      attrs['strides'] as number | [number, number],
      1,
      attrs['pad'] as 'same' | 'valid' | number,
      attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    );
    if (!util.arraysEqual(dy.shape, info.outShape)) return fallbackOrThrow('MaxPoolGrad', fallback, args, 'dy does not have the pool output shape');
    const geometry = [
      info.batchSize,
      info.inHeight,
      info.inWidth,
      info.inChannels,
      info.outHeight,
      info.outWidth,
      info.filterHeight,
      info.filterWidth,
      info.strideHeight,
      info.strideWidth,
      info.padInfo.top,
      info.padInfo.left,
    ];
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative('MaxPoolGrad', access, fallback, args, [[...input.shape]], ([dx]) => {
      addon.maxPoolGrad(access.view(dy), access.view(input), access.view(dx!), geometry);
    });
  };
}

/** float32 tensors of one size, or a clear error naming the first that is not. */
function assertSameFloat32(kernel: string, tensors: Readonly<Record<string, TensorInfo | undefined>>): void {
  let size: number | undefined;
  for (const [name, t] of Object.entries(tensors)) {
    if (!t) throw new Error(`@advprop/native-kernels: ${kernel}: no ${name} input`);
    const n = util.sizeFromShape(t.shape);
    if (t.dtype !== 'float32' || (size !== undefined && n !== size)) {
      throw new Error(`@advprop/native-kernels: ${kernel} takes float32 inputs of one size; ${name} is ${t.dtype} [${t.shape}]`);
    }
    size = n;
  }
}

/** core's MOVING_AVERAGE_KERNEL: average - (average - value) * decay in one pass. */
function makeMovingAverage(addon: NativeAddon, kind: SupportedBackend): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const { average, value } = inputs as Record<string, TensorInfo | undefined>;
    assertSameFloat32(MOVING_AVERAGE_KERNEL, { average, value });
    const decay = Number((args.attrs as Record<string, unknown>)['decay']);
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(MOVING_AVERAGE_KERNEL, access, undefined, args, [[...average!.shape]], ([out]) => {
      addon.movingAverage(access.view(average!), access.view(value!), decay, access.view(out!));
    });
  };
}

/** core's SGD_UPDATE_KERNEL: the parameter's (and its velocity's) new values in one pass. */
function makeSgdUpdate(addon: NativeAddon, kind: SupportedBackend): KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs as Record<string, unknown>;
    const { param, grad, velocity } = inputs as Record<string, TensorInfo | undefined>;
    assertSameFloat32(SGD_UPDATE_KERNEL, velocity ? { param, grad, velocity } : { param, grad });
    const shape = [...param!.shape];
    const access = new TensorAccess(backend as KernelBackend, kind);
    return runNative(SGD_UPDATE_KERNEL, access, undefined, args, velocity ? [shape, shape] : [shape], ([paramOut, velocityOut]) => {
      addon.sgdUpdate(
        access.view(param!),
        access.view(grad!),
        velocity ? access.view(velocity) : null,
        Number(attrs['learningRate']),
        Number(attrs['momentum'] ?? 0),
        Number(attrs['weightDecay'] ?? 0),
        Boolean(attrs['nesterov']),
        access.view(paramOut!),
        velocityOut ? access.view(velocityOut) : null,
      );
    });
  };
}

export type KernelMaker = (addon: NativeAddon, kind: SupportedBackend, fallback: KernelFunc | undefined) => KernelFunc;

/** The kernels this package serves, by tfjs kernel name. */
export const KERNEL_MAKERS: Readonly<Record<string, KernelMaker>> = {
  Conv2D: (a, k, f) => makeForward('Conv2D', a, k, f, { depthwise: false, fused: false }),
  FusedConv2D: (a, k, f) => makeForward('FusedConv2D', a, k, f, { depthwise: false, fused: true }),
  Conv2DBackpropInput: (a, k, f) => makeBackwardData('Conv2DBackpropInput', a, k, f, false),
  Conv2DBackpropFilter: (a, k, f) => makeBackwardFilter('Conv2DBackpropFilter', a, k, f, false),
  DepthwiseConv2dNative: (a, k, f) => makeForward('DepthwiseConv2dNative', a, k, f, { depthwise: true, fused: false }),
  FusedDepthwiseConv2D: (a, k, f) => makeForward('FusedDepthwiseConv2D', a, k, f, { depthwise: true, fused: true }),
  DepthwiseConv2dNativeBackpropInput: (a, k, f) => makeBackwardData('DepthwiseConv2dNativeBackpropInput', a, k, f, true),
  DepthwiseConv2dNativeBackpropFilter: (a, k, f) => makeBackwardFilter('DepthwiseConv2dNativeBackpropFilter', a, k, f, true),
  FusedBatchNorm: (a, k, f) => makeFusedBatchNorm('FusedBatchNorm', a, k, f),
  Sum: (a, k, f) => makeChannelReduction('Sum', a, k, f),
  Mean: (a, k, f) => makeChannelReduction('Mean', a, k, f),
  Sub: (a, k, f) => makeElementwiseBinary('Sub', a, k, f),
  Multiply: (a, k, f) => makeElementwiseBinary('Multiply', a, k, f),
  Add: (a, k, f) => makeElementwiseBinary('Add', a, k, f),
  Maximum: (a, k, f) => makeElementwiseBinary('Maximum', a, k, f),
  Minimum: (a, k, f) => makeElementwiseBinary('Minimum', a, k, f),
  Sign: (a, k, f) => makeSign(a, k, f),
  MaxPoolGrad: (a, k, f) => makeMaxPoolGrad(a, k, f),
  [RELU_GRAD_KERNEL]: (a, k) => makeReluGrad(a, k),
  [MOVING_AVERAGE_KERNEL]: (a, k) => makeMovingAverage(a, k),
  [SGD_UPDATE_KERNEL]: (a, k) => makeSgdUpdate(a, k),
  [BATCH_NORM_TRAINING_KERNEL]: (a, k, f) => makeBatchNormTraining(BATCH_NORM_TRAINING_KERNEL, a, k, f),
  [BATCH_NORM_TRAINING_GRAD_KERNEL]: (a, k, f) => makeBatchNormTrainingGrad(BATCH_NORM_TRAINING_GRAD_KERNEL, a, k, f),
  [BATCH_NORM_RELU_KERNEL]: (a, k) => makeFusedBatchNorm(BATCH_NORM_RELU_KERNEL, a, k, undefined, true),
  [RELU_MASKED_SCALE_KERNEL]: (a, k) => makeReluMaskedScale(a, k),
  [BATCH_NORM_RELU_TRAINING_KERNEL]: (a, k) => makeBatchNormTraining(BATCH_NORM_RELU_TRAINING_KERNEL, a, k, undefined, true),
  [BATCH_NORM_RELU_TRAINING_GRAD_KERNEL]: (a, k) => makeBatchNormTrainingGrad(BATCH_NORM_RELU_TRAINING_GRAD_KERNEL, a, k, undefined, true),
};
