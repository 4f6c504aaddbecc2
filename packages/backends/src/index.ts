/**
 * @advprop/backends: backend selection (tensorflow, webgpu, wasm, cpu, auto) and the training
 * kernels the tfjs backends lack or run slowly (convolution and depthwise gradients).
 */
export {
  backends,
  tensorflowBackend,
  webgpuBackend,
  wasmBackend,
  cpuBackend,
  tensorflowProvider,
  webgpuProvider,
  wasmProvider,
  cpuProvider,
  PROVIDERS,
  TENSORFLOW_HINT,
  WEBGPU_HINT,
  WASM_HINT,
  CPU_HINT,
  backendSummary,
  nativeKernelStatus,
  type BackendName,
} from './providers.js';
export { useBackend, probeBackends, AUTO_ORDER, type UseBackendOptions, type BackendChoice, type BackendProbe } from './use-backend.js';
export {
  registerTrainingKernels,
  unregisterTrainingKernels,
  hasTrainingKernel,
  TRAINING_KERNELS,
  type TrainingKernelName,
} from './training-kernels.js';
export { profileSubKernels } from './conv-kernels.js';
