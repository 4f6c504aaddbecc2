/**
 * Input gradients without filter gradients.
 *
 * tfjs' fused conv2d (what tfjs-layers' Conv2D calls) defines its gradient with customGrad, and
 * that gradient computes the filter gradient eagerly next to the input gradient, even when only
 * d/dx is asked for. On the stock cpu backend the filter gradient is most of a conv layer's
 * backward time. While an attack takes its input gradient (`withInputGradientsOnly`), the filter
 * gradient kernels of the active backend answer with zeros of the filter's shape without computing
 * anything: nothing reads those values, because the tape only propagates to the attacked input.
 * Outside that scope the kernels run the backend's own implementation.
 *
 * The override is installed on first use per backend, outermost (it wraps whatever kernel serves
 * the name then, including @advprop/backends' or native-kernels' replacements).
 */
import * as tf from '@tensorflow/tfjs-core';
import { hasKernelOverride, overrideKernel } from '@advprop/core';
import type { KernelFunc, NamedAttrMap, TensorInfo } from '@tensorflow/tfjs-core';

const MARK: unique symbol = Symbol.for('@advprop/attacks/input-gradients-only');

/** Kernels that compute a filter's gradient; their attrs carry the `filterShape`. */
export const FILTER_GRADIENT_KERNELS = ['Conv2DBackpropFilter', 'DepthwiseConv2dNativeBackpropFilter'] as const;

let depth = 0;

function zerosKernel(name: string, fallback: KernelFunc | undefined, backendName: string): KernelFunc {
  return (args) => {
    if (depth === 0) {
      if (!fallback) throw new Error(`Kernel '${name}' not registered for backend '${backendName}'`);
      return fallback(args);
    }
    const shape = Array.from((args.attrs as NamedAttrMap & { filterShape: number[] }).filterShape);
    const size = shape.reduce((a, v) => a * v, 1);
    const backend = args.backend as unknown as {
      makeTensorInfo?(shape: number[], dtype: tf.DataType, values?: Float32Array): TensorInfo;
      makeOutput?(shape: number[], dtype: tf.DataType, memoryOffset?: number, values?: Float32Array): TensorInfo;
    };
    // cpu/webgl/webgpu have makeTensorInfo; the wasm backend makes outputs with makeOutput.
    if (backend.makeTensorInfo) return backend.makeTensorInfo(shape, 'float32', new Float32Array(size));
    if (backend.makeOutput) return backend.makeOutput(shape, 'float32', undefined, new Float32Array(size));
    throw new Error(`Kernel '${name}': backend '${backendName}' can make no output tensor`);
  };
}

function ensureInstalled(): void {
  const backendName = tf.getBackend();
  if (!backendName) return;
  for (const name of FILTER_GRADIENT_KERNELS) {
    if (hasKernelOverride(name, backendName, MARK)) continue;
    overrideKernel(name, backendName, MARK, (fallback) => zerosKernel(name, fallback, backendName));
  }
}

/**
 * Run `fn` (which takes gradients with respect to inputs only) with the filter gradient kernels
 * of the active backend answering zeros. Synchronous: the scope must not span an await.
 */
export function withInputGradientsOnly<T>(fn: () => T): T {
  ensureInstalled();
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** Whether a `withInputGradientsOnly` scope is active. */
export function inputGradientsOnlyActive(): boolean {
  return depth > 0;
}

/** `tf.grad(f)`, taken in a `withInputGradientsOnly` scope. */
export function inputGradient(f: (x: tf.Tensor) => tf.Tensor): (x: tf.Tensor) => tf.Tensor {
  const g = tf.grad(f);
  return (x) => withInputGradientsOnly(() => g(x));
}

export interface LossAndGradient {
  /** Logits of the forward pass [N, K] (caller disposes). */
  readonly logits: tf.Tensor2D;
  /** Per-sample objective [N] (caller disposes). */
  readonly loss: tf.Tensor1D;
  /** d(sum of the objective)/dx (caller disposes). */
  readonly grad: tf.Tensor;
}

/**
 * One forward and one backward pass: the logits, the per-sample objective and the input gradient
 * of its sum, with no filter gradients computed.
 */
export function lossAndGradient(forward: (x: tf.Tensor) => tf.Tensor, objective: (logits: tf.Tensor2D) => tf.Tensor1D, x: tf.Tensor): LossAndGradient {
  let logits: tf.Tensor2D | undefined;
  const f = (xa: tf.Tensor): tf.Tensor => {
    const out = forward(xa) as tf.Tensor2D;
    logits = tf.keep(tf.clone(out));
    return objective(out);
  };
  const dy = tf.ones([x.shape[0] as number]);
  try {
    const { value, grad } = withInputGradientsOnly(() => tf.valueAndGrad(f)(x, dy));
    return { logits: logits as tf.Tensor2D, loss: value as tf.Tensor1D, grad };
  } catch (error) {
    logits?.dispose();
    throw error;
  } finally {
    dy.dispose();
  }
}
