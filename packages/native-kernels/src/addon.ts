/**
 * Loads the native addon: the prebuilt one from the platform package npm installed beside this
 * one (@advprop/native-kernels-linux-x64, with oneDNN and libgomp in it), else one built from
 * source by scripts/build-native.mjs (`npx advprop-build-native`). Loading never throws: when no
 * addon is there or it cannot load, `nativeAddon()` says why and the kernels stay unregistered,
 * so training falls back to the tfjs kernels.
 */
import { existsSync, statSync } from 'node:fs';
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
    /** Added after the normalisation, before the ReLU (relu must be true). */
    residual?: Float32Array | null,
    /** y = max(0, ...), NaN kept. */
    relu?: boolean,
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
    /** The forward output of batchNormForward with relu: dy is masked by y > 0 first. */
    y?: Float32Array | null,
    /** Receives the masked dy (the residual's gradient; needs y). */
    dresidual?: Float32Array | null,
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
    /** Added after the normalisation, before the ReLU (relu must be true). */
    residual?: Float32Array | null,
    /** y = max(0, ...), NaN kept. */
    relu?: boolean,
  ): void;
  channelSums(x: Float32Array, rows: number, channels: number, out: Float32Array, scale: number): void;
  /**
   * out = a - b (op 1), a * b (op 2), a + b (op 3), Math.max(a, b) (op 4) or Math.min(a, b) (op 5);
   * one input has out's size, the other too or repeats with its own size (from 2) as period.
   */
  elementwiseBinary(op: number, a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** out = ((dy * mask(y)) * inverseStd[c]) * scale[c], mask as reluGrad's: an inference batch norm's x gradient behind a ReLU. */
  reluMaskedScale(dy: Float32Array, y: Float32Array, inverseStd: Float32Array, scale: Float32Array | null, out: Float32Array): void;
  /** out = dy * (x > 0 ? 1 : 0), NaN where x is NaN: the ReLU gradient in one pass. */
  reluGrad(dy: Float32Array, x: Float32Array, out: Float32Array): void;
  /** out = -1 where x < 0, 1 where x > 0, 0 elsewhere (zeros, NaN): tfjs' Sign. */
  sign(x: Float32Array, out: Float32Array): void;
  /** out = average - (average - value) * decay, each operation rounded to float32 (core's MOVING_AVERAGE_KERNEL). */
  movingAverage(average: Float32Array, value: Float32Array, decay: number, out: Float32Array): void;
  /** One SGD step of a parameter (core's SGD_UPDATE_KERNEL); velocityOut is written when velocity is given. */
  sgdUpdate(
    param: Float32Array,
    grad: Float32Array,
    velocity: Float32Array | null,
    learningRate: number,
    momentum: number,
    weightDecay: number,
    nesterov: boolean,
    paramOut: Float32Array,
    velocityOut: Float32Array | null,
  ): void;
  /** Max-pool gradient, NHWC: geometry [n, h, w, c, oh, ow, kh, kw, sh, sw, padTop, padLeft]. */
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, geometry: readonly number[]): void;
  info(): { onednn: string; threads: number; isa: string };
  setThreads(threads: number): void;
}

/** Every function the kernels call: an addon without one of them was built from older sources. */
const ADDON_FUNCTIONS = [
  'convForward',
  'convBackwardData',
  'convBackwardWeights',
  'convImplementation',
  'batchNormForward',
  'batchNormBackward',
  'batchNormInference',
  'channelSums',
  'elementwiseBinary',
  'reluGrad',
  'reluMaskedScale',
  'sign',
  'movingAverage',
  'sgdUpdate',
  'maxPoolGrad',
  'info',
  'setThreads',
] as const satisfies readonly (keyof NativeAddon)[];

/** Where the loaded addon came from. */
export type NativeAddonSource = 'ADVPROP_NATIVE_ADDON' | 'prebuilt' | 'built from source';

export type NativeAddonStatus =
  | {
      readonly available: true;
      readonly addon: NativeAddon;
      readonly path: string;
      readonly source: NativeAddonSource;
      readonly onednn: string;
      readonly threads: number;
      readonly isa: string;
    }
  | { readonly available: false; readonly reason: string };

