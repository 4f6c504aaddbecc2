/**
 * CIFAR-style residual networks for small inputs (3x3 stem with stride 1, no max-pool):
 *
 * - ResNet-20 (He et al. 2016, section 4.2) exactly as `shared/bench/torch_advprop_step.py`:
 *   3x3 stem conv 16 + BN + ReLU; 3 stages x 3 basic blocks with 16/32/64 channels, strides 1/2/2;
 *   3x3 convs without bias, BN after every conv, projection shortcut = 1x1 conv + BN where the
 *   shape changes; global average pool; dense 64 -> classes. Strided 3x3 convs pad 1 pixel on every
 *   side (PyTorch's `padding=1`), not TF's asymmetric 'same', so the sampling grid matches.
 * - ResNet-18 for 32x32 (the common CIFAR variant): same block type, 3x3 stem 64, stages 64/128/256/512
 *   with 2 blocks each, strides 1/2/2/2.
 * - WRN-d-k (Zagoruyko & Komodakis 2016): pre-activation wide basic blocks (BN-ReLU-conv3x3-BN-ReLU-
 *   [dropout]-conv3x3), widths 16k/32k/64k, (d-4)/6 blocks per stage, 1x1 conv shortcut where the
 *   shape changes, final BN-ReLU, global average pool, dense.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '@advprop/core';
import { ConfigError } from '@advprop/core';
import { add, assertSpec, BuildContext, input, type SymbolicTensor } from './common.js';

/** Smallest height/width the residual networks accept. */
export const RESNET_MIN_SIZE = 8;

/** PyTorch BatchNorm2d defaults (momentum 0.1 there = 0.9 in Keras terms, eps 1e-5). */
const TORCH_BN = { momentum: 0.9, epsilon: 1e-5 } as const;

export interface ResNetStage {
  readonly width: number;
  readonly blocks: number;
  readonly stride: number;
}

export interface CifarResNetConfig {
  readonly name: string;
  readonly stemWidth: number;
  readonly stages: readonly ResNetStage[];
}

/** 3x3 conv with PyTorch-style symmetric padding of 1 (padded inside the conv when strided, where 'same' would pad asymmetrically). */
function conv3x3(ctx: BuildContext, x: SymbolicTensor, filters: number, stride: number, name: string): SymbolicTensor {
  return ctx.conv(x, filters, 3, stride, name, stride === 1 ? 'same' : 1);
}

function basicBlock(
  ctx: BuildContext,
  x: SymbolicTensor,
  cin: number,
  cout: number,
  stride: number,
  name: string,
): SymbolicTensor {
  let h = conv3x3(ctx, x, cout, stride, `${name}_conv1`);
  h = ctx.bnRelu(h, `${name}_bn1`, { relu: `${name}_relu1` });
  h = conv3x3(ctx, h, cout, 1, `${name}_conv2`);
  let shortcut = x;
  if (stride !== 1 || cin !== cout) {
    shortcut = ctx.conv(x, cout, 1, stride, `${name}_short_conv`, 'valid');
    shortcut = ctx.applyBn(shortcut, `${name}_short_bn`);
  }
  // relu(bn2(h) + shortcut)
  return ctx.bnRelu(h, `${name}_bn2`, { add: `${name}_add`, relu: `${name}_out` }, shortcut);
}

/** A post-activation CIFAR ResNet of basic blocks (ResNet-20/32/56, ResNet-18 for 32x32). */
export function buildCifarResNet(spec: ModelSpec, config: CifarResNetConfig): tfl.LayersModel {
  assertSpec(config.name, spec, RESNET_MIN_SIZE);
  const ctx = new BuildContext(spec, TORCH_BN);
  const x = input(spec);
  let h = ctx.conv(x, config.stemWidth, 3, 1, 'stem_conv');
  h = ctx.bnRelu(h, 'stem_bn', { relu: 'stem_relu' });
  let cin = config.stemWidth;
  config.stages.forEach((stage, s) => {
    for (let b = 0; b < stage.blocks; b++) {
      h = basicBlock(ctx, h, cin, stage.width, b === 0 ? stage.stride : 1, `stage${s + 1}_block${b + 1}`);
      cin = stage.width;
    }
  });
  h = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as SymbolicTensor;
  const logits = ctx.dense(h, spec.numClasses, 'logits');
  return tfl.model({ inputs: x, outputs: logits, name: config.name });
}

