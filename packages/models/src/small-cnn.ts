/**
 * A small CNN for MNIST-sized inputs (28x28x1; any height/width >= 8 and any channel count):
 * two stages of [conv3x3 - BN - ReLU] x 2 + 2x2 max-pool, with `filters` and `2 * filters`
 * channels, then global average pool, optional dropout, dense -> logits.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelSpec } from '@advprop/core';
import { ConfigError } from '@advprop/core';
import { assertSpec, BuildContext, input, type SymbolicTensor } from './common.js';

export const SMALL_CNN_MIN_SIZE = 8;

export interface SmallCnnOptions {
  /** Channels of the first stage (the second has twice as many). Default 32. */
  readonly filters?: number;
  /** Dropout before the classifier. Default 0. */
  readonly dropout?: number;
}

export function buildSmallCnn(spec: ModelSpec, options: SmallCnnOptions = {}): tfl.LayersModel {
  const filters = options.filters ?? 32;
  const dropout = options.dropout ?? 0;
  if (!Number.isInteger(filters) || filters < 1) {
    throw new ConfigError(`small-cnn: filters must be a positive integer, got ${filters}`, [
      { path: 'filters', message: 'must be a positive integer' },
    ]);
  }
  assertSpec('small-cnn', spec, SMALL_CNN_MIN_SIZE);
  const ctx = new BuildContext(spec, { momentum: 0.9, epsilon: 1e-5 });
  const x = input(spec);
  let h: SymbolicTensor = x;
  [filters, 2 * filters].forEach((width, s) => {
    for (let c = 1; c <= 2; c++) {
      const name = `stage${s + 1}_conv${c}`;
      h = ctx.conv(h, width, 3, 1, name);
      h = ctx.bnRelu(h, `stage${s + 1}_bn${c}`, { relu: `stage${s + 1}_relu${c}` });
    }
    h = tfl.layers.maxPooling2d({ poolSize: 2, strides: 2, name: `stage${s + 1}_pool` }).apply(h) as SymbolicTensor;
  });
  h = tfl.layers.globalAveragePooling2d({ name: 'pool' }).apply(h) as SymbolicTensor;
  h = ctx.dropout(h, dropout, 'dropout');
  const logits = ctx.dense(h, spec.numClasses, 'logits');
  return tfl.model({ inputs: x, outputs: logits, name: 'small-cnn' });
}
