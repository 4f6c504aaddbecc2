/**
 * APGD, Auto-PGD (Croce & Hein, ICML 2020): PGD with a step size that adapts per sample, no
 * step-size tuning. Linf and L2; CE, DLR and targeted DLR (APGD-T) losses; restarts; EOT.
 *
 *   x_0 = clip(x + eps * t / ||t||)            t uniform(-1, 1) (Linf) or normal (L2)
 *   eta_0 = 2 * eps                             per-sample step size
 *   z_{k+1} = P(x_k + eta * dir(g_k))          dir: sign (Linf), g / ||g||_2 (L2); P: eps-ball and box
 *   x_{k+1} = P(x_k + a (z_{k+1} - x_k) + (1 - a)(x_k - x_{k-1}))      a = 0.75 (momentum), 1 at k = 0
 *
 * Checkpoints w_j: the first after ceil-free 22% of the iterations, then each period shorter by 3%
 * of the iterations, down to 6%. At a checkpoint a sample's step is halved, and it restarts from its
 * best point (highest loss), when
 *   (1) the loss increased in at most rho = 75% of the steps since the previous checkpoint, or
 *   (2) the step was not halved at the previous checkpoint and the best loss has not improved since.
 *
 * Each restart and each target class attacks only the samples still classified correctly.
 * Every random start comes from the sample's own stream, so a sample's result does not depend on
 * its batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, z, type Attacker, type AttackRequest } from '@advprop/core';
import {
  argmaxRows,
  countingTarget,
  dlrLoss,
  dlrTargetedLoss,
  FAMILY_STREAM,
  rankClasses,
  rowsTensor,
  runBudgetedAttack,
  sharedShape,
  type AttackTarget,
  type Norm,
  type StreamFor,
} from './attack-core.js';
import { declareAttack } from './declare-attack.js';
import { project } from './gradient-attack.js';
import { lossAndGradient } from './input-gradient.js';
import { perSampleCrossEntropy } from './losses.js';
import { SampleRandom } from './sample-random.js';
import { epsilonSchema, type InputRange } from './units.js';

export type ApgdLoss = 'ce' | 'dlr' | 'dlr-targeted';

export interface ApgdSettings {
  readonly norm: Norm;
  /** Absolute epsilon, in input units. */
  readonly epsilon: number;
  readonly steps: number;
  readonly restarts: number;
  readonly loss: ApgdLoss;
  /** dlr-targeted: how many of the most likely wrong classes to target, one after the other. */
  readonly targetClasses: number;
  /** Expectation over transformation: gradients averaged over this many passes (randomised models). */
  readonly eot: number;
  /** Fraction of increasing steps below which a checkpoint halves the step (0.75). */
  readonly rho: number;
  readonly range: InputRange;
}

/** Checkpoint schedule: the iterations (0-based) after which the step size is checked. */
export function apgdCheckpoints(steps: number): number[] {
  const first = Math.max(Math.floor(0.22 * steps), 1);
  const min = Math.max(Math.floor(0.06 * steps), 1);
  const decrease = Math.max(Math.floor(0.03 * steps), 1);
  const out: number[] = [];
  let period = first;
  let at = period - 1;
  while (at < steps) {
    out.push(at);
    period = Math.max(period - decrease, min);
    at += period;
  }
  return out;
}

interface SingleRun {
  /** Highest-loss point per sample. */
  readonly best: Float32Array;
  readonly bestLoss: Float32Array;
  /** Last misclassified point per sample (the start when never fooled). */
  readonly bestAdversarial: Float32Array;
  readonly fooled: Uint8Array;
}

/** Random start: x + eps * t / ||t|| per sample, from each sample's stream. */
function startNoise(norm: Norm, epsilon: number, size: number, streams: readonly SeededRandom[]): Float32Array {
  const out = new Float32Array(streams.length * size);
  streams.forEach((r, i) => {
    const t = new Float64Array(size);
    let scale = 0;
    for (let j = 0; j < size; j++) {
      const v = norm === 'linf' ? 2 * r.float() - 1 : r.normal();
      t[j] = v;
      scale = norm === 'linf' ? Math.max(scale, Math.abs(v)) : scale + v * v;
    }
    scale = norm === 'linf' ? scale : Math.sqrt(scale);
    for (let j = 0; j < size; j++) out[i * size + j] = (epsilon * (t[j] as number)) / (scale + 1e-12);
  });
  return out;
}

function perSampleShape(x: tf.Tensor): number[] {
  return [x.shape[0] as number, ...x.shape.slice(1).map(() => 1)];
}

