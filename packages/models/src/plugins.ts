/**
 * Registry plugins (kind 'model'): each creates a ModelFactory whose `build(spec)` returns a
 * functional tfjs-layers model with dual, plain or no BN, outputs logits.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { definePlugin, z, type ModelFactory, type ModelSpec } from '@advprop/core';
import { checkSpec, type SupportResult } from './common.js';
import { buildEfficientNetB0, EFFICIENTNET_MIN_SIZE } from './efficientnet.js';
import { buildMobileNetV2, MOBILENET_MIN_SIZE } from './mobilenet-v2.js';
import { buildResNet18, buildResNet20, buildWideResNet, RESNET_MIN_SIZE } from './resnet.js';
import { buildSmallCnn, SMALL_CNN_MIN_SIZE } from './small-cnn.js';

function factory(name: string, minSize: number, build: (spec: ModelSpec) => tfl.LayersModel): ModelFactory {
  return {
    name,
    supports: (spec: ModelSpec): SupportResult => checkSpec(name, spec, minSize),
    build,
  };
}

export const smallCnnOptions = z
  .object({
    filters: z.number().int().min(1).max(1024).default(32),
    dropout: z.number().min(0).lt(1).default(0),
  })
  .strict();

export const wideResNetOptions = z
  .object({
    depth: z
      .number()
      .int()
      .min(10)
      .refine((d) => (d - 4) % 6 === 0, 'depth must be 6n + 4 (10, 16, 22, 28, ...)')
      .default(16),
    widen: z.number().int().min(1).max(32).default(4),
    dropout: z.number().min(0).lt(1).default(0),
  })
  .strict();

export const mobileNetV2Options = z
  .object({
    alpha: z.number().positive().max(4).default(1),
    dropout: z.number().min(0).lt(1).default(0),
  })
  .strict();

export const efficientNetOptions = z
  .object({
    widthCoefficient: z.number().positive().max(8).default(1),
    depthCoefficient: z.number().positive().max(8).default(1),
    dropout: z.number().min(0).lt(1).default(0.2),
    dropConnect: z.number().min(0).lt(1).default(0.2),
    seRatio: z.number().min(0).max(1).default(0.25),
  })
  .strict();

export const smallCnnPlugin = definePlugin({
  kind: 'model',
  name: 'small-cnn',
  description: 'Small CNN for 28x28x1 inputs: 2 x [conv-BN-ReLU x2, max-pool], GAP, dense',
  options: smallCnnOptions,
  create: (_ctx, options) => factory('small-cnn', SMALL_CNN_MIN_SIZE, (spec) => buildSmallCnn(spec, options)),
});

export const resnet20Plugin = definePlugin({
  kind: 'model',
  name: 'resnet20',
  description: 'ResNet-20 for 32x32 inputs, as the PyTorch benchmark (0.27M parameters)',
  options: z.object({}).strict(),
  create: () => factory('resnet20', RESNET_MIN_SIZE, buildResNet20),
});

export const resnet18Plugin = definePlugin({
  kind: 'model',
  name: 'resnet18',
  description: 'ResNet-18, CIFAR variant (3x3 stem, no max-pool; 11.2M parameters)',
  options: z.object({}).strict(),
  create: () => factory('resnet18', RESNET_MIN_SIZE, buildResNet18),
});

export const wideResNetPlugin = definePlugin({
  kind: 'model',
  name: 'wrn-16-4',
  description: 'Wide ResNet (default WRN-16-4; depth and widen are options)',
  options: wideResNetOptions,
  create: (_ctx, options) =>
    factory(`wrn-${options.depth}-${options.widen}`, RESNET_MIN_SIZE, (spec) => buildWideResNet(spec, options)),
});

export const mobileNetV2Plugin = definePlugin({
  kind: 'model',
  name: 'mobilenet-v2',
  description: 'MobileNetV2 scaled for small inputs (stride-1 stem and second stage)',
  options: mobileNetV2Options,
  create: (_ctx, options) => factory('mobilenet-v2', MOBILENET_MIN_SIZE, (spec) => buildMobileNetV2(spec, options)),
});

export const efficientNetB0Plugin = definePlugin({
  kind: 'model',
  name: 'efficientnet-b0',
  description: 'EfficientNet-B0 (MBConv, squeeze-excitation, swish) scaled for small inputs',
  options: efficientNetOptions,
  create: (_ctx, options) =>
    factory('efficientnet-b0', EFFICIENTNET_MIN_SIZE, (spec) => buildEfficientNetB0(spec, options)),
});

/** Every model plugin of this package, for `createRegistry().use(models)`. */
export const models = [
  smallCnnPlugin,
  resnet20Plugin,
  resnet18Plugin,
  wideResNetPlugin,
  mobileNetV2Plugin,
  efficientNetB0Plugin,
] as const;
