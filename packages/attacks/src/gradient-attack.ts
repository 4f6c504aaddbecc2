/**
 * The gradient attack engine behind FGSM, FGM, BIM / I-FGSM, PGD (Linf, L2, random start,
 * restarts), MI-FGSM and DI-FGSM: one loop, configured.
 *
 *   x_0     = x (+ random start inside the eps-ball)
 *   g_t     = grad_x  sum_i J_i(f(D(x_t)))          J: per-sample objective (CE or CW margin)
 *   m_t     = mu * m_{t-1} + g_t / mean|g_t|       (momentum, MI-FGSM; mu = 0 skips it)
 *   x_{t+1} = clip_range( proj_eps( x_t + alpha * dir(m_t) ) )   dir: sign (Linf) or m / ||m||_2 (L2)
 *
 * Per-sample objectives are summed, so each sample's step depends on that sample only (for
 * models whose forward pass does not mix samples, i.e. BN in inference mode).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, type Attacker, type AttackRequest, type BnRoute } from '@advprop/core';
import { attackObjective, attackSucceeded, type AttackLoss } from './losses.js';
import { runPrepared, type PreparedRequest } from './request.js';
import { chooseTargets, type TargetMode } from './targets.js';
import { assertRange, DEFAULT_RANGE, type InputRange } from './units.js';

export type Norm = 'linf' | 'l2';

export interface DiversityOptions {
  /** Probability of transforming the input at a step (DI-FGSM's p). */
  readonly probability: number;
  /**
   * Resize factor: the image is resized to a random size between `H` and `H * resizeRate` and
   * zero-padded at a random offset to the larger of the two; when that is larger than `H` the
   * result is resized back to `H` so models with a fixed input size accept it.
   */
  readonly resizeRate: number;
}

/** Resolved settings of a gradient attack; epsilon and stepSize are fractions of the range. */
export interface GradientAttackSettings {
  readonly epsilon: number;
  /** Fraction of the range; absent: epsilon for one step, else 2.5 * epsilon / steps (Madry et al.). */
  readonly stepSize?: number | undefined;
  readonly steps: number;
  readonly norm: Norm;
  readonly randomStart: boolean;
  readonly restarts: number;
  readonly targeted: TargetMode;
  readonly loss: AttackLoss;
  /** CW margin cap (kappa); absent: no cap. */
  readonly confidence?: number | undefined;
  /** MI-FGSM decay factor mu; 0 disables momentum. */
  readonly momentum: number;
  readonly diversity?: DiversityOptions | undefined;
  readonly range: InputRange;
  readonly route?: BnRoute | undefined;
  readonly training: boolean;
  readonly checkLogits: boolean;
}

export type GradientAttackInput = Partial<GradientAttackSettings> & { readonly epsilon: number };

export const GRADIENT_DEFAULTS: Omit<GradientAttackSettings, 'epsilon'> = {
  steps: 1,
  norm: 'linf',
  randomStart: false,
  restarts: 1,
  targeted: 'none',
  loss: 'ce',
  momentum: 0,
  range: DEFAULT_RANGE,
  training: false,
  checkLogits: true,
};

export class GradientAttack implements Attacker {
  readonly settings: GradientAttackSettings;
  private readonly random: SeededRandom;

  constructor(
    readonly name: string,
    settings: GradientAttackInput,
    random: SeededRandom = new SeededRandom(0),
  ) {
    this.settings = { ...GRADIENT_DEFAULTS, ...dropUndefined(settings) } as GradientAttackSettings;
    checkSettings(this.settings, `attacker "${name}"`);
    this.random = random;
  }

  /** Absolute epsilon and step size in input units. */
  get absolute(): { epsilon: number; stepSize: number } {
    const s = this.settings;
    const span = s.range[1] - s.range[0];
    const step = s.stepSize ?? (s.steps === 1 ? s.epsilon : (2.5 * s.epsilon) / s.steps);
    return { epsilon: s.epsilon * span, stepSize: step * span };
  }

