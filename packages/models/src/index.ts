/** @advprop/models: model plugins (small CNN, ResNet-20/18, WRN, MobileNetV2, EfficientNet-B0) with dual, plain or no BN. */
export * from './common.js';
export * from './small-cnn.js';
export * from './resnet.js';
export * from './mobilenet-v2.js';
export * from './efficientnet.js';
export * from './plugins.js';
export * from './seeded-dropout.js';
export * from './padded-conv2d.js';
export { parameterCounts, type ParameterCounts } from './params.js';
