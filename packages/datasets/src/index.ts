/**
 * @advprop/datasets: dataset adapters (mnist package, IDX, CIFAR, image folders, memory), the
 * batching/prefetching input pipeline, transforms, corruptions and samplers.
 */
export { BaseDataset, InMemoryDataset, iterateBatches, selectOrder, bytesToUnit, type InMemoryDatasetOptions, type SplitArrays } from './base.js';
export {
  readIdx,
  parseIdx,
  encodeIdx,
  readIdxPair,
  loadIdxDataset,
  IDX_FILES,
  DEBIAN_FASHION_MNIST_DIR,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  KMNIST_CLASSES,
  type IdxArray,
  type IdxData,
  type IdxDatasetOptions,
  type IdxImagesAndLabels,
} from './idx.js';
export {
  readCifar,
  parseCifarRecords,
  encodeCifarRecords,
  loadCifarDataset,
  CIFAR10_CLASSES,
  CIFAR_LAYOUT,
  type CifarData,
  type CifarSplit,
  type CifarVariant,
  type CifarDatasetOptions,
} from './cifar.js';
export { loadMnistPackage, MNIST_INSTALL_HINT, type MnistPackageOptions } from './mnist-package.js';
export {
  loadImageFolder,
  loadImageFolderDataset,
  IMAGE_EXTENSIONS,
  SHARP_INSTALL_HINT,
  type ImageFolderOptions,
  type ImageFolderData,
  type ImageFolderDatasetOptions,
} from './image-folder.js';
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
export {
  datasets,
  mnistPackagePlugin,
  idxPlugin,
  fashionMnistPlugin,
  cifar10Plugin,
  cifar100Plugin,
  imageFolderPlugin,
  memoryPlugin,
} from './plugins.js';
