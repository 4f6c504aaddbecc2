/**
 * @advprop/datasets: the batching/prefetching input pipeline, in-memory adapters (the `mnist`
 * package's digits, arrays or tensors), transforms, corruptions and samplers. Browser-safe; the
 * adapters that read files (IDX, CIFAR, image folders) are in `@advprop/datasets/node`.
 */
export { BaseDataset, InMemoryDataset, iterateBatches, selectOrder, bytesToUnit, type InMemoryDatasetOptions, type SplitArrays } from './base.js';
export { FASHION_MNIST_CLASSES, MNIST_CLASSES, KMNIST_CLASSES, CIFAR10_CLASSES } from './class-names.js';
export { loadMnistPackage, MNIST_INSTALL_HINT, type MnistPackageOptions } from './mnist-package.js';
export { memoryDataset, type MemoryDatasetOptions, type MemorySplitInput, type ImageInput, type LabelInput } from './memory.js';
export {
  randomCrop,
  horizontalFlip,
  normalize,
  denormalize,
  NORMALIZATION,
  type RandomCropOptions,
  type HorizontalFlipOptions,
  type NormalizeOptions,
} from './transforms.js';
export { corrupt, CORRUPTIONS, CORRUPTION_PARAMETERS, plasmaFractal, type CorruptionType, type CorruptOptions } from './corruptions.js';
export {
  imbalancedIndices,
  imbalanceCounts,
  fewShotEpisode,
  type ImbalanceOptions,
  type FewShotOptions,
  type FewShotEpisode,
} from './samplers.js';
export { subsetDataset, corruptedDataset, type SubsetOptions, type CorruptedDatasetOptions } from './derived.js';
export { datasets, mnistPackagePlugin, memoryPlugin } from './in-memory-plugins.js';
