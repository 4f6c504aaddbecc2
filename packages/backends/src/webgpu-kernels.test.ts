/**
 * The webgpu training kernel (opt-in: ADVPROP_WEBGPU_TRAINING_KERNELS=1) against the float64
 * reference, on whatever WebGPU adapter Dawn finds. Without a GPU, Chromium's SwiftShader (a
 * software Vulkan driver shipped by Debian's chromium package) serves as one: Dawn refuses
 * Debian 12's lavapipe ("Vulkan shaderUniform*ArrayDynamicIndexing required"). Skipped, with the
 * reason, where no adapter is found.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers the gradients of tfjs-core's ops
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backend_util } from '@tensorflow/tfjs-core';
import { SeededRandom } from '@advprop/core';
import { maxRelativeError, refBackpropFilter, type RefGeometry } from './conv-reference.js';
import { hasTrainingKernel } from './training-kernels.js';
import { useBackend } from './use-backend.js';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
process.env.ADVPROP_WEBGPU_TRAINING_KERNELS = '1';
// The Vulkan loader reads this when Dawn first starts, in this process and in useBackend's probe.
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

const unavailable = await useBackend('webgpu').then(
  () => undefined,
  (error: unknown) => (error instanceof Error ? error.message : String(error)),
);

type Pad = 'valid' | 'same' | backend_util.ExplicitPadding;

describe.skipIf(unavailable !== undefined)(`webgpu training kernels${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  it('serves Conv2DBackpropFilter with ours when opted in', () => {
    expect(tf.getBackend()).toBe('webgpu');
    expect(hasTrainingKernel('Conv2DBackpropFilter', 'webgpu')).toBe(true);
  });

  it('filter gradient matches the float64 reference (strides 1 and 2, same/valid/explicit padding, 1x1 to 5x5)', async () => {
    const random = new SeededRandom(31);
    const shapes: [number, number, number, number][] = [[2, 7, 7, 3], [1, 8, 6, 1], [3, 9, 10, 4], [4, 16, 16, 8]];
    const filters: [number, number, number][] = [[3, 3, 5], [1, 1, 4], [2, 3, 2], [5, 5, 3]];
    const pads: Pad[] = ['same', 'valid', [[0, 0], [1, 0], [2, 1], [0, 0]]];
    const failures: string[] = [];
    let checked = 0;
    for (const xShape of shapes) {
      for (const [kh, kw, co] of filters) {
        for (const pad of pads) {
          for (const stride of [1, 2] as const) {
            const filterShape: [number, number, number, number] = [kh, kw, xShape[3], co];
            const info = backend_util.computeConv2DInfo(xShape, filterShape, stride, 1, pad, undefined, false, 'channelsLast');
            if (info.outHeight < 1 || info.outWidth < 1) continue;
            const ref: RefGeometry = {
              xShape,
              filterShape,
              strides: [stride, stride],
              dilations: [1, 1],
              top: info.padInfo.top,
              left: info.padInfo.left,
              outHeight: info.outHeight,
              outWidth: info.outWidth,
              depthwise: false,
            };
            const xData = Float32Array.from({ length: xShape.reduce((a, b) => a * b, 1) }, () => random.uniform(-1, 1));
            const dyShape = info.outShape as [number, number, number, number];
            const dyData = Float32Array.from({ length: dyShape.reduce((a, b) => a * b, 1) }, () => random.uniform(-1, 1));
            const dw = tf.tidy(() =>
              tf.engine().runKernel('Conv2DBackpropFilter', { x: tf.tensor4d(xData, xShape), dy: tf.tensor4d(dyData, dyShape) }, {
                strides: stride,
                pad,
                dataFormat: 'NHWC',
                dimRoundingMode: undefined,
                filterShape,
              } as never),
            ) as tf.Tensor;
            // readSync needs OffscreenCanvas on webgpu, absent in Node: read asynchronously
            const got = await dw.data();
            dw.dispose();
            const err = maxRelativeError(got, refBackpropFilter(ref, xData, dyData));
            checked++;
            if (!(err <= 1e-4)) failures.push(`x ${xShape} k ${kh}x${kw}x${co} pad ${JSON.stringify(pad)} stride ${stride}: ${err}`);
          }
        }
      }
    }
    expect(checked).toBeGreaterThan(80);
    expect(failures).toEqual([]);
  });
});
