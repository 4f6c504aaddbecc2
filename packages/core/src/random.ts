/**
 * Seeded randomness. Every random choice in the project (shuffles, attack starts, targets,
 * augmentations, initialisers) draws from a `SeededRandom`, so a run with the same seed repeats
 * exactly, and a checkpoint can store the state and resume it.
 *
 * Generator: xoshiro128** (32-bit state words, fast in JS, good statistical quality), seeded
 * through splitmix32 so that nearby seeds give unrelated streams.
 */
export interface RandomState {
  readonly s: readonly [number, number, number, number];
  readonly spare?: number | null;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** A stable 32-bit hash of a string, used to derive independent child streams by label. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class SeededRandom {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spare: number | null = null;

  constructor(seed: number | RandomState = 0) {
    if (typeof seed === 'number') {
      if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
      const mix = splitmix32((Math.floor(seed) >>> 0) ^ (Math.floor(seed / 2 ** 32) >>> 0));
      this.s0 = mix();
      this.s1 = mix();
      this.s2 = mix();
      this.s3 = mix();
      if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    } else {
      this.setState(seed);
    }
  }

  /** Next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * Fill `out[start, end)` with `float()` draws: the same values, in the same order, as that many
   * calls, from one loop over the state held in locals (several times faster on the hundreds of
   * thousands of draws an attack's random start takes per batch).
   */
  floats(out: Float64Array | Float32Array, start = 0, end = out.length): void {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > out.length || start > end) {
      throw new RangeError(`floats: range [${start}, ${end}) does not fit an array of ${out.length}`);
    }
    let s0 = this.s0;
    let s1 = this.s1;
    let s2 = this.s2;
    let s3 = this.s3;
    for (let i = start; i < end; i++) {
      const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
      const t = (s1 << 9) >>> 0;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = rotl(s3, 11);
      s0 >>>= 0;
      s1 >>>= 0;
      s2 >>>= 0;
      s3 >>>= 0;
      out[i] = result / 4294967296;
    }
    this.s0 = s0;
    this.s1 = s1;
    this.s2 = s2;
    this.s3 = s3;
  }

  /** Uniform float in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.float();
  }

  /** Uniform integer in [0, n). Unbiased (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 4294967296) {
      throw new RangeError(`int(n) needs an integer n in [1, 2^32], got ${n}`);
    }
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const v = this.nextUint32();
      if (v < limit) return v % n;
    }
  }

  /** Standard normal sample (Box-Muller, keeping the spare). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.float();
    const v = this.float();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** In-place Fisher-Yates shuffle. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i] as T;
      items[i] = items[j] as T;
      items[j] = tmp;
    }
    return items;
  }

  /** A permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = out[i] as number;
      out[i] = out[j] as number;
      out[j] = tmp;
    }
    return out;
  }

  /**
   * A seed for tfjs ops that take one (`tf.randomUniform(..., seed)`); drawn from this stream so
   * that tfjs randomness is repeatable too.
   */
  tfSeed(): number {
    return this.nextUint32();
  }

  /**
   * An independent child stream, derived from this stream's current state and a label, without
   * advancing this stream. Children with different labels are unrelated.
   */
  fork(label: string): SeededRandom {
    const h = hashString(label);
    const mix = splitmix32((this.s0 ^ h ^ rotl(this.s2, 13)) >>> 0);
    const child = new SeededRandom(0);
    child.setState({ s: [(mix() ^ this.s1) >>> 0, (mix() ^ this.s3) >>> 0, mix(), (mix() ^ h) >>> 0] });
    return child;
  }

  getState(): RandomState {
    return { s: [this.s0, this.s1, this.s2, this.s3], spare: this.spare };
  }

  setState(state: RandomState): void {
    const s = state?.s;
    if (!Array.isArray(s) || s.length !== 4 || s.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new RangeError('random state must be { s: [four uint32 numbers] }');
    }
    [this.s0, this.s1, this.s2, this.s3] = s as [number, number, number, number];
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
    this.spare = state.spare ?? null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
