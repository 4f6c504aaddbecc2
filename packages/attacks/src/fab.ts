/**
 * FAB, Fast Adaptive Boundary (Croce & Hein, ICML 2020): a minimum-norm attack. At each step the
 * classifier is linearised at the current point x_k; the class boundary chosen is the closest one
 * under the linearisation (untargeted: over all classes; targeted: the target's), and
 *
 *   d_k = proj(x_k)  - x_k      smallest step (Linf or L2) from x_k onto the linearised boundary, inside the box
 *   d_0 = proj(x)    - x        the same from the clean point x
 *   alpha = min(|d_k| / (|d_k| + |d_0|), alpha_max)
 *   x_{k+1} = clip((1 - alpha)(x_k + eta d_k) + alpha (x + eta d_0))          eta = 1.05 (overshoot)
 *
 * and when x_{k+1} is misclassified it is kept if its norm is the smallest so far, then pulled
 * back towards x: x_{k+1} = x + beta (x_{k+1} - x), beta = 0.9. The projections are exact: with
 * the box, the Linf projection saturates coordinates at a common radius and the L2 one is
 * d_i = clip(lambda w_i) (sorted breakpoints, here on the CPU in float64).
 *
 * As an attacker FAB returns, per sample, the smallest adversarial example it found if its norm
 * is within epsilon, else the clean sample; `minimumNorm` returns the smallest found whatever its
 * norm. Restarts after the first start at x + eps/2 * t/|t| (t from the sample's own stream).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, z, type Attacker, type AttackRequest } from '@advprop/core';
import { argmaxRows, countingTarget, FAMILY_STREAM, rankClasses, rowNorm, runBudgetedAttack, sharedShape, type AttackTarget, type Norm, type StreamFor } from './attack-core.js';
import { declareAttack } from './declare-attack.js';
import { inputGradient } from './input-gradient.js';
import { SampleRandom } from './sample-random.js';
import { epsilonSchema, type InputRange } from './units.js';

export interface FabSettings {
  readonly norm: Norm;
  /** Absolute epsilon (input units): the success bound, and the radius of restarts' starts. */
  readonly epsilon: number;
  readonly steps: number;
  readonly restarts: number;
  readonly alphaMax: number;
  readonly eta: number;
  readonly beta: number;
  readonly range: InputRange;
}

/**
 * The smallest step `d` (Linf or L2) with w . (p + d) = b and p + d inside [lo, hi], written to
 * `out`. When the box makes it unreachable, the box corner that gets closest.
 */
export function projectOntoHyperplane(
  p: ArrayLike<number>,
  offset: number,
  w: ArrayLike<number>,
  wOffset: number,
  b: number,
  size: number,
  lo: number,
  hi: number,
  norm: Norm,
  out: Float64Array,
): void {
  let c = b;
  for (let i = 0; i < size; i++) c -= (w[wOffset + i] as number) * (p[offset + i] as number);
  out.fill(0, 0, size);
  if (c === 0) return;
  const target = Math.abs(c);
  const sign = new Float64Array(size);
  const room = new Float64Array(size);
  const rate = new Float64Array(size);
  const breakpoint = new Float64Array(size);
  const order: number[] = [];
  let slope = 0;
  for (let i = 0; i < size; i++) {
    const wi = w[wOffset + i] as number;
    if (wi === 0) continue;
    const a = Math.abs(wi);
    const s = Math.sign(wi) * Math.sign(c);
    const pi = p[offset + i] as number;
    const m = Math.max(0, s > 0 ? hi - pi : pi - lo);
    sign[i] = s;
    room[i] = m;
    rate[i] = norm === 'linf' ? 1 : a;
    breakpoint[i] = m / (rate[i] as number);
    slope += a * (rate[i] as number);
    order.push(i);
  }
  order.sort((i, j) => (breakpoint[i] as number) - (breakpoint[j] as number));
  // G(t) = sum_i |w_i| min(t * rate_i, room_i) is piecewise linear and increasing; solve G(t) = |c|
  let reached = 0;
  let t = Infinity;
  for (const i of order) {
    const value = reached + slope * (breakpoint[i] as number);
    if (value >= target) {
      t = (target - reached) / slope;
      break;
    }
    reached += Math.abs(w[wOffset + i] as number) * (room[i] as number);
    slope -= Math.abs(w[wOffset + i] as number) * (rate[i] as number);
  }
  for (const i of order) out[i] = (sign[i] as number) * Math.min(t * (rate[i] as number), room[i] as number);
}

