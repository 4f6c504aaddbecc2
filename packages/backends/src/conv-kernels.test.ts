import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers'; // registers the gradients of tfjs-core's ops
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backend_util } from '@tensorflow/tfjs-core';
import { expectNoTensorLeak, SeededRandom } from '@advprop/core';
import { hasNativeKernel, nativeAddon, registerNativeKernels, unregisterNativeKernels } from '@advprop/native-kernels';
import { maxRelativeError, refBackpropFilter, refBackpropInput, refConvForward, type RefGeometry } from './conv-reference.js';
import { hasTrainingKernel, registerTrainingKernels } from './training-kernels.js';
import { useBackend } from './use-backend.js';

type Pad = 'valid' | 'same' | backend_util.ExplicitPadding;

interface Case {
  x: [number, number, number, number];
  k: [number, number];
  /** out channels (conv) or channel multiplier (depthwise) */
  q: number;
  s: [number, number];
  d: [number, number];
  pad: Pad;
}

const TOL = 1e-4;

// Shapes, strides (1, 2), paddings (same, valid, explicit) and dilations (1, 2), including odd
// sizes, 1x1 filters, non-square kernels and strides, batch 1 and single channels.
const CONV_CASES: Case[] = [];
{
  const shapes: [number, number, number, number][] = [[2, 7, 7, 3], [1, 8, 6, 1], [3, 9, 10, 4], [2, 5, 5, 2]];
  const kernels: [number, number][] = [[3, 3], [1, 1], [2, 3], [5, 5]];
  const pads: Pad[] = ['same', 'valid', [[0, 0], [1, 0], [2, 1], [0, 0]], [[0, 0], [0, 2], [1, 1], [0, 0]]];
  const strides: [number, number][] = [[1, 1], [2, 2], [2, 1]];
  const dilations: [number, number][] = [[1, 1], [2, 2], [1, 2]];
  let i = 0;
  for (const x of shapes)
    for (const k of kernels)
      for (const pad of pads)
        for (const s of strides)
          for (const d of dilations) {
            i++;
            const extentH = (k[0] - 1) * d[0] + 1;
            const extentW = (k[1] - 1) * d[1] + 1;
            if (pad === 'valid' && (extentH > x[1] || extentW > x[2])) continue;
            if (Array.isArray(pad) && (extentH > x[1] + pad[1][0] + pad[1][1] || extentW > x[2] + pad[2][0] + pad[2][1])) continue;
            CONV_CASES.push({ x, k, q: 1 + (i % 5), s, d, pad });
          }
}

function geometry(c: Case, depthwise: boolean): { info: backend_util.Conv2DInfo; ref: RefGeometry } {
  const filterShape: [number, number, number, number] = [c.k[0], c.k[1], c.x[3], c.q];
  const info = depthwise
    ? backend_util.computeConv2DInfo(c.x, filterShape, c.s, c.d, c.pad, undefined, true)
    : backend_util.computeConv2DInfo(c.x, filterShape, c.s, c.d, c.pad, undefined, false, 'channelsLast');
  return {
    info,
    ref: {
      xShape: c.x,
      filterShape,
      strides: c.s,
      dilations: c.d,
      top: info.padInfo.top,
      left: info.padInfo.left,
      outHeight: info.outHeight,
      outWidth: info.outWidth,
      depthwise,
    },
  };
}

function randomArray(n: number, random: SeededRandom): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random.uniform(-1, 1);
  return a;
}

function label(c: Case): string {
  const pad = typeof c.pad === 'string' ? c.pad : JSON.stringify(c.pad.slice(1, 3));
  return `x=${c.x} k=${c.k} q=${c.q} s=${c.s} d=${c.d} pad=${pad}`;
}

