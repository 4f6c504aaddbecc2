/**
 * @advprop/native-kernels: convolution (forward, data and filter gradients, depthwise) and fused
 * training-mode batch-norm kernels for the tfjs wasm and cpu backends, run natively by oneDNN
 * (the library PyTorch's CPU convolutions use) with OpenMP threads on every core, plus the
 * max-pool gradient, a one-pass ReLU gradient, per-channel Sub/Multiply/Add, Maximum/Minimum and Sign. Built from
 * source against the system's libdnnl; optional: without it nothing is registered and tfjs's
 * kernels keep running.
 */
export {
  nativeAddon,
  nativeAddonPath,
  nativeAddonCandidates,
  passiveOpenMpWaiting,
  platformPackageName,
  resetNativeAddon,
  type NativeAddon,
  type NativeAddonSource,
  type NativeAddonStatus,
  type ConvGeometryArray,
} from './addon.js';
export {
  registerNativeKernels,
  unregisterNativeKernels,
  hasNativeKernel,
  setNativeThreads,
  isSupportedBackend,
  NATIVE_KERNEL_NAMES,
  NATIVE_KERNEL_MARK,
  type NativeRegistration,
} from './register.js';
export { convGeometry, BROADCAST_NATIVE_MIN, RELU_GRAD_KERNEL, RELU_GRAD_NATIVE_MIN, RELU_MASKED_SCALE_KERNEL } from './kernels.js';
export type { SupportedBackend } from './tensor-access.js';
