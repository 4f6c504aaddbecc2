/**
 * MobileNetV2 (Sandler et al. 2018) scaled for small inputs.
 *
 * Architecture as in the paper / Keras: 3x3 stem conv 32, inverted residual blocks
 * (t, c, n, s) = (1,16,1,1) (6,24,2,2) (6,32,3,2) (6,64,4,2) (6,96,3,1) (6,160,3,2) (6,320,1,1),
 * 1x1 conv 1280, global average pool, dense. Block: 1x1 expand (t x input channels) - BN - ReLU6,
 * 3x3 depthwise - BN - ReLU6, 1x1 linear projection - BN, identity shortcut when stride 1 and equal
 * channels. Width multiplier `alpha` scales every channel count (rounded to a multiple of 8; the
 * last conv stays 1280 unless alpha > 1).
 *
 * Scaling for small inputs (as in the usual CIFAR port): the stem conv has stride 1 instead of 2 and
 * the 24-channel stage stride 1 instead of 2, so the total stride is 8 instead of 32
 * (32x32 -> 4x4 before pooling, 28x28 -> 4x4).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '@advprop/core';
import { ConfigError } from '@advprop/core';
import { activation, add, assertSpec, BuildContext, input, makeDivisible, type SymbolicTensor } from './common.js';

export const MOBILENET_MIN_SIZE = 8;

export interface MobileNetV2Options {
  /** Width multiplier. Default 1. */
  readonly alpha?: number;
  /** Dropout before the classifier. Default 0. */
  readonly dropout?: number;
}

/** (expansion t, output channels c, repeats n, first stride s) after the small-input scaling. */
export const MOBILENET_V2_BLOCKS: readonly (readonly [number, number, number, number])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 1], // stride 2 in the paper
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidual(
  ctx: BuildContext,
  x: SymbolicTensor,
  cin: number,
  cout: number,
  expansion: number,
  stride: number,
  name: string,
): SymbolicTensor {
  let h = x;
  if (expansion !== 1) {
    h = ctx.conv(h, cin * expansion, 1, 1, `${name}_expand`);
    h = activation(ctx.applyBn(h, `${name}_expand_bn`), 'relu6', `${name}_expand_relu`);
  }
  h = ctx.depthwise(h, 3, stride, `${name}_depthwise`);
  h = activation(ctx.applyBn(h, `${name}_depthwise_bn`), 'relu6', `${name}_depthwise_relu`);
  h = ctx.conv(h, cout, 1, 1, `${name}_project`);
  h = ctx.applyBn(h, `${name}_project_bn`);
  return stride === 1 && cin === cout ? add(x, h, `${name}_add`) : h;
}

export function buildMobileNetV2(spec: ModelSpec, options: MobileNetV2Options = {}): tfl.LayersModel {
  const alpha = options.alpha ?? 1;
  const dropout = options.dropout ?? 0;
  if (!(alpha > 0) || !Number.isFinite(alpha)) {
    throw new ConfigError(`mobilenet-v2: alpha must be a positive number, got ${alpha}`, [
      { path: 'alpha', message: 'must be positive' },
    ]);
  }
  assertSpec('mobilenet-v2', spec, MOBILENET_MIN_SIZE);
  const ctx = new BuildContext(spec, { momentum: 0.99, epsilon: 1e-3 });
  const x = input(spec);
  let cin = makeDivisible(32 * alpha, 8);
  let h = ctx.conv(x, cin, 3, 1, 'stem_conv');
  h = activation(ctx.applyBn(h, 'stem_bn'), 'relu6', 'stem_relu');
  let index = 0;
  for (const [t, c, n, s] of MOBILENET_V2_BLOCKS) {
    const cout = makeDivisible(c * alpha, 8);
    for (let i = 0; i < n; i++) {
      h = invertedResidual(ctx, h, cin, cout, t, i === 0 ? s : 1, `block${index++}`);
      cin = cout;
    }
  }
  const last = alpha > 1 ? makeDivisible(1280 * alpha, 8) : 1280;
  h = ctx.conv(h, last, 1, 1, 'head_conv');
  h = activation(ctx.applyBn(h, 'head_bn'), 'relu6', 'head_relu');
  h = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as SymbolicTensor;
  h = ctx.dropout(h, dropout, 'dropout');
  const logits = ctx.dense(h, spec.numClasses, 'logits');
  return tfl.model({ inputs: x, outputs: logits, name: 'mobilenet-v2' });
}
