/**
 * `batchNormalization(args)`: tfjs-layers' BatchNormalization with the same class name, arguments,
 * weights, config and saved form (a saved model loads with plain tfjs-layers, as a stock
 * BatchNormalization), whose training pass takes the backend's fused training-BN kernels when it
 * has them (@advprop/native-kernels registers them), as DualBatchNormalization does. Anything else
 * (inference, a channel axis that is not the last, no fused kernels) runs tfjs-layers' own code.
 *
 * The class is deliberately not registered with tfjs serialization: it serialises as
 * "BatchNormalization", and deserialising gives the stock layer.
 */
import { serialization, type Tensor } from '@tensorflow/tfjs-core';
import { layers, type LayerVariable, type Shape } from '@tensorflow/tfjs-layers';
import { ConfigError, registerStockLowering } from '@advprop/core';
import {
  DUAL_BN_PACKAGE,
  checkInputShapes,
  hasFusedTrainingBatchNorm,
  lowerBatchNormToStock,
  normalizeLayer,
  type BnActivation,
  type BnWeightSet,
  type DualBatchNormalizationArgs,
  type NormalizingLayer,
} from './dual-batch-norm.js';

type StockBatchNormalization = ReturnType<typeof layers.batchNormalization>;
type Kwargs = Record<string, unknown>;

/** The fields of tfjs-layers' BatchNormalization this layer reads (private in its typings). */
interface BatchNormFields {
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly gamma: LayerVariable | null;
  readonly beta: LayerVariable | null;
  readonly movingMean: LayerVariable;
  readonly movingVariance: LayerVariable;
}

// tfjs-layers exports a factory, not the class: take the class from an instance.
const StockBatchNormalizationClass = layers.batchNormalization({}).constructor as new (args?: DualBatchNormalizationArgs) => StockBatchNormalization;

/** A stock-BN layer as `normalizeLayer` reads it: its settings and its one parameter set. */
function asNormalizing(layer: StockBatchNormalization, activation: BnActivation): { view: NormalizingLayer; set: BnWeightSet } {
  const self = layer as unknown as BatchNormFields;
  return {
    view: { name: layer.name, axis: self.axis, momentum: self.momentum, epsilon: self.epsilon, activation, getClassName: () => layer.getClassName() },
    set: { gamma: self.gamma, beta: self.beta, movingMean: self.movingMean, movingVariance: self.movingVariance },
  };
}

export class FusedTrainingBatchNormalization extends StockBatchNormalizationClass {
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
    const training = kwargs['training'] == null ? false : Boolean(kwargs['training']);
    const input = Array.isArray(inputs) && inputs.length === 1 ? inputs[0]! : inputs;
    const self = this as unknown as BatchNormFields;
    if (!training || Array.isArray(input) || input.dtype !== 'float32' || !hasFusedTrainingBatchNorm()) return super.call(inputs, kwargs);
    const axis = self.axis >= 0 ? self.axis : self.axis + input.rank;
    if (axis !== input.rank - 1) return super.call(inputs, kwargs);
    const { view, set } = asNormalizing(this, 'linear');
    return normalizeLayer(view, set, input, true);
  }
}

/**
 * A plain BN layer with a ReLU after the normalisation (after adding its second input, when applied
 * to `[x, residual]`), as DualBatchNormalization with `activation: 'relu'` but with one parameter
 * set: one fused kernel each way in training, and one in inference, where the backend has core's
 * kernels. It is saved under its own class name (registered with tfjs serialization); its stock
 * form (toInferenceModel) is BatchNormalization, Add and Activation layers.
 */
export class BatchNormalizationRelu extends StockBatchNormalizationClass {
  /** @nocollapse */
  static className = 'AdvpropBatchNormalization';
  readonly activation: BnActivation = 'relu';

  constructor(args: DualBatchNormalizationArgs = {}) {
    const { activation = 'relu', ...bnArgs } = args;
    super(bnArgs);
    if (activation !== 'relu') {
      throw new ConfigError(`BatchNormalizationRelu "${this.name}": activation must be "relu", got ${JSON.stringify(activation)}`, [
        { path: 'activation', message: 'unknown activation' },
      ]);
    }
  }

  override build(inputShape: Shape | Shape[]): void {
    const shapes = checkInputShapes(asNormalizing(this, this.activation).view, inputShape);
    super.build(shapes[0]!);
    if (shapes.length === 2) this.inputSpec = [this.inputSpec[0]!, this.inputSpec[0]!];
  }

  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor {
    const training = kwargs['training'] == null ? false : Boolean(kwargs['training']);
    const { view, set } = asNormalizing(this, this.activation);
    return normalizeLayer(view, set, inputs, training);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), activation: this.activation };
  }
}

// The class inherits Layer's static fromConfig; the typings of the class taken from an instance do not show it.
serialization.registerClass(BatchNormalizationRelu as unknown as serialization.SerializableConstructor<BatchNormalizationRelu>, DUAL_BN_PACKAGE);
registerStockLowering(BatchNormalizationRelu.className, lowerBatchNormToStock);

/**
 * Same arguments as `tf.layers.batchNormalization`; see the module comment. With
 * `activation: 'relu'`, a BatchNormalizationRelu.
 */
export function batchNormalization(args?: DualBatchNormalizationArgs & { activation?: 'linear' }): FusedTrainingBatchNormalization;
export function batchNormalization(args: DualBatchNormalizationArgs & { activation: 'relu' }): BatchNormalizationRelu;
export function batchNormalization(args?: DualBatchNormalizationArgs): FusedTrainingBatchNormalization | BatchNormalizationRelu;
export function batchNormalization(args: DualBatchNormalizationArgs = {}): FusedTrainingBatchNormalization | BatchNormalizationRelu {
  const { activation = 'linear', ...bnArgs } = args;
  if (activation === 'relu') return new BatchNormalizationRelu(args);
  if (activation !== 'linear') throw new ConfigError(`batchNormalization: activation must be "linear" or "relu", got ${JSON.stringify(activation)}`, [{ path: 'activation', message: 'unknown activation' }]);
  return new FusedTrainingBatchNormalization(bnArgs);
}
