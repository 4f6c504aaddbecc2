/**
 * Registers the training kernels of conv-kernels.ts on a tfjs backend, replacing the slow or
 * missing ones. Idempotent; the kernel that was registered before is kept as the fallback for
 * the cases we do not handle (NCHW) and can be restored with `unregisterTrainingKernels`.
 */
import { engine, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs-core';
import {
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeDepthwiseBackpropFilter,
  makeDepthwiseBackpropInput,
  makeIdentity,
  makeSlice,
  makeTile,
} from './conv-kernels.js';

export type TrainingKernelName =
  | 'Conv2DBackpropFilter'
  | 'Conv2DBackpropInput'
  | 'DepthwiseConv2dNativeBackpropFilter'
  | 'DepthwiseConv2dNativeBackpropInput'
  | 'Tile'
  | 'Identity'
  | 'Slice';

type Maker = (backendName: string, fallback: KernelFunc | undefined) => KernelFunc;

const MAKERS: Record<TrainingKernelName, Maker> = {
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: makeDepthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: makeDepthwiseBackpropInput,
  Tile: makeTile,
  Identity: makeIdentity,
  Slice: makeSlice,
};

/**
 * Which kernels each backend gets (measured choices, see docs/performance.md):
 * - wasm: has no Conv2DBackpropFilter and no depthwise backprop kernels, and a scalar-loop
 *   Conv2DBackpropInput: all four are replaced by XNNPACK convolutions.
 *   Its Tile (used by tfjs-core's batch-norm gradient) is an index loop: replaced by block copies.
 *   Its Identity copies (tf.clone, called for every tensor a gradient saves): shared instead.
 *   Its Slice copies one innermost row at a time: contiguous runs instead.
 * - cpu: its filter gradient runs at ~0.01 GFLOP/s; the swapped-axes convolution is much faster.
 *   Its input gradient and depthwise kernels are loops about as fast as its Conv2D, kept.
 * - webgpu: its Conv2DBackpropFilter uses one thread per filter element; the swapped-axes
 *   formulation would use its tiled Conv2D instead. It could not be run in this session (no GPU),
 *   so it is opt-in: ADVPROP_WEBGPU_TRAINING_KERNELS=1.
 */
export const TRAINING_KERNELS: Readonly<Record<string, readonly TrainingKernelName[]>> = {
  wasm: [
    'Conv2DBackpropFilter',
    'Conv2DBackpropInput',
    'DepthwiseConv2dNativeBackpropFilter',
    'DepthwiseConv2dNativeBackpropInput',
    'Tile',
    'Identity',
    'Slice',
  ],
  cpu: ['Conv2DBackpropFilter'],
};

/** Opt-in kernels, not yet verified on their backend. */
const OPT_IN: Readonly<Record<string, { env: string; kernels: readonly TrainingKernelName[] }>> = {
  webgpu: { env: 'ADVPROP_WEBGPU_TRAINING_KERNELS', kernels: ['Conv2DBackpropFilter'] },
};

const MARK = Symbol.for('@advprop/backends/training-kernel');
/** @advprop/native-kernels' mark: a native kernel is faster than ours, never wrap it. */
const NATIVE_MARK = Symbol.for('@advprop/native-kernels/kernel');
type Marked = KernelFunc & { [MARK]?: { previous: KernelConfig | undefined } };

function envFlag(name: string): boolean {
  return typeof process !== 'undefined' && !!process.env?.[name] && process.env[name] !== '0';
}

/**
 * Register the training kernels for `backendName` (wasm, cpu; webgpu with
 * ADVPROP_WEBGPU_TRAINING_KERNELS=1; other names register nothing). Returns the kernel names now served by our implementations. Safe to call repeatedly.
 */
export function registerTrainingKernels(backendName: string, only?: readonly TrainingKernelName[]): TrainingKernelName[] {
  const optIn = OPT_IN[backendName];
  const names = only ?? (optIn && envFlag(optIn.env) ? optIn.kernels : TRAINING_KERNELS[backendName]) ?? [];
  const done: TrainingKernelName[] = [];
  for (const kernelName of names) {
    const existing = getKernel(kernelName, backendName);
    if (existing && ((existing.kernelFunc as Marked)[MARK] || (existing.kernelFunc as unknown as Record<symbol, unknown>)[NATIVE_MARK])) {
      done.push(kernelName);
      continue;
    }
    const fallback = existing?.kernelFunc;
    const kernelFunc = MAKERS[kernelName](backendName, fallback) as Marked;
    kernelFunc[MARK] = { previous: existing };
    if (existing) unregisterKernel(kernelName, backendName);
    // Keep the previous kernel's setupFunc: a wasm kernel binds its wasm function there when the
    // backend starts, and our fallback to it needs that binding.
    registerKernel({ kernelName, backendName, kernelFunc, ...(existing?.setupFunc ? { setupFunc: existing.setupFunc } : {}) });
    done.push(kernelName);
  }
  return done;
}

/** Restore the kernels that were registered before `registerTrainingKernels` (tests, comparisons). */
export function unregisterTrainingKernels(backendName: string): void {
  for (const kernelName of Object.keys(MAKERS) as TrainingKernelName[]) {
    const existing = getKernel(kernelName, backendName);
    const mark = existing && (existing.kernelFunc as Marked)[MARK];
    if (!mark) continue;
    unregisterKernel(kernelName, backendName);
    if (mark.previous) {
      registerKernel(mark.previous);
      // A kernel registered after its backend started was never set up (wasm cwraps its function there).
      const instance = engine().registry[backendName];
      if (instance && mark.previous.setupFunc) mark.previous.setupFunc(instance);
    }
  }
}

/** Whether our implementation currently serves `kernelName` on `backendName`. */
export function hasTrainingKernel(kernelName: TrainingKernelName, backendName: string): boolean {
  const existing = getKernel(kernelName, backendName);
  return !!existing && !!(existing.kernelFunc as Marked)[MARK];
}
