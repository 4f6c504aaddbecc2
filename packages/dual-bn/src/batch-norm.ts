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
import { dispose, tidy, type Tensor } from '@tensorflow/tfjs-core';
import { layers, type LayerVariable } from '@tensorflow/tfjs-layers';
import { fusedTrainingNormalize, hasFusedTrainingBatchNorm, updateMovingAverage, type DualBatchNormalizationArgs } from './dual-batch-norm.js';

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

export class FusedTrainingBatchNormalization extends StockBatchNormalizationClass {
  override call(inputs: Tensor | Tensor[], kwargs: Kwargs): Tensor | Tensor[] {
    const training = kwargs['training'] == null ? false : Boolean(kwargs['training']);
    const input = Array.isArray(inputs) && inputs.length === 1 ? inputs[0]! : inputs;
    const self = this as unknown as BatchNormFields;
    if (!training || Array.isArray(input) || input.dtype !== 'float32' || !hasFusedTrainingBatchNorm()) return super.call(inputs, kwargs);
    const axis = self.axis >= 0 ? self.axis : self.axis + input.rank;
    if (axis !== input.rank - 1) return super.call(inputs, kwargs);
    return tidy(() => {
      const fused = fusedTrainingNormalize(input, self.gamma ? self.gamma.read() : null, self.beta ? self.beta.read() : null, self.epsilon);
      if (!fused) return super.call(inputs, kwargs) as Tensor;
      try {
        updateMovingAverage(self.movingMean, fused.mean, self.momentum);
        updateMovingAverage(self.movingVariance, fused.variance, self.momentum);
      } finally {
        dispose([fused.mean, fused.variance]);
      }
      return fused.out;
    });
  }
}

/** Same arguments as `tf.layers.batchNormalization`; see the module comment. */
export function batchNormalization(args?: DualBatchNormalizationArgs): FusedTrainingBatchNormalization {
  return new FusedTrainingBatchNormalization(args);
}
