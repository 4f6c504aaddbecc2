import type * as tfl from '@tensorflow/tfjs-layers';

export interface ParameterCounts {
  /** Trainable parameters (what PyTorch's `parameters()` counts). */
  readonly trainable: number;
  /** Non-trainable weights (BN running statistics). */
  readonly nonTrainable: number;
  readonly total: number;
}

const size = (shape: readonly (number | null)[]): number => shape.reduce<number>((n, d) => n * (d ?? 1), 1);

/** Parameter counts of a model, split into trainable and non-trainable weights. */
export function parameterCounts(model: tfl.LayersModel): ParameterCounts {
  const trainable = model.trainableWeights.reduce((n, w) => n + size(w.shape), 0);
  const nonTrainable = model.nonTrainableWeights.reduce((n, w) => n + size(w.shape), 0);
  return { trainable, nonTrainable, total: trainable + nonTrainable };
}