/** One APGD run on `x` (all samples attacked), starting from `start` (x plus noise). */
function singleRun(
  target: AttackTarget,
  x: tf.Tensor,
  labels: Int32Array,
  targets: Int32Array | undefined,
  noise: Float32Array,
  s: ApgdSettings,
): SingleRun {
  const n = x.shape[0] as number;
  const eps = s.epsilon;
  const labelTensor = tf.tensor1d(labels, 'int32');
  const targetTensor = targets ? tf.tensor1d(targets, 'int32') : undefined;
  const objective = (logits: tf.Tensor2D): tf.Tensor1D =>
    s.loss === 'ce' ? perSampleCrossEntropy(logits, labelTensor) : s.loss === 'dlr' ? dlrLoss(logits, labelTensor) : dlrTargetedLoss(logits, labelTensor, targetTensor as tf.Tensor1D);
  // gradient averaged over `eot` passes; logits and loss of the last pass (as the reference)
  const evaluate = (xa: tf.Tensor): { logits: tf.Tensor2D; loss: tf.Tensor1D; grad: tf.Tensor } => {
    let sum: tf.Tensor | undefined;
    let last: { logits: tf.Tensor2D; loss: tf.Tensor1D } | undefined;
    for (let e = 0; e < s.eot; e++) {
      const r = lossAndGradient(target.forward, objective, xa);
      target.counts.backward += n;
      if (last) tf.dispose([last.logits, last.loss]);
      last = { logits: r.logits, loss: r.loss };
      if (sum) {
        const next = tf.add(sum, r.grad);
        tf.dispose([sum, r.grad]);
        sum = next;
      } else sum = r.grad;
    }
    const grad = s.eot === 1 ? (sum as tf.Tensor) : tf.tidy(() => tf.div(sum as tf.Tensor, s.eot));
    if (s.eot !== 1) sum?.dispose();
    const l = last as { logits: tf.Tensor2D; loss: tf.Tensor1D };
    return { logits: l.logits, loss: l.loss, grad };
  };
  const held: tf.Tensor[] = [labelTensor, ...(targetTensor ? [targetTensor] : [])];
  const swap = (old: tf.Tensor | undefined, next: tf.Tensor): tf.Tensor => {
    if (old && old !== next) old.dispose();
    return next;
  };
  let xAdv: tf.Tensor = tf.tidy(() => project(tf.add(x, tf.tensor(noise, x.shape, 'float32')), x, s.norm, eps, s.range));
  let grad: tf.Tensor | undefined;
  let xBest: tf.Tensor | undefined;
  let gradBest: tf.Tensor | undefined;
  let xBestAdv: tf.Tensor | undefined;
  let xOld: tf.Tensor | undefined;
  try {
    const first = evaluate(xAdv);
    const firstPred = argmaxRows(first.logits.dataSync(), n, first.logits.shape[1]);
    const lossBest = Float32Array.from(first.loss.dataSync());
    tf.dispose([first.logits, first.loss]);
    grad = first.grad;
    const fooled = Uint8Array.from(firstPred, (p, i) => Number(p !== labels[i]));
    xBest = tf.clone(xAdv);
    gradBest = tf.clone(grad);
    xBestAdv = tf.clone(xAdv);
    xOld = tf.clone(xAdv);
    const step = new Float32Array(n).fill(2 * eps);
    const lossSteps: Float32Array[] = [];
    const checkpoints = new Set(apgdCheckpoints(s.steps));
    let lastCheck = -1;
    let lossBestLastCheck = Float32Array.from(lossBest);
    let reducedLastCheck = new Uint8Array(n).fill(1);

    for (let i = 0; i < s.steps; i++) {
      const a = i > 0 ? 0.75 : 1;
      const current = xAdv;
      const previous = xOld;
      const g = grad;
      const next = tf.tidy(() => {
        const stepT = tf.tensor(step, perSampleShape(x), 'float32');
        const momentum = tf.sub(current, previous as tf.Tensor);
        const dir = s.norm === 'linf' ? tf.sign(g as tf.Tensor) : tf.div(g as tf.Tensor, tf.add(tf.sqrt(tf.sum(tf.square(g as tf.Tensor), sampleAxes(x), true)), 1e-12));
        const z = project(tf.add(current, tf.mul(stepT, dir)), x, s.norm, eps, s.range);
        return project(tf.add(tf.add(current, tf.mul(tf.sub(z, current), a)), tf.mul(momentum, 1 - a)), x, s.norm, eps, s.range);
      });
      xOld = swap(xOld, current);
      xAdv = next;
      const r = evaluate(xAdv);
      grad = swap(grad, r.grad);
      const pred = argmaxRows(r.logits.dataSync(), n, r.logits.shape[1]);
      const loss = Float32Array.from(r.loss.dataSync());
      tf.dispose([r.logits, r.loss]);
      lossSteps.push(loss);
      const newlyFooled = new Uint8Array(n);
      const improved = new Uint8Array(n);
      for (let j = 0; j < n; j++) {
        if (pred[j] !== labels[j]) {
          fooled[j] = 1;
          newlyFooled[j] = 1;
        }
        if ((loss[j] as number) > (lossBest[j] as number)) {
          improved[j] = 1;
          lossBest[j] = loss[j] as number;
        }
      }
      const rows = (mask: Uint8Array) => tf.reshape(tf.tensor1d(mask, 'bool'), perSampleShape(x));
      if (newlyFooled.some((v) => v)) xBestAdv = swap(xBestAdv, tf.tidy(() => tf.where(rows(newlyFooled), xAdv, xBestAdv as tf.Tensor)));
      if (improved.some((v) => v)) {
        xBest = swap(xBest, tf.tidy(() => tf.where(rows(improved), xAdv, xBest as tf.Tensor)));
        gradBest = swap(gradBest, tf.tidy(() => tf.where(rows(improved), grad as tf.Tensor, gradBest as tf.Tensor)));
      }
      if (checkpoints.has(i)) {
        const period = i - lastCheck;
        const halve = new Uint8Array(n);
        for (let j = 0; j < n; j++) {
          // (1) increases over the period; the step before the first one counts against a zero loss, as the reference's wrap-around does
          let increases = 0;
          for (let c = 0; c < period; c++) {
            const now = lossSteps[i - c]?.[j] as number;
            const before = i - c - 1 >= 0 ? (lossSteps[i - c - 1]?.[j] as number) : 0;
            if (now > before) increases++;
          }
          const oscillating = increases <= period * s.rho;
          const stalled = !reducedLastCheck[j] && (lossBestLastCheck[j] as number) >= (lossBest[j] as number);
          halve[j] = Number(oscillating || stalled);
        }
        reducedLastCheck = halve;
        lossBestLastCheck = Float32Array.from(lossBest);
        if (halve.some((v) => v)) {
          for (let j = 0; j < n; j++) if (halve[j]) step[j] = (step[j] as number) / 2;
          xAdv = swap(xAdv, tf.tidy(() => tf.where(rows(halve), xBest as tf.Tensor, xAdv)));
          grad = swap(grad, tf.tidy(() => tf.where(rows(halve), gradBest as tf.Tensor, grad as tf.Tensor)));
        }
        lastCheck = i;
      }
    }
    return {
      best: Float32Array.from(xBest.dataSync()),
      bestLoss: lossBest,
      bestAdversarial: Float32Array.from(xBestAdv.dataSync()),
      fooled,
    };
  } finally {
    tf.dispose([...held, xAdv, ...[grad, xBest, gradBest, xBestAdv, xOld].filter((t): t is tf.Tensor => !!t && !t.isDisposed)]);
  }
}

