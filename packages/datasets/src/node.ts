/**
 * @advprop/datasets/node: the adapters that read files (IDX, CIFAR binary, image folders) and
 * `datasets`, every dataset plugin of the package (the file-reading ones and the in-memory ones).
 */
export {
  readIdx,
  parseIdx,
  encodeIdx,
  readIdxPair,
  loadIdxDataset,
  IDX_FILES,
  DEBIAN_FASHION_MNIST_DIR,
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
  CIFAR_LAYOUT,
  type CifarData,
  type CifarSplit,
  type CifarVariant,
  type CifarDatasetOptions,
} from './cifar.js';
export {
  loadImageFolder,
  loadImageFolderDataset,
  IMAGE_EXTENSIONS,
  SHARP_INSTALL_HINT,
  type ImageFolderOptions,
  type ImageFolderData,
  type ImageFolderDatasetOptions,
} from './image-folder.js';
export { datasets, fileDatasets, idxPlugin, fashionMnistPlugin, cifar10Plugin, cifar100Plugin, imageFolderPlugin } from './plugins.js';
