/**
 * Batch transforms on NHWC tensors, all seeded: random crop with padding, horizontal flip, and
 * per-channel normalisation (kept for models that want normalised inputs; attacks in this project
 * work in [0, 1] pixel space, so normalise inside the model or after the attack).
 *
 * Each returns a new tensor the caller owns and disposes its intermediates.
 */
import { add, div, image, mul, pad, sub, tensor1d, tensor2d, tidy, type Tensor4D } from '@tensorflow/tfjs-core';
import { ShapeError, type SeededRandom } from '@advprop/core';

function check4d(x: Tensor4D, where_: string): [number, number, number, number] {
  if (x.rank !== 4) throw new ShapeError(`${where_} expects an NHWC batch (rank 4), got shape [${x.shape.join(', ')}]`);
  return x.shape as [number, number, number, number];
}

/** Keeps sample positions strictly inside the source (cropAndResize extrapolates outside it). */
const EDGE = 0.01;

/**
 * Exact integer-offset crops (and mirrors) of every image through one `image.cropAndResize`
 * call with nearest sampling: on the cpu backend this is ~30x faster than reverse/slice.
 * Rows are (top offset, left offset, flipped) into `src`, whose size is srcH x srcW.
 */
function cropAll(src: Tensor4D, rows: readonly (readonly [number, number, boolean])[], srcH: number, srcW: number, h: number, w: number): Tensor4D {
  const n = rows.length;
  const boxes = new Float32Array(n * 4);
  const ny = Math.max(1, srcH - 1);
  const nx = Math.max(1, srcW - 1);
  rows.forEach(([oy, ox, flip], i) => {
    const top = h > 1 ? oy + EDGE : oy;
    const bottom = h > 1 ? oy + h - 1 - EDGE : oy;
    const left = w > 1 ? ox + EDGE : ox;
    const right = w > 1 ? ox + w - 1 - EDGE : ox;
    boxes[4 * i] = top / ny;
    boxes[4 * i + 1] = (flip ? right : left) / nx;
    boxes[4 * i + 2] = bottom / ny;
    boxes[4 * i + 3] = (flip ? left : right) / nx;
  });
  return tidy(() => {
    const boxIdx = tensor1d(Int32Array.from({ length: n }, (_, i) => i), 'int32');
    return image.cropAndResize(src, tensor2d(boxes, [n, 4]), boxIdx, [h, w], 'nearest') as Tensor4D;
  });
}

export interface RandomCropOptions {
  /** Zero padding added on each side before cropping (default 4, as for CIFAR). */
  readonly padding?: number;
  readonly random: SeededRandom;
  /** Also mirror each image left-right with this probability, in the same op (default 0). */
  readonly flipProbability?: number;
}

/** Pad each image by `padding` zeros on each side and crop back to its size at a random offset. */
export function randomCrop(x: Tensor4D, options: RandomCropOptions): Tensor4D {
  const [n, h, w] = check4d(x, 'randomCrop');
  const p = options.padding ?? 4;
  if (!Number.isInteger(p) || p < 0) throw new RangeError(`randomCrop padding must be a non-negative integer, got ${p}`);
  const flipP = options.flipProbability ?? 0;
  if (n === 0 || (p === 0 && flipP === 0)) return x.clone();
  const rows: [number, number, boolean][] = [];
  for (let i = 0; i < n; i++) {
    const oy = p > 0 ? options.random.int(2 * p + 1) : 0;
    const ox = p > 0 ? options.random.int(2 * p + 1) : 0;
    const u = options.random.float(); // always drawn, so offsets do not depend on flipProbability
    rows.push([oy, ox, u < flipP]);
  }
  if (p === 0) return cropAll(x, rows, h, w, h, w);
  return tidy(() => {
    const padded = pad(x, [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ]) as Tensor4D;
    return cropAll(padded, rows, h + 2 * p, w + 2 * p, h, w);
  });
}

export interface HorizontalFlipOptions {
  /** Probability that an image is flipped (default 0.5). */
  readonly probability?: number;
  readonly random: SeededRandom;
}

/** Mirror each image left-right with the given probability. */
export function horizontalFlip(x: Tensor4D, options: HorizontalFlipOptions): Tensor4D {
  const [n, h, w] = check4d(x, 'horizontalFlip');
  const prob = options.probability ?? 0.5;
  if (n === 0) return x.clone();
  const rows: [number, number, boolean][] = [];
  for (let i = 0; i < n; i++) rows.push([0, 0, options.random.float() < prob]);
  return cropAll(x, rows, h, w, h, w);
}

export interface NormalizeOptions {
  /** Per-channel (or one) mean. */
  readonly mean: number | readonly number[];
  /** Per-channel (or one) standard deviation. */
  readonly std: number | readonly number[];
}

/** Published per-channel statistics of common datasets (pixels in [0, 1]). */
export const NORMALIZATION = {
  mnist: { mean: [0.1307], std: [0.3081] },
  'fashion-mnist': { mean: [0.286], std: [0.353] },
  cifar10: { mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] },
  cifar100: { mean: [0.5071, 0.4865, 0.4409], std: [0.2673, 0.2564, 0.2762] },
} as const;

function channelVector(v: number | readonly number[], c: number, name: string): number[] {
  const arr = typeof v === 'number' ? Array(c).fill(v) : [...v];
  if (arr.length === 1 && c > 1) return Array(c).fill(arr[0]);
  if (arr.length !== c) throw new ShapeError(`normalize: ${name} has ${arr.length} values for ${c} channels`);
  return arr;
}

/** (x - mean) / std per channel. */
export function normalize(x: Tensor4D, options: NormalizeOptions): Tensor4D {
  const [, , , c] = check4d(x, 'normalize');
  const mean = channelVector(options.mean, c, 'mean');
  const std = channelVector(options.std, c, 'std');
  if (std.some((s) => !(s > 0))) throw new RangeError(`normalize: std must be positive, got [${std.join(', ')}]`);
  return tidy(() => div(sub(x, tensor1d(mean)), tensor1d(std)) as Tensor4D);
}

/** The inverse of `normalize`: x * std + mean. */
export function denormalize(x: Tensor4D, options: NormalizeOptions): Tensor4D {
  const [, , , c] = check4d(x, 'denormalize');
  const mean = channelVector(options.mean, c, 'mean');
  const std = channelVector(options.std, c, 'std');
  return tidy(() => add(mul(x, tensor1d(std)), tensor1d(mean)) as Tensor4D);
}
