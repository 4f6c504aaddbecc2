/**
 * EfficientNet-B0 (Tan & Le 2019, the AdvProp paper's family) scaled for small inputs.
 *
 * As in the paper / Keras: 3x3 stem conv 32 - BN - swish; MBConv blocks
 * (kernel, stride, expansion, output channels, repeats) = (3,1,1,16,1) (3,2,6,24,2) (5,2,6,40,2)
 * (3,2,6,80,3) (5,1,6,112,3) (5,2,6,192,4) (3,1,6,320,1), each: 1x1 expand - BN - swish (when the
 * expansion is not 1), kxk depthwise - BN - swish, squeeze-excitation (GAP - dense to
 * max(1, input channels / 4) with swish - dense back with sigmoid - multiply), 1x1 projection - BN,
 * and an identity shortcut with drop-connect (stochastic depth, rate rising linearly to
 * `dropConnect`) when stride is 1 and the channels match; 1x1 head conv 1280 - BN - swish, global
 * average pool, dropout, dense. `widthCoefficient` scales channels (multiple of 8),
 * `depthCoefficient` scales repeats (ceil), as in the compound scaling of B1-B7.
 *
 * Scaling for small inputs: the stem conv has stride 1 instead of 2 and the 24-channel stage
 * stride 1 instead of 2, so the total stride is 8 instead of 32 (32x32 -> 4x4 before pooling).
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '@advprop/core';
import { ConfigError } from '@advprop/core';
import { activation, add, assertSpec, BuildContext, input, makeDivisible, type SymbolicTensor } from './common.js';

export const EFFICIENTNET_MIN_SIZE = 8;

export interface EfficientNetOptions {
  /** Channel multiplier (B0: 1.0). */
  readonly widthCoefficient?: number;
  /** Repeat multiplier (B0: 1.0). */
  readonly depthCoefficient?: number;
  /** Dropout before the classifier (B0: 0.2). */
  readonly dropout?: number;
  /** Drop-connect rate of the last block (B0: 0.2); 0 disables stochastic depth. */
  readonly dropConnect?: number;
  /** Squeeze-excitation ratio relative to the block's input channels (B0: 0.25); 0 disables SE. */
  readonly seRatio?: number;
}

/** (kernel, stride, expansion, input channels, output channels, repeats) after the small-input scaling. */
export const EFFICIENTNET_B0_BLOCKS: readonly (readonly [number, number, number, number, number, number])[] = [
  [3, 1, 1, 32, 16, 1],
  [3, 1, 6, 16, 24, 2], // stride 2 in the paper
  [5, 2, 6, 24, 40, 2],
  [3, 2, 6, 40, 80, 3],
  [5, 1, 6, 80, 112, 3],
  [5, 2, 6, 112, 192, 4],
  [3, 1, 6, 192, 320, 1],
];

interface MbConvArgs {
  readonly cin: number;
  readonly cout: number;
  readonly kernel: number;
  readonly stride: number;
  readonly expansion: number;
  readonly seRatio: number;
  readonly dropConnect: number;
}

function squeezeExcite(ctx: BuildContext, x: SymbolicTensor, channels: number, reduced: number, name: string): SymbolicTensor {
  let s = tfl.layers.globalAveragePooling2d({ name: `${name}_se_squeeze` }).apply(x) as SymbolicTensor;
  s = ctx.dense(s, reduced, `${name}_se_reduce`, 'swish');
  s = ctx.dense(s, channels, `${name}_se_expand`, 'sigmoid');
  s = tfl.layers.reshape({ targetShape: [1, 1, channels], name: `${name}_se_reshape` }).apply(s) as SymbolicTensor;
  return tfl.layers.multiply({ name: `${name}_se_excite` }).apply([x, s]) as SymbolicTensor;
}

function mbConv(ctx: BuildContext, x: SymbolicTensor, a: MbConvArgs, name: string): SymbolicTensor {
  const expanded = a.cin * a.expansion;
  let h = x;
  if (a.expansion !== 1) {
    h = ctx.conv(h, expanded, 1, 1, `${name}_expand`);
    h = activation(ctx.applyBn(h, `${name}_expand_bn`), 'swish', `${name}_expand_swish`);
  }
  h = ctx.depthwise(h, a.kernel, a.stride, `${name}_depthwise`);
  h = activation(ctx.applyBn(h, `${name}_depthwise_bn`), 'swish', `${name}_depthwise_swish`);
  if (a.seRatio > 0) h = squeezeExcite(ctx, h, expanded, Math.max(1, Math.floor(a.cin * a.seRatio)), name);
  h = ctx.conv(h, a.cout, 1, 1, `${name}_project`);
  h = ctx.applyBn(h, `${name}_project_bn`);
  if (a.stride !== 1 || a.cin !== a.cout) return h;
  h = ctx.dropout(h, a.dropConnect, `${name}_drop`, [null, 1, 1, 1]);
  return add(h, x, `${name}_add`);
}

function positive(name: string, field: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new ConfigError(`${name}: ${field} must be ${allowZero ? 'non-negative' : 'positive'}, got ${value}`, [
      { path: field, message: allowZero ? 'must be non-negative' : 'must be positive' },
    ]);
  }
}

export function buildEfficientNetB0(spec: ModelSpec, options: EfficientNetOptions = {}): tfl.LayersModel {
  const width = options.widthCoefficient ?? 1;
  const depth = options.depthCoefficient ?? 1;
  const dropout = options.dropout ?? 0.2;
  const dropConnect = options.dropConnect ?? 0.2;
  const seRatio = options.seRatio ?? 0.25;
  const name = 'efficientnet-b0';
  positive(name, 'widthCoefficient', width);
  positive(name, 'depthCoefficient', depth);
  positive(name, 'dropout', dropout, true);
  positive(name, 'dropConnect', dropConnect, true);
  positive(name, 'seRatio', seRatio, true);
  assertSpec(name, spec, EFFICIENTNET_MIN_SIZE);
  const ctx = new BuildContext(spec, { momentum: 0.99, epsilon: 1e-3 });
  const filters = (f: number) => makeDivisible(f * width, 8);
  const repeats = (r: number) => Math.ceil(depth * r);
  const total = EFFICIENTNET_B0_BLOCKS.reduce((n, b) => n + repeats(b[5]), 0);

  const x = input(spec);
  let h = ctx.conv(x, filters(32), 3, 1, 'stem_conv');
  h = activation(ctx.applyBn(h, 'stem_bn'), 'swish', 'stem_swish');
  let index = 0;
  EFFICIENTNET_B0_BLOCKS.forEach(([kernel, stride, expansion, cin0, cout0, r], s) => {
    const cout = filters(cout0);
    let cin = filters(cin0);
    for (let i = 0; i < repeats(r); i++) {
      h = mbConv(
        ctx,
        h,
        { cin, cout, kernel, stride: i === 0 ? stride : 1, expansion, seRatio, dropConnect: (dropConnect * index) / total },
        `block${s + 1}_${i + 1}`,
      );
      cin = cout;
      index++;
    }
  });
  h = ctx.conv(h, filters(1280), 1, 1, 'head_conv');
  h = activation(ctx.applyBn(h, 'head_bn'), 'swish', 'head_swish');
  h = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as SymbolicTensor;
  h = ctx.dropout(h, dropout, 'dropout');
  const logits = ctx.dense(h, spec.numClasses, 'logits');
  return tfl.model({ inputs: x, outputs: logits, name });
}
