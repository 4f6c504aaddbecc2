/**
 * Registers the native kernels on the wasm or cpu backend, keeping whatever was registered before
 * as the fallback (and restoring it on unregister). Idempotent.
 */
import { add, broadcastTo, cast, div, engine, getBackend, getGradient, mul, registerGradient, reshape, rsqrt, scalar, step, sub, sum, util } from '@tensorflow/tfjs-core';
import type { GradConfig, NamedTensorMap, Tensor } from '@tensorflow/tfjs-core';
import { BATCH_NORM_RELU_KERNEL, hasKernelOverride, overrideKernel, restoreKernel } from '@advprop/core';
import { nativeAddon } from './addon.js';
import { KERNEL_MAKERS, RELU_GRAD_KERNEL, RELU_GRAD_NATIVE_MIN, RELU_MASKED_SCALE_KERNEL } from './kernels.js';
import type { SupportedBackend } from './tensor-access.js';

/** Marks our kernel functions; @advprop/backends checks it so it never wraps them. */
export const NATIVE_KERNEL_MARK: unique symbol = Symbol.for('@advprop/native-kernels/kernel') as never;

export const NATIVE_KERNEL_NAMES: readonly string[] = Object.keys(KERNEL_MAKERS);

export function isSupportedBackend(name: string): name is SupportedBackend {
  return name === 'wasm' || name === 'cpu';
}

export interface NativeRegistration {
  readonly registered: readonly string[];
  /** Why nothing was registered, when nothing was. */
  readonly reason?: string;
}

/**
 * Serve the convolution and batch-norm kernels of `backendName` (wasm or cpu) natively. Registers
 * nothing, and says why, when the addon is not available or the backend is another one.
 */
export function registerNativeKernels(backendName: string, only?: readonly string[]): NativeRegistration {
  if (!isSupportedBackend(backendName)) return { registered: [], reason: `native kernels serve wasm and cpu, not ${backendName}` };
  const status = nativeAddon();
  if (!status.available) return { registered: [], reason: status.reason };
  const registered: string[] = [];
  for (const kernelName of only ?? NATIVE_KERNEL_NAMES) {
    const maker = KERNEL_MAKERS[kernelName];
    if (!maker) throw new Error(`@advprop/native-kernels: no native kernel named ${kernelName}; there are ${NATIVE_KERNEL_NAMES.join(', ')}`);
    const addon = status.addon;
    overrideKernel(kernelName, backendName, NATIVE_KERNEL_MARK, (fallback) => maker(addon, backendName, fallback));
    registered.push(kernelName);
  }
  if (registered.includes(RELU_GRAD_KERNEL)) routeGradient('Relu', reluGradient);
  if (registered.includes('FusedBatchNorm')) routeGradient('FusedBatchNorm', batchNormGradient);
  if (registered.includes('Mean')) routeGradient('Mean', meanGradient);
  if (registered.includes(BATCH_NORM_RELU_KERNEL)) routeGradient(BATCH_NORM_RELU_KERNEL, batchNormReluGradient);
  return { registered };
}

const routedGradients = new Set<string>();

/**
 * Replace tfjs' gradient of `kernelName` with `make(the gradient registered before)`. Gradients are
 * global in tfjs (not per backend), so each is replaced once, and each replacement must be right on
 * every backend.
 */
function routeGradient(kernelName: string, make: (previous: GradConfig | undefined) => GradConfig): void {
  if (routedGradients.has(kernelName)) return;
  registerGradient(make(getGradient(kernelName) as GradConfig | undefined));
  routedGradients.add(kernelName);
}

/**
 * The Relu gradient on RELU_GRAD_KERNEL wherever the current backend has it (float32, from
 * RELU_GRAD_NATIVE_MIN elements), and the gradient registered before (tfjs-core's
 * dy * cast(step(x))) everywhere else.
 */
function reluGradient(previous: GradConfig | undefined): GradConfig {
  return {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Tensor[];
      const dyTensor = dy as Tensor;
      if (x && x.dtype === 'float32' && dyTensor.dtype === 'float32' && x.size >= RELU_GRAD_NATIVE_MIN && hasNativeKernel(RELU_GRAD_KERNEL, getBackend())) {
        return { x: () => engine().runKernel(RELU_GRAD_KERNEL, { dy: dyTensor, x }) as Tensor };
      }
      if (previous) return previous.gradFunc(dy, saved, attrs);
      return { x: () => mul(dyTensor, cast(step(x!), 'float32')) };
    },
  };
}

/**
 * tfjs-core's FusedBatchNorm gradient computes x - mean and dy * scale eagerly, whichever inputs
 * the tape asks for, and its x gradient multiplies dy by a tiled copy of 1/sqrt(variance + eps)
 * the size of x: six passes over activation-sized tensors where an attack through an
 * inference-mode BN needs one gradient, of x. This one computes each input's gradient only when
 * asked, with the same operations in the same order (the [C] factors broadcast instead of being
 * tiled, which multiplies by the same numbers), so every gradient is bit for bit tfjs-core's. The
 * x gradient is then two per-channel multiplies, which the native Multiply serves. Statistics of
 * another rank than 1 keep the gradient registered before.
 */
