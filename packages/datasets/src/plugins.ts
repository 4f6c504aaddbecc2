/**
 * The registry plugins (kind 'dataset') of `@advprop/datasets/node`: the file-reading adapters
 * plus the in-memory ones. Register them with `createRegistry().use(datasets)` and resolve with
 * `registry.resolve('dataset', 'cifar10', { dir })`.
 */
import { definePlugin, z } from '@advprop/core';
import { loadCifarDataset } from './cifar.js';
import { loadImageFolderDataset } from './image-folder.js';
import { DEBIAN_FASHION_MNIST_DIR, FASHION_MNIST_CLASSES, KMNIST_CLASSES, loadIdxDataset, MNIST_CLASSES } from './idx.js';
import { memoryPlugin, mnistPackagePlugin, positive, seed } from './in-memory-plugins.js';

const dir = z.string().min(1).describe('directory holding the dataset files');

const PRESET_CLASSES = { mnist: MNIST_CLASSES, 'fashion-mnist': FASHION_MNIST_CLASSES, kmnist: KMNIST_CLASSES } as const;
const FASHION_HINT = 'Install Debian\'s "dataset-fashion-mnist" package (apt install dataset-fashion-mnist) or pass `dir`.';

export const idxPlugin = definePlugin({
  kind: 'dataset',
  name: 'idx',
  description: 'MNIST / Fashion-MNIST / KMNIST IDX files (plain or .gz) from a directory',
  options: z.strictObject({
    dir: dir.default(DEBIAN_FASHION_MNIST_DIR),
    preset: z.enum(['mnist', 'fashion-mnist', 'kmnist']).optional(),
    name: z.string().min(1).optional(),
    classNames: z.array(z.string()).min(1).optional(),
    /** Number of classes when neither preset nor classNames gives it (labels must lie below it). */
    numClasses: z.number().int().min(2).max(256).optional(),
    trainImages: z.string().min(1).optional(),
    trainLabels: z.string().min(1).optional(),
    testImages: z.string().min(1).optional(),
    testLabels: z.string().min(1).optional(),
    seed,
  }),
  create: (ctx, o) => {
    const preset = o.preset ?? (o.dir === DEBIAN_FASHION_MNIST_DIR ? 'fashion-mnist' : undefined);
    const classNames = o.classNames ?? (preset ? PRESET_CLASSES[preset] : undefined);
    const files = Object.fromEntries(
      (['trainImages', 'trainLabels', 'testImages', 'testLabels'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]),
    );
    return loadIdxDataset({
      dir: o.dir,
      name: o.name ?? preset ?? 'idx',
      ...(classNames ? { classNames } : {}),
      ...(o.numClasses !== undefined ? { numClasses: o.numClasses } : {}),
      files,
      seed: o.seed ?? ctx.random,
      ...(o.dir === DEBIAN_FASHION_MNIST_DIR ? { installHint: FASHION_HINT } : {}),
    });
  },
});

export const fashionMnistPlugin = definePlugin({
  kind: 'dataset',
  name: 'fashion-mnist',
  description: `Fashion-MNIST IDX files, by default from ${DEBIAN_FASHION_MNIST_DIR} (Debian's dataset-fashion-mnist)`,
  options: z.strictObject({ dir: dir.default(DEBIAN_FASHION_MNIST_DIR), seed }),
  create: (ctx, o) =>
    loadIdxDataset({
      dir: o.dir,
      name: 'fashion-mnist',
      classNames: FASHION_MNIST_CLASSES,
      seed: o.seed ?? ctx.random,
      installHint: FASHION_HINT,
    }),
});

export const cifar10Plugin = definePlugin({
  kind: 'dataset',
  name: 'cifar10',
  description: 'CIFAR-10 binary version (data_batch_1..5.bin, test_batch.bin) from a directory',
  options: z.strictObject({ dir, seed }),
  create: (ctx, o) => loadCifarDataset('cifar10', { dir: o.dir, seed: o.seed ?? ctx.random }),
});

export const cifar100Plugin = definePlugin({
  kind: 'dataset',
  name: 'cifar100',
  description: 'CIFAR-100 binary version (train.bin, test.bin) from a directory; fine (100) or coarse (20) labels',
  options: z.strictObject({ dir, labels: z.enum(['fine', 'coarse']).default('fine'), seed }),
  create: (ctx, o) => loadCifarDataset('cifar100', { dir: o.dir, labels: o.labels, seed: o.seed ?? ctx.random }),
});


export const imageFolderPlugin = definePlugin({
  kind: 'dataset',
  name: 'image-folder',
  description: 'One folder per class of PNG/JPEG images (dir/train + dir/test, or a held-out fraction), decoded with sharp',
  options: z.strictObject({
    dir,
    size: z.union([positive, z.tuple([positive, positive])]).describe('output size: N (square) or [height, width]'),
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    fit: z.enum(['fill', 'cover', 'contain']).default('fill'),
    testFraction: z.number().min(0).lt(1).default(0.2),
    concurrency: positive.default(4),
    name: z.string().min(1).optional(),
    seed,
  }),
  create: (ctx, o) =>
    loadImageFolderDataset({
      dir: o.dir,
      size: o.size,
      channels: o.channels,
      fit: o.fit,
      testFraction: o.testFraction,
      concurrency: o.concurrency,
      ...(o.name ? { name: o.name } : {}),
      seed: o.seed ?? ctx.random,
    }),
});

/** Dataset plugins that read files (Node only). */
export const fileDatasets = [idxPlugin, fashionMnistPlugin, cifar10Plugin, cifar100Plugin, imageFolderPlugin] as const;

export { memoryPlugin, mnistPackagePlugin };

/** Every dataset plugin of this package (Node: `@advprop/datasets/node`). */
export const datasets = [
  mnistPackagePlugin,
  idxPlugin,
  fashionMnistPlugin,
  cifar10Plugin,
  cifar100Plugin,
  imageFolderPlugin,
  memoryPlugin,
] as const;
