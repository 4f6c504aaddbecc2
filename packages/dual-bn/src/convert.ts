/**
 * Model conversion: plain BatchNormalization <-> DualBatchNormalization. Both directions clone the
 * model from its config (class names rewritten), then copy every weight into the clone; the source
 * model is left untouched and the caller owns (and disposes) both.
 */
import { serialization, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel, LayerVariable } from '@tensorflow/tfjs-layers';
import { ConfigError, lowerToStockLayers } from '@advprop/core';
import { BatchNormalizationRelu } from './batch-norm.js';
import { DualBatchNormalization, dualBnLayers, isDualBatchNormalization, type BnWeightSet } from './dual-batch-norm.js';

const BN_CLASS = 'BatchNormalization';
const DUAL_CLASS = DualBatchNormalization.className;
const BN_RELU_CLASS = BatchNormalizationRelu.className;

type AnyLayer = LayersModel['layers'][number];

/** The plain-BN weight fields, as tfjs-layers' BatchNormalization holds them. */
interface PlainBn {
  gamma?: LayerVariable | null;
  beta?: LayerVariable | null;
  movingMean: LayerVariable;
  movingVariance: LayerVariable;
}

function isPlainBn(layer: unknown): layer is AnyLayer & PlainBn {
  return (
    typeof layer === 'object' &&
    layer !== null &&
    typeof (layer as AnyLayer).getClassName === 'function' &&
    [BN_CLASS, BN_RELU_CLASS].includes((layer as AnyLayer).getClassName())
  );
}

function isContainer(layer: unknown): layer is LayersModel {
  return typeof layer === 'object' && layer !== null && Array.isArray((layer as LayersModel).layers);
}

function describe(model: LayersModel): string {
  return `model "${model.name}"`;
}

/** Rename layers of the class names `from` to `to` in a (nested) config; returns how many. */
function rewriteClassNames(config: unknown, from: readonly string[], to: string): number {
  let count = 0;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    const entry = node as Record<string, unknown>;
    // A layer entry is {className, config[, name, inboundNodes]}; initializer / regularizer /
    // constraint entries have the same shape but other class names, so only `from` is rewritten.
    if (from.includes(entry['className'] as string) && typeof entry['config'] === 'object') {
      entry['className'] = to;
      count++;
    }
    for (const value of Object.values(entry)) visit(value);
  };
  visit(config);
  return count;
}

function cloneWithClassNames(
  model: LayersModel,
  from: readonly string[],
  to: string,
  what: string,
  stockLayers = false,
): { clone: LayersModel; count: number } {
  assertLayersModel(model, what);
  const className = model.getClassName();
  const entry = serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new ConfigError(`${what}: ${describe(model)} has class "${className}", which tfjs cannot deserialize`);
  // Deep copy through JSON: the config must not share objects with the source model.
  const config = JSON.parse(JSON.stringify(model.getConfig())) as serialization.ConfigDict;
  // Our layer classes as stock layers (a dual BN with a ReLU or a residual as BN, Add and ReLU, a
  // convolution that pads itself, a seeded dropout), before the plain dual BNs are renamed.
  if (stockLayers) lowerToStockLayers(config as Record<string, unknown>);
  const count = rewriteClassNames(config, from, to);
  const [cls, fromConfig] = entry;
  const clone = fromConfig(cls, config) as unknown as LayersModel;
  return { clone, count };
}

function assertLayersModel(model: unknown, what: string): asserts model is LayersModel {
  if (!isContainer(model) || typeof (model as LayersModel).getConfig !== 'function') {
    throw new ConfigError(`${what}: expected a tfjs-layers model (Sequential or functional), got ${describeValue(model)}`);
  }
}

function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  return (value as object).constructor?.name ?? 'object';
}

function copyVariable(target: LayerVariable | null | undefined, source: LayerVariable | null | undefined, where: string): void {
  if (!target && !source) return;
  if (!target || !source) throw new ConfigError(`${where}: one side has the weight and the other does not`);
  const value = source.read();
  if (value.shape.join(',') !== target.shape.join(',')) {
    throw new ConfigError(`${where}: shape [${value.shape}] does not fit [${target.shape}]`);
  }
  target.write(value as Tensor);
}