/** The platform package holding a prebuilt addon for this machine, e.g. @advprop/native-kernels-linux-x64. */
export function platformPackageName(): string | undefined {
  if (typeof process === 'undefined' || !process.versions?.node) return undefined;
  // glibc only: the prebuilt libraries are linked against it (musl would need its own package).
  const report = process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined;
  const libc = process.platform === 'linux' && !report?.header?.glibcVersionRuntime ? '-musl' : '';
  return `@advprop/native-kernels-${process.platform}-${process.arch}${libc}`;
}

/**
 * Every place the addon is looked for, in order: ADVPROP_NATIVE_ADDON, the platform package, build/.
 * A build from source newer than the prebuilt addon comes first: it was made on purpose after the
 * install (`npx advprop-build-native`, say for this machine's CPU), or in this repository after
 * the platform package was assembled. npm gives installed files a fixed old date, so a prebuilt
 * addon never looks newer than a build.
 */
export function nativeAddonCandidates(): { path: string; source: NativeAddonSource }[] {
  const override = typeof process !== 'undefined' ? process.env.ADVPROP_NATIVE_ADDON : undefined;
  if (override) return [{ path: override, source: 'ADVPROP_NATIVE_ADDON' }];
  const out: { path: string; source: NativeAddonSource }[] = [];
  const pkg = platformPackageName();
  if (pkg) {
    try {
      out.push({ path: createRequire(import.meta.url).resolve(`${pkg}/advprop-native.node`), source: 'prebuilt' });
    } catch {
      /* not installed here (another platform, or --no-optional) */
    }
  }
  const local = { path: fileURLToPath(new URL('../build/advprop-native.node', import.meta.url)), source: 'built from source' as const };
  const prebuilt = out[0];
  if (prebuilt && existsSync(local.path) && existsSync(prebuilt.path) && statSync(local.path).mtimeMs > statSync(prebuilt.path).mtimeMs) {
    return [local, prebuilt];
  }
  out.push(local);
  return out;
}

/** Where the addon is loaded from: the first candidate that exists (else the local build path). */
export function nativeAddonPath(): string {
  const candidates = nativeAddonCandidates();
  return (candidates.find((c) => existsSync(c.path)) ?? candidates[candidates.length - 1]!).path;
}

let status: NativeAddonStatus | undefined;

/**
 * OpenMP threads that spin while waiting collapse throughput when processes share cores: two
 * 2-thread trainings on 2 cores ran at 0.67x of one alone, against 1.50x with passive waiting,
 * which costs a lone process 1-3 % (docs/performance.md, tools/bench/share-machine.mjs). libgomp
 * reads its settings once, when the addon loads it, so the default is set just before; a user's
 * own OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
 */
export function passiveOpenMpWaiting(env: NodeJS.ProcessEnv): void {
  if (env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) env.OMP_WAIT_POLICY = 'passive';
}

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
  const override = process.env.ADVPROP_NATIVE_ADDON;
  if (override && !existsSync(override)) {
    return (status = { available: false, reason: `ADVPROP_NATIVE_ADDON=${override}: no such file (build one with npx advprop-build-native; needs g++ and libdnnl-dev)` });
  }
  const candidates = nativeAddonCandidates().filter((c) => existsSync(c.path));
  if (candidates.length === 0) {
    const pkg = platformPackageName();
    return (status = {
      available: false,
      reason:
        `no native addon here: ${pkg} (prebuilt) is not installed` +
        `${pkg === '@advprop/native-kernels-linux-x64' ? ' (npm skips optional dependencies with --omit=optional)' : ' (there is none for this platform)'}` +
        ` and none was built from source (apt-get install g++ libdnnl-dev, then npx advprop-build-native)`,
    });
  }
  passiveOpenMpWaiting(process.env);
  const failures: string[] = [];
  for (const { path, source } of candidates) {
    try {
      const addon = createRequire(import.meta.url)(path) as NativeAddon;
      const missing = ADDON_FUNCTIONS.filter((name) => typeof addon[name] !== 'function');
      if (missing.length > 0) {
        failures.push(`${path} was built from older sources (it has no ${missing.join(', ')}; rebuild it with npx advprop-build-native)`);
        continue;
      }
      const info = addon.info();
      return (status = { available: true, addon, path, source, ...info });
    } catch (error) {
      failures.push(`${path} does not load: ${error instanceof Error ? error.message.split('\n')[0]! : String(error)}`);
    }
  }
  return (status = { available: false, reason: failures.join('; ') });
}

/** Forget the cached load result (tests that flip ADVPROP_NATIVE_KERNELS). */
export function resetNativeAddon(): void {
  status = undefined;
}
