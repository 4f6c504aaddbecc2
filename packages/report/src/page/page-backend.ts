/**
 * The TF.js backend of the served pages: wasm (stock @tensorflow/tfjs-backend-wasm, its binaries
 * served under /tfjs-wasm/, with @advprop/backends' training kernels for the convolution gradients)
 * when it starts here, else cpu. WebGL/WebGPU are not bundled: a headless browser without a GPU
 * has neither, and wasm is the fast path there.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { registerTrainingKernels } from '@advprop/backends';

export async function startBackend(): Promise<string> {
  setWasmPaths('/tfjs-wasm/');
  try {
    if (await tf.setBackend('wasm')) {
      await tf.ready();
      registerTrainingKernels('wasm');
      return 'wasm';
    }
  } catch (error) {
    console.warn('advprop: the wasm backend did not start, using cpu', error);
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}