/** Run one gradient kernel through the engine and compare with the float64 reference. */
function check(kind: 'filter' | 'input' | 'forward', depthwise: boolean, c: Case, random: SeededRandom): number {
  const { info, ref } = geometry(c, depthwise);
  const xData = randomArray(c.x.reduce((a, b) => a * b, 1), random);
  const fData = randomArray(ref.filterShape.reduce((a, b) => a * b, 1), random);
  const dyShape = info.outShape as [number, number, number, number];
  const dyData = randomArray(dyShape.reduce((a, b) => a * b, 1), random);
  const attrs: Record<string, unknown> = { strides: c.s, pad: c.pad, dilations: c.d, dimRoundingMode: undefined };
  let got: Float32Array;
  let expected: Float64Array;
  if (kind === 'forward') {
    got = tf.tidy(() => {
      const x = tf.tensor4d(xData, c.x);
      const filter = tf.tensor4d(fData, ref.filterShape as [number, number, number, number]);
      const name = depthwise ? 'DepthwiseConv2dNative' : 'Conv2D';
      const out = tf.engine().runKernel(name, { x, filter }, { ...attrs, dataFormat: 'NHWC' } as never) as tf.Tensor;
      expect(out.shape).toEqual(dyShape);
      return out.dataSync() as Float32Array;
    });
    expected = refConvForward(ref, xData, fData);
  } else if (kind === 'filter') {
    got = tf.tidy(() => {
      const x = tf.tensor4d(xData, c.x);
      const dy = tf.tensor4d(dyData, dyShape);
      const name = depthwise ? 'DepthwiseConv2dNativeBackpropFilter' : 'Conv2DBackpropFilter';
      const out = tf.engine().runKernel(name, { x, dy }, { ...attrs, filterShape: ref.filterShape, dataFormat: 'NHWC' } as never) as tf.Tensor;
      expect(out.shape).toEqual([...ref.filterShape]);
      return out.dataSync() as Float32Array;
    });
    expected = refBackpropFilter(ref, xData, dyData);
  } else {
    got = tf.tidy(() => {
      const filter = tf.tensor4d(fData, ref.filterShape as [number, number, number, number]);
      const dy = tf.tensor4d(dyData, dyShape);
      const name = depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput';
      const out = tf.engine().runKernel(name, { dy, filter }, { ...attrs, inputShape: c.x, dataFormat: 'NHWC' } as never) as tf.Tensor;
      expect(out.shape).toEqual([...c.x]);
      return out.dataSync() as Float32Array;
    });
    expected = refBackpropInput(ref, fData, dyData);
  }
  return maxRelativeError(got, expected);
}

// CI builds the native addon (ADVPROP_NATIVE_REQUIRED=1), so there the native suites always run.
const nativeRequired = !!process.env.ADVPROP_NATIVE_REQUIRED && process.env.ADVPROP_NATIVE_REQUIRED !== '0';
const nativeBuilt = nativeAddon().available;
it('the native addon is built wherever CI requires it', () => {
  const status = nativeAddon();
  if (nativeRequired) expect(status.available ? 'available' : status.reason).toBe('available');
});