function vectorNorm(d: Float64Array, size: number, norm: Norm): number {
  let acc = 0;
  for (let i = 0; i < size; i++) acc = norm === 'linf' ? Math.max(acc, Math.abs(d[i] as number)) : acc + (d[i] as number) ** 2;
  return norm === 'linf' ? acc : Math.sqrt(acc);
}

/** Logit differences z_k - z_y and their input gradients, [n, m] and [n, m, size] (m = K untargeted, 1 targeted). */
function linearise(
  target: AttackTarget,
  x: tf.Tensor,
  labels: Int32Array,
  targets: Int32Array | undefined,
): { df: Float32Array; dg: Float32Array; m: number; k: number } {
  const n = x.shape[0] as number;
  const size = x.size / n;
  const labelTensor = tf.tensor1d(labels, 'int32');
  try {
    if (targets) {
      const targetTensor = tf.tensor1d(targets, 'int32');
      try {
        const diff = (logits: tf.Tensor2D) =>
          tf.sub(tf.sum(tf.mul(tf.oneHot(targetTensor, logits.shape[1]), logits), 1), tf.sum(tf.mul(tf.oneHot(labelTensor, logits.shape[1]), logits), 1));
        const logits = tf.tidy(() => target.forward(x)) as tf.Tensor2D;
        const dfTensor = tf.tidy(() => diff(logits));
        const df = dfTensor.dataSync() as Float32Array;
        dfTensor.dispose();
        const k = logits.shape[1];
        logits.dispose();
        const g = inputGradient((xa) => tf.sum(diff(target.forward(xa) as tf.Tensor2D)))(x);
        target.counts.backward += n;
        const dg = g.dataSync() as Float32Array;
        g.dispose();
        return { df: Float32Array.from(df), dg: Float32Array.from(dg), m: 1, k };
      } finally {
        targetTensor.dispose();
      }
    }
    const logits = tf.tidy(() => target.forward(x)) as tf.Tensor2D;
    const k = logits.shape[1];
    const z = Float32Array.from(logits.dataSync());
    logits.dispose();
    const grads: Float32Array[] = [];
    for (let c = 0; c < k; c++) {
      const g = inputGradient((xa) => tf.sum(tf.slice(target.forward(xa) as tf.Tensor2D, [0, c], [-1, 1])))(x);
      target.counts.backward += n;
      grads.push(Float32Array.from(g.dataSync()));
      g.dispose();
    }
    const df = new Float32Array(n * k);
    const dg = new Float32Array(n * k * size);
    for (let i = 0; i < n; i++) {
      const y = labels[i] as number;
      for (let c = 0; c < k; c++) {
        df[i * k + c] = c === y ? 1e10 : (z[i * k + c] as number) - (z[i * k + y] as number);
        const gc = grads[c] as Float32Array;
        const gy = grads[y] as Float32Array;
        const base = (i * k + c) * size;
        for (let j = 0; j < size; j++) dg[base + j] = (gc[i * size + j] as number) - (gy[i * size + j] as number);
      }
    }
    return { df, dg, m: k, k };
  } finally {
    labelTensor.dispose();
  }
}

interface FabRun {
  /** Smallest adversarial point found per sample (clean where none). */
  readonly best: Float32Array;
  /** Its norm (Infinity where none). */
  readonly norms: Float64Array;
}

