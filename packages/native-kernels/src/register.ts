/**
 * Registers the native kernels on the wasm or cpu backend, keeping whatever was registered before
 * as the fallback (and restoring it on unregister). Idempotent.
 */
import { engine, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import { nativeAddon } from './addon.js';
import { KERNEL_MAKERS } from './kernels.js';
import type { SupportedBackend } from './tensor-access.js';

/** Marks our kernel functions; @advprop/backends checks it so it never wraps them. */
export const NATIVE_KERNEL_MARK: unique symbol = Symbol.for('@advprop/native-kernels/kernel') as never;
type Marked = KernelFunc & { [NATIVE_KERNEL_MARK]?: { previous: KernelConfig | undefined } };

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
    const existing = getKernel(kernelName, backendName);
    if (existing && (existing.kernelFunc as Marked)[NATIVE_KERNEL_MARK]) {
      registered.push(kernelName);
      continue;
    }
    const kernelFunc = maker(status.addon, backendName, existing?.kernelFunc) as Marked;
    kernelFunc[NATIVE_KERNEL_MARK] = { previous: existing };
    if (existing) unregisterKernel(kernelName, backendName);
    // Keep the previous kernel's setupFunc: a wasm kernel binds its wasm function there when the
    // backend starts, and our fallback to it needs that binding.
    registerKernel({ kernelName, backendName, kernelFunc, ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}) });
    registered.push(kernelName);
  }
  return { registered };
}

/** Put back the kernels that were registered before `registerNativeKernels`. */
export function unregisterNativeKernels(backendName: string): void {
  for (const kernelName of NATIVE_KERNEL_NAMES) {
    const existing = getKernel(kernelName, backendName);
    const mark = existing && (existing.kernelFunc as Marked)[NATIVE_KERNEL_MARK];
    if (!mark) continue;
    unregisterKernel(kernelName, backendName);
    if (mark.previous) {
      registerKernel(mark.previous);
      // wasm binds its kernels in setupFunc when the backend starts; one registered later must be set up now.
      const instance = engine().registry[backendName];
      if (instance && mark.previous.setupFunc) mark.previous.setupFunc(instance);
    }
  }
}

/** Whether the native kernel serves `kernelName` on `backendName` now. */
export function hasNativeKernel(kernelName: string, backendName: string): boolean {
  const existing = getKernel(kernelName, backendName);
  return !!existing && !!(existing.kernelFunc as Marked)[NATIVE_KERNEL_MARK];
}

/** OpenMP threads the native kernels use (default: one per core). */
export function setNativeThreads(threads: number): void {
  const status = nativeAddon();
  if (!status.available) throw new Error(`@advprop/native-kernels: ${status.reason}`);
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  status.addon.setThreads(threads);
}
