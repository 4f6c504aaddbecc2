/**
 * The four backend providers (registry plugins of kind 'backend'). Each loads its tfjs backend
 * package by dynamic import, so none of them is required at install time, and reports clearly
 * (BackendUnavailableError with the install hint) when it cannot load here.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError, definePlugin } from '@advprop/core';
import type { BackendInfo, BackendProvider } from '@advprop/core';
import { registerTrainingKernels } from './training-kernels.js';

export type BackendName = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';


type Probe = { available: true } | { available: false; reason: string };

/** Dynamic import of an optional peer (a variable specifier: bundlers leave it alone). */
function importOptional(specifier: string): Promise<Record<string, unknown>> {
  return import(/* @vite-ignore */ specifier) as Promise<Record<string, unknown>>;
}

/** Indirection so tests can simulate a package that is not installed. */
export const moduleLoader = {
  import: (specifier: string): Promise<Record<string, unknown>> => importOptional(specifier),
};
const defaultImport = moduleLoader.import;

/**
 * This module's location, for resolving optional peers from it. The ESM build is the only module
 * instance (the CommonJS entry requires it), so import.meta.url is always there; not naming
 * __filename keeps tsup's Node shim (path, url) out of the bundle, so the package bundles for browsers.
 */
function moduleBase(): string {
  return import.meta.url;
}

function isModuleNotFound(error: unknown, specifier: string): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === 'ERR_MODULE_NOT_FOUND' ||
    e?.code === 'MODULE_NOT_FOUND' ||
    (typeof e?.message === 'string' && /Cannot find (module|package)|Could not resolve|Failed to resolve/.test(e.message) && e.message.includes(specifier))
  );
}

function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message.split('\n')[0]! : String(error);
  return text.replace(/\.+$/, '');
}

async function activate(tfName: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`tf.setBackend('${tfName}') returned false`);
  await tf.ready();
}

// ---------------------------------------------------------------------------------------------
// tensorflow (libtensorflow through tfjs-node-gpu or tfjs-node)

export const TENSORFLOW_HINT =
  'Install `@tensorflow/tfjs-node-gpu` (needs an NVIDIA GPU with CUDA 11.2 and cuDNN 8.1; set TF_FORCE_GPU_ALLOW_GROWTH=true) ' +
  'or `@tensorflow/tfjs-node` (CPU), both version 4.22 to match @tensorflow/tfjs-core. Their install script downloads libtensorflow.';

let tensorflowLoaded: { pkg: string; gpu: boolean } | undefined;

async function importTensorflow(): Promise<{ pkg: string; gpu: boolean; errors: string[] }> {
  const errors: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await moduleLoader.import(pkg);
      return { pkg, gpu: pkg.endsWith('-gpu'), errors };
    } catch (error) {
      errors.push(isModuleNotFound(error, pkg) ? `${pkg} is not installed` : `${pkg} failed to load: ${describeError(error)}`);
    }
  }
  throw new BackendUnavailableError('tensorflow', `The tensorflow backend cannot load: ${errors.join('; ')}. ${TENSORFLOW_HINT}`);
}

/** Whether libtensorflow sees a GPU (tfjs-node-gpu on a machine with CUDA). */
function tensorflowUsesGpu(): boolean {
  const backend = tf.findBackend('tensorflow') as unknown as { binding?: { isUsingGpuDevice?: () => boolean } } | null;
  try {
    return !!backend?.binding?.isUsingGpuDevice?.();
  } catch {
    return false;
  }
}