function sampleAxes(x: tf.Tensor): number[] {
  return Array.from({ length: x.rank - 1 }, (_, i) => i + 1);
}

export interface ApgdResult {
  /** Per sample: the adversarial example if one was found, else the highest-loss point (clean x for samples not attacked). */
  readonly values: Float32Array;
  /** 1 where the result is misclassified by the attack's runs. */
  readonly fooled: Uint8Array;
}

/**
 * APGD on a batch: `attack[i]` says which samples to attack (the rest are returned unchanged);
 * `ranked[i]` are the sample's classes by decreasing clean logit (targets of dlr-targeted), or
 * `givenTargets` one target per sample.
 */
export function runApgd(
  target: AttackTarget,
  x: tf.Tensor,
  labels: Int32Array,
  attack: Uint8Array,
  streamFor: StreamFor,
  s: ApgdSettings,
  targetsFor: ((round: number) => Int32Array) | undefined,
  rounds: number,
): ApgdResult {
  const n = x.shape[0] as number;
  const size = x.size / Math.max(n, 1);
  const rowShape = x.shape.slice(1);
  const clean = Float32Array.from(x.dataSync());
  const values = Float32Array.from(clean);
  const bestLoss = new Float32Array(n).fill(-Infinity);
  const open = Uint8Array.from(attack);
  const fooled = new Uint8Array(n);
  for (let round = 0; round < rounds; round++) {
    const roundTargets = targetsFor?.(round);
    for (let restart = 0; restart < s.restarts; restart++) {
      const indices: number[] = [];
      for (let i = 0; i < n; i++) if (open[i]) indices.push(i);
      if (indices.length === 0) return { values, fooled };
      const sub = rowsTensor(clean, size, indices, rowShape);
      try {
        const streams = indices.map((i) => streamFor(i, FAMILY_STREAM.apgd + 64 * round + restart));
        const noise = startNoise(s.norm, s.epsilon, size, streams);
        const run = singleRun(
          target,
          sub,
          Int32Array.from(indices, (i) => labels[i] as number),
          roundTargets ? Int32Array.from(indices, (i) => roundTargets[i] as number) : undefined,
          noise,
          s,
        );
        indices.forEach((i, j) => {
          if (run.fooled[j]) {
            fooled[i] = 1;
            open[i] = 0;
            values.set(run.bestAdversarial.subarray(j * size, (j + 1) * size), i * size);
          } else if ((run.bestLoss[j] as number) > (bestLoss[i] as number)) {
            bestLoss[i] = run.bestLoss[j] as number;
            values.set(run.best.subarray(j * size, (j + 1) * size), i * size);
          }
        });
      } finally {
        sub.dispose();
      }
    }
  }
  return { values, fooled };
}

