import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { hasNativeKernel, nativeAddon } from '@advprop/native-kernels';
import { BackendUnavailableError, createRegistry, PluginNotFoundError } from '@advprop/core';
import { backends, moduleLoader, PROVIDERS, resetProviderState, TENSORFLOW_HINT } from './providers.js';
import { AUTO_ORDER, probeBackends, resetLoadedBackends, useBackend } from './use-backend.js';
import { hasTrainingKernel } from './training-kernels.js';

const realImport = moduleLoader.import;

/** Make `import(specifier)` fail as for a package that is not installed. */
function notInstalled(...specifiers: string[]): void {
  moduleLoader.import = (specifier: string) => {
    if (specifiers.includes(specifier)) {
      const error = Object.assign(new Error(`Cannot find package '${specifier}' imported from /x.js`), { code: 'ERR_MODULE_NOT_FOUND' });
      return Promise.reject(error);
    }
    return realImport(specifier);
  };
}

/** A `webgpu` package whose GPU has no adapter (a machine without GPU or Vulkan). */
function webgpuWithoutAdapter(): void {
  moduleLoader.import = (specifier: string) => {
    if (specifier === 'webgpu') return Promise.resolve({ create: () => ({ requestAdapter: async () => null }), globals: {} });
    return realImport(specifier);
  };
}