export const tensorflowProvider: BackendProvider = {
  name: 'tensorflow',
  priority: 100,
  async probe(): Promise<Probe> {
    try {
      await importTensorflow();
      return { available: true };
    } catch (error) {
      return { available: false, reason: describeError(error) };
    }
  },
  async load(): Promise<BackendInfo> {
    tensorflowLoaded ??= await importTensorflow();
    try {
      await activate('tensorflow');
    } catch (error) {
      throw new BackendUnavailableError('tensorflow', `${tensorflowLoaded.pkg} loaded but the tensorflow backend did not start: ${describeError(error)}. ${TENSORFLOW_HINT}`, { cause: error });
    }
    const gpu = tensorflowUsesGpu();
    return {
      name: 'tensorflow',
      tfBackend: 'tensorflow',
      gpu,
      summary: `tensorflow (${tensorflowLoaded.pkg.replace('@tensorflow/', '')}${gpu ? ', CUDA GPU' : ', CPU'})`,
      description: `libtensorflow through ${tensorflowLoaded.pkg}${gpu ? ' on a CUDA GPU' : tensorflowLoaded.gpu ? ' (no GPU visible to CUDA: running on the CPU)' : ' on the CPU'}`,
    };
  },
};

// ---------------------------------------------------------------------------------------------
// webgpu (browsers natively, Node through the `webgpu` package: Dawn)

export const WEBGPU_HINT =
  'In Node, install the `webgpu` package (Dawn; needs a Vulkan, Metal or D3D12 GPU driver) and `@tensorflow/tfjs-backend-webgpu` 4.22; ' +
  'in a browser, use one with WebGPU enabled.';

interface GpuLike {
  requestAdapter(options?: unknown): Promise<{ info?: { vendor?: string; architecture?: string; device?: string; description?: string } } | null>;
}

let webgpuSetup: Promise<GpuLike> | undefined;

async function installNavigatorGpu(): Promise<GpuLike> {
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (nav?.gpu) return nav.gpu;
  let mod: Record<string, unknown>;
  try {
    mod = await moduleLoader.import('webgpu');
  } catch (error) {
    const why = isModuleNotFound(error, 'webgpu') ? 'the `webgpu` package is not installed' : `the \`webgpu\` package failed to load: ${describeError(error)}`;
    throw new BackendUnavailableError('webgpu', `The webgpu backend cannot load: ${why}. ${WEBGPU_HINT}`, { cause: error });
  }
  const create = mod.create as ((options: string[]) => GpuLike) | undefined;
  const globals = mod.globals as object | undefined;
  if (typeof create !== 'function') throw new BackendUnavailableError('webgpu', `The \`webgpu\` package has no create() export. ${WEBGPU_HINT}`);
  if (globals) Object.assign(globalThis, globals);
  const gpu = create([]);
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (g.navigator) {
    try {
      Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    } catch {
      /* read-only navigator: fall through to replacing it */
    }
  }
  if (!g.navigator?.gpu) Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu }, configurable: true, writable: true });
  return gpu;
}

const NO_ADAPTER = 'no WebGPU adapter found (no GPU, or no Vulkan/Metal/D3D12 driver visible to Dawn)';

/**
 * Node with the real `webgpu` package: ask Dawn for an adapter in a child process. Dawn writes its
 * driver messages (XDG_RUNTIME_DIR, a missing libvulkan) straight to file descriptor 2, where no
 * JavaScript can filter them; in a child they stay in a pipe, and only a machine that has an
 * adapter loads Dawn into this process. Resolves to the adapter's description, or null.
 */
async function adapterInChildProcess(): Promise<string | null> {
  const [{ execFile }, { createRequire }, { pathToFileURL }] = (await Promise.all([
    moduleLoader.import('node:child_process'),
    moduleLoader.import('node:module'),
    moduleLoader.import('node:url'),
  ])) as unknown as [typeof import('node:child_process'), typeof import('node:module'), typeof import('node:url')];
  const entry = pathToFileURL(createRequire(moduleBase()).resolve('webgpu')).href;
  const script =
    `const { create } = await import(${JSON.stringify(entry)});` +
    `const a = await create([]).requestAdapter({ powerPreference: 'high-performance' });` +
    `const i = (a && a.info) || {};` +
    `process.stdout.write(JSON.stringify(a ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' ') || 'unknown adapter' : null));` +
    `process.exit(0);`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      if (error) {
        const detail = stderr.trim().split('\n').at(-1) ?? error.message;
        reject(new BackendUnavailableError('webgpu', `The webgpu backend cannot load: Dawn's adapter query failed (${detail}). ${WEBGPU_HINT}`, { cause: error }));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as string | null);
      } catch (parseError) {
        reject(new BackendUnavailableError('webgpu', `The webgpu backend cannot load: Dawn's adapter query printed ${JSON.stringify(stdout.slice(0, 200))}. ${WEBGPU_HINT}`, { cause: parseError }));
      }
    });
  });
}

