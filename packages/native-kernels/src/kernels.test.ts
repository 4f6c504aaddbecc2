import * as tf from '@tensorflow/tfjs-core';
import { backend_util } from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  BATCH_NORM_RELU_KERNEL,
  BATCH_NORM_RELU_TRAINING_GRAD_KERNEL,
  BATCH_NORM_RELU_TRAINING_KERNEL,
  BATCH_NORM_TRAINING_GRAD_KERNEL,
  BATCH_NORM_TRAINING_KERNEL,
  MOVING_AVERAGE_KERNEL,
  SGD_UPDATE_KERNEL,
  SeededRandom,
  expectNoTensorLeak,
  maxRelativeError,
} from '@advprop/core';
import {
  BROADCAST_NATIVE_MIN,
  NATIVE_KERNEL_NAMES,
  RELU_GRAD_KERNEL,
  RELU_GRAD_NATIVE_MIN,
  RELU_MASKED_SCALE_KERNEL,
  hasNativeKernel,
  type NativeAddon,
  nativeAddon,
  nativeAddonCandidates,
  platformPackageName,
  registerNativeKernels,
  resetNativeAddon,
  setNativeThreads,
  unregisterNativeKernels,
} from './index.js';

const required = !!process.env.ADVPROP_NATIVE_REQUIRED && process.env.ADVPROP_NATIVE_REQUIRED !== '0';
const built = nativeAddon().available;

function randomTensor(shape: number[], random: SeededRandom, lo = -1, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = random.uniform(lo, hi);
  return tf.tensor(values, shape);
}

/** The flat index in an input of `shape` that numpy-style broadcasting maps output element `i` to. */
function broadcastIndex(i: number, outShape: readonly number[], shape: readonly number[]): number {
  let index = 0;
  let stride = 1;
  let rest = i;
  for (let d = outShape.length - 1, e = shape.length - 1; d >= 0; d--, e--) {
    const coordinate = rest % outShape[d]!;
    rest = Math.floor(rest / outShape[d]!);
    if (e >= 0) {
      if (shape[e] !== 1) index += coordinate * stride;
      stride *= shape[e]!;
    }
  }
  return index;
}

/** How many elements of `got` differ (Object.is) from f(a, b) in float32, a and b broadcast to got's shape. */
function broadcastMismatches(
  got: tf.Tensor,
  a: ArrayLike<number>,
  shapeA: readonly number[],
  b: ArrayLike<number>,
  shapeB: readonly number[],
  f: (u: number, v: number) => number,
): number {
  const out = got.dataSync();
  let mismatches = 0;
  for (let i = 0; i < out.length; i++) {
    const want = Math.fround(f(a[broadcastIndex(i, got.shape, shapeA)]!, b[broadcastIndex(i, got.shape, shapeB)]!));
    if (!Object.is(out[i], want)) mismatches++;
  }
  return mismatches;
}

/** The functions the kernels call (addon.ts checks each one when loading). */
const ADDON_FUNCTIONS = ['convForward', 'convBackwardData', 'convBackwardWeights', 'convImplementation', 'batchNormForward', 'batchNormBackward', 'batchNormInference'].concat(
  ['channelSums', 'elementwiseBinary', 'reluGrad', 'reluMaskedScale', 'sign', 'movingAverage', 'sgdUpdate', 'maxPoolGrad', 'info', 'setThreads'],
);

/** The loaded addon (the tests that use it run only when it is built). */
function builtAddon(): NativeAddon {
  const status = nativeAddon();
  if (!status.available) throw new Error(status.reason);
  return status.addon;
}

function maxRelDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return maxRelativeError(a.dataSync(), b.dataSync());
}

