/**
 * Square Attack (Andriushchenko et al., ECCV 2020): a score-based black-box attack. Random
 * search over square-shaped updates; no gradients, only the model's logits, within a query budget.
 * It minimises the margin z_y - max_{j != y} z_j and stops for a sample as soon as it is <= 0.
 *
 * Linf: start from vertical stripes, x + eps * (+-1 per column and channel); each step sets one
 * random s x s window (all rows and columns of it, each channel its own sign) to x +- eps and keeps
 * the result if the margin went down.
 * L2: start from a grid of "meta-pseudo-Gaussian" blocks with random signs, scaled to norm eps; each
 * step moves the perturbation's mass of a second window into a first one, reshaped as a new block,
 * so the norm stays eps.
 * Window side s = round(sqrt(p * H * W)), where p falls with the iteration (rescaled to the budget
 * as the reference does): p_init, /2 after 10 of 10 000, /4 after 50, /8 after 200, /16 after 500,
 * /32 after 1000, /64 after 2000, /128 after 4000, /256 after 6000, /512 after 8000. L2 keeps s odd
 * and at least 3, as the reference does.
 *
 * Small images (under 5 pixels a side, where the reference's start grid of H // 5 blocks does not
 * exist): L2 windows may shrink to 1 pixel, and when p asks for a side under 1 (sqrt(p * H * W) =
 * q < 0.5) the update is weakened to that share: the new block enters with weight q / s instead
 * of 1, and the second window keeps sqrt(1 - (q / s)^2) of its amplitude instead of being
 * emptied, the rest moving into the first. With the reference's rule a 4x4 image stalls far from
 * the L2 optimum (closed-form.test.ts).
 *
 * The reference draws one window and one set of signs per batch and step; here every sample draws
 * its own from its own stream, so its result does not depend on the batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, z, type Attacker, type AttackRequest } from '@advprop/core';
import { countingTarget, FAMILY_STREAM, runBudgetedAttack, sharedShape, type AttackTarget, type Norm, type StreamFor } from './attack-core.js';
import { declareAttack } from './declare-attack.js';
import { SampleRandom } from './sample-random.js';
import { epsilonSchema, type InputRange } from './units.js';

export interface SquareSettings {
  readonly norm: Norm;
  /** Absolute epsilon (input units). */
  readonly epsilon: number;
  /** Iterations (queries after the first) per sample. */
  readonly queries: number;
  readonly pInit: number;
  readonly restarts: number;
  readonly range: InputRange;
}

/** The fraction p of the image a window covers at iteration `it` of `budget`. */
export function squareP(it: number, budget: number, pInit: number): number {
  const i = Math.floor((it / budget) * 10000);
  const cuts = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let level = 0;
  for (const c of cuts) if (i > c) level++;
  return pInit / 2 ** level;
}

/** Image geometry of a batch row: [h, w, c] for NHWC images, [h, w, 1] for rank 3, [1, d, 1] for flat rows. */
function geometry(shape: readonly number[]): { h: number; w: number; c: number } {
  if (shape.length === 4) return { h: shape[1] as number, w: shape[2] as number, c: shape[3] as number };
  if (shape.length === 3) return { h: shape[1] as number, w: shape[2] as number, c: 1 };
  return { h: 1, w: shape.slice(1).reduce((a, v) => a * v, 1), c: 1 };
}

/**
 * A window's first row or column, uniform in [0, span]. (The reference draws from [0, span), so
 * its windows never touch the last row or column; on small inputs that leaves pixels unexplored.)
 */
function position(r: SeededRandom, span: number): number {
  return r.int(span + 1);
}

/** L2 block: two halves of opposite sign with concentric weights 1/(k+1)^2, unit L2 norm, [s][s] row-major. */
function l2Block(s: number, transpose: boolean): Float64Array {
  const rect = (x: number, y: number): Float64Array => {
    const d = new Float64Array(x * y);
    if (x === 0) return d;
    let r0 = Math.floor(x / 2);
    let c0 = Math.floor(y / 2);
    for (let k = 0; k < Math.max(Math.floor(x / 2) + 1, Math.floor(y / 2) + 1); k++) {
      for (let r = Math.max(r0, 0); r < Math.min(r0 + 2 * k + 1, x); r++) {
        for (let c = Math.max(c0, 0); c < Math.min(c0 + 2 * k + 1, y); c++) d[r * y + c] = (d[r * y + c] as number) + 1 / (k + 1) ** 2;
      }
      r0--;
      c0--;
    }
    let norm = 0;
    d.forEach((v) => (norm += v * v));
    norm = Math.sqrt(norm);
    return d.map((v) => v / norm);
  };
  const top = Math.floor(s / 2);
  const out = new Float64Array(s * s);
  out.set(rect(top, s), 0);
  const bottom = rect(s - top, s);
  for (let i = 0; i < bottom.length; i++) out[top * s + i] = -(bottom[i] as number);
  let norm = 0;
  out.forEach((v) => (norm += v * v));
  norm = Math.sqrt(norm);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / norm;
  if (!transpose) return out;
  const t = new Float64Array(s * s);
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) t[c * s + r] = out[r * s + c] as number;
  return t;
}