  attack(request: AttackRequest): tf.Tensor {
    const s = this.settings;
    return runPrepared(
      request,
      { where: `attacker "${this.name}"`, range: s.range, route: s.route, training: s.training, checkLogits: s.checkLogits, random: this.random },
      (p) => this.run(p),
    );
  }

  private run(p: PreparedRequest): tf.Tensor {
    const s = this.settings;
    if (s.diversity && p.x.rank !== 4) {
      throw new ConfigError(`${p.where}: diversity needs NHWC image batches (rank 4), got x of shape [${p.x.shape.join(', ')}]`, [
        { path: 'diversity', message: 'needs rank-4 NHWC input' },
      ]);
    }
    const { classes, targeted } = resolveClasses(s.targeted, p);
    const { epsilon, stepSize } = this.absolute;
    if (epsilon === 0 || p.n === 0) return tf.clone(p.x);
    const classTensor = tf.tensor1d(classes, 'int32');
    try {
      const objective = (logits: tf.Tensor): tf.Tensor1D =>
        attackObjective(logits as tf.Tensor2D, classTensor, { loss: s.loss, targeted, confidence: s.confidence });
      const diversity = s.diversity;
      const gradient = tf.grad((xa: tf.Tensor) => {
        const input = diversity ? diverseInputs(xa, diversity, p.random) : xa;
        return tf.sum(objective(p.forward(input)));
      });
      const once = (): tf.Tensor => this.runOnce(p, gradient, epsilon, stepSize);
      if (s.restarts === 1) return once();

      let best: tf.Tensor | undefined;
      let bestScore: tf.Tensor1D | undefined;
      let bestSuccess: tf.Tensor1D | undefined;
      try {
        for (let r = 0; r < s.restarts; r++) {
          const candidate = once();
          const [score, success] = tf.tidy(() => {
            const logits = p.forward(candidate) as tf.Tensor2D;
            return [objective(logits), attackSucceeded(logits, classTensor, targeted)];
          }) as [tf.Tensor1D, tf.Tensor1D];
          if (!best || !bestScore || !bestSuccess) {
            best = candidate;
            bestScore = score;
            bestSuccess = success;
            continue;
          }
          const [b, bs, bsu] = tf.tidy(() => {
            const better1d = tf.logicalOr(
              tf.logicalAnd(success, tf.logicalNot(bestSuccess as tf.Tensor)),
              tf.logicalAnd(tf.equal(success, bestSuccess as tf.Tensor), tf.greater(score, bestScore as tf.Tensor)),
            );
            const better = tf.reshape(better1d, [p.n, ...p.x.shape.slice(1).map(() => 1)]);
            return [
              tf.where(better, candidate, best as tf.Tensor),
              tf.where(better1d, score, bestScore as tf.Tensor),
              tf.logicalOr(success, bestSuccess as tf.Tensor),
            ];
          });
          tf.dispose([best, bestScore, bestSuccess, candidate, score, success]);
          best = b;
          bestScore = bs as tf.Tensor1D;
          bestSuccess = bsu as tf.Tensor1D;
        }
        const result = best as tf.Tensor;
        best = undefined;
        return result;
      } finally {
        tf.dispose([best, bestScore, bestSuccess].filter((t): t is tf.Tensor => t !== undefined));
      }
    } finally {
      classTensor.dispose();
    }
  }