function batchNormGradient(previous: GradConfig | undefined): GradConfig {
  return {
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale] = saved as Tensor[];
      if (!x || !mean || !variance || mean.rank !== 1) {
        if (!previous) throw new Error('@advprop/native-kernels: no FusedBatchNorm gradient for statistics of rank other than 1');
        return previous.gradFunc(dy, saved, attrs);
      }
      return normalizationGradients(() => dy as Tensor, x, mean, variance, scale, Number((attrs as Record<string, unknown>)['varianceEpsilon']));
    },
  };
}

/**
 * The gradients of (x - mean) / sqrt(variance + epsilon) * scale + offset for the output gradient
 * `dy()`, each computed only when asked, with tfjs-core's FusedBatchNorm-gradient operations in its
 * order (per-channel statistics of rank 1).
 */
function normalizationGradients(
  dy: () => Tensor,
  x: Tensor,
  mean: Tensor,
  variance: Tensor,
  scale: Tensor | undefined,
  epsilon: number,
): Record<'x' | 'mean' | 'variance' | 'scale' | 'offset', () => Tensor> {
  const scaleValue = (): Tensor => scale ?? scalar(1);
  const inverseStd = (): Tensor => rsqrt(add(variance, scalar(epsilon)));
  // Statistics of rank 1 are per channel, the last axis: reduce over all the others.
  const axes = [...Array(x.rank - 1).keys()];
  const perChannel = (t: Tensor): Tensor => reshape(sum(t, axes), mean.shape);
  return {
    x: () => reshape(mul(mul(dy(), inverseStd()), scaleValue()), x.shape),
    mean: () => perChannel(mul(mul(inverseStd(), scalar(-1)), mul(dy(), scaleValue()))),
    variance: () => {
      const r = inverseStd();
      const minusHalfCube = mul(mul(mul(r, r), r), scalar(-0.5));
      return perChannel(mul(mul(minusHalfCube, sub(x, mean)), mul(dy(), scaleValue())));
    },
    scale: () => perChannel(mul(dy(), mul(sub(x, mean), inverseStd()))),
    offset: () => perChannel(dy()),
  };
}

/**
 * The gradient of core's BATCH_NORM_RELU_KERNEL, relu(batchNorm(x) + residual): the ReLU gradient
 * g = dy * mask(y) (the residual's gradient, on RELU_GRAD_KERNEL), then the FusedBatchNorm
 * gradients above for g, so every number is the composite form's (FusedBatchNorm, Add, Relu) bit
 * for bit. The x gradient, all an attack asks for, is one native pass (RELU_MASKED_SCALE_KERNEL).
 */
function batchNormReluGradient(): GradConfig {
  return {
    kernelName: BATCH_NORM_RELU_KERNEL,
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    outputsToSave: [true],
    gradFunc: (dy, saved, attrs) => {
      const [x, mean, variance, scale, y] = saved as Tensor[];
      const epsilon = Number((attrs as Record<string, unknown>)['varianceEpsilon']);
      const masked = (): Tensor => engine().runKernel(RELU_GRAD_KERNEL, { dy: dy as Tensor, x: y! }) as Tensor;
      const gradients = normalizationGradients(masked, x!, mean!, variance!, scale, epsilon);
      return {
        ...gradients,
        x: () => {
          const inverseStd = rsqrt(add(variance!, scalar(epsilon)));
          const inputs: NamedTensorMap = { dy: dy as Tensor, y: y!, inverseStd };
          if (scale) inputs['scale'] = scale;
          return engine().runKernel(RELU_MASKED_SCALE_KERNEL, inputs) as Tensor;
        },
        residual: masked,
      };
    },
  };
}

/**
 * tfjs' Mean gradient multiplies dy by a tensor of ones the size of x, filled by a JavaScript loop
 * (a global average pool's gradient: 0.5 M values per ResNet-20 pass), then divides. Multiplying
 * by one changes no value, so dividing the reduced dy and broadcasting it gives the same numbers
 * bit for bit without the ones.
 */
function meanGradient(): GradConfig {
  return {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved as Tensor[];
      const shape = x!.shape;
      const axes = util.parseAxisParam((attrs as Record<string, unknown>)['axis'] as number | number[], shape);
      const kept = shape.map((d, axis) => (axes.includes(axis) ? 1 : d));
      const count = axes.reduce((n, axis) => n * (shape[axis] as number), 1);
      return { x: () => broadcastTo(div(reshape(dy as Tensor, kept), count), shape) };
    },
  };
}

/** Put back the kernels that were registered before `registerNativeKernels` (all, or those in `only`). */
export function unregisterNativeKernels(backendName: string, only?: readonly string[]): void {
  for (const kernelName of only ?? NATIVE_KERNEL_NAMES) restoreKernel(kernelName, backendName, NATIVE_KERNEL_MARK);
}

/** Whether the native kernel serves `kernelName` on `backendName` now. */
export function hasNativeKernel(kernelName: string, backendName: string): boolean {
  return hasKernelOverride(kernelName, backendName, NATIVE_KERNEL_MARK);
}

/** OpenMP threads the native kernels use (default: one per core). */
export function setNativeThreads(threads: number): void {
  const status = nativeAddon();
  if (!status.available) throw new Error(`@advprop/native-kernels: ${status.reason}`);
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  status.addon.setThreads(threads);
}