afterEach(() => {
  moduleLoader.import = realImport;
  resetProviderState();
  delete (globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu;
});

describe('backend plugins', () => {
  it('are registry plugins of kind backend, ordered tensorflow > webgpu > wasm > cpu for auto', async () => {
    const registry = createRegistry().use(backends);
    expect(registry.names('backend')).toEqual(['cpu', 'tensorflow', 'wasm', 'webgpu']);
    const wasm = await registry.resolve('backend', 'wasm');
    expect(wasm).toBe(PROVIDERS.wasm);
    expect(AUTO_ORDER).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
  });
});

describe('useBackend', () => {
  it('loads cpu and wasm, registers their training kernels and is idempotent', async () => {
    const cpu = await useBackend('cpu');
    expect(cpu).toMatchObject({ name: 'cpu', tfBackend: 'cpu', gpu: false });
    expect(tf.getBackend()).toBe('cpu');
    // our kernel serves the filter gradient: the native one when the addon is built, else ours in JS
    const native = nativeAddon();
    expect(hasNativeKernel('Conv2DBackpropFilter', 'cpu') || hasTrainingKernel('Conv2DBackpropFilter', 'cpu')).toBe(true);
    expect(hasNativeKernel('Conv2DBackpropFilter', 'cpu')).toBe(native.available);
    const wasm = await useBackend('wasm', { threads: 2 });
    expect(wasm).toMatchObject({ name: 'wasm', tfBackend: 'wasm', gpu: false });
    expect(wasm.description).toMatch(/XNNPACK/);
    if (native.available) {
      // the native kernels take the thread count asked for
      expect(wasm.threads).toBe(2);
      expect(wasm.description).toMatch(/oneDNN .* native convolution and batch-norm kernels/);
      expect(wasm.description).toMatch(/native kernels set to 2 threads$/);
      const one = await useBackend('wasm', { threads: 1 });
      expect(one.threads).toBe(1);
      expect(one.description).toMatch(/native kernels set to 1 thread$/);
      await useBackend('wasm', { threads: native.threads });
      await expect(useBackend('wasm', { threads: 0 })).rejects.toThrow(/threads must be a positive integer, got 0/);
    } else {
      expect(wasm.threads).toBe(1);
      expect(wasm.description).toMatch(/native kernels off: /);
      expect(wasm.description).toMatch(/2 threads asked/);
    }
    expect(tf.getBackend()).toBe('wasm');
    for (const k of ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput'] as const) {
      expect(hasNativeKernel(k, 'wasm') || hasTrainingKernel(k, 'wasm'), k).toBe(true);
    }
    const again = await useBackend('wasm');
    expect(again.tfBackend).toBe('wasm');
    // switching back to a backend loaded earlier
    expect((await useBackend('cpu')).name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
  });

  it('names the install hint when tensorflow (tfjs-node-gpu / tfjs-node) is not installed', async () => {
    notInstalled('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node');
    const error = await useBackend('tensorflow').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).backend).toBe('tensorflow');
    expect((error as Error).message).toContain('@tensorflow/tfjs-node-gpu is not installed');
    expect((error as Error).message).toContain('@tensorflow/tfjs-node is not installed');
    expect((error as Error).message).toContain(TENSORFLOW_HINT);
    expect((error as Error).message).toMatch(/CUDA 11\.2.*cuDNN 8\.1/);
  });

  it('fails the same way with the real module resolution on this machine (tfjs-node is not installable here)', async () => {
    let installed = true;
    try {
      await realImport('@tensorflow/tfjs-node');
    } catch {
      installed = false;
    }
    if (installed) return; // a machine with tfjs-node: the simulated test above covers the error path
    const probe = await PROVIDERS.tensorflow.probe();
    expect(probe.available).toBe(false);
    await expect(useBackend('tensorflow')).rejects.toThrow(/tfjs-node.*not installed/);
  });

  it('says "no WebGPU adapter" when the webgpu package finds no GPU', async () => {
    webgpuWithoutAdapter();
    const error = await useBackend('webgpu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    expect((error as Error).message).toMatch(/no WebGPU adapter found/);
    expect((error as Error).message).toContain('webgpu');
  });

  it('on a machine without a GPU, the real webgpu package (Dawn) reports "no WebGPU adapter"', async () => {
    let adapter: unknown;
    try {
      const { create } = (await realImport('webgpu')) as { create: (o: string[]) => { requestAdapter(): Promise<unknown> } };
      adapter = await create([]).requestAdapter();
    } catch {
      return; // package absent: covered by the not-installed test
    }
    const probe = await PROVIDERS.webgpu.probe();
    if (adapter) {
      expect(probe.available).toBe(true); // a GPU machine
      return;
    }
    expect(probe).toEqual({ available: false, reason: expect.stringMatching(/no WebGPU adapter found/) });
  });

  it('says the webgpu package is missing when it is not installed', async () => {
    notInstalled('webgpu');
    await expect(useBackend('webgpu')).rejects.toThrow(/`webgpu` package is not installed/);
  });

  it('auto picks the fastest backend that loads and says why the others were skipped', async () => {
    resetLoadedBackends();
    webgpuWithoutAdapter();
    notInstalledToo('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node');
    const info = await useBackend('auto');
    expect(info.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(info.description).toMatch(/auto chose wasm/);
    expect(info.skipped).toEqual([expect.stringMatching(/^tensorflow: .*not installed/), expect.stringMatching(/^webgpu: .*no WebGPU adapter/)]);
    // The one-line status stays short; the reasons are for --verbose and `advprop inspect --backends`.
    expect(info.summary).toMatch(/^wasm( \+ native kernels)? \(\d+ threads?(, no native kernels)?\)$/);
  });

  it('probes every backend without loading one, and says whether the native kernels load', async () => {
    webgpuWithoutAdapter();
    notInstalledToo('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node');
    const { backends: probes, nativeKernels } = await probeBackends();
    expect(probes.map((p) => p.name)).toEqual(['tensorflow', 'webgpu', 'wasm', 'cpu']);
    expect(probes[0]).toEqual({ name: 'tensorflow', available: false, reason: expect.stringMatching(/not installed/) });
    expect(probes[1]).toEqual({ name: 'webgpu', available: false, reason: expect.stringMatching(/no WebGPU adapter/) });
    expect(probes[2]).toEqual({ name: 'wasm', available: true });
    expect(typeof nativeKernels.available).toBe('boolean');
  });

  it('auto falls back to cpu when wasm cannot load', async () => {
    resetLoadedBackends();
    notInstalled('@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node', 'webgpu', '@tensorflow/tfjs-backend-wasm');
    const info = await useBackend('auto');
    expect(info.name).toBe('cpu');
    expect(info.skipped?.join(' | ')).toMatch(/wasm: .*tfjs-backend-wasm/);
  });

  it('rejects a name that is not a backend, listing the names', async () => {
    await expect(useBackend('webgl' as never)).rejects.toBeInstanceOf(PluginNotFoundError);
    await expect(useBackend('webgl' as never)).rejects.toThrow(/"auto", "tensorflow", "webgpu", "wasm", "cpu"/);
  });
});

/** Chain a not-installed rule on top of the current loader. */
function notInstalledToo(...specifiers: string[]): void {
  const previous = moduleLoader.import;
  moduleLoader.import = (specifier: string) => {
    if (specifiers.includes(specifier)) {
      return Promise.reject(Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' }));
    }
    return previous(specifier);
  };
}