describe('loading the addon', () => {
  it('is built where CI requires it, and reports oneDNN, the ISA and its threads', () => {
    const status = nativeAddon();
    if (required) expect(status.available ? 'available' : status.reason).toBe('available');
    if (status.available) {
      expect(status.onednn).toMatch(/^\d+\.\d+\.\d+$/);
      expect(status.threads).toBeGreaterThanOrEqual(1);
      expect(status.isa.length).toBeGreaterThan(0);
    }
  });

  it('ADVPROP_NATIVE_KERNELS=0 turns it off, and registering then says why and registers nothing', () => {
    const before = process.env.ADVPROP_NATIVE_KERNELS;
    process.env.ADVPROP_NATIVE_KERNELS = '0';
    resetNativeAddon();
    try {
      const status = nativeAddon();
      expect(status.available).toBe(false);
      expect(!status.available && status.reason).toMatch(/ADVPROP_NATIVE_KERNELS=0/);
      expect(registerNativeKernels('cpu')).toEqual({ registered: [], reason: expect.stringMatching(/ADVPROP_NATIVE_KERNELS=0/) });
      expect(() => setNativeThreads(1)).toThrow(/ADVPROP_NATIVE_KERNELS=0/);
    } finally {
      if (before === undefined) delete process.env.ADVPROP_NATIVE_KERNELS;
      else process.env.ADVPROP_NATIVE_KERNELS = before;
      resetNativeAddon();
    }
  });

  it('a missing addon file is reported with the path and how to build it', () => {
    process.env.ADVPROP_NATIVE_ADDON = '/nonexistent/advprop-native.node';
    resetNativeAddon();
    try {
      const status = nativeAddon();
      expect(status.available).toBe(false);
      expect(!status.available && status.reason).toMatch(/ADVPROP_NATIVE_ADDON=\/nonexistent\/advprop-native\.node: no such file .*advprop-build-native.*libdnnl-dev/);
    } finally {
      delete process.env.ADVPROP_NATIVE_ADDON;
      resetNativeAddon();
    }
  });

  it('an addon built from older sources (a function missing) is refused with what it lacks', () => {
    const dir = mkdtempSync(join(tmpdir(), 'advprop-old-addon-'));
    const path = join(dir, 'old-addon.cjs');
    // Every function but the two newest: what a stale prebuilt addon would export.
    writeFileSync(path, `for (const name of ${JSON.stringify(ADDON_FUNCTIONS.filter((n) => n !== 'movingAverage' && n !== 'sgdUpdate'))}) exports[name] = () => ({});`);
    process.env.ADVPROP_NATIVE_ADDON = path;
    resetNativeAddon();
    try {
      const status = nativeAddon();
      expect(status.available).toBe(false);
      expect(!status.available && status.reason).toBe(`${path} was built from older sources (it has no movingAverage, sgdUpdate; rebuild it with npx advprop-build-native)`);
    } finally {
      delete process.env.ADVPROP_NATIVE_ADDON;
      resetNativeAddon();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prefers the prebuilt platform package, then an addon built from source', () => {
    const candidates = nativeAddonCandidates();
    const local = { path: expect.stringMatching(/native-kernels\/build\/advprop-native\.node$/), source: 'built from source' };
    const prebuilt = { path: expect.stringMatching(/native-kernels-linux-x64\/lib\/advprop-native\.node$/), source: 'prebuilt' };
    if (candidates.length === 1) expect(candidates).toEqual([local]);
    else {
      // The prebuilt one first, unless the build from source is newer (made on purpose after it).
      expect(candidates).toEqual(candidates[0]!.source === 'prebuilt' ? [prebuilt, local] : [local, prebuilt]);
      if (candidates[0]!.source === 'built from source') expect(statSync(candidates[0]!.path).mtimeMs).toBeGreaterThan(statSync(candidates[1]!.path).mtimeMs);
    }
    expect(platformPackageName()).toBe(`@advprop/native-kernels-${process.platform}-${process.arch}`);
    const status = nativeAddon();
    if (status.available) expect(status.path).toBe(candidates.find((c) => existsSync(c.path))?.path);
  });

  it('serves wasm and cpu only', () => {
    expect(registerNativeKernels('webgpu')).toEqual({ registered: [], reason: 'native kernels serve wasm and cpu, not webgpu' });
  });
});

describe.skipIf(!built)('the addon checks its arguments', () => {
  it('names the argument whose size or type is wrong', () => {
    const status = nativeAddon();
    if (!status.available) throw new Error(status.reason);
    const geometry = [1, 4, 4, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    const x = new Float32Array(32);
    const w = new Float32Array(54);
    expect(() => status.addon.convForward(x, w, new Float32Array(47), geometry, null, 0)).toThrow('output has 47 elements, expected 48');
    expect(() => status.addon.convForward(new Float64Array(32) as never, w, new Float32Array(48), geometry, null, 0)).toThrow('x must be a Float32Array');
    expect(() => status.addon.convForward(x, w, new Float32Array(48), geometry.slice(1), null, 0)).toThrow('geometry must have 18 entries, got 17');
    expect(() => status.addon.convBackwardWeights(x, new Float32Array(48), new Float32Array(53), geometry)).toThrow('filter gradient has 53 elements, expected 54');
    expect(() => status.addon.batchNormForward(x, 4, 8, null, null, 1e-3, new Float32Array(32), new Float32Array(7), new Float32Array(8))).toThrow(
      'mean has 7 elements, expected 8',
    );
    expect(() => status.addon.elementwiseBinary(2, new Float32Array(8), new Float32Array(3), new Float32Array(8))).toThrow(
      "a (8 elements) and b (3) must be the output's size (8) and the output's size or a period of it from 2",
    );
    expect(() => status.addon.reluGrad(new Float32Array(4), new Float32Array(5), new Float32Array(4))).toThrow('x has 5 elements, expected 4');
    const f = (k: number) => new Float32Array(k);
    expect(() => status.addon.batchNormForward(x, 4, 8, null, null, 1e-3, f(32), f(8), f(8), f(32), false)).toThrow('a residual is only added before a ReLU');
    expect(() => status.addon.batchNormForward(x, 4, 8, null, null, 1e-3, f(32), f(8), f(8), f(31), true)).toThrow('residual has 31 elements, expected 32');
    expect(() => status.addon.batchNormBackward(x, x, 4, 8, f(8), f(8), null, 1e-3, f(32), f(8), f(8), null, f(32))).toThrow('a residual gradient needs the ReLU\'s output y');
    expect(() => status.addon.reluMaskedScale(x, x, f(5), null, f(32))).toThrow('inverse std must have one value per channel (the last axis), got 5 for 32 elements');
    expect(() => status.addon.movingAverage(new Float32Array(4), new Float32Array(4), 0.1, new Float32Array(3))).toThrow('output has 3 elements, expected 4');
    const four = () => new Float32Array(4);
    expect(() => status.addon.sgdUpdate(four(), four(), new Float32Array(2), 0.1, 0.9, 0, false, four(), four())).toThrow('velocity has 2 elements, expected 4');
    expect(() => status.addon.sgdUpdate(four(), four(), four(), 0.1, 0.9, 0, false, four(), new Float32Array(5))).toThrow('velocity output has 5 elements, expected 4');
    expect(() => status.addon.maxPoolGrad(new Float32Array(1), new Float32Array(4), new Float32Array(4), [1, 2, 2, 1, 1, 1, 2, 2, 2, 2, 0])).toThrow(
      'pooling geometry must be an array of 12 integers',
    );
    expect(() => setNativeThreads(0)).toThrow(/positive integer/);
  });
});

describe.skipIf(!built)('worker threads sharing the addon', () => {
  it('two workers convolving at once get what one thread gets', async () => {
    const status = nativeAddon();
    if (!status.available) throw new Error(status.reason);
    // Each worker: 40 convolutions (forward, data and filter gradients) over a few geometries,
    // deterministic inputs; returns a checksum per call.
    const source = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData.path);
      const sums = [];
      const geometries = [
        [8, 16, 16, 8, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1],
        [8, 16, 16, 16, 8, 8, 32, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1],
        [4, 9, 9, 6, 9, 9, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 6],
      ];
      for (let i = 0; i < 40; i++) {
        const g = geometries[(i + workerData.offset) % geometries.length];
        const [n, h, w, ci, oh, ow, co, kh, kw, , , , , , , , , groups] = g;
        const fill = (len, k) => Float32Array.from({ length: len }, (_, j) => Math.sin(j * 0.37 + k));
        const x = fill(n * h * w * ci, i), f = fill(kh * kw * (ci / groups) * co, i + 1), dy = fill(n * oh * ow * co, i + 2);
        const y = new Float32Array(n * oh * ow * co), dx = new Float32Array(x.length), dw = new Float32Array(f.length);
        addon.convForward(x, f, y, g, null, 0);
        addon.convBackwardData(dy, f, dx, g);
        addon.convBackwardWeights(x, dy, dw, g);
        sums.push([y, dx, dw].map((a) => a.reduce((s, v) => s + v, 0)));
      }
      parentPort.postMessage(sums);`;
    const { Worker } = await import('node:worker_threads');
    const run = (offset: number) =>
      new Promise<number[][]>((resolve, reject) => {
        const worker = new Worker(source, { eval: true, workerData: { path: status.path, offset } });
        worker.once('message', (m) => resolve(m as number[][]));
        worker.once('error', reject);
      });
    const [a, b] = await Promise.all([run(0), run(1)]);
    const [aAlone] = await Promise.all([run(0)]);
    const [bAlone] = await Promise.all([run(1)]);
    expect(a).toEqual(aAlone);
    expect(b).toEqual(bAlone);
  });
});

for (const backendName of ['cpu', 'wasm'] as const) {
  describe.skipIf(!built)(`native kernels on ${backendName}`, () => {
    beforeAll(async () => {
      if (backendName === 'wasm') {
        setWasmPaths(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm')) + '/');
      }
      await tf.setBackend(backendName);
      await tf.ready();
      unregisterNativeKernels(backendName);
    });
    afterAll(() => unregisterNativeKernels(backendName));

    it('registers every kernel idempotently and unregisters back to the previous ones', () => {
      const previous = tf.getKernel('Conv2D', backendName)!.kernelFunc;
      const first = registerNativeKernels(backendName);
      expect(first.registered).toEqual(NATIVE_KERNEL_NAMES);
      const fn = tf.getKernel('Conv2D', backendName)!.kernelFunc;
      expect(fn).not.toBe(previous);
      expect(registerNativeKernels(backendName).registered).toEqual(NATIVE_KERNEL_NAMES);
      expect(tf.getKernel('Conv2D', backendName)!.kernelFunc).toBe(fn);
      unregisterNativeKernels(backendName);
      expect(tf.getKernel('Conv2D', backendName)!.kernelFunc).toBe(previous);
      expect(hasNativeKernel('Conv2D', backendName)).toBe(false);
      expect(tf.getKernel(BATCH_NORM_TRAINING_KERNEL, backendName)).toBeUndefined();
      registerNativeKernels(backendName);
      expect(hasNativeKernel(BATCH_NORM_TRAINING_KERNEL, backendName)).toBe(true);
    });

    it('training batch norm matches tf.moments + tf.batchNorm and their gradients (2D and 4D, with and without scale/offset)', () => {
      const random = new SeededRandom(3);
      for (const shape of [[4, 5, 6, 7], [9, 3], [2, 3, 3, 16]]) {
        for (const affine of [true, false]) {
          const c = shape[shape.length - 1]!;
          tf.tidy(() => {
            const x = randomTensor(shape, random, -2, 3);
            const gamma = affine ? randomTensor([c], random, 0.5, 1.5) : tf.ones([c]);
            const beta = affine ? randomTensor([c], random) : tf.zeros([c]);
            const weight = randomTensor(shape, random);
            const eps = 1e-3;
            const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x, scale: gamma, offset: beta }, { varianceEpsilon: eps }) as tf.Tensor[];
            const axes = shape.slice(0, -1).map((_, i) => i);
            const m = tf.moments(x, axes);
            const composite = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
              const mm = tf.moments(a, axes);
              return tf.add(tf.mul(tf.mul(tf.sub(a, mm.mean), tf.rsqrt(tf.add(mm.variance, eps))), g), b);
            };
            expect(maxRelDiff(mean!, m.mean)).toBeLessThan(1e-5);
            expect(maxRelDiff(variance!, m.variance)).toBeLessThan(1e-5);
            expect(maxRelDiff(y!, composite(x, gamma, beta))).toBeLessThan(1e-5);
            // gradient of sum(y * weight)
            const dy = weight;
            const [dx, dscale, doffset] = tf.engine().runKernel(
              BATCH_NORM_TRAINING_GRAD_KERNEL,
              { dy, x, mean: mean!, variance: variance!, scale: gamma },
              { varianceEpsilon: eps },
            ) as tf.Tensor[];
            const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(composite(a, g, b), weight)))([x, gamma, beta]);
            expect(maxRelDiff(dx!, grads[0]!), `dx ${shape}`).toBeLessThan(1e-4);
            expect(maxRelDiff(dscale!, grads[1]!), `dscale ${shape}`).toBeLessThan(1e-4);
            expect(maxRelDiff(doffset!, grads[2]!), `doffset ${shape}`).toBeLessThan(1e-4);
          });
        }
      }
    });

    it('training batch norm statistics match float64 when the mean dwarfs the spread (one-pass moments do not cancel)', () => {
      // mean 1e5, sd 0.1: mean^2 / var is about 1e12, where moments summed around zero in double
      // lose about 1e-4 of the variance; the kernel sums around the first row's values.
      const random = new SeededRandom(11);
      const [rows, c] = [2 * 7 * 7, 16];
      const values = Float32Array.from({ length: rows * c }, () => random.uniform(1e5 - 0.2, 1e5 + 0.2));
      tf.tidy(() => {
        const x = tf.tensor4d(values, [2, 7, 7, c]);
        const [, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x }, { varianceEpsilon: 1e-3 }) as tf.Tensor[];
        const m = mean!.dataSync();
        const v = variance!.dataSync();
        for (let k = 0; k < c; k++) {
          let sum = 0;
          for (let r = 0; r < rows; r++) sum += values[r * c + k]!;
          const mu = sum / rows;
          let sq = 0;
          for (let r = 0; r < rows; r++) sq += (values[r * c + k]! - mu) ** 2;
          expect(Math.abs(m[k]! - mu) / mu, `mean of channel ${k}`).toBeLessThan(1e-7);
          expect(Math.abs(v[k]! - sq / rows) / (sq / rows), `variance of channel ${k}`).toBeLessThan(1e-6);
        }
      });
    });

    it('inference batch norm (FusedBatchNorm) matches the formula with [C] and [1,1,1,C] statistics, and falls back for other broadcasts', () => {
      const random = new SeededRandom(4);
      tf.tidy(() => {
        const x = randomTensor([3, 4, 5, 6], random);
        const mean = randomTensor([6], random);
        const variance = randomTensor([6], random, 0.1, 2);
        const scale = randomTensor([6], random);
        const offset = randomTensor([6], random);
        const expected = tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3))), scale), offset);
        expect(maxRelDiff(tf.batchNorm(x, mean, variance, offset, scale, 1e-3), expected)).toBeLessThan(1e-5);
        const r = (t: tf.Tensor) => tf.reshape(t, [1, 1, 1, 6]);
        expect(maxRelDiff(tf.batchNorm(x, r(mean), r(variance), r(offset), r(scale), 1e-3), expected)).toBeLessThan(1e-5);
        expect(maxRelDiff(tf.batchNorm(x, mean, variance), tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-3))))).toBeLessThan(1e-5);
        // statistics of shape [1] broadcast over the channels: not per channel, served by the stock kernel
        const one = (v: number) => tf.tensor1d([v]);
        const shared = tf.add(tf.mul(tf.div(tf.sub(x, 0.5), tf.sqrt(tf.add(2, 1e-3))), 3), -1);
        expect(maxRelDiff(tf.batchNorm(x, one(0.5), one(2), one(-1), one(3), 1e-3), shared)).toBeLessThan(1e-5);
      });
    });

    it('inference batch norm\'s gradient computes only what is asked, bit for bit tfjs-core\'s formulas', async () => {
      const random = new SeededRandom(11);
      const shape = [8, 16, 16, 16]; // the x gradient's per-channel multiplies reach BROADCAST_NATIVE_MIN
      const epsilon = 1e-3;
      const x = randomTensor(shape, random);
      const dy = randomTensor(shape, random, -2, 2);
      const mean = randomTensor([16], random);
      const variance = randomTensor([16], random, 0.1, 2);
      const scale = randomTensor([16], random);
      const offset = randomTensor([16], random);
      const same = (got: tf.Tensor, want: tf.Tensor) => {
        expect(got.shape).toEqual(want.shape);
        const a = got.dataSync();
        const b = want.dataSync();
        return a.every((v, i) => Object.is(v, b[i]));
      };
      tf.tidy(() => {
        // tfjs-core's FusedBatchNorm gradient, written out: the x gradient multiplies by a tiled 1/sqrt(var + eps)
        const r = tf.rsqrt(tf.add(variance, tf.scalar(epsilon)));
        const axes = [0, 1, 2];
        const dyScale = tf.mul(dy, scale);
        const xMinusMean = tf.sub(x, mean);
        const want = {
          x: tf.mul(tf.mul(dy, tf.tile(tf.reshape(r, [1, 1, 1, 16]), [8, 16, 16, 1])), scale),
          mean: tf.sum(tf.mul(tf.mul(r, tf.scalar(-1)), dyScale), axes),
          variance: tf.sum(tf.mul(tf.mul(tf.mul(tf.mul(tf.mul(r, r), r), tf.scalar(-0.5)), xMinusMean), dyScale), axes),
          scale: tf.sum(tf.mul(dy, tf.mul(xMinusMean, r)), axes),
          offset: tf.sum(dy, axes),
        };
        const f = (xi: tf.Tensor, m: tf.Tensor, v: tf.Tensor, s: tf.Tensor, o: tf.Tensor) => tf.batchNorm(xi, m, v, o, s, epsilon);
        const [gx, gm, gv, gs, go] = tf.grads(f)([x, mean, variance, scale, offset], dy);
        expect(same(gx!, want.x)).toBe(true);
        expect(same(gm!, want.mean)).toBe(true);
        expect(same(gv!, want.variance)).toBe(true);
        expect(same(gs!, want.scale)).toBe(true);
        expect(same(go!, want.offset)).toBe(true);
      });
      // The x gradient alone (what an attack through an inference-mode BN takes): two multiplies, no x - mean, no tile.
      const profile = await tf.profile(() => {
        tf.tidy(() => {
          tf.grad((xi: tf.Tensor) => tf.batchNorm(xi, mean, variance, offset, scale, epsilon))(x, dy);
        });
      });
      const names = profile.kernels.map((k) => k.name);
      expect(names).not.toContain('Tile');
      expect(names).not.toContain('Sub');
      expect(names.filter((n) => n === 'Multiply')).toHaveLength(2);
      tf.dispose([x, dy, mean, variance, scale, offset]);
    });

    it('the Mean gradient divides and broadcasts dy without a tensor of ones, bit for bit tfjs\'s', async () => {
      const random = new SeededRandom(12);
      const x = randomTensor([16, 8, 8, 64], random);
      const cases: { axis: number | number[]; keepDims: boolean }[] = [
        { axis: [1, 2], keepDims: false },
        { axis: [1, 2], keepDims: true },
        { axis: 0, keepDims: false },
        { axis: -1, keepDims: false },
      ];
      for (const { axis, keepDims } of cases) {
        tf.tidy(() => {
          const reducedShape = tf.mean(x, axis, keepDims).shape;
          const dy = randomTensor(reducedShape, random, -3, 3);
          const axes = tf.util.parseAxisParam(axis, x.shape);
          const kept = x.shape.map((d, a) => (axes.includes(a) ? 1 : d));
          const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
          // tfjs' gradient: dy (with the reduced axes kept) times ones the size of x, divided by the count
          const want = tf.div(tf.mul(tf.reshape(dy, kept), tf.ones(x.shape)), count);
          const got = tf.grad((t: tf.Tensor) => tf.mean(t, axis, keepDims))(x, dy);
          expect(got.shape).toEqual(x.shape);
          const a = got.dataSync();
          const b = want.dataSync();
          expect(a.every((v, i) => Object.is(v, b[i]))).toBe(true);
        });
      }
      const profile = await tf.profile(() => {
        tf.tidy(() => {
          tf.grad((t: tf.Tensor) => tf.mean(t, [1, 2]))(x);
        });
      });
      expect(profile.kernels.map((k) => k.name)).not.toContain('Multiply');
      x.dispose();
    });

    it('sums and means over every axis but the last, natively, and leaves other reductions to the stock kernels', () => {
      const spy = vi.spyOn(builtAddon(), 'channelSums');
      const random = new SeededRandom(8);
      try {
        tf.tidy(() => {
          const shape = [4, 8, 8, 20];
          const x = randomTensor(shape, random, -1, 2);
          const values = x.dataSync();
          const expectedSum = new Float64Array(20);
          for (let i = 0; i < values.length; i++) expectedSum[i % 20]! += values[i]!;
          const rows = values.length / 20;
          const sum = tf.sum(x, [0, 1, 2]);
          expect(sum.shape).toEqual([20]);
          expect(maxRelDiff(sum, tf.tensor1d(Array.from(expectedSum)))).toBeLessThan(1e-6);
          const mean = tf.mean(x, [-4, -3, -2], true);
          expect(mean.shape).toEqual([1, 1, 1, 20]);
          expect(maxRelDiff(tf.reshape(mean, [20]), tf.tensor1d(Array.from(expectedSum, (v) => v / rows)))).toBeLessThan(1e-6);
          const m2 = tf.mean(tf.reshape(x, [rows, 20]), 0);
          expect(maxRelDiff(m2, tf.tensor1d(Array.from(expectedSum, (v) => v / rows)))).toBeLessThan(1e-6);
          expect(spy.mock.calls.length).toBe(3);
          // other axes, small tensors, other dtypes: the stock kernels, still right
          const inner = tf.sum(x, [1, 2]);
          expect(inner.shape).toEqual([4, 20]);
          expect(Math.abs(tf.sum(inner).dataSync()[0]! - expectedSum.reduce((a, b) => a + b, 0))).toBeLessThan(1e-2);
          expect(Array.from(tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 0).dataSync())).toEqual([4, 6]);
          expect(Array.from(tf.mean(tf.tensor2d([[1, 2], [3, 4]]), 0).dataSync())).toEqual([2, 3]);
          expect(tf.sum(x).shape).toEqual([]);
          expect(spy.mock.calls.length).toBe(3);
        });
      } finally {
        spy.mockRestore();
      }
    });

    it('Sub, Multiply and Add match float32 arithmetic exactly, natively for per-channel broadcasts, stock otherwise', () => {
      const spy = vi.spyOn(builtAddon(), 'elementwiseBinary');
      const random = new SeededRandom(9);
      // [shape of a, shape of b, served natively]
      const cases: [number[], number[], boolean][] = [
        [[8, 16, 16, 20], [20], true], // per channel, from BROADCAST_NATIVE_MIN elements
        [[1, 1, 1, 20], [8, 16, 16, 20], true],
        [[8, 16, 16, 20], [16, 20], true], // a trailing block repeated
        [[8, 16, 16, 20], [8, 16, 16, 20], false], // equal shapes: XNNPACK is as fast
        [[8, 16, 16, 20], [], false], // a scalar: the same
        [[8, 16, 16, 20], [8, 1, 1, 20], false], // not a whole repeat
        [[4, 4, 20], [20], false], // small
      ];
      try {
        for (const [shapeA, shapeB, native] of cases) {
          tf.tidy(() => {
            const a = randomTensor(shapeA, random, -3, 3);
            const b = randomTensor(shapeB, random, -3, 3);
            const av = a.dataSync();
            const bv = b.dataSync();
            for (const [name, op, f] of [
              ['Sub', tf.sub, (u: number, v: number) => u - v],
              ['Multiply', tf.mul, (u: number, v: number) => u * v],
              ['Add', tf.add, (u: number, v: number) => u + v],
            ] as const) {
              const before = spy.mock.calls.length;
              const got = op(a, b);
              expect(spy.mock.calls.length - before, `${name} [${shapeA}] [${shapeB}] native`).toBe(native ? 1 : 0);
              const outShape = tf.broadcastArgs(tf.tensor1d(shapeA, 'int32'), tf.tensor1d(shapeB, 'int32')).arraySync() as number[];
              expect(got.shape).toEqual(outShape);
              expect(broadcastMismatches(got, av, shapeA, bv, shapeB, f), `${name} [${shapeA}] [${shapeB}]`).toBe(0);
            }
          });
        }
        // NaN and infinities pass through as in float32 arithmetic; int32 goes to the stock kernel
        tf.tidy(() => {
          const values = new Float32Array(1 << 16).map((_, i) => (i % 7) - 3);
          values[1] = NaN;
          values[2] = Infinity;
          const x = tf.tensor2d(values, [1 << 12, 16]);
          const before = spy.mock.calls.length;
          const got = tf.mul(x, tf.zeros([16])).dataSync();
          expect(spy.mock.calls.length - before).toBe(1);
          expect([got[0], got[1], got[2], got[3]]).toEqual([-0, NaN, NaN, 0]);
          expect(Array.from(tf.sub(tf.tensor1d([5, 7], 'int32'), tf.tensor1d([2, 3], 'int32')).dataSync())).toEqual([3, 4]);
          expect(spy.mock.calls.length - before).toBe(1);
        });
      } finally {
        spy.mockRestore();
      }
    });

    it('Maximum and Minimum equal Math.max and Math.min bit for bit (NaN, signed zeros, infinities), natively on equal shapes and per-channel broadcasts', () => {
      const spy = vi.spyOn(builtAddon(), 'elementwiseBinary');
      const random = new SeededRandom(13);
      const edges = [NaN, 0, -0, Infinity, -Infinity, 1, -1, 1e-40];
      const cases: [number[], number[], boolean][] = [
        [[8, 16, 16, 20], [8, 16, 16, 20], true], // equal shapes: natively, unlike Sub/Multiply/Add
        [[8, 16, 16, 20], [20], true],
        [[20], [8, 16, 16, 20], true],
        [[8, 16, 16, 20], [], false], // a scalar: the backend
        [[4, 4, 20], [4, 4, 20], false], // small
      ];
      try {
        for (const [shapeA, shapeB, native] of cases) {
          tf.tidy(() => {
            // Every third value an edge value: a's runs through them, b's changes every 8, so every
            // pair of edge values meets in the equal-shape case; the rest ordinary values.
            const fill = (shape: number[], edgeAt: (k: number) => number) => {
              const n = shape.reduce((p, d) => p * d, 1);
              return tf.tensor(Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? edges[edgeAt(i / 3) % edges.length]! : random.uniform(-2, 2))), shape);
            };
            const a = fill(shapeA, (k) => k);
            const b = shapeB.length === 0 ? tf.scalar(0.5) : fill(shapeB, (k) => Math.floor(k / edges.length));
            const av = a.dataSync();
            const bv = b.dataSync();
            for (const [name, op, f] of [
              ['Maximum', tf.maximum, Math.max],
              ['Minimum', tf.minimum, Math.min],
            ] as const) {
              const before = spy.mock.calls.length;
              const got = op(a, b);
              expect(spy.mock.calls.length - before, `${name} [${shapeA}] [${shapeB}] native`).toBe(native ? 1 : 0);
              if (!native) continue; // the backend's own semantics for NaN and zeros are its own
              expect(broadcastMismatches(got, av, shapeA, bv, shapeB, f), `${name} [${shapeA}] [${shapeB}]`).toBe(0);
            }
          });
        }
      } finally {
        spy.mockRestore();
      }
    });

    it('Sign equals tfjs\' -1 / 0 / 1 (zeros and NaN give 0), natively from BROADCAST_NATIVE_MIN elements', () => {
      const spy = vi.spyOn(builtAddon(), 'sign');
      const random = new SeededRandom(14);
      const edges = [NaN, 0, -0, Infinity, -Infinity, 1e-40, -1e-40, 3];
      try {
        tf.tidy(() => {
          const n = BROADCAST_NATIVE_MIN * 2;
          const values = Float32Array.from({ length: n }, (_, i) => (i < edges.length ? edges[i]! : random.uniform(-2, 2)));
          const got = tf.sign(tf.tensor(values, [n / 64, 64])).dataSync();
          expect(spy.mock.calls.length).toBe(1);
          const want = (v: number) => (v < 0 ? -1 : v > 0 ? 1 : 0);
          expect(Array.from(got.subarray(0, edges.length))).toEqual([0, 0, 0, 1, -1, 1, -1, 1]);
          expect(got.every((v, i) => Object.is(v, want(values[i]!)))).toBe(true);
          tf.sign(tf.tensor1d([-2, 0, 2])); // small: the backend's
          expect(spy.mock.calls.length).toBe(1);
        });
      } finally {
        spy.mockRestore();
      }
    });

    it('the ReLU gradient runs in one native pass, equals tfjs-core\'s dy * cast(step(x)) bit for bit, and falls back to it', () => {
      const spy = vi.spyOn(builtAddon(), 'reluGrad');
      const random = new SeededRandom(10);
      const shape = [8, 16, 16, 20]; // RELU_GRAD_NATIVE_MIN elements and more
      const n = shape.reduce((a, b) => a * b, 1);
      expect(n).toBeGreaterThanOrEqual(RELU_GRAD_NATIVE_MIN);
      const xv = Float32Array.from({ length: n }, () => random.uniform(-1, 1));
      const dyv = Float32Array.from({ length: n }, () => random.uniform(-2, 2));
      // the edges of the mask and of the product
      xv.set([0, -0, NaN, Infinity, -Infinity, 1e-40, -1e-40, 3]);
      dyv.set([1, -1, 2, -3, Infinity, -Infinity, 5, NaN]);
      const expected = Float32Array.from(xv, (v, i) => dyv[i]! * (Number.isNaN(v) ? NaN : v > 0 ? 1 : 0));
      const same = (got: Float32Array) => got.every((v, i) => Object.is(v, expected[i]));
      try {
        tf.tidy(() => {
          const x = tf.tensor(xv, shape);
          const dy = tf.tensor(dyv, shape);
          const composite = tf.mul(dy, tf.cast(tf.step(x), 'float32')).dataSync() as Float32Array;
          expect(same(composite)).toBe(true);
          const direct = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }) as tf.Tensor;
          expect(same(direct.dataSync() as Float32Array)).toBe(true);
          const viaGrad = tf.grad((t: tf.Tensor) => tf.relu(t))(x, dy);
          expect(spy.mock.calls.length).toBe(2);
          expect(same(viaGrad.dataSync() as Float32Array)).toBe(true);
          // small tensors keep tfjs' composite
          tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor1d([-1, 2]), tf.tensor1d([3, 4]));
          expect(spy.mock.calls.length).toBe(2);
          expect(() => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: tf.ones([4]), x: tf.ones([5]) })).toThrow(
            'AdvpropReluGrad takes float32 dy and x of one shape, got dy float32 [4] and x float32 [5]',
          );
        });
        // without the kernel, the Relu gradient is tfjs-core's composite again
        unregisterNativeKernels(backendName, [RELU_GRAD_KERNEL]);
        expect(hasNativeKernel(RELU_GRAD_KERNEL, backendName)).toBe(false);
        tf.tidy(() => {
          const g = tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor(xv, shape), tf.tensor(dyv, shape));
          expect(same(g.dataSync() as Float32Array)).toBe(true);
        });
        expect(spy.mock.calls.length).toBe(2);
      } finally {
        spy.mockRestore();
        registerNativeKernels(backendName);
      }
    });

    it('the moving-average and SGD update kernels equal their composite forms bit for bit, and name a wrong input', () => {
      const random = new SeededRandom(15);
      const edges = [NaN, 0, -0, Infinity, -Infinity, 1e-40, -1e-40, 3e38, -3e38, 1];
      const values = (n: number, scale: number) => Float32Array.from({ length: n }, (_, i) => (i < edges.length ? edges[(i * 7) % edges.length]! : random.uniform(-scale, scale)));
      const same = (got: tf.Tensor, want: tf.Tensor) => {
        const g = got.dataSync();
        const w = want.dataSync();
        expect(got.shape).toEqual(want.shape);
        return g.every((v, i) => Object.is(v, w[i]));
      };
      tf.tidy(() => {
        for (const shape of [[16], [3, 3, 16, 32]]) {
          const n = shape.reduce((a, b) => a * b, 1);
          const average = tf.tensor(values(n, 2), shape);
          const value = tf.tensor(values(n, 3).reverse(), shape);
          const decay = 1 - 0.99;
          const fused = tf.engine().runKernel(MOVING_AVERAGE_KERNEL, { average, value }, { decay }) as tf.Tensor;
          expect(same(fused, tf.sub(average, tf.mul(tf.sub(average, value), decay))), `moving average [${shape}]`).toBe(true);

          const param = tf.tensor(values(n, 1), shape);
          const grad = tf.tensor(values(n, 5).reverse(), shape);
          const velocity = tf.tensor(values(n, 0.5), shape);
          for (const [momentum, nesterov, weightDecay] of [
            [0.9, false, 0],
            [0.9, true, 5e-4],
            [0, false, 1e-4],
          ] as const) {
            const lr = 0.1;
            const g = weightDecay > 0 ? tf.add(grad, tf.mul(param, weightDecay)) : grad;
            const vNew = tf.add(tf.mul(velocity, momentum), g);
            const update = momentum > 0 ? (nesterov ? tf.add(g, tf.mul(vNew, momentum)) : vNew) : g;
            const pNew = tf.sub(param, tf.mul(update, lr));
            const attrs = { learningRate: lr, momentum, weightDecay, nesterov };
            const label = `sgd [${shape}] momentum ${momentum} nesterov ${nesterov} weight decay ${weightDecay}`;
            if (momentum > 0) {
              const [p, v] = tf.engine().runKernel(SGD_UPDATE_KERNEL, { param, grad, velocity }, attrs) as tf.Tensor[];
              expect(same(p!, pNew), label).toBe(true);
              expect(same(v!, vNew), label).toBe(true);
            } else {
              const p = tf.engine().runKernel(SGD_UPDATE_KERNEL, { param, grad }, attrs) as tf.Tensor;
              expect(same(p, pNew), label).toBe(true);
            }
          }
        }
        expect(() => tf.engine().runKernel(MOVING_AVERAGE_KERNEL, { average: tf.zeros([4]), value: tf.zeros([5]) }, { decay: 0.1 })).toThrow(
          'AdvpropMovingAverage takes float32 inputs of one size; value is float32 [5]',
        );
        expect(() => tf.engine().runKernel(SGD_UPDATE_KERNEL, { param: tf.zeros([4]), grad: tf.zeros([4], 'int32') }, { learningRate: 0.1 })).toThrow(
          'AdvpropSgdUpdate takes float32 inputs of one size; grad is int32 [4]',
        );
      });
    });

    it('BN + residual + ReLU kernels (training, inference and their gradients) equal the BN kernel, Add and Relu in turn, bit for bit', () => {
      const random = new SeededRandom(16);
      const shape = [4, 6, 6, 12];
      const n = shape.reduce((a, b) => a * b, 1);
      const fill = (k: number, lo: number, hi: number) => Float32Array.from({ length: k }, () => random.uniform(lo, hi));
      const same = (got: tf.Tensor, want: tf.Tensor) => got.dataSync().every((v, i) => Object.is(v, want.dataSync()[i]));
      tf.tidy(() => {
        const x = tf.tensor(fill(n, -2, 3), shape);
        const residual = tf.tensor(fill(n, -1, 1), shape);
        const dy = tf.tensor(fill(n, -1, 1), shape);
        const scale = tf.tensor1d(fill(12, 0.5, 1.5));
        const offset = tf.tensor1d(fill(12, -0.5, 0.5));
        const attrs = { varianceEpsilon: 1e-3 };
        for (const withResidual of [false, true]) {
          const label = withResidual ? 'with a residual' : 'without';
          // training: forward and gradient against BATCH_NORM_TRAINING(_GRAD)_KERNEL, Add and the ReLU gradient
          const inputs: tf.NamedTensorMap = { x, scale, offset };
          if (withResidual) inputs['residual'] = residual;
          const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_RELU_TRAINING_KERNEL, inputs, attrs) as tf.Tensor[];
          const [plain, plainMean, plainVariance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x, scale, offset }, attrs) as tf.Tensor[];
          const sum = withResidual ? tf.add(plain!, residual) : plain!;
          expect(same(y!, tf.relu(sum)), `${label}: training y`).toBe(true);
          expect(same(mean!, plainMean!) && same(variance!, plainVariance!), `${label}: statistics`).toBe(true);
          const grads = tf.engine().runKernel(BATCH_NORM_RELU_TRAINING_GRAD_KERNEL, { dy, x, y: y!, mean: mean!, variance: variance!, scale }, { ...attrs, residual: withResidual }) as tf.Tensor[];
          const masked = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: sum }) as tf.Tensor;
          const plainGrads = tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, { dy: masked, x, mean: mean!, variance: variance!, scale }, attrs) as tf.Tensor[];
          expect(grads.length, label).toBe(withResidual ? 4 : 3);
          plainGrads.forEach((g, i) => expect(same(grads[i]!, g), `${label}: training gradient ${i}`).toBe(true));
          if (withResidual) expect(same(grads[3]!, masked), `${label}: residual gradient`).toBe(true);
          // inference: forward, and the gradients through the registered gradient, against FusedBatchNorm, Add, Relu
          const stats = { mean: tf.tensor1d(fill(12, -0.5, 0.5)), variance: tf.tensor1d(fill(12, 0.5, 2)) };
          const inference = (a: tf.Tensor, r: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
            tf.engine().runKernel(BATCH_NORM_RELU_KERNEL, { x: a, ...stats, scale: g, offset: b, ...(withResidual ? { residual: r } : {}) }, attrs) as tf.Tensor;
          const composite = (a: tf.Tensor, r: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
            const normalized = tf.batchNorm(a, stats.mean, stats.variance, b, g, 1e-3);
            return tf.relu(withResidual ? tf.add(normalized, r) : normalized);
          };
          expect(same(inference(x, residual, scale, offset), composite(x, residual, scale, offset)), `${label}: inference y`).toBe(true);
          const wrt = (f: typeof composite) =>
            withResidual
              ? tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(f(a, r, g, b), dy)))([x, scale, offset, residual])
              : tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, residual, g, b), dy)))([x, scale, offset]);
          const got = wrt(inference);
          const want = wrt(composite);
          expect(got.length, label).toBe(withResidual ? 4 : 3);
          ['x', 'scale', 'offset', 'residual'].slice(0, got.length).forEach((name, i) => expect(same(got[i]!, want[i]!), `${label}: inference gradient of ${name}`).toBe(true));
        }
        expect(() => tf.engine().runKernel(RELU_MASKED_SCALE_KERNEL, { dy, y: dy, inverseStd: tf.ones([5]) })).toThrow(
          'AdvpropReluMaskedScale takes float32 dy and y of one shape and per-channel inverseStd and scale, got dy float32 [4,6,6,12], y float32 [4,6,6,12], inverseStd float32 [5], scale none',
        );
      });
    });

    it('MaxPoolGrad matches the definition (first maximum of each window, ties, NaN, -Infinity, overlapping windows, padding)', () => {
      const spy = vi.spyOn(builtAddon(), 'maxPoolGrad');
      const random = new SeededRandom(12);
      // [input shape, filter, strides, pad, values drawn from a few integers (ties)]
      const cases: [[number, number, number, number], [number, number], [number, number], 'same' | 'valid', boolean][] = [
        [[4, 16, 16, 8], [2, 2], [2, 2], 'valid', false],
        [[4, 16, 16, 8], [2, 2], [2, 2], 'valid', true],
        [[3, 15, 15, 10], [3, 3], [2, 2], 'same', true], // overlapping windows, odd size, padding
        [[2, 12, 12, 16], [3, 3], [1, 1], 'same', false],
        [[3, 11, 14, 12], [2, 3], [1, 2], 'valid', true],
      ];
      try {
        for (const [shape, filter, strides, pad, ties] of cases) {
          tf.tidy(() => {
            const n = shape.reduce((a, b) => a * b, 1);
            const xv = Float32Array.from({ length: n }, () => (ties ? random.int(3) : random.uniform(-1, 1)));
            xv[0] = NaN; // NaN is never a maximum
            const [, h, w, c] = shape;
            for (let k = 0; k < c; k++) xv[(h * w - 1) * c + k] = -Infinity; // the last pixel of image 0
            const x = tf.tensor4d(xv, shape);
            const y = tf.maxPool(x, filter, strides, pad);
            const dyv = Float32Array.from({ length: y.size }, () => random.uniform(-1, 1));
            const before = spy.mock.calls.length;
            const dx = tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, filter, strides, pad))(x, tf.tensor(dyv, y.shape));
            expect(spy.mock.calls.length - before, `${shape} native`).toBe(1);
            // the definition, in float64: each window's dy goes to its first strictly greatest value
            const info = backend_util.computePool2DInfo(shape, filter, strides, 1, pad);
            const expected = new Float64Array(n);
            for (let b = 0; b < shape[0]; b++)
              for (let oy = 0; oy < info.outHeight; oy++)
                for (let ox = 0; ox < info.outWidth; ox++)
                  for (let k = 0; k < c; k++) {
                    let best = -Infinity;
                    let where = -1;
                    for (let r = 0; r < filter[0]; r++)
                      for (let q = 0; q < filter[1]; q++) {
                        const iy = oy * strides[0] - info.padInfo.top + r;
                        const ix = ox * strides[1] - info.padInfo.left + q;
                        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                        const index = ((b * h + iy) * w + ix) * c + k;
                        if (xv[index]! > best) {
                          best = xv[index]!;
                          where = index;
                        }
                      }
                    if (where >= 0) expected[where]! += dyv[((b * info.outHeight + oy) * info.outWidth + ox) * c + k]!;
                  }
            expect(maxRelativeError(dx.dataSync(), expected), `${shape} ${filter} ${strides} ${pad}`).toBeLessThan(1e-6);
          });
        }
        // small inputs stay with the backend's kernel
        tf.tidy(() => {
          const before = spy.mock.calls.length;
          const dx = tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'))(tf.tensor4d([1, 3, 2, 0], [1, 2, 2, 1]));
          expect(Array.from(dx.dataSync())).toEqual([0, 1, 0, 0]);
          expect(spy.mock.calls.length).toBe(before);
        });
      } finally {
        spy.mockRestore();
      }
    });

    it('fused convolution applies bias and ReLU/ReLU6 natively and hands other activations to the stock kernel', () => {
      const random = new SeededRandom(5);
      tf.tidy(() => {
        const x = randomTensor([2, 7, 7, 3], random);
        const filter = randomTensor([3, 3, 3, 4], random);
        const bias = randomTensor([4], random);
        const plain = tf.add(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 1, 'same'), bias);
        const cases: [string, tf.Tensor][] = [
          ['linear', plain],
          ['relu', tf.relu(plain)],
          ['relu6', tf.clipByValue(plain, 0, 6)],
          ['elu', tf.elu(plain)],
          ['leakyrelu', tf.leakyRelu(plain, 0.1)],
        ];
        for (const [activation, expected] of cases) {
          const got = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: 'same', bias, activation: activation as 'relu', leakyreluAlpha: 0.1 });
          expect(maxRelDiff(got, expected), activation).toBeLessThan(1e-5);
        }
        const alpha = randomTensor([4], random);
        const prelu = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: filter as tf.Tensor4D, strides: 1, pad: 'same', bias, activation: 'prelu', preluActivationWeights: alpha });
        expect(maxRelDiff(prelu, tf.prelu(plain, alpha))).toBeLessThan(1e-5);
        // depthwise, fused with bias and ReLU
        const dw = randomTensor([3, 3, 3, 2], random);
        const db = randomTensor([6], random);
        const depthwise = tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter: dw as tf.Tensor4D, strides: 2, pad: 'same', bias: db, activation: 'relu' });
        expect(maxRelDiff(depthwise, tf.relu(tf.add(tf.depthwiseConv2d(x as tf.Tensor4D, dw as tf.Tensor4D, 2, 'same'), db)))).toBeLessThan(1e-5);
      });
    });

    it('gradients through conv + batch norm leak no tensor and no backend buffer', async () => {
      const random = new SeededRandom(6);
      const x = randomTensor([4, 8, 8, 3], random);
      const w = randomTensor([3, 3, 3, 8], random);
      try {
        const before = tf.engine().backend.numDataIds();
        await expectNoTensorLeak(() => {
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
          tf.tidy(() => {
            const h = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same');
            const attrs = { varianceEpsilon: 1e-3 };
            const [, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAINING_KERNEL, { x: h, scale: tf.ones([8]), offset: tf.zeros([8]) }, attrs) as tf.Tensor[];
            tf.engine().runKernel(BATCH_NORM_TRAINING_GRAD_KERNEL, { dy: h, x: h, mean: mean!, variance: variance!, scale: tf.ones([8]) }, attrs);
            tf.batchNorm(h, mean!, variance!);
          });
          tf.dispose([gx!, gw!]);
        });
        expect(tf.engine().backend.numDataIds()).toBe(before);
      } finally {
        tf.dispose([x, w]);
      }
    });
  });
}
