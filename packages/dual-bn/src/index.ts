/**
 * @advprop/dual-bn: the dual BatchNorm layer (main BN for clean images, auxiliary BN for
 * adversarial ones), BN routing and model conversion. Browser-safe; the file-system IO lives in
 * `@advprop/dual-bn/node`.
 */
export {
  AUX_WEIGHT_NAMES,
  DUAL_BN_PACKAGE,
  DualBatchNormalization,
  MAIN_WEIGHT_NAMES,
  dualBatchNormalization,
  dualBnLayers,
  hasFusedBatchNorm,
  hasFusedTrainingBatchNorm,
  isDualBatchNormalization,
  type BnWeightSet,
  type BnActivation,
  type DualBatchNormalizationArgs,
} from './dual-batch-norm.js';
export { toDualBN, toInferenceModel } from './convert.js';
export { BatchNormalizationRelu, FusedTrainingBatchNormalization, batchNormalization } from './batch-norm.js';
export { withRoute, getRoute, type BnRoute } from '@advprop/core';
