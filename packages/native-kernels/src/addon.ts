/**
 * Loads the native addon built by scripts/build-native.mjs. Loading never throws: when the addon
 * is missing or cannot load (no libdnnl on this machine), `nativeAddon()` says why and the kernels
 * stay unregistered, so training falls back to the tfjs kernels.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/** Geometry of a convolution, as the addon takes it (NHWC activations). */
export type ConvGeometryArray = readonly number[];

export interface NativeAddon {
  convForward(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: ConvGeometryArray, bias: Float32Array | null, activation: number): void;
  convBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: ConvGeometryArray): void;
  convBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, geometry: ConvGeometryArray): void;
  convImplementation(kind: 'forward' | 'backward-data' | 'backward-weights', geometry: ConvGeometryArray): string;
  batchNormForward(
    x: Float32Array,
    rows: number,
    channels: number,
    scale: Float32Array | null,
    offset: Float32Array | null,
    epsilon: number,
    y: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
  ): void;
  batchNormBackward(
    dy: Float32Array,
    x: Float32Array,
    rows: number,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | null,
    epsilon: number,
    dx: Float32Array,
    dscale: Float32Array,
    doffset: Float32Array,
  ): void;
  batchNormInference(
    x: Float32Array,
    rows: number,
    channels: number,
    mean: Float32Array,
    variance: Float32Array,
    scale: Float32Array | null,
    offset: Float32Array | null,
    epsilon: number,
    y: Float32Array,
  ): void;
  channelSums(x: Float32Array, rows: number, channels: number, out: Float32Array, scale: number): void;
  info(): { onednn: string; threads: number; isa: string };
  setThreads(threads: number): void;
}

export type NativeAddonStatus =
  | { readonly available: true; readonly addon: NativeAddon; readonly path: string; readonly onednn: string; readonly threads: number; readonly isa: string }
  | { readonly available: false; readonly reason: string };

/** Where the addon is looked for: ADVPROP_NATIVE_ADDON, else build/ beside src/ and dist/. */
export function nativeAddonPath(): string {
  const override = typeof process !== 'undefined' ? process.env.ADVPROP_NATIVE_ADDON : undefined;
  if (override) return override;
  return fileURLToPath(new URL('../build/advprop-native.node', import.meta.url));
}

let status: NativeAddonStatus | undefined;

/**
 * The addon, loaded once. ADVPROP_NATIVE_KERNELS=0 turns it off (for before/after comparisons).
 */
export function nativeAddon(): NativeAddonStatus {
  if (status) return status;
  if (typeof process === 'undefined' || !process.versions?.node) {
    return (status = { available: false, reason: 'native kernels need Node.js' });
  }
  const flag = process.env.ADVPROP_NATIVE_KERNELS;
  if (flag === '0' || flag === 'false') {
    return (status = { available: false, reason: 'turned off by ADVPROP_NATIVE_KERNELS=0' });
  }
  const path = nativeAddonPath();
  if (!existsSync(path)) {
    return (status = {
      available: false,
      reason: `${path} is not built (apt-get install g++ libdnnl-dev, then npm run build, or node scripts/build-native.mjs in @advprop/native-kernels)`,
    });
  }
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    const info = addon.info();
    return (status = { available: true, addon, path, ...info });
  } catch (error) {
    const reason = error instanceof Error ? error.message.split('\n')[0]! : String(error);
    return (status = { available: false, reason: `${path} does not load: ${reason}` });
  }
}

/** Forget the cached load result (tests that flip ADVPROP_NATIVE_KERNELS). */
export function resetNativeAddon(): void {
  status = undefined;
}