function singleRun(
  target: AttackTarget,
  clean: Float32Array,
  rowShape: readonly number[],
  labels: Int32Array,
  targets: Int32Array | undefined,
  streams: readonly SeededRandom[] | undefined,
  s: FabSettings,
): FabRun {
  const n = labels.length;
  const size = clean.length / n;
  const [lo, hi] = s.range;
  const x1 = Float32Array.from(clean);
  if (streams) {
    // restart: x + min(best norm, eps) / 2 * t / |t|; no success yet, so eps / 2
    streams.forEach((r, i) => {
      const t = new Float64Array(size);
      let scale = 0;
      for (let j = 0; j < size; j++) {
        const v = s.norm === 'linf' ? 2 * r.float() - 1 : r.normal();
        t[j] = v;
        scale = s.norm === 'linf' ? Math.max(scale, Math.abs(v)) : scale + v * v;
      }
      scale = s.norm === 'linf' ? scale : Math.sqrt(scale);
      for (let j = 0; j < size; j++) x1[i * size + j] = Math.min(hi, Math.max(lo, (clean[i * size + j] as number) + ((0.5 * s.epsilon * (t[j] as number)) / scale)));
    });
  }
  const best = Float32Array.from(clean);
  const norms = new Float64Array(n).fill(Infinity);
  const d1 = new Float64Array(size);
  const d2 = new Float64Array(size);
  for (let iter = 0; iter < s.steps; iter++) {
    const xt = tf.tensor(x1, [n, ...rowShape], 'float32');
    let lin: ReturnType<typeof linearise>;
    try {
      lin = linearise(target, xt, labels, targets);
    } finally {
      xt.dispose();
    }
    const { df, dg, m } = lin;
    for (let i = 0; i < n; i++) {
      // the closest linearised boundary
      let choice = 0;
      let closest = Infinity;
      for (let c = 0; c < m; c++) {
        const base = (i * m + c) * size;
        let dual = 0;
        for (let j = 0; j < size; j++) {
          const v = dg[base + j] as number;
          dual = s.norm === 'linf' ? dual + Math.abs(v) : dual + v * v;
        }
        dual = s.norm === 'linf' ? dual : Math.sqrt(dual);
        const distance = Math.abs(df[i * m + c] as number) / (1e-12 + dual);
        if (distance < closest) {
          closest = distance;
          choice = c;
        }
      }
      const wOffset = (i * m + choice) * size;
      let b = -(df[i * m + choice] as number);
      for (let j = 0; j < size; j++) b += (dg[wOffset + j] as number) * (x1[i * size + j] as number);
      projectOntoHyperplane(x1, i * size, dg, wOffset, b, size, lo, hi, s.norm, d1);
      projectOntoHyperplane(clean, i * size, dg, wOffset, b, size, lo, hi, s.norm, d2);
      const a1 = Math.max(vectorNorm(d1, size, s.norm), 1e-8);
      const a2 = Math.max(vectorNorm(d2, size, s.norm), 1e-8);
      const alpha = Math.min(Math.max(a1 / (a1 + a2), 0), s.alphaMax);
      for (let j = 0; j < size; j++) {
        const v = ((x1[i * size + j] as number) + s.eta * (d1[j] as number)) * (1 - alpha) + ((clean[i * size + j] as number) + s.eta * (d2[j] as number)) * alpha;
        x1[i * size + j] = Math.min(hi, Math.max(lo, v));
      }
    }
    const xt2 = tf.tensor(x1, [n, ...rowShape], 'float32');
    const logits = tf.tidy(() => target.forward(xt2));
    const k = logits.shape[1] as number;
    const predicted = argmaxRows(logits.dataSync(), n, k);
    tf.dispose([xt2, logits]);
    for (let i = 0; i < n; i++) {
      if (predicted[i] === labels[i]) continue;
      const t = rowNorm(x1, clean, i * size, i * size, size, s.norm);
      if (t < (norms[i] as number)) {
        norms[i] = t;
        best.set(x1.subarray(i * size, (i + 1) * size), i * size);
      }
      for (let j = 0; j < size; j++) {
        const c = clean[i * size + j] as number;
        x1[i * size + j] = c + ((x1[i * size + j] as number) - c) * s.beta;
      }
    }
  }
  return { best, norms };
}

export interface FabResult {
  /** Per sample: the smallest adversarial example found (clean where none). */
  readonly values: Float32Array;
  /** Its norm, Infinity where none was found. */
  readonly norms: Float64Array;
}

/**
 * FAB on the samples with `attack[i]` set. A sample stays open (is attacked by the next restart or
 * target) until a run finds an adversarial example within `epsilon` (`untilWithin`), or, when
 * `untilWithin` is false, runs every restart and target and keeps the smallest.
 */
export function runFab(
  target: AttackTarget,
  x: tf.Tensor,
  labels: Int32Array,
  attack: Uint8Array,
  streamFor: StreamFor,
  s: FabSettings,
  targetsFor: ((round: number) => Int32Array) | undefined,
  rounds: number,
  untilWithin = true,
): FabResult {
  const n = x.shape[0] as number;
  const size = x.size / Math.max(n, 1);
  const rowShape = x.shape.slice(1);
  const clean = Float32Array.from(x.dataSync());
  const values = Float32Array.from(clean);
  const norms = new Float64Array(n).fill(Infinity);
  const open = Uint8Array.from(attack);
  for (let round = 0; round < rounds; round++) {
    const roundTargets = targetsFor?.(round);
    for (let restart = 0; restart < s.restarts; restart++) {
      const indices: number[] = [];
      for (let i = 0; i < n; i++) if (open[i]) indices.push(i);
      if (indices.length === 0) return { values, norms };
      const sub = new Float32Array(indices.length * size);
      indices.forEach((i, j) => sub.set(clean.subarray(i * size, (i + 1) * size), j * size));
      const streams = restart > 0 ? indices.map((i) => streamFor(i, FAMILY_STREAM.fab + 64 * round + restart)) : undefined;
      const run = singleRun(
        target,
        sub,
        rowShape,
        Int32Array.from(indices, (i) => labels[i] as number),
        roundTargets ? Int32Array.from(indices, (i) => roundTargets[i] as number) : undefined,
        streams,
        s,
      );
      indices.forEach((i, j) => {
        const t = run.norms[j] as number;
        if (t < (norms[i] as number)) {
          norms[i] = t;
          values.set(run.best.subarray(j * size, (j + 1) * size), i * size);
        }
        if (untilWithin && (norms[i] as number) <= s.epsilon) open[i] = 0;
      });
    }
  }
  return { values, norms };
}