let childAdapter: Promise<string | null> | undefined;

async function webgpuAdapter(): Promise<{ gpu: GpuLike; adapterInfo: string }> {
  const inNode = typeof process !== 'undefined' && !!process.versions?.node;
  const nav = (globalThis as { navigator?: { gpu?: GpuLike } }).navigator;
  if (inNode && !nav?.gpu && moduleLoader.import === defaultImport) {
    try {
      await moduleLoader.import('webgpu');
    } catch (error) {
      const why = isModuleNotFound(error, 'webgpu') ? 'the `webgpu` package is not installed' : `the \`webgpu\` package failed to load: ${describeError(error)}`;
      throw new BackendUnavailableError('webgpu', `The webgpu backend cannot load: ${why}. ${WEBGPU_HINT}`, { cause: error });
    }
    childAdapter ??= adapterInChildProcess();
    if ((await childAdapter) === null) throw new BackendUnavailableError('webgpu', `The webgpu backend cannot load: ${NO_ADAPTER}. ${WEBGPU_HINT}`);
  }
  webgpuSetup ??= installNavigatorGpu();
  let gpu: GpuLike;
  try {
    gpu = await webgpuSetup;
  } catch (error) {
    webgpuSetup = undefined;
    throw error;
  }
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) {
    throw new BackendUnavailableError('webgpu', `The webgpu backend cannot load: ${NO_ADAPTER}. ${WEBGPU_HINT}`);
  }
  const i = adapter.info ?? {};
  const adapterInfo = [i.vendor, i.architecture, i.device, i.description].filter((s) => s).join(' ') || 'unknown adapter';
  return { gpu, adapterInfo };
}

export const webgpuProvider: BackendProvider = {
  name: 'webgpu',
  priority: 80,
  async probe(): Promise<Probe> {
    try {
      await webgpuAdapter();
      return { available: true };
    } catch (error) {
      return { available: false, reason: describeError(error) };
    }
  },
  async load(): Promise<BackendInfo> {
    const { adapterInfo } = await webgpuAdapter();
    try {
      await moduleLoader.import('@tensorflow/tfjs-backend-webgpu');
    } catch (error) {
      throw new BackendUnavailableError('webgpu', `@tensorflow/tfjs-backend-webgpu failed to load: ${describeError(error)}. ${WEBGPU_HINT}`, { cause: error });
    }
    registerTrainingKernels('webgpu');
    try {
      await activate('webgpu');
    } catch (error) {
      throw new BackendUnavailableError('webgpu', `The webgpu backend did not start on ${adapterInfo}: ${describeError(error)}. ${WEBGPU_HINT}`, { cause: error });
    }
    return { name: 'webgpu', tfBackend: 'webgpu', gpu: true, description: `WebGPU on ${adapterInfo}`, summary: `webgpu (${adapterInfo})` };
  },
};

// ---------------------------------------------------------------------------------------------
// wasm (XNNPACK, SIMD when the runtime has it)

export const WASM_HINT = 'Install `@tensorflow/tfjs-backend-wasm` 4.22 (pure WebAssembly, no native build).';

let wasmPathsSet = false;

async function wasmDirectory(): Promise<string | undefined> {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  const { createRequire } = (await moduleLoader.import('node:module')) as { createRequire: (url: string) => NodeJS.Require };
  const path = (await moduleLoader.import('node:path')) as unknown as typeof import('node:path');
  const require = createRequire(moduleBase());
  const main = require.resolve('@tensorflow/tfjs-backend-wasm');
  // main is .../dist/tf-backend-wasm.node.js; the .wasm binaries sit beside it
  return path.dirname(main) + path.sep;
}