function margins(target: AttackTarget, values: Float32Array, rows: number, rowShape: readonly number[], labels: ArrayLike<number>): Float64Array {
  const xt = tf.tensor(values, [rows, ...rowShape], 'float32');
  try {
    const logits = tf.tidy(() => target.forward(xt));
    const z = logits.dataSync();
    const k = logits.shape[1] as number;
    logits.dispose();
    const out = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      const y = labels[i] as number;
      let other = -Infinity;
      for (let j = 0; j < k; j++) if (j !== y) other = Math.max(other, z[i * k + j] as number);
      out[i] = (z[i * k + y] as number) - other;
    }
    return out;
  } finally {
    xt.dispose();
  }
}

export interface SquareResult {
  /** Per sample: the lowest-margin point found (clean for samples not attacked). */
  readonly values: Float32Array;
  readonly fooled: Uint8Array;
  /** Queries per attacked sample (0 for samples not attacked). */
  readonly queries: Int32Array;
}

/** Square Attack on the samples with `attack[i]` set. */
export function runSquare(target: AttackTarget, x: tf.Tensor, labels: Int32Array, attack: Uint8Array, streamFor: StreamFor, s: SquareSettings): SquareResult {
  const n = x.shape[0] as number;
  const size = x.size / Math.max(n, 1);
  const rowShape = x.shape.slice(1);
  const { h, w, c } = geometry(x.shape);
  const [lo, hi] = s.range;
  const eps = s.epsilon;
  const clean = Float32Array.from(x.dataSync());
  const values = Float32Array.from(clean);
  const fooled = new Uint8Array(n);
  const queries = new Int32Array(n);
  const at = (row: number, col: number, ch: number) => (row * w + col) * c + ch;
  const clip = (v: number, base: number) => Math.min(hi, Math.max(lo, Math.min(base + eps, Math.max(base - eps, v))));
  for (let restart = 0; restart < s.restarts; restart++) {
    const members: number[] = [];
    for (let i = 0; i < n; i++) if (attack[i] && !fooled[i]) members.push(i);
    if (members.length === 0) break;
    const m = members.length;
    const streams = members.map((i) => streamFor(i, FAMILY_STREAM.square + restart));
    const best = new Float32Array(m * size);
    const base = new Float32Array(m * size);
    members.forEach((i, j) => base.set(clean.subarray(i * size, (i + 1) * size), j * size));
    // initialisation
    members.forEach((_, j) => {
      const r = streams[j] as SeededRandom;
      const off = j * size;
      if (s.norm === 'linf') {
        const signs = Float64Array.from({ length: w * c }, () => (r.float() < 0.5 ? -1 : 1));
        for (let row = 0; row < h; row++)
          for (let col = 0; col < w; col++)
            for (let ch = 0; ch < c; ch++) {
              const idx = off + at(row, col, ch);
              best[idx] = Math.min(hi, Math.max(lo, (base[idx] as number) + eps * (signs[col * c + ch] as number)));
            }
        return;
      }
      const delta = new Float64Array(size);
      const block = Math.max(1, Math.floor(h / 5));
      const start = Math.max(0, Math.floor((h - block * 5) / 2));
      for (let vh = start; vh + block <= h; vh += block) {
        for (let vw = start; vw + block <= w; vw += block) {
          const b = l2Block(block, r.float() > 0.5);
          for (let ch = 0; ch < c; ch++) {
            const sign = r.float() < 0.5 ? -1 : 1;
            for (let a = 0; a < block; a++) for (let bb = 0; bb < block; bb++) delta[at(vh + a, vw + bb, ch)] = (delta[at(vh + a, vw + bb, ch)] as number) + sign * (b[a * block + bb] as number);
          }
        }
      }
      let norm = 0;
      delta.forEach((v) => (norm += v * v));
      norm = Math.sqrt(norm) + 1e-12;
      for (let k = 0; k < size; k++) best[off + k] = Math.min(hi, Math.max(lo, (base[off + k] as number) + (eps * (delta[k] as number)) / norm));
    });
    const labelsSub = Int32Array.from(members, (i) => labels[i] as number);
    const marginBest = margins(target, best, m, rowShape, labelsSub);
    const lossBest = Float64Array.from(marginBest);
    members.forEach((i) => (queries[i] = (queries[i] as number) + 1));
    const features = h * w;
    // The reference runs only on images of at least 5 pixels a side (its start grid is h // 5 blocks).
    // Below that its 3-pixel minimum window covers most of the image in every step, its blocks peak
    // at the window centre (so mass never gathers on a border pixel), and each step swaps half of a
    // window's direction for a fixed block: the search stalls far from the optimum. On such images
    // the L2 window may shrink to 1 pixel like the Linf one, and once p asks for less than one pixel
    // the update is weakened to the share p asks for (blockWeight < 1).
    const tiny = Math.min(h, w) < 5;
    const l2Floor = tiny ? 1 : 3;
    for (let it = 0; it < s.queries; it++) {
      const active: number[] = [];
      for (let j = 0; j < m; j++) if ((marginBest[j] as number) > 0) active.push(j);
      if (active.length === 0) break;
      const p = squareP(it, s.queries, s.pInit);
      const wanted = Math.sqrt(p * features);
      let side = Math.max(Math.round(wanted), s.norm === 'linf' ? 1 : l2Floor);
      if (s.norm === 'l2' && side % 2 === 0 && side > l2Floor) side++;
      side = Math.min(side, Math.min(h, w));
      const blockWeight = s.norm === 'l2' && tiny && Math.round(wanted) < l2Floor ? wanted / side : 1;
      const candidate = new Float32Array(active.length * size);
      active.forEach((j, a) => {
        const r = streams[j] as SeededRandom;
        const off = j * size;
        const out = a * size;
        candidate.set(best.subarray(off, off + size), out);
        const vh = position(r, h - side);
        const vw = position(r, w - side);
        if (s.norm === 'linf') {
          for (let ch = 0; ch < c; ch++) {
            const sign = r.float() < 0.5 ? -1 : 1;
            for (let row = vh; row < vh + side; row++)
              for (let col = vw; col < vw + side; col++) {
                const k = at(row, col, ch);
                candidate[out + k] = clip((best[off + k] as number) + 2 * eps * sign, base[off + k] as number);
              }
          }
          return;
        }
        const vh2 = position(r, h - side);
        const vw2 = position(r, w - side);
        const inWindow = (row: number, col: number, top: number, left: number) => row >= top && row < top + side && col >= left && col < left + side;
        const delta = new Float64Array(size);
        let imageNorm = 0;
        for (let k = 0; k < size; k++) {
          delta[k] = (best[off + k] as number) - (base[off + k] as number);
          imageNorm += (delta[k] as number) ** 2;
        }
        const block = l2Block(side, r.float() > 0.5);
        const fresh = new Float64Array(side * side * c);
        // The second window keeps this fraction of its amplitude (0 in the reference: emptied);
        // what it gives up moves into the first, so the two windows' mass is unchanged.
        const keep = Math.sqrt(1 - blockWeight * blockWeight);
        for (let ch = 0; ch < c; ch++) {
          const sign = r.float() < 0.5 ? -1 : 1;
          let window1 = 0;
          let windows = 0;
          let only2 = 0;
          for (let row = 0; row < h; row++)
            for (let col = 0; col < w; col++) {
              const v = (delta[at(row, col, ch)] as number) ** 2;
              const in1 = inWindow(row, col, vh, vw);
              const in2 = inWindow(row, col, vh2, vw2);
              if (in1) window1 += v;
              if (in1 || in2) windows += v;
              if (in2 && !in1) only2 += v;
            }
          window1 = Math.sqrt(window1);
          let freshNorm = 0;
          for (let a2 = 0; a2 < side; a2++)
            for (let b2 = 0; b2 < side; b2++) {
              const v = sign * blockWeight * (block[a2 * side + b2] as number) + (delta[at(vh + a2, vw + b2, ch)] as number) / (1e-12 + window1);
              fresh[(a2 * side + b2) * c + ch] = v;
              freshNorm += v * v;
            }
          const scale = Math.sqrt(Math.max(Math.max(eps * eps - imageNorm, 0) / c + windows - keep * keep * only2, 0)) / (1e-12 + Math.sqrt(freshNorm));
          for (let a2 = 0; a2 < side; a2++) for (let b2 = 0; b2 < side; b2++) fresh[(a2 * side + b2) * c + ch] = (fresh[(a2 * side + b2) * c + ch] as number) * scale;
        }
        for (let row = vh2; row < vh2 + side; row++) for (let col = vw2; col < vw2 + side; col++) for (let ch = 0; ch < c; ch++) delta[at(row, col, ch)] = keep * (delta[at(row, col, ch)] as number);
        for (let a2 = 0; a2 < side; a2++) for (let b2 = 0; b2 < side; b2++) for (let ch = 0; ch < c; ch++) delta[at(vh + a2, vw + b2, ch)] = fresh[(a2 * side + b2) * c + ch] as number;
        let norm = 0;
        delta.forEach((v) => (norm += v * v));
        norm = Math.sqrt(norm) + 1e-12;
        for (let k = 0; k < size; k++) candidate[out + k] = Math.min(hi, Math.max(lo, (base[off + k] as number) + (eps * (delta[k] as number)) / norm));
      });
      const margin = margins(target, candidate, active.length, rowShape, Int32Array.from(active, (j) => labelsSub[j] as number));
      active.forEach((j, a) => {
        queries[members[j] as number] = (queries[members[j] as number] as number) + 1;
        const mNew = margin[a] as number;
        const improved = mNew < (lossBest[j] as number);
        if (improved) lossBest[j] = mNew;
        if (improved || mNew <= 0) {
          marginBest[j] = mNew;
          best.set(candidate.subarray(a * size, (a + 1) * size), j * size);
        }
      });
    }
    members.forEach((i, j) => {
      if ((marginBest[j] as number) <= 0) fooled[i] = 1;
      values.set(best.subarray(j * size, (j + 1) * size), i * size);
    });
  }
  return { values, fooled, queries };
}

