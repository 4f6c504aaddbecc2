/**
 * Float32Array views of a backend's tensor storage, so the addon reads and writes in place:
 * - wasm: the tensor's bytes on the WebAssembly heap (views are taken after every allocation of a
 *   call, because allocating may grow the heap and detach earlier views);
 * - cpu: the backend's own typed arrays.
 */
import { util } from '@tensorflow/tfjs-core';
import type { DataType, KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';

interface WasmBackendInternals {
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
  makeOutput(shape: number[], dtype: DataType): TensorInfo;
}
interface CpuBackendInternals {
  data: { get(dataId: object): { values?: unknown } | undefined };
  makeTensorInfo(shape: number[], dtype: DataType, values?: Float32Array): TensorInfo;
}

export type SupportedBackend = 'wasm' | 'cpu';

export class TensorAccess {
  constructor(
    readonly backend: KernelBackend,
    readonly kind: SupportedBackend,
  ) {}

  /** A new float32 tensor on the backend; its contents are written by the caller. */
  allocate(shape: number[]): TensorInfo {
    if (this.kind === 'wasm') return (this.backend as unknown as WasmBackendInternals).makeOutput(shape, 'float32');
    const values = new Float32Array(util.sizeFromShape(shape));
    return (this.backend as unknown as CpuBackendInternals).makeTensorInfo(shape, 'float32', values);
  }

  view(info: TensorInfo): Float32Array {
    const size = util.sizeFromShape(info.shape);
    if (this.kind === 'wasm') {
      const b = this.backend as unknown as WasmBackendInternals;
      const entry = b.dataIdMap.get(info.dataId);
      if (!entry) throw new Error('@advprop/native-kernels: tensor data not found on the wasm backend');
      return new Float32Array(b.wasm.HEAPU8.buffer, entry.memoryOffset, size);
    }
    const values = (this.backend as unknown as CpuBackendInternals).data.get(info.dataId)?.values;
    if (!(values instanceof Float32Array)) throw new Error('@advprop/native-kernels: tensor data on the cpu backend is not a Float32Array');
    return values.length === size ? values : values.subarray(0, size);
  }

  dispose(info: TensorInfo): void {
    this.backend.disposeData(info.dataId);
  }
}