export const RESNET20_CONFIG: CifarResNetConfig = {
  name: 'resnet20',
  stemWidth: 16,
  stages: [
    { width: 16, blocks: 3, stride: 1 },
    { width: 32, blocks: 3, stride: 2 },
    { width: 64, blocks: 3, stride: 2 },
  ],
};

export const RESNET18_CONFIG: CifarResNetConfig = {
  name: 'resnet18',
  stemWidth: 64,
  stages: [
    { width: 64, blocks: 2, stride: 1 },
    { width: 128, blocks: 2, stride: 2 },
    { width: 256, blocks: 2, stride: 2 },
    { width: 512, blocks: 2, stride: 2 },
  ],
};

/** ResNet-20 exactly as the PyTorch benchmark (272,474 trainable parameters for 10 classes with plain BN). */
export function buildResNet20(spec: ModelSpec): tfl.LayersModel {
  return buildCifarResNet(spec, RESNET20_CONFIG);
}

/** ResNet-18, CIFAR variant (3x3 stem, stride 1, no max-pool). */
export function buildResNet18(spec: ModelSpec): tfl.LayersModel {
  return buildCifarResNet(spec, RESNET18_CONFIG);
}

export interface WideResNetOptions {
  /** Total depth d; (d - 4) must be a positive multiple of 6. Default 16. */
  readonly depth?: number;
  /** Widening factor k. Default 4. */
  readonly widen?: number;
  /** Dropout between the two convs of each block. Default 0. */
  readonly dropout?: number;
}

function wideBlock(
  ctx: BuildContext,
  x: SymbolicTensor,
  cin: number,
  cout: number,
  stride: number,
  dropout: number,
  name: string,
): SymbolicTensor {
  const pre = ctx.bnRelu(x, `${name}_bn1`, { relu: `${name}_relu1` });
  let h = conv3x3(ctx, pre, cout, stride, `${name}_conv1`);
  h = ctx.bnRelu(h, `${name}_bn2`, { relu: `${name}_relu2` });
  h = ctx.dropout(h, dropout, `${name}_dropout`);
  h = conv3x3(ctx, h, cout, 1, `${name}_conv2`);
  // As in the reference implementation, the projection takes the pre-activated input.
  const shortcut = cin === cout && stride === 1 ? x : ctx.conv(pre, cout, 1, stride, `${name}_short_conv`, 'valid');
  return add(h, shortcut, `${name}_add`);
}

/** Wide ResNet WRN-depth-widen (default WRN-16-4). */
export function buildWideResNet(spec: ModelSpec, options: WideResNetOptions = {}): tfl.LayersModel {
  const depth = options.depth ?? 16;
  const widen = options.widen ?? 4;
  const dropout = options.dropout ?? 0;
  const name = `wrn-${depth}-${widen}`;
  if (!Number.isInteger(depth) || depth < 10 || (depth - 4) % 6 !== 0) {
    throw new ConfigError(`${name}: depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got ${depth}`, [
      { path: 'depth', message: 'must be 6n + 4' },
    ]);
  }
  if (!Number.isInteger(widen) || widen < 1) {
    throw new ConfigError(`${name}: widen must be a positive integer, got ${widen}`, [
      { path: 'widen', message: 'must be a positive integer' },
    ]);
  }
  assertSpec(name, spec, RESNET_MIN_SIZE);
  const ctx = new BuildContext(spec, TORCH_BN);
  const n = (depth - 4) / 6;
  const x = input(spec);
  let h = ctx.conv(x, 16, 3, 1, 'stem_conv');
  let cin = 16;
  [16 * widen, 32 * widen, 64 * widen].forEach((width, s) => {
    for (let b = 0; b < n; b++) {
      h = wideBlock(ctx, h, cin, width, b === 0 && s > 0 ? 2 : 1, dropout, `stage${s + 1}_block${b + 1}`);
      cin = width;
    }
  });
  h = ctx.bnRelu(h, 'final_bn', { relu: 'final_relu' });
  h = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as SymbolicTensor;
  const logits = ctx.dense(h, spec.numClasses, 'logits');
  return tfl.model({ inputs: x, outputs: logits, name });
}