export const fabSchema = z
  .object({
    epsilon: epsilonSchema.default(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    steps: z.number().int().min(1).default(100),
    restarts: z.number().int().min(1).default(1),
    /** Targeted FAB (FAB-T): the boundary of each of the most likely wrong classes in turn. */
    targeted: z.boolean().default(false),
    targetClasses: z.number().int().min(1).default(9),
    alphaMax: z.number().min(0).max(1).default(0.1),
    eta: z.number().min(1).default(1.05),
    beta: z.number().gt(0).max(1).default(0.9),
    ...sharedShape,
  })
  .strict();

export type FabOptions = z.input<typeof fabSchema>;

export interface MinimumNormResult {
  /** Smallest adversarial example found per sample (clean where none); caller disposes. */
  readonly adversarial: tf.Tensor;
  /** Its norm in input units; Infinity where none was found, 0 for samples already misclassified. */
  readonly norms: Float64Array;
}

export class Fab implements Attacker {
  constructor(
    readonly name: string,
    private readonly o: z.output<typeof fabSchema>,
    private readonly random: SeededRandom | undefined,
  ) {}

  private run(request: AttackRequest, untilWithin: boolean): { tensor: tf.Tensor; norms: Float64Array } {
    const o = this.o;
    let norms = new Float64Array(0);
    const tensor = runBudgetedAttack(
      this.name,
      o,
      this.random,
      request,
      (p, settings, where) => {
        if (p.targets && !o.targeted) {
          throw new ConfigError(`${where}: targets were passed but the attacker is untargeted; set targeted: true`, [{ path: 'targets', message: 'untargeted attacker given targets' }]);
        }
        norms = new Float64Array(p.n).fill(Infinity);
        if ((untilWithin && o.epsilon === 0) || p.n === 0) return tf.clone(p.x);
        const cleanValues = p.cleanLogits.dataSync();
        const predicted = argmaxRows(cleanValues, p.n, p.numClasses);
        const attack = Uint8Array.from(predicted, (c, i) => Number(c === p.labels[i]));
        attack.forEach((a, i) => {
          if (!a) norms[i] = 0;
        });
        const sampleRandom = SampleRandom.fromBatch(p.random, p.x, p.labels, p.targets);
        let targetsFor: ((round: number) => Int32Array) | undefined;
        let rounds = 1;
        if (o.targeted) {
          if (p.targets) {
            const given = p.targets;
            targetsFor = () => given;
          } else {
            const ranked = rankClasses(cleanValues, p.n, p.numClasses);
            rounds = Math.min(o.targetClasses, p.numClasses - 1);
            targetsFor = (round) => Int32Array.from(ranked, (r) => r[round + 1] as number);
          }
        }
        const result = runFab(countingTarget(p.forward), p.x, p.labels, attack, (i, purpose) => sampleRandom.stream(i, purpose), settings, targetsFor, rounds, untilWithin);
        result.norms.forEach((t, i) => {
          if (attack[i]) norms[i] = t;
        });
        const values = result.values;
        if (untilWithin) {
          // within epsilon, or the clean sample
          const clean = p.x.dataSync();
          const size = p.x.size / p.n;
          for (let i = 0; i < p.n; i++) if (!((result.norms[i] as number) <= settings.epsilon)) values.set(clean.subarray(i * size, (i + 1) * size), i * size);
        }
        return tf.tensor(values, p.x.shape, 'float32');
      },
    );
    return { tensor, norms };
  }

  attack(request: AttackRequest): tf.Tensor {
    return this.run(request, true).tensor;
  }

  /** The smallest adversarial example found per sample, whatever its norm, and the norms. */
  minimumNorm(request: AttackRequest): MinimumNormResult {
    const { tensor, norms } = this.run(request, false);
    return { adversarial: tensor, norms };
  }
}

/** FAB (Croce & Hein, 2020), untargeted or targeted, Linf or L2. */
export const fab = declareAttack({
  name: 'fab',
  description: 'FAB (Croce & Hein, 2020): minimum-norm attack stepping onto the linearised closest class boundary, biased towards the clean point',
  options: fabSchema,
  build: (options, random): Attacker => new Fab('fab', options, random),
});
