/**
 * Data augmentation of a training batch, from the config's `augment` and the step's random stream
 * (so a resumed run draws the same crops and flips as an uninterrupted one).
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { SeededRandom } from '@advprop/core';
import { horizontalFlip, randomCrop } from '@advprop/datasets';
import type { AugmentConfig } from './config.js';

/**
 * A new, augmented batch: a random crop after zero padding (the flip folded into the same op), or
 * a flip alone; undefined when the config asks for no augmentation.
 */
export function augmentBatch(x: tf.Tensor4D, augment: AugmentConfig, random: SeededRandom): tf.Tensor4D | undefined {
  if (augment.randomCrop) return randomCrop(x, { padding: augment.randomCrop.padding, random, flipProbability: augment.flip ? 0.5 : 0 });
  if (augment.flip) return horizontalFlip(x, { probability: 0.5, random });
  return undefined;
}