function copyBnSet(target: BnWeightSet | PlainBn, source: BnWeightSet | PlainBn, where: string): void {
  copyVariable(target.gamma, source.gamma, `${where}/gamma`);
  copyVariable(target.beta, source.beta, `${where}/beta`);
  copyVariable(target.movingMean, source.movingMean, `${where}/moving_mean`);
  copyVariable(target.movingVariance, source.movingVariance, `${where}/moving_variance`);
}

/**
 * Copy the weights of every source layer into the clone's layer of the same name (layer names are
 * unique within a model; a stock lowering may add weightless layers to the clone).
 */
function copyWeights(
  target: LayersModel,
  source: LayersModel,
  copyBn: (targetLayer: AnyLayer, sourceLayer: AnyLayer, where: string) => boolean,
): void {
  const byName = new Map(target.layers.map((layer) => [layer.name, layer as AnyLayer]));
  source.layers.forEach((sourceLayer) => {
    const targetLayer = byName.get(sourceLayer.name);
    if (!targetLayer) throw new ConfigError(`model "${source.name}": the clone has no layer "${sourceLayer.name}"`);
    const where = `layer "${sourceLayer.name}"`;
    if (copyBn(targetLayer, sourceLayer, where)) return;
    if (isContainer(sourceLayer) && isContainer(targetLayer)) {
      copyWeights(targetLayer, sourceLayer, copyBn);
      return;
    }
    const weights = sourceLayer.getWeights();
    if (weights.length > 0) targetLayer.setWeights(weights);
  });
}

/**
 * A copy of `model` in which every BatchNormalization (nested models included) is a
 * DualBatchNormalization (a BatchNormalizationRelu one with its ReLU). Both BN sets start from the source BN's gamma, beta and moving
 * statistics; all other weights are copied. The clone is not compiled.
 * Throws ConfigError when the model has no BatchNormalization layer.
 */
export function toDualBN(model: LayersModel): LayersModel {
  const { clone, count } = cloneWithClassNames(model, [BN_CLASS, BN_RELU_CLASS], DUAL_CLASS, 'toDualBN');
  if (count === 0) {
    clone.dispose();
    const existing = dualBnLayers(model).length;
    throw new ConfigError(
      existing > 0
        ? `toDualBN: ${describe(model)} is already a dual-BN model (${existing} DualBatchNormalization layers, no BatchNormalization left)`
        : `toDualBN: ${describe(model)} has no BatchNormalization layer to convert (layers: ${model.layers.map((l) => `${l.name}:${l.getClassName()}`).join(', ')})`,
    );
  }
  try {
    copyWeights(clone, model, (targetLayer, sourceLayer, where) => {
      if (!isPlainBn(sourceLayer)) return false;
      if (!isDualBatchNormalization(targetLayer)) throw new ConfigError(`${where}: expected a DualBatchNormalization in the clone`);
      copyBnSet(targetLayer.main, sourceLayer, `${where} main`);
      copyBnSet(targetLayer.aux, sourceLayer, `${where} aux`);
      return true;
    });
  } catch (error) {
    clone.dispose();
    throw error;
  }
  return clone;
}

/**
 * A plain tfjs-layers copy of a dual-BN model: every DualBatchNormalization becomes a
 * BatchNormalization holding the main set's weights (followed by an Add of its residual and a ReLU
 * Activation when it has them), and every layer class with a registered stock form (@advprop/core's
 * `registerStockLowering`: @advprop/models' PaddedConv2D and SeededDropout) becomes stock layers, so anyone can load it with `tf.loadLayersModel` without our packages, and
 * its predictions equal the dual model's main-route predictions. A model without such layers is
 * cloned unchanged.
 */
export function toInferenceModel(model: LayersModel): LayersModel {
  const { clone } = cloneWithClassNames(model, [DUAL_CLASS], BN_CLASS, 'toInferenceModel', true);
  try {
    copyWeights(clone, model, (targetLayer, sourceLayer, where) => {
      if (!isDualBatchNormalization(sourceLayer)) return false;
      if (!isPlainBn(targetLayer)) throw new ConfigError(`${where}: expected a BatchNormalization in the clone`);
      copyBnSet(targetLayer, sourceLayer.main, `${where} main`);
      return true;
    });
  } catch (error) {
    clone.dispose();
    throw error;
  }
  return clone;
}
