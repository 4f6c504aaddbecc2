/**
 * Dropout with a seed that moves on every training call.
 *
 * tfjs-layers' own `dropout({ seed })` re-seeds its generator with the same number on every call,
 * so a seeded Dropout layer drops the same units at every training step. This layer keeps the
 * seeding (runs repeat exactly) but derives the mask seed of the n-th training call from
 * (seed, n). `noiseShape` entries of null take the input's size (drop-connect uses [null, 1, 1, 1]).
 * The call counter is run-time state (core's StatefulLayer): the trainer's checkpoints save it, so a
 * resumed run continues the mask sequence. A model saved for inference does not carry it.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { registerStockLowering, type StatefulLayer } from '@advprop/core';

export interface SeededDropoutArgs {
  readonly rate: number;
  readonly seed: number;
  readonly noiseShape?: readonly (number | null)[] | null;
  readonly name?: string;
}

export class SeededDropout extends tfl.layers.Layer implements StatefulLayer {
  /** @nocollapse */
  static className = 'AdvpropSeededDropout';
  readonly rate: number;
  readonly seed: number;
  readonly noiseShape: readonly (number | null)[] | null;
  private calls = 0;

  constructor(args: SeededDropoutArgs) {
    super({ name: args.name });
    if (!(args.rate >= 0 && args.rate < 1)) throw new RangeError(`dropout rate must be in [0, 1), got ${args.rate}`);
    this.rate = args.rate;
    this.seed = args.seed >>> 0;
    this.noiseShape = args.noiseShape ?? null;
    this.supportsMasking = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Record<string, unknown>): tf.Tensor {
    const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
    if (kwargs?.training !== true || this.rate === 0) return tf.clone(x);
    const seed = (this.seed + Math.imul(this.calls++, 0x9e3779b9)) >>> 0;
    const noiseShape = this.noiseShape ? this.noiseShape.map((d, i) => d ?? (x.shape[i] as number)) : undefined;
    return tf.dropout(x, this.rate, noiseShape, seed);
  }

  getRuntimeState(): Record<string, number> {
    return { calls: this.calls };
  }

  setRuntimeState(state: Readonly<Record<string, number>>): void {
    const calls = state['calls'];
    if (!Number.isInteger(calls) || (calls as number) < 0) {
      throw new RangeError(`SeededDropout "${this.name}": runtime state calls must be a non-negative integer, got ${String(calls)}`);
    }
    this.calls = calls as number;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed, noiseShape: this.noiseShape as (number | null)[] | null };
  }
}
tf.serialization.registerClass(SeededDropout);

// Inference exports (toInferenceModel) write it as tfjs-layers' Dropout: the same layer outside training.
registerStockLowering(SeededDropout.className, (entry) => [{ className: 'Dropout', config: { ...entry.config } }]);
