/**
 * Per-sample random streams, so that an attack's random draws (random start, restarts, random
 * targets, DI transforms) for a sample do not depend on the batch it is in or its position.
 *
 * Each call takes four words from the request's stream (a fixed amount, whatever the batch size)
 * and combines them with a key per sample: a 32-bit hash of the sample's input bytes, its label
 * and its target (when the request has targets). The sample's stream for a purpose (targets, DI,
 * start of restart r) is derived from (call words, key, purpose) only. Consequences: the same
 * sample gets the same draws alone, in any batch and at any position; two identical samples (same
 * bytes, label and target) in one batch get the same draws.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom } from '@advprop/core';
import type { Norm } from './gradient-attack.js';

const GOLDEN = 0x9e3779b9;

/** Stream purposes (restart r uses START + r). */
export const SAMPLE_STREAM = { targets: 0, diversity: 1, start: 2 } as const;

/** murmur3's 32-bit finaliser: a bijection that mixes all bits. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** murmur3_32 over 32-bit words `words[start, end)` (the bytes of float32 values), seeded. */
export function hashWords(words: Uint32Array, start: number, end: number, seed = 0): number {
  let h = seed >>> 0;
  for (let i = start; i < end; i++) {
    let k = Math.imul(words[i] as number, 0xcc9e2d51);
    k = rotl(k >>> 0, 15);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = rotl(h >>> 0, 13);
    h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
  }
  return fmix32((h ^ ((end - start) * 4)) >>> 0);
}

/**
 * Key of each sample: hash of its float32 bytes, mixed with its label and (if given) its target.
 * `values` holds the batch row-major, `n` samples of equal size.
 */
export function sampleKeys(values: Float32Array, n: number, labels: ArrayLike<number>, targets?: ArrayLike<number>): Uint32Array {
  const size = n === 0 ? 0 : values.length / n;
  if (!Number.isInteger(size)) throw new ConfigError(`sampleKeys: ${values.length} values do not split into ${n} samples`);
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const keys = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    let h = hashWords(words, i * size, (i + 1) * size, 0x5bd1e995);
    h = fmix32((h ^ Math.imul((labels[i] as number) + 1, GOLDEN)) >>> 0);
    if (targets) h = fmix32((h + Math.imul((targets[i] as number) + 1, 0x27d4eb2f)) >>> 0);
    keys[i] = h;
  }
  return keys;
}

/** The per-sample streams of one attack call. */
export class SampleRandom {
  private constructor(
    private readonly base: readonly [number, number, number, number],
    /** One key per sample (see `sampleKeys`). */
    readonly keys: Uint32Array,
  ) {}

  /**
   * Take the call's words from `random` (always four, so the stream advances by the same amount
   * whatever the batch) and key the samples of `x` (read back once) with their labels / targets.
   */
  static fromBatch(random: SeededRandom, x: tf.Tensor, labels: ArrayLike<number>, targets?: ArrayLike<number>): SampleRandom {
    const base = [random.nextUint32(), random.nextUint32(), random.nextUint32(), random.nextUint32()] as const;
    const n = x.shape[0] as number;
    const values = n === 0 ? new Float32Array(0) : (x.dataSync() as Float32Array);
    return new SampleRandom(base, sampleKeys(values, n, labels, targets));
  }

  get n(): number {
    return this.keys.length;
  }

  /** Sample `i`'s stream for `purpose` (SAMPLE_STREAM.targets, SAMPLE_STREAM.diversity, SAMPLE_STREAM.start + r). */
  stream(i: number, purpose: number): SeededRandom {
    const key = this.keys[i] as number;
    const p = fmix32((Math.imul(purpose + 1, GOLDEN) ^ 0x68e31da4) >>> 0);
    const s = this.base.map((b, j) => fmix32((b ^ fmix32((key + Math.imul(j + 1, GOLDEN)) >>> 0) ^ rotl(p, 7 * j + 3)) >>> 0)) as [
      number,
      number,
      number,
      number,
    ];
    const r = new SeededRandom({ s });
    r.nextUint32();
    r.nextUint32();
    return r;
  }

  /** Random wrong-class targets: (label + o) mod K with o uniform in 1..K-1, from each sample's stream. */
  randomTargets(labels: ArrayLike<number>, numClasses: number): Int32Array {
    if (!Number.isInteger(numClasses) || numClasses < 2) throw new ConfigError(`randomTargets: numClasses must be an integer >= 2, got ${numClasses}`);
    const out = new Int32Array(this.n);
    for (let i = 0; i < this.n; i++) out[i] = ((labels[i] as number) + 1 + this.stream(i, SAMPLE_STREAM.targets).int(numClasses - 1)) % numClasses;
    return out;
  }

  /**
   * Random start noise for restart `restart`, `size` values per sample, row-major: uniform in
   * [-eps, eps] (Linf), or for L2 a direction from normals scaled to radius U(0, 1) * eps
   * (torchattacks' PGDL2).
   */
  startNoise(norm: Norm, epsilon: number, size: number, restart: number): Float32Array {
    const out = new Float32Array(this.n * size);
    const draws = new Float64Array(size);
    for (let i = 0; i < this.n; i++) {
      const r = this.stream(i, SAMPLE_STREAM.start + restart);
      const offset = i * size;
      if (norm !== 'l2') {
        r.floats(draws);
        for (let j = 0; j < size; j++) out[offset + j] = (2 * (draws[j] as number) - 1) * epsilon;
        continue;
      }
      const radius = r.float() * epsilon;
      let sq = 0;
      for (let j = 0; j < size; j++) {
        const v = r.normal();
        draws[j] = v;
        sq += v * v;
      }
      const scale = radius / Math.max(Math.sqrt(sq), 1e-12);
      for (let j = 0; j < size; j++) out[offset + j] = (draws[j] as number) * scale;
    }
    return out;
  }
}