for (const [backendName, variant] of [
  ['cpu', 'js'],
  ['wasm', 'js'],
  ['cpu', 'native'],
  ['wasm', 'native'],
] as const) {
  describe.skipIf(variant === 'native' && !nativeBuilt)(`${variant === 'native' ? 'native' : 'training'} kernels on ${backendName}`, () => {
    beforeAll(async () => {
      const info = await useBackend(backendName);
      expect(info.tfBackend).toBe(backendName);
      expect(tf.getBackend()).toBe(backendName);
      // One implementation at a time: the JS/wasm training kernels, or the native ones over them.
      unregisterNativeKernels(backendName);
      if (variant === 'native') expect(registerNativeKernels(backendName).registered.length).toBeGreaterThan(0);
      // Every kernel, ours or stock, is checked against the reference: on cpu the depthwise and
      // input-gradient kernels stay stock by default, so register ours too to test them.
      registerTrainingKernels(backendName, [
        'Conv2DBackpropFilter',
        'Conv2DBackpropInput',
        'DepthwiseConv2dNativeBackpropFilter',
        'DepthwiseConv2dNativeBackpropInput',
      ]);
    });
    afterAll(async () => {
      if (backendName === 'cpu') {
        const { unregisterTrainingKernels } = await import('./training-kernels.js');
        unregisterNativeKernels('cpu');
        unregisterTrainingKernels('cpu');
        registerTrainingKernels('cpu');
      }
      // leave the backend as useBackend sets it up (native kernels on when built)
      registerNativeKernels(backendName);
    });

    it('serves the gradient kernels with our implementations', () => {
      if (variant === 'native') {
        for (const name of ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']) {
          expect(hasNativeKernel(name, backendName), name).toBe(true);
        }
      } else {
        expect(hasNativeKernel('Conv2DBackpropFilter', backendName)).toBe(false);
        expect(hasTrainingKernel('Conv2DBackpropFilter', backendName)).toBe(true);
        expect(hasTrainingKernel('DepthwiseConv2dNativeBackpropFilter', backendName)).toBe(true);
      }
    });

    for (const kind of variant === 'native' ? (['forward', 'filter', 'input'] as const) : (['filter', 'input'] as const)) {
      for (const depthwise of [false, true]) {
        it(`${depthwise ? 'depthwise ' : ''}${kind === 'forward' ? 'forward convolution' : `${kind} gradient`} matches the float64 reference on ${CONV_CASES.length} geometries`, () => {
          const random = new SeededRandom(kind === 'filter' ? 11 : kind === 'input' ? 12 : 13);
          const failures: string[] = [];
          for (const c of CONV_CASES) {
            if (depthwise && c.s[0] !== c.s[1]) continue; // tfjs depthwise needs equal strides
            const err = check(kind, depthwise, { ...c, q: depthwise ? 1 + (c.q % 3) : c.q }, random);
            if (!(err <= TOL)) failures.push(`${label(c)}: ${err}`);
          }
          expect(failures).toEqual([]);
        });
      }
    }

    it('filter gradient over large batches (processed in chunks on wasm) matches the reference', () => {
      const random = new SeededRandom(21);
      const cases: Case[] = [
        { x: [40, 16, 16, 2], k: [3, 3], q: 128, s: [1, 1], d: [1, 1], pad: 'same' },
        { x: [37, 18, 18, 3], k: [3, 3], q: 96, s: [2, 2], d: [1, 1], pad: 'valid' }, // bottom row never read
        { x: [33, 12, 12, 2], k: [1, 1], q: 200, s: [2, 2], d: [1, 1], pad: 'valid' },
      ];
      for (const c of cases) expect(check('filter', false, c, random), label(c)).toBeLessThanOrEqual(TOL);
    });

    it('tiles like the definition (float32, int32, bool; every axis repeated or not)', () => {
      const random = new SeededRandom(9);
      const shapes: number[][] = [[5], [1, 1, 1, 7], [2, 3, 1, 4], [3, 1, 2], [1, 4], [2, 2, 2, 2, 3]];
      for (const shape of shapes) {
        for (let trial = 0; trial < 4; trial++) {
          const reps = shape.map(() => 1 + random.int(3));
          const size = shape.reduce((a, b) => a * b, 1);
          const values = Array.from({ length: size }, () => random.int(100));
          for (const dtype of ['float32', 'int32', 'bool'] as const) {
            const vals = dtype === 'bool' ? values.map((v) => v % 2) : values;
            const got = tf.tidy(() => tf.tile(tf.tensor(vals, shape, dtype), reps).arraySync());
            const expected = (() => {
              // reference: nested arrays tiled axis by axis
              const nest = (flat: number[], shp: number[]): unknown => {
                if (shp.length === 1) return flat.slice(0, shp[0]);
                const inner = flat.length / shp[0]!;
                return Array.from({ length: shp[0]! }, (_, i) => nest(flat.slice(i * inner, (i + 1) * inner), shp.slice(1)));
              };
              const tileNest = (a: unknown, r: number[]): unknown => {
                const arr = a as unknown[];
                const inner = r.length > 1 ? arr.map((e) => tileNest(e, r.slice(1))) : arr;
                return Array.from({ length: r[0]! }, () => inner).flat();
              };
              return tileNest(nest(vals, shape), reps);
            })();
            expect(got, `shape ${shape} reps ${reps} ${dtype}`).toEqual(expected);
          }
        }
      }
    });

    it('slices like the definition (begin/size on every axis, whole trailing axes, every dtype)', () => {
      const random = new SeededRandom(17);
      const shapes: number[][] = [[7], [3, 5], [2, 6, 6, 3], [4, 34, 34, 16], [2, 3, 4, 5, 6]];
      for (const shape of shapes) {
        for (let trial = 0; trial < 6; trial++) {
          const begin = shape.map((n) => (trial % 3 === 0 ? 0 : random.int(n)));
          const size = shape.map((n, i) => (trial % 2 === 0 ? n - begin[i]! : 1 + random.int(n - begin[i]!)));
          const total = shape.reduce((a, b) => a * b, 1);
          for (const dtype of ['float32', 'int32', 'bool'] as const) {
            const vals = Array.from({ length: total }, (_, i) => (dtype === 'bool' ? i % 2 : i));
            const got = tf.tidy(() => Array.from(tf.slice(tf.tensor(vals, shape, dtype), begin, size).dataSync()));
            // reference: walk every output index
            const strides = shape.map((_, a) => shape.slice(a + 1).reduce((p, n) => p * n, 1));
            const expected: number[] = [];
            const count = size.reduce((a, b) => a * b, 1);
            for (let o = 0; o < count; o++) {
              let rest = o;
              let flat = 0;
              for (let a = shape.length - 1; a >= 0; a--) {
                flat += (begin[a]! + (rest % size[a]!)) * strides[a]!;
                rest = Math.floor(rest / size[a]!);
              }
              expected.push(vals[flat]!);
            }
            expect(got, `shape ${shape} begin ${begin} size ${size} ${dtype}`).toEqual(expected);
          }
        }
      }
    });

    it('clones share memory safely: disposing either side keeps the other intact', () => {
      const a = tf.tensor1d([1, 2, 3]);
      const b = tf.clone(a);
      a.dispose();
      expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
      const c = tf.clone(b);
      const d = tf.add(c, 1);
      b.dispose();
      expect(Array.from(c.dataSync())).toEqual([1, 2, 3]);
      expect(Array.from(d.dataSync())).toEqual([2, 3, 4]);
      tf.dispose([c, d]);
      // a variable made from a clone is not changed by assigning to another clone's variable
      const v = tf.variable(tf.tensor1d([5, 6]));
      const w = tf.variable(tf.clone(v));
      v.assign(tf.tensor1d([7, 8]));
      expect(Array.from(w.dataSync())).toEqual([5, 6]);
      tf.dispose([v, w]);
    });

    it('casts to the same dtype share memory safely; casts to another dtype convert', () => {
      if (backendName === 'wasm') expect(hasTrainingKernel('Cast', backendName)).toBe(true);
      const dataIdsBefore = tf.engine().backend.numDataIds();
      const a = tf.tensor1d([1.5, -2, 3]);
      const b = tf.cast(a, 'float32');
      a.dispose();
      expect(Array.from(b.dataSync())).toEqual([1.5, -2, 3]);
      const i = tf.cast(b, 'int32');
      expect(i.dtype).toBe('int32');
      expect(Array.from(i.dataSync())).toEqual([1, -2, 3]);
      const j = tf.cast(i, 'int32');
      const f = tf.cast(i, 'float32');
      i.dispose();
      expect(Array.from(j.dataSync())).toEqual([1, -2, 3]);
      expect(f.dtype).toBe('float32');
      expect(Array.from(f.dataSync())).toEqual([1, -2, 3]);
      // the ReLU gradient casts its step mask: dy * cast(step(x))
      const x = tf.tensor1d([-1, 0.5, 2]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.relu(t), tf.tensor1d([3, 4, 5]))))(x);
      expect(Array.from(g.dataSync())).toEqual([0, 4, 5]);
      tf.dispose([b, j, f, x, g]);
      expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
    });

    it('matches tf.grad of conv2d on a ResNet-like layer and leaks no tensor or backend buffer', async () => {
      const random = new SeededRandom(5);
      const x = tf.tensor4d(randomArray(4 * 8 * 8 * 16, random), [4, 8, 8, 16]);
      const w = tf.tensor4d(randomArray(3 * 3 * 16 * 32, random), [3, 3, 16, 32]);
      try {
        const dataIdsBefore = tf.engine().backend.numDataIds();
        await expectNoTensorLeak(() => {
          const [gx, gw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, w]);
          const c: Case = { x: [4, 8, 8, 16], k: [3, 3], q: 32, s: [2, 2], d: [1, 1], pad: 'same' };
          const { ref } = geometry(c, false);
          const y = tf.conv2d(x, w, 2, 'same');
          const y2 = tf.mul(y, 2);
          const dy = y2.dataSync();
          tf.dispose([y, y2]);
          expect(maxRelativeError(gw!.dataSync(), refBackpropFilter(ref, x.dataSync(), dy))).toBeLessThan(TOL);
          expect(maxRelativeError(gx!.dataSync(), refBackpropInput(ref, w.dataSync(), dy))).toBeLessThan(TOL);
          gx!.dispose();
          gw!.dispose();
        });
        // depthwise (multiplier 2, stride 2) and 1x1 strided kernels free their intermediates too
        await expectNoTensorLeak(() => {
          const dw = tf.tensor4d(randomArray(3 * 3 * 16 * 2, random), [3, 3, 16, 2]);
          const w1 = tf.tensor4d(randomArray(16 * 8, random), [1, 1, 16, 8]);
          const grads = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
            tf.add(
              tf.sum(tf.square(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))),
              tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, c as tf.Tensor4D, 2, 'valid'))),
            ),
          )([x, dw, w1]);
          tf.dispose([...grads, dw, w1]);
        });
        expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
      } finally {
        x.dispose();
        w.dispose();
      }
    });
  });
}
