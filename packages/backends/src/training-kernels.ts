/**
 * Registers the training kernels of conv-kernels.ts on a tfjs backend, replacing the slow or
 * missing ones. Idempotent; the kernel that was registered before is kept as the fallback for
 * the cases we do not handle (NCHW) and can be restored with `unregisterTrainingKernels`.
 */
import type { KernelFunc } from '@tensorflow/tfjs-core';
import { hasKernelOverride, overrideKernel, restoreKernel } from '@advprop/core';
import {
  makeConv2DBackpropFilter,
  makeConv2DBackpropInput,
  makeDepthwiseBackpropFilter,
  makeDepthwiseBackpropInput,
  makeCast,
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
  | 'Cast'
  | 'Slice';

type Maker = (backendName: string, fallback: KernelFunc | undefined) => KernelFunc;

const MAKERS: Record<TrainingKernelName, Maker> = {
  Conv2DBackpropFilter: makeConv2DBackpropFilter,
  Conv2DBackpropInput: makeConv2DBackpropInput,
  DepthwiseConv2dNativeBackpropFilter: makeDepthwiseBackpropFilter,
  DepthwiseConv2dNativeBackpropInput: makeDepthwiseBackpropInput,
  Tile: makeTile,
  Identity: makeIdentity,
  Cast: makeCast,
  Slice: makeSlice,
};

/**
 * Which kernels each backend gets (measured choices, see docs/performance.md):
 * - wasm: has no Conv2DBackpropFilter and no depthwise backprop kernels, and a scalar-loop
 *   Conv2DBackpropInput: all four are replaced by XNNPACK convolutions.
 *   Its Tile (used by tfjs-core's batch-norm gradient) is an index loop: replaced by block copies.
 *   Its Identity copies (tf.clone, called for every tensor a gradient saves): shared instead.
 *   So does its Cast to the same dtype (once per ReLU gradient): shared instead.
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
    'Cast',
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
  for (const kernelName of names) {
    overrideKernel(kernelName, backendName, MARK, (fallback) => MAKERS[kernelName](backendName, fallback), [NATIVE_MARK]);
  }
  return [...names];
}

/** Restore the kernels that were registered before `registerTrainingKernels` (all, or those in `only`; tests, comparisons). */
export function unregisterTrainingKernels(backendName: string, only?: readonly TrainingKernelName[]): void {
  for (const kernelName of only ?? (Object.keys(MAKERS) as TrainingKernelName[])) restoreKernel(kernelName, backendName, MARK);
}

/** Whether our implementation currently serves `kernelName` on `backendName`. */
export function hasTrainingKernel(kernelName: TrainingKernelName, backendName: string): boolean {
  return hasKernelOverride(kernelName, backendName, MARK);
}