  private runOnce(p: PreparedRequest, gradient: (x: tf.Tensor) => tf.Tensor, epsilon: number, stepSize: number): tf.Tensor {
    const s = this.settings;
    const x = p.x;
    let adv = tf.tidy(() => (s.randomStart ? project(tf.add(x, randomStart(x, s.norm, epsilon, p.random)), x, s.norm, epsilon, s.range) : tf.clone(x)));
    let momentum: tf.Tensor | undefined = s.momentum > 0 ? tf.zerosLike(x) : undefined;
    try {
      for (let step = 0; step < s.steps; step++) {
        const current = adv;
        const previous = momentum;
        const [nextAdv, nextMomentum] = tf.tidy(() => {
          let direction = gradient(current);
          let kept: tf.Tensor | undefined;
          if (previous) {
            const scale = tf.add(tf.mean(tf.abs(direction), sampleAxes(direction), true), 1e-12);
            direction = tf.add(tf.mul(previous, s.momentum), tf.div(direction, scale));
            kept = direction;
          }
          const move = s.norm === 'linf' ? tf.sign(direction) : tf.div(direction, tf.add(l2Norm(direction), 1e-12));
          const stepped = tf.add(current, tf.mul(move, stepSize));
          const next = project(stepped, x, s.norm, epsilon, s.range);
          return kept ? [next, kept] : [next];
        }) as [tf.Tensor, tf.Tensor | undefined];
        current.dispose();
        previous?.dispose();
        adv = nextAdv;
        momentum = nextMomentum;
      }
      const result = adv;
      adv = undefined as unknown as tf.Tensor;
      return result;
    } finally {
      adv?.dispose();
      momentum?.dispose();
    }
  }
}

/** Classes the objective refers to: targets for a targeted attack, else the labels. */
function resolveClasses(mode: TargetMode, p: PreparedRequest): { classes: Int32Array; targeted: boolean } {
  if (mode === 'none') {
    if (p.targets) {
      throw new ConfigError(`${p.where}: targets were passed but the attacker is untargeted; set targeted: "given" (or "random" / "least-likely")`, [
        { path: 'targeted', message: 'untargeted attacker given targets' },
      ]);
    }
    return { classes: p.labels, targeted: false };
  }
  if (p.targets) return { classes: p.targets, targeted: true };
  if (mode === 'given') {
    throw new ConfigError(`${p.where}: targeted is "given" but the request has no targets`, [
      { path: 'targets', message: 'required when targeted is "given"' },
    ]);
  }
  const classes =
    mode === 'random'
      ? chooseTargets('random', { labels: p.labels, numClasses: p.numClasses, random: p.random })
      : chooseTargets('least-likely', { labels: p.labels, numClasses: p.numClasses, logits: p.cleanLogits });
  return { classes, targeted: true };
}

function sampleAxes(t: tf.Tensor): number[] {
  const axes: number[] = [];
  for (let i = 1; i < t.rank; i++) axes.push(i);
  return axes;
}

/** Per-sample L2 norm, shaped [N, 1, ...] to broadcast against the batch. */
export function l2Norm(t: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sqrt(tf.sum(tf.square(t), sampleAxes(t), true)));
}

/** Project `candidate` onto the eps-ball around `x` and the input range. */
export function project(candidate: tf.Tensor, x: tf.Tensor, norm: Norm, epsilon: number, range: InputRange): tf.Tensor {
  return tf.tidy(() => {
    let inBall: tf.Tensor;
    if (norm === 'linf') {
      inBall = tf.minimum(tf.maximum(candidate, tf.sub(x, epsilon)), tf.add(x, epsilon));
    } else {
      const delta = tf.sub(candidate, x);
      const factor = tf.minimum(1, tf.div(epsilon, tf.maximum(l2Norm(delta), 1e-12)));
      inBall = tf.add(x, tf.mul(delta, factor));
    }
    // Clipping to the box only moves coordinates towards x (x is inside it), so the norm bound holds.
    return tf.clipByValue(inBall, range[0], range[1]);
  });
}

