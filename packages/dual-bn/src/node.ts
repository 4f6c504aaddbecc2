/**
 * @advprop/dual-bn/node: file-system IO for tfjs-layers models (dual-BN or plain), Node only.
 * Importing it also registers DualBatchNormalization with tfjs serialization.
 */
export { MODEL_JSON, SHARD_BYTES, WEIGHTS_SHA256_KEY, fileSystemIO, hasNativeFileRouter, loadModel, removeModelLeftovers, saveModel } from './file-system-io.js';
