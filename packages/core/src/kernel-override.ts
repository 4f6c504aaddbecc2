/**
 * Replacing a tfjs kernel with our own while keeping the one it replaces: as the fallback our
 * kernel calls for inputs it does not handle, and to put back on restore. Used by
 * @advprop/backends (JS/wasm training kernels) and @advprop/native-kernels; each marks its kernels
 * with its own symbol, so either can tell whose kernel serves a name.
 */
import { engine, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';

type Marked = KernelFunc & { [mark: symbol]: { previous: KernelConfig | undefined } | undefined };

/** Whether the kernel serving `kernelName` on `backendName` carries `mark`. */
export function hasKernelOverride(kernelName: string, backendName: string, mark: symbol): boolean {
  const existing = getKernel(kernelName, backendName);
  return !!existing && !!(existing.kernelFunc as Marked)[mark];
}

/**
 * Register `make(fallback)` for `kernelName` on `backendName`, marked with `mark`. Does nothing
 * (and returns false) when a kernel carrying `mark`, or one of the `keep` marks, already serves it.
 */
export function overrideKernel(
  kernelName: string,
  backendName: string,
  mark: symbol,
  make: (fallback: KernelFunc | undefined) => KernelFunc,
  keep: readonly symbol[] = [],
): boolean {
  const existing = getKernel(kernelName, backendName);
  if (existing && [mark, ...keep].some((m) => (existing.kernelFunc as Marked)[m])) return false;
  const kernelFunc = make(existing?.kernelFunc) as Marked;
  kernelFunc[mark] = { previous: existing };
  if (existing) unregisterKernel(kernelName, backendName);
  // Keep the previous kernel's setupFunc: a wasm kernel binds its wasm function there when the
  // backend starts, and our fallback to it needs that binding.
  registerKernel({ kernelName, backendName, kernelFunc, ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}) });
  return true;
}

/** Put back the kernel that `overrideKernel` replaced, when a kernel carrying `mark` serves the name. */
export function restoreKernel(kernelName: string, backendName: string, mark: symbol): void {
  const existing = getKernel(kernelName, backendName);
  const record = existing && (existing.kernelFunc as Marked)[mark];
  if (!record) return;
  unregisterKernel(kernelName, backendName);
  if (record.previous) {
    registerKernel(record.previous);
    // A kernel registered after its backend started was never set up (wasm binds its function there).
    const instance = engine().registry[backendName];
    if (instance && record.previous.setupFunc) record.previous.setupFunc(instance);
  }
}