export const squareSchema = z
  .object({
    epsilon: epsilonSchema.default(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    /** Query budget per sample and restart (AutoAttack: 5000). */
    queries: z.number().int().min(1).default(5000),
    /** Initial fraction of the image a square covers. */
    pInit: z.number().gt(0).max(1).default(0.8),
    restarts: z.number().int().min(1).default(1),
    ...sharedShape,
  })
  .strict();

export type SquareOptions = z.input<typeof squareSchema>;

export class Square implements Attacker {
  /** Queries each sample of the last call used (0 for samples not attacked). */
  lastQueries: Int32Array = new Int32Array(0);

  constructor(
    readonly name: string,
    private readonly o: z.output<typeof squareSchema>,
    private readonly random: SeededRandom | undefined,
  ) {}

  attack(request: AttackRequest): tf.Tensor {
    const o = this.o;
    return runBudgetedAttack(
      this.name,
      o,
      this.random,
      request,
      (p, settings, where) => {
        if (p.targets) throw new ConfigError(`${where}: the square attack is untargeted; the request has targets`, [{ path: 'targets', message: 'not supported' }]);
        if (o.epsilon === 0 || p.n === 0) return tf.clone(p.x);
        const k = p.numClasses;
        const clean = p.cleanLogits.dataSync();
        const attack = new Uint8Array(p.n);
        for (let i = 0; i < p.n; i++) {
          let best = 0;
          for (let j = 1; j < k; j++) if ((clean[i * k + j] as number) > (clean[i * k + best] as number)) best = j;
          attack[i] = Number(best === p.labels[i]);
        }
        const sampleRandom = SampleRandom.fromBatch(p.random, p.x, p.labels);
        const result = runSquare(countingTarget(p.forward), p.x, p.labels, attack, (i, purpose) => sampleRandom.stream(i, purpose), settings);
        this.lastQueries = result.queries;
        return tf.tensor(result.values, p.x.shape, 'float32');
      },
    );
  }
}

/** Square Attack (Andriushchenko et al., 2020), Linf or L2, score-based. */
export const square = declareAttack({
  name: 'square',
  description: 'Square Attack (Andriushchenko et al., 2020): score-based random search with square updates, within a query budget',
  options: squareSchema,
  build: (options, random): Attacker => new Square('square', options, random),
});
