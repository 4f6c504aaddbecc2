/**
 * Registers the native kernels on the wasm or cpu backend, keeping whatever was registered before
 * as the fallback (and restoring it on unregister). Idempotent.
 */
import { cast, engine, getBackend, getGradient, mul, registerGradient, step } from '@tensorflow/tfjs-core';
import type { GradConfig, Tensor } from '@tensorflow/tfjs-core';
import { hasKernelOverride, overrideKernel, restoreKernel } from '@advprop/core';
import { nativeAddon } from './addon.js';
import { KERNEL_MAKERS, RELU_GRAD_KERNEL, RELU_GRAD_NATIVE_MIN } from './kernels.js';
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
  if (registered.includes(RELU_GRAD_KERNEL)) routeReluGradient();
  return { registered };
}

let reluGradientRouted = false;

/**
 * Point tfjs' Relu gradient at RELU_GRAD_KERNEL wherever the current backend has it (float32, from
 * RELU_GRAD_NATIVE_MIN elements), and at the gradient registered before (tfjs-core's
 * dy * cast(step(x))) everywhere else, so it is safe to leave in place for every backend. Gradients
 * are global in tfjs, so this is done once.
 */
function routeReluGradient(): void {
  if (reluGradientRouted) return;
  const previous = getGradient('Relu') as GradConfig | undefined;
  registerGradient({
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
  });
  reluGradientRouted = true;
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
