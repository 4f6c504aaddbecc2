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
 * models whose forward pass does not mix samples, i.e. BN in inference mode), and every random
 * draw (start, restarts, random targets, DI) comes from the sample's own stream (sample-random.ts).
 * No clean forward pass: the model's output is checked on the first step's forward pass.
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, type Attacker, type AttackRequest, type BnRoute } from '@advprop/core';
import { inputGradient } from './input-gradient.js';
import { checkEpsilonFraction } from './model-wrapper.js';
import { attackObjective, attackSucceeded, type AttackLoss } from './losses.js';
import { runChecked, type CheckedRequest } from './request.js';
import { SAMPLE_STREAM, SampleRandom } from './sample-random.js';
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
    // an Linf epsilon above the whole range is a unit mistake (8 meant as 8/255), named with the wrapper's range
    checkEpsilonFraction(s.epsilon, s.norm, undefined, `attacker "${this.name}"`, request?.model);
    return runChecked(
      request,
      { where: `attacker "${this.name}"`, range: s.range, route: s.route, training: s.training, checkLogits: s.checkLogits, random: this.random },
      (p) => this.run(p),
    );
  }

  private run(p: CheckedRequest): tf.Tensor {
    const s = this.settings;
    if (s.diversity && p.x.rank !== 4) {
      throw new ConfigError(`${p.where}: diversity needs NHWC image batches (rank 4), got x of shape [${p.x.shape.join(', ')}]`, [
        { path: 'diversity', message: 'needs rank-4 NHWC input' },
      ]);
    }
    const { source, targeted } = classSource(s.targeted, p);
    const { epsilon, stepSize } = this.absolute;
    let classTensor: tf.Tensor1D | undefined;
    if (epsilon === 0 || p.n === 0 || source === 'least-likely') {
      // The only clean forward pass: for least-likely targets, or to check the request when there is nothing to attack.
      const clean = tf.tidy(() => p.forward(p.x)) as tf.Tensor2D;
      try {
        const numClasses = p.checkOutput(clean);
        if (epsilon === 0 || p.n === 0) return tf.clone(p.x);
        classTensor = tf.tensor1d(chooseTargets('least-likely', { labels: p.labels, numClasses, logits: clean }), 'int32');
      } finally {
        clean.dispose();
      }
    }
    // Every random draw comes from the sample's own stream (see sample-random.ts).
    const sampleRandom =
      s.randomStart || s.diversity || source === 'random' ? SampleRandom.fromBatch(p.random, p.x, p.labels, p.targets) : undefined;
    try {
      // Classes are fixed at the first forward pass, which also checks the model's output (no clean pass needed).
      const classesFor = (logits: tf.Tensor2D): tf.Tensor1D => {
        if (classTensor) return classTensor;
        const numClasses = p.checkOutput(logits);
        const classes =
          source === 'random' ? (sampleRandom as SampleRandom).randomTargets(p.labels, numClasses) : source === 'targets' ? (p.targets as Int32Array) : p.labels;
        classTensor = tf.keep(tf.tensor1d(classes, 'int32'));
        return classTensor;
      };
      const objective = (logits: tf.Tensor): tf.Tensor1D =>
        attackObjective(logits as tf.Tensor2D, classesFor(logits as tf.Tensor2D), { loss: s.loss, targeted, confidence: s.confidence });
      const diversity = s.diversity;
      const diversityStreams =
        diversity && sampleRandom ? Array.from({ length: p.n }, (_, i) => sampleRandom.stream(i, SAMPLE_STREAM.diversity)) : undefined;
      // A check failing inside tf.grad would leak the tensors the tape saved, so the first pass
      // records the error, returns a placeholder objective and the error is thrown after tf.grad.
      let failure: { error: unknown } | undefined;
      // inputGradient: d/dx only, without the filter gradients tfjs' fused conv computes eagerly
      const rawGradient = inputGradient((xa: tf.Tensor) => {
        const input = diversity && diversityStreams ? diverseInputsPerSample(xa, diversity, diversityStreams) : xa;
        const logits = p.forward(input) as tf.Tensor2D;
        if (!classTensor) {
          try {
            classesFor(logits);
          } catch (error) {
            failure = { error };
            return tf.sum(xa);
          }
        }
        return tf.sum(objective(logits));
      });
      const gradient = (xa: tf.Tensor): tf.Tensor => {
        const g = rawGradient(xa);
        if (failure) {
          g.dispose();
          throw failure.error;
        }
        return g;
      };
      const once = (restart: number): tf.Tensor => this.runOnce(p, gradient, epsilon, stepSize, sampleRandom, restart);
      if (s.restarts === 1) return once(0);

      let best: tf.Tensor | undefined;
      let bestScore: tf.Tensor1D | undefined;
      let bestSuccess: tf.Tensor1D | undefined;
      try {
        for (let r = 0; r < s.restarts; r++) {
          const candidate = once(r);
          const [score, success] = tf.tidy(() => {
            const logits = p.forward(candidate) as tf.Tensor2D;
            return [objective(logits), attackSucceeded(logits, classesFor(logits), targeted)];
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
      classTensor?.dispose();
    }
  }

  private runOnce(
    p: CheckedRequest,
    gradient: (x: tf.Tensor) => tf.Tensor,
    epsilon: number,
    stepSize: number,
    sampleRandom: SampleRandom | undefined,
    restart: number,
  ): tf.Tensor {
    const s = this.settings;
    const x = p.x;
    let adv = tf.tidy(() => {
      if (!s.randomStart || !sampleRandom) return tf.clone(x);
      const size = x.size / p.n;
      const noise = tf.tensor(sampleRandom.startNoise(s.norm, epsilon, size, restart), x.shape, 'float32');
      return project(tf.add(x, noise), x, s.norm, epsilon, s.range);
    });
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

/**
 * Where the objective's classes come from: the labels (untargeted), the request's targets,
 * random wrong classes (per-sample streams) or the least-likely clean class. Errors that need no
 * forward pass are raised here.
 */
function classSource(mode: TargetMode, p: CheckedRequest): { source: 'labels' | 'targets' | 'random' | 'least-likely'; targeted: boolean } {
  if (mode === 'none') {
    if (p.targets) {
      throw new ConfigError(`${p.where}: targets were passed but the attacker is untargeted; set targeted: "given" (or "random" / "least-likely")`, [
        { path: 'targeted', message: 'untargeted attacker given targets' },
      ]);
    }
    return { source: 'labels', targeted: false };
  }
  if (p.targets) return { source: 'targets', targeted: true };
  if (mode === 'given') {
    throw new ConfigError(`${p.where}: targeted is "given" but the request has no targets`, [
      { path: 'targets', message: 'required when targeted is "given"' },
    ]);
  }
  return { source: mode, targeted: true };
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

interface DiDraw {
  readonly apply: boolean;
  readonly size: number;
  readonly top: number;
  readonly left: number;
}

/** DI geometry for [h, w] images: sizes between h and h * resizeRate, padded to [high, highW]. */
function diGeometry(h: number, w: number, options: DiversityOptions) {
  const other = Math.floor(h * options.resizeRate);
  const low = Math.min(h, other);
  const high = Math.max(h, other);
  return { low, high, highW: Math.max(1, Math.round((high * w) / h)), sizeW: (size: number) => Math.max(1, Math.round((size * w) / h)) };
}

/** One DI draw: always four values from `random` (apply, size, top, left). */
function drawDi(random: SeededRandom, options: DiversityOptions, g: ReturnType<typeof diGeometry>): DiDraw {
  const apply = random.float() < options.probability;
  const size = g.high > g.low ? g.low + random.int(g.high - g.low) : g.low;
  const sizeW = g.sizeW(size);
  const highW = Math.max(sizeW, g.highW);
  return { apply, size, top: random.int(g.high - size + 1), left: random.int(highW - sizeW + 1) };
}

/**
 * Nearest-neighbour resize as two gathers (source index min(in - 1, floor(i * in / out)), as
 * tf.image.resizeNearestNeighbor without alignCorners / halfPixelCenters). Not the op itself: the
 * cpu backend's ResizeNearestNeighborGrad (tfjs 4.22) indexes dy with x's batch stride, so its
 * gradient is wrong (NaN) for every sample after the first when the size shrinks.
 */
function resizeNearest(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  const source = (inSize: number, outSize: number) => {
    const scale = inSize / outSize;
    return tf.tensor1d(Array.from({ length: outSize }, (_, i) => Math.min(inSize - 1, Math.floor(i * scale))), 'int32');
  };
  const rows = height === h ? x : tf.gather(x, source(h, height), 1);
  return (width === w ? rows : tf.gather(rows, source(w, width), 2)) as tf.Tensor4D;
}

/** Bilinear interpolation matrix [outSize, inSize] (alignCorners and halfPixelCenters false, as tfjs). */
function bilinearMatrix(inSize: number, outSize: number): tf.Tensor2D {
  const m = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const source = o * scale;
    const low = Math.floor(source);
    const high = Math.min(Math.ceil(source), inSize - 1);
    const lerp = source - low;
    m[o * inSize + low] = (m[o * inSize + low] as number) + 1 - lerp;
    m[o * inSize + high] = (m[o * inSize + high] as number) + lerp;
  }
  return tf.tensor2d(m, [outSize, inSize]);
}

/**
 * Bilinear resize as two matrix products (tf.image.resizeBilinear's weights, equal up to float
 * rounding). Not the op itself: the cpu backend's ResizeBilinearGrad (tfjs 4.22) returns its
 * gradient with height and width swapped, which fails for non-square images.
 */
function resizeBilinear(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  // along H: [n, W, C, H] x [H, height]
  const alongH = tf.matMul(tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [-1, h]), bilinearMatrix(h, height), false, true);
  const rows = tf.transpose(tf.reshape(alongH, [n, w, c, height]), [0, 3, 1, 2]);
  // along W: [n, height, C, W] x [W, width]
  const alongW = tf.matMul(tf.reshape(tf.transpose(rows, [0, 1, 3, 2]), [-1, w]), bilinearMatrix(w, width), false, true);
  return tf.transpose(tf.reshape(alongW, [n, height, c, width]), [0, 1, 3, 2]) as tf.Tensor4D;
}

/** Resize to `size`, zero-pad at (top, left) to [high, highW], resize back to [h, w] when that differs. */
function diTransform(x: tf.Tensor4D, d: DiDraw, g: ReturnType<typeof diGeometry>): tf.Tensor {
  const [, h, w] = x.shape;
  const sizeW = g.sizeW(d.size);
  const highW = Math.max(sizeW, g.highW);
  const resized = resizeNearest(x, d.size, sizeW);
  const padded = tf.pad(resized, [
    [0, 0],
    [d.top, g.high - d.size - d.top],
    [d.left, highW - sizeW - d.left],
    [0, 0],
  ]);
  return g.high === h && highW === w ? padded : resizeBilinear(padded, h, w);
}

/**
 * DI-FGSM's input diversity (Xie et al., 2019) for NHWC batches: with probability p, resize to a
 * random size and zero-pad at a random offset. One transformation for the whole batch (as in the
 * reference implementations), drawn from `random`. The attacks use `diverseInputsPerSample`.
 */
export function diverseInputs(x: tf.Tensor, options: DiversityOptions, random: SeededRandom): tf.Tensor {
  if (x.rank !== 4) throw new ConfigError(`diversity needs NHWC image batches (rank 4), got shape [${x.shape.join(', ')}]`);
  const [, h, w] = x.shape as [number, number, number, number];
  const g = diGeometry(h, w, options);
  const d = drawDi(random, options, g);
  if (!d.apply) return x;
  return tf.tidy(() => diTransform(x as tf.Tensor4D, d, g));
}

/**
 * Input diversity with one transformation per sample, drawn from that sample's stream
 * (`streams[i]`, four draws per call), so a sample's transform does not depend on its batch.
 * Samples drawing the same transform are transformed together.
 */
export function diverseInputsPerSample(x: tf.Tensor, options: DiversityOptions, streams: readonly SeededRandom[]): tf.Tensor {
  if (x.rank !== 4) throw new ConfigError(`diversity needs NHWC image batches (rank 4), got shape [${x.shape.join(', ')}]`);
  const [n, h, w] = x.shape as [number, number, number, number];
  if (streams.length !== n) throw new ConfigError(`diverseInputsPerSample: ${streams.length} streams for ${n} samples`);
  const g = diGeometry(h, w, options);
  const groups = new Map<string, { draw: DiDraw; members: number[] }>();
  for (let i = 0; i < n; i++) {
    const d = drawDi(streams[i] as SeededRandom, options, g);
    if (!d.apply) continue;
    const key = `${d.size},${d.top},${d.left}`;
    const group = groups.get(key);
    if (group) group.members.push(i);
    else groups.set(key, { draw: d, members: [i] });
  }
  if (groups.size === 0) return x;
  return tf.tidy(() => {
    const list = [...groups.values()];
    if (list.length === 1 && list[0]?.members.length === n) return diTransform(x as tf.Tensor4D, list[0].draw, g);
    const pieces: tf.Tensor[] = [x];
    const index = new Int32Array(n);
    for (let i = 0; i < n; i++) index[i] = i;
    let offset = n;
    for (const { draw, members } of list) {
      pieces.push(diTransform(tf.gather(x, tf.tensor1d(members, 'int32')) as tf.Tensor4D, draw, g));
      members.forEach((i, j) => (index[i] = offset + j));
      offset += members.length;
    }
    return tf.gather(tf.concat(pieces, 0), tf.tensor1d(index, 'int32'));
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
