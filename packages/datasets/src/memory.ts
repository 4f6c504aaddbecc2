/**
 * A dataset from arrays or tensors the user already has. Tensors are copied once (dataSync) so the
 * caller may dispose them afterwards. Float images must be in [0, 1]; uint8 images are 0..255.
 */
import type { Tensor } from '@tensorflow/tfjs-core';
import { ShapeError, type SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';

export type ImageInput = Float32Array | Uint8Array | readonly number[] | Tensor;
export type LabelInput = Int32Array | Uint8Array | readonly number[] | Tensor;

export interface MemorySplitInput {
  readonly images: ImageInput;
  readonly labels: LabelInput;
}

export interface MemoryDatasetOptions {
  readonly train?: MemorySplitInput;
  readonly test?: MemorySplitInput;
  /** [height, width, channels]; taken from a rank-4 image tensor when absent. */
  readonly imageShape?: readonly [number, number, number];
  readonly classNames?: readonly string[];
  readonly numClasses?: number;
  readonly name?: string;
  readonly seed?: number | SeededRandom;
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'dataSync' in v && 'shape' in v && Array.isArray((v as Tensor).shape);
}

function toImages(input: ImageInput, where: string): Uint8Array | Float32Array {
  if (isTensor(input)) {
    if (input.isDisposed) throw new ShapeError(`${where}: the images tensor is disposed`);
    const data = input.dataSync();
    return input.dtype === 'int32' ? Uint8Array.from(data as Int32Array) : Float32Array.from(data as Float32Array);
  }
  if (input instanceof Uint8Array) return input;
  const out = input instanceof Float32Array ? input : Float32Array.from(input);
  for (let i = 0; i < out.length; i++) {
    const v = out[i] as number;
    if (!(v >= 0 && v <= 1)) throw new ShapeError(`${where}: image value ${v} at position ${i} is outside [0, 1] (pass a Uint8Array for 0..255 data)`);
  }
  return out;
}

function toLabels(input: LabelInput, where: string): Int32Array {
  if (isTensor(input)) {
    if (input.isDisposed) throw new ShapeError(`${where}: the labels tensor is disposed`);
    if (input.rank !== 1) throw new ShapeError(`${where}: labels must be a rank-1 tensor of class indices, got shape [${input.shape.join(', ')}]`);
    return Int32Array.from(input.dataSync());
  }
  return input instanceof Int32Array ? input : Int32Array.from(input);
}

/** Build an in-memory dataset adapter from arrays or tensors. */
export function memoryDataset(options: MemoryDatasetOptions): InMemoryDataset {
  const name = options.name ?? 'memory';
  let shape = options.imageShape;
  if (!shape) {
    const t = [options.train?.images, options.test?.images].find(isTensor);
    if (t && t.rank === 4) shape = [t.shape[1] as number, t.shape[2] as number, t.shape[3] as number];
  }
  if (!shape) throw new ShapeError(`dataset "${name}": imageShape is required unless images are given as a rank-4 tensor`);
  if (!options.train && !options.test) throw new ShapeError(`dataset "${name}": give a train or a test split (or both)`);
  const split = (s: 'train' | 'test') => {
    const input = options[s];
    if (!input) return {};
    const where = `dataset "${name}" ${s} split`;
    return { [s]: { images: toImages(input.images, where), labels: toLabels(input.labels, where) } };
  };
  return new InMemoryDataset({
    name,
    imageShape: shape,
    ...(options.classNames ? { classNames: options.classNames } : {}),
    ...(options.numClasses !== undefined ? { numClasses: options.numClasses } : {}),
    ...split('train'),
    ...split('test'),
    seed: options.seed ?? 0,
  });
}
