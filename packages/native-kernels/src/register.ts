/**
 * Registers the native kernels on the wasm or cpu backend, keeping whatever was registered before
 * as the fallback (and restoring it on unregister). Idempotent.
 */
import { hasKernelOverride, overrideKernel, restoreKernel } from '@advprop/core';
import { nativeAddon } from './addon.js';
import { KERNEL_MAKERS } from './kernels.js';
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
  return { registered };
}

/** Put back the kernels that were registered before `registerNativeKernels`. */
export function unregisterNativeKernels(backendName: string): void {
  for (const kernelName of NATIVE_KERNEL_NAMES) restoreKernel(kernelName, backendName, NATIVE_KERNEL_MARK);
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