/** Random start: uniform in the Linf ball; for L2 a random direction scaled by U(0, 1) * eps. */
function randomStart(x: tf.Tensor, norm: Norm, epsilon: number, random: SeededRandom): tf.Tensor {
  return tf.tidy(() => {
    if (norm === 'linf') return tf.randomUniform(x.shape, -epsilon, epsilon, 'float32', random.tfSeed());
    const direction = tf.randomNormal(x.shape, 0, 1, 'float32', random.tfSeed());
    const radiusShape = [x.shape[0] as number, ...x.shape.slice(1).map(() => 1)];
    const radius = tf.randomUniform(radiusShape, 0, 1, 'float32', random.tfSeed());
    return tf.mul(tf.div(direction, tf.maximum(l2Norm(direction), 1e-12)), tf.mul(radius, epsilon));
  });
}

/**
 * DI-FGSM's input diversity (Xie et al., 2019) for NHWC batches: with probability p, resize to a
 * random size and zero-pad at a random offset. One transformation per step for the whole batch
 * (as in the reference implementations), drawn from `random`.
 */
export function diverseInputs(x: tf.Tensor, options: DiversityOptions, random: SeededRandom): tf.Tensor {
  if (x.rank !== 4) throw new ConfigError(`diversity needs NHWC image batches (rank 4), got shape [${x.shape.join(', ')}]`);
  if (random.float() >= options.probability) return x;
  return tf.tidy(() => {
    const [, h, w] = x.shape as [number, number, number, number];
    const other = Math.floor(h * options.resizeRate);
    const low = Math.min(h, other);
    const high = Math.max(h, other);
    const size = high > low ? low + random.int(high - low) : low;
    const sizeW = Math.max(1, Math.round((size * w) / h));
    const highW = Math.max(sizeW, Math.round((high * w) / h));
    const resized = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [size, sizeW]);
    const top = random.int(high - size + 1);
    const left = random.int(highW - sizeW + 1);
    const padded = tf.pad(resized, [
      [0, 0],
      [top, high - size - top],
      [left, highW - sizeW - left],
      [0, 0],
    ]);
    return high === h && highW === w ? padded : tf.image.resizeBilinear(padded, [h, w]);
  });
}

function checkSettings(s: GradientAttackSettings, where: string): void {
  const bad = (path: string, message: string): never => {
    throw new ConfigError(`Invalid options for ${where}: ${path}: ${message}`, [{ path, message }]);
  };
  assertRange(s.range);
  if (!Number.isFinite(s.epsilon) || s.epsilon < 0) bad('epsilon', `must be a finite number >= 0, got ${s.epsilon}`);
  if (s.stepSize !== undefined && (!Number.isFinite(s.stepSize) || s.stepSize <= 0)) bad('stepSize', `must be > 0, got ${s.stepSize}`);
  if (!Number.isInteger(s.steps) || s.steps < 1) bad('steps', `must be an integer >= 1, got ${s.steps}`);
  if (!Number.isInteger(s.restarts) || s.restarts < 1) bad('restarts', `must be an integer >= 1, got ${s.restarts}`);
  if (s.norm !== 'linf' && s.norm !== 'l2') bad('norm', `must be "linf" or "l2", got ${JSON.stringify(s.norm)}`);
  if (s.loss !== 'ce' && s.loss !== 'cw') bad('loss', `must be "ce" or "cw", got ${JSON.stringify(s.loss)}`);
  if (!['none', 'random', 'least-likely', 'given'].includes(s.targeted)) bad('targeted', `unknown mode ${JSON.stringify(s.targeted)}`);
  if (!Number.isFinite(s.momentum) || s.momentum < 0) bad('momentum', `must be >= 0, got ${s.momentum}`);
  if (s.restarts > 1 && !s.randomStart) bad('restarts', 'restarts > 1 need randomStart: true (every restart would be identical)');
  if (s.diversity) {
    const { probability, resizeRate } = s.diversity;
    if (!(probability >= 0 && probability <= 1)) bad('diversity.probability', `must be in [0, 1], got ${probability}`);
    if (!(resizeRate > 0) || !Number.isFinite(resizeRate)) bad('diversity.resizeRate', `must be > 0, got ${resizeRate}`);
  }
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