export const wasmProvider: BackendProvider = {
  name: 'wasm',
  priority: 50,
  async probe(): Promise<Probe> {
    if (typeof WebAssembly === 'undefined') return { available: false, reason: 'this runtime has no WebAssembly' };
    try {
      await moduleLoader.import('@tensorflow/tfjs-backend-wasm');
      return { available: true };
    } catch (error) {
      return { available: false, reason: `@tensorflow/tfjs-backend-wasm cannot load: ${describeError(error)}. ${WASM_HINT}` };
    }
  },
  async load(): Promise<BackendInfo> {
    let mod: Record<string, unknown>;
    try {
      mod = await moduleLoader.import('@tensorflow/tfjs-backend-wasm');
    } catch (error) {
      throw new BackendUnavailableError('wasm', `The wasm backend cannot load: ${describeError(error)}. ${WASM_HINT}`, { cause: error });
    }
    if (!wasmPathsSet && !tf.engine().registry['wasm']) {
      const dir = await wasmDirectory();
      const setWasmPaths = mod.setWasmPaths as ((p: string) => void) | undefined;
      if (dir && setWasmPaths) setWasmPaths(dir);
      wasmPathsSet = true;
    }
    registerTrainingKernels('wasm');
    const native = await registerNative('wasm');
    try {
      await activate('wasm');
    } catch (error) {
      throw new BackendUnavailableError('wasm', `The wasm backend did not start: ${describeError(error)}. ${WASM_HINT}`, { cause: error });
    }
    const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
    const getThreadsCount = mod.getThreadsCount as (() => number) | undefined;
    const threads = getThreadsCount ? getThreadsCount() : 1;
    return {
      name: 'wasm',
      tfBackend: 'wasm',
      gpu: false,
      threads: native.threads ?? threads,
      description: `WebAssembly (XNNPACK${simd ? ', SIMD' : ', no SIMD'}, ${threads} thread${threads === 1 ? '' : 's'}) with @advprop training kernels${native.description}`,
      summary: backendSummary('wasm', native.threads ?? threads, native.threads !== undefined),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// Native kernels (@advprop/native-kernels): oneDNN convolutions and fused batch norm under wasm/cpu

interface NativeKernelsModule {
  registerNativeKernels(backendName: string): { registered: readonly string[]; reason?: string };
  hasNativeKernel(kernelName: string, backendName: string): boolean;
  setNativeThreads(threads: number): void;
  nativeAddon(): { available: true; onednn: string; isa: string; threads: number } | { available: false; reason: string };
}

/**
 * Serve the convolution and batch-norm kernels of `backend` natively when the addon is built
 * (Node only; imported lazily so browser bundles never see it). Says what it did for the
 * backend's description; never throws: without the addon tfjs's kernels keep running.
 */
export async function registerNative(backend: 'wasm' | 'cpu'): Promise<{ description: string; threads?: number }> {
  if (typeof process === 'undefined' || !process.versions?.node) return { description: '' };
  try {
    const mod = (await moduleLoader.import('@advprop/native-kernels')) as unknown as NativeKernelsModule;
    const result = mod.registerNativeKernels(backend);
    const status = mod.nativeAddon();
    if (result.registered.length === 0 || !status.available) return { description: `; native kernels off: ${result.reason ?? 'not available'}` };
    return {
      description: ` + oneDNN ${status.onednn} native convolution and batch-norm kernels (${status.isa}, ${status.threads} thread${status.threads === 1 ? '' : 's'})`,
      threads: status.threads,
    };
  } catch (error) {
    return { description: `; native kernels off: ${describeError(error)}` };
  }
}

/** Whether the native kernels can serve wasm and cpu here (the addon loads), and from where. */
export async function nativeKernelStatus(): Promise<{ available: true; detail: string } | { available: false; reason: string }> {
  if (typeof process === 'undefined' || !process.versions?.node) return { available: false, reason: 'native kernels need Node.js' };
  try {
    const mod = (await moduleLoader.import('@advprop/native-kernels')) as unknown as NativeKernelsModule;
    const status = mod.nativeAddon() as ReturnType<NativeKernelsModule['nativeAddon']> & { path?: string };
    if (!status.available) return { available: false, reason: status.reason };
    return { available: true, detail: `oneDNN ${status.onednn} (${status.isa}, ${status.threads} thread${status.threads === 1 ? '' : 's'})${status.path ? ` from ${status.path}` : ''}` };
  } catch (error) {
    return { available: false, reason: describeError(error) };
  }
}

/**
 * Set the native kernels' thread count when they serve `tfBackend`'s convolutions. Returns false
 * (and changes nothing) when they do not: tfjs's own backends have no thread setting in Node.
 */
export async function setNativeThreadsFor(tfBackend: string, threads: number): Promise<boolean> {
  if (tfBackend !== 'wasm' && tfBackend !== 'cpu') return false;
  if (typeof process === 'undefined' || !process.versions?.node) return false;
  try {
    const mod = (await moduleLoader.import('@advprop/native-kernels')) as unknown as NativeKernelsModule;
    if (!mod.hasNativeKernel('Conv2D', tfBackend)) return false;
    mod.setNativeThreads(threads);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// cpu (plain JavaScript, always there)

export const CPU_HINT = 'Install `@tensorflow/tfjs-backend-cpu` 4.22.';

export const cpuProvider: BackendProvider = {
  name: 'cpu',
  priority: 10,
  async probe(): Promise<Probe> {
    try {
      await moduleLoader.import('@tensorflow/tfjs-backend-cpu');
      return { available: true };
    } catch (error) {
      return { available: false, reason: `@tensorflow/tfjs-backend-cpu cannot load: ${describeError(error)}. ${CPU_HINT}` };
    }
  },
  async load(): Promise<BackendInfo> {
    try {
      await moduleLoader.import('@tensorflow/tfjs-backend-cpu');
    } catch (error) {
      throw new BackendUnavailableError('cpu', `The cpu backend cannot load: ${describeError(error)}. ${CPU_HINT}`, { cause: error });
    }
    registerTrainingKernels('cpu');
    const native = await registerNative('cpu');
    await activate('cpu');
    return {
      name: 'cpu',
      tfBackend: 'cpu',
      gpu: false,
      threads: native.threads ?? 1,
      description: `plain JavaScript (no SIMD, one thread) with @advprop filter-gradient kernel${native.description}`,
      summary: backendSummary('cpu', native.threads ?? 1, native.threads !== undefined),
    };
  },
};

/** Forget what the providers cached (loaded modules, the navigator.gpu setup). For tests. */
export function resetProviderState(): void {
  tensorflowLoaded = undefined;
  webgpuSetup = undefined;
  childAdapter = undefined;
}

/** The few words a status line shows: `wasm + native kernels (2 threads)`. */
export function backendSummary(name: 'wasm' | 'cpu', threads: number, native: boolean): string {
  return `${name}${native ? ' + native kernels' : ''} (${threads} thread${threads === 1 ? '' : 's'}${native ? '' : ', no native kernels'})`;
}

export const PROVIDERS: Readonly<Record<BackendName, BackendProvider>> = {
  tensorflow: tensorflowProvider,
  webgpu: webgpuProvider,
  wasm: wasmProvider,
  cpu: cpuProvider,
};

function pluginOf<const N extends BackendName>(name: N, description: string) {
  return definePlugin({ kind: 'backend', name, description, create: () => PROVIDERS[name] });
}

export const tensorflowBackend = pluginOf('tensorflow', 'libtensorflow via @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (optional peers)');
export const webgpuBackend = pluginOf('webgpu', 'WebGPU: natively in browsers, through the `webgpu` package (Dawn) in Node');
export const wasmBackend = pluginOf('wasm', 'WebAssembly (XNNPACK) with training kernels');
export const cpuBackend = pluginOf('cpu', 'Plain JavaScript');

export const backends = [tensorflowBackend, webgpuBackend, wasmBackend, cpuBackend] as const;