export const apgdSchema = z
  .object({
    epsilon: epsilonSchema.default(8 / 255),
    norm: z.enum(['linf', 'l2']).default('linf'),
    steps: z.number().int().min(1).default(100),
    restarts: z.number().int().min(1).default(1),
    /** ce, dlr (untargeted), dlr-targeted (APGD-T: the most likely wrong classes one after the other). */
    loss: z.enum(['ce', 'dlr', 'dlr-targeted']).default('ce'),
    /** dlr-targeted: number of target classes (the 2nd, 3rd, ... most likely clean classes). */
    targetClasses: z.number().int().min(1).default(9),
    /** Expectation over transformation: gradient passes averaged per step (randomised models). */
    eot: z.number().int().min(1).default(1),
    rho: z.number().gt(0).lt(1).default(0.75),
    ...sharedShape,
  })
  .strict();

export type ApgdOptions = z.input<typeof apgdSchema>;

class Apgd implements Attacker {
  constructor(
    readonly name: string,
    private readonly o: z.output<typeof apgdSchema>,
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
        if (p.targets && o.loss !== 'dlr-targeted') {
          throw new ConfigError(`${where}: targets were passed but the loss is "${o.loss}"; use loss: "dlr-targeted"`, [{ path: 'targets', message: 'needs loss "dlr-targeted"' }]);
        }
        if (o.epsilon === 0 || p.n === 0) return tf.clone(p.x);
        const k = p.numClasses;
        const cleanValues = p.cleanLogits.dataSync();
        const predicted = argmaxRows(cleanValues, p.n, k);
        const attack = Uint8Array.from(predicted, (c, i) => Number(c === p.labels[i]));
        const sampleRandom = SampleRandom.fromBatch(p.random, p.x, p.labels, p.targets);
        const target = countingTarget(p.forward);
        let targetsFor: ((round: number) => Int32Array) | undefined;
        let rounds = 1;
        if (o.loss === 'dlr-targeted') {
          if (p.targets) {
            const given = p.targets;
            targetsFor = () => given;
          } else {
            const ranked = rankClasses(cleanValues, p.n, k);
            rounds = Math.min(o.targetClasses, k - 1);
            targetsFor = (round) => Int32Array.from(ranked, (r) => r[round + 1] as number);
          }
        }
        const result = runApgd(target, p.x, p.labels, attack, (i, purpose) => sampleRandom.stream(i, purpose), settings, targetsFor, rounds);
        return tf.tensor(result.values, p.x.shape, 'float32');
      },
    );
  }
}

/** APGD (Croce & Hein, 2020), Linf or L2, CE / DLR / targeted DLR, restarts, EOT. */
export const apgd = declareAttack({
  name: 'apgd',
  description: 'Auto-PGD (Croce & Hein, 2020): PGD with momentum and a per-sample step size halved at checkpoints; CE, DLR or targeted DLR',
  options: apgdSchema,
  build: (options, random): Attacker => new Apgd('apgd', options, random),
});

/** APGD-T as AutoAttack runs it: targeted DLR against the 9 most likely wrong classes. */
export const apgdT = declareAttack({
  name: 'apgd-t',
  description: 'APGD-T (Croce & Hein, 2020): APGD on the targeted DLR loss against each of the most likely wrong classes in turn',
  options: apgdSchema.extend({ loss: z.literal('dlr-targeted').default('dlr-targeted') }).strict(),
  build: (options, random): Attacker => new Apgd('apgd-t', options, random),
});
