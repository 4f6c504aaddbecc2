/**
 * AutoAttack (Croce & Hein, ICML 2020): the robustness evaluation RobustBench reports. A fixed
 * ensemble of parameter-free attacks, each run only on the examples still robust; an example
 * counts as robust when no attack found an adversarial example within epsilon (per-example worst
 * case).
 *
 *   standard: APGD-CE, APGD-T (targeted DLR, 9 target classes), FAB-T (9 target classes),
 *             Square (5000 queries); 100 iterations, 1 restart each
 *   plus:     APGD-CE and APGD-DLR (5 restarts), FAB (5 restarts), Square, APGD-T, FAB-T
 *   rand:     APGD-CE and APGD-DLR with EOT over 20 passes, for randomised models
 *
 * Before attacking, AutoAttack's checks warn (with reasons) about evaluations that would be
 * unreliable: probability outputs, zero gradients, a non-deterministic forward pass; after, about
 * Square succeeding where the white-box attacks failed (a sign of gradient masking).
 */
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError, SeededRandom, silentLogger, toForward, type BnRoute, type Logger } from '@advprop/core';
import { runApgd, type ApgdSettings } from './apgd.js';
import { argmaxRows, countingTarget, dlrLoss, rankClasses, rowNorm, type AttackTarget, type Norm } from './attack-core.js';
import { runFab, type FabSettings } from './fab.js';
import { lossAndGradient } from './input-gradient.js';
import { asAttackModel, checkEpsilonFraction, checkWrappedData, type AnyModel } from './model-wrapper.js';
import { SampleRandom } from './sample-random.js';
import { runSquare } from './square.js';
import { amountToFraction, assertRange, DEFAULT_RANGE, type AmountInput, type InputRange } from './units.js';
import { checkBatch, checkLogits, looksLikeProbabilities, readValues } from './validate.js';

export type AutoAttackVersion = 'standard' | 'plus' | 'rand';
export type AutoAttackName = 'apgd-ce' | 'apgd-dlr' | 'apgd-t' | 'fab' | 'fab-t' | 'square';

export interface AutoAttackOptions {
  readonly model: AnyModel;
  /** Images in `range` (default [0, 1]), NHWC (or any [N, ...] batch for non-image models). */
  readonly x: tf.Tensor;
  readonly labels: tf.Tensor1D;
  readonly norm?: Norm;
  /** Fraction of the range: 8/255 (Linf) or 0.5 (L2) by default, as RobustBench. */
  readonly epsilon?: AmountInput;
  readonly version?: AutoAttackVersion;
  /** Replace the version's attack list (same settings per name). */
  readonly attacks?: readonly AutoAttackName[];
  /** Iterations of APGD and FAB (100). */
  readonly steps?: number;
  /** Square's query budget (5000). */
  readonly squareQueries?: number;
  /** Examples per attack batch (default 500). */
  readonly batchSize?: number;
  readonly range?: InputRange;
  readonly route?: BnRoute;
  /** Seed of the per-example random streams (default 0). */
  readonly seed?: number;
  readonly log?: Logger;
  /** Called after each attack (and once before, with `attack: 'clean'`). */
  readonly onProgress?: (event: AutoAttackProgress) => void;
}

export interface AutoAttackProgress {
  readonly attack: AutoAttackName | 'clean';
  readonly index: number;
  readonly total: number;
  readonly robustAccuracy: number;
  readonly seconds: number;
}

export interface AttackBreakdown {
  readonly name: AutoAttackName;
  /** Robust accuracy after this attack (cumulative worst case). */
  readonly robustAccuracy: number;
  /** Examples this attack fooled that the earlier ones did not. */
  readonly fooled: number;
  /** Examples it attacked (robust before it). */
  readonly attacked: number;
  readonly seconds: number;
  /** Forward and backward passes, counted in examples. */
  readonly forwardPasses: number;
  readonly backwardPasses: number;
  /** Square: mean and median queries over the examples it fooled. */
  readonly queries?: { readonly mean: number; readonly median: number };
}

export type AutoAttackCheck = 'probabilities' | 'zero-gradients' | 'randomized' | 'square-after-white-box' | 'classes';

export interface AutoAttackWarning {
  readonly check: AutoAttackCheck;
  readonly reason: string;
}

export interface AutoAttackResult {
  readonly norm: Norm;
  /** Fraction of the range. */
  readonly epsilon: number;
  readonly version: AutoAttackVersion;
  readonly examples: number;
  readonly cleanAccuracy: number;
  readonly robustAccuracy: number;
  readonly attacks: readonly AttackBreakdown[];
  /** Per example: 1 if still correctly classified after every attack. */
  readonly robust: Uint8Array;
  /** Per example: 'clean' (misclassified already), the attack that fooled it, or null (robust). */
  readonly fooledBy: readonly (AutoAttackName | 'clean' | null)[];
  /** Adversarial examples (clean images where none was found); the caller disposes. */
  readonly adversarial: tf.Tensor;
  readonly warnings: readonly AutoAttackWarning[];
  readonly log: readonly string[];
  readonly seconds: number;
}

interface AttackPlan {
  readonly name: AutoAttackName;
  readonly restarts: number;
}

/** The attacks and restarts of each version (AutoAttack's set_version). */
export function autoAttackPlan(version: AutoAttackVersion): AttackPlan[] {
  if (version === 'standard') {
    return [
      { name: 'apgd-ce', restarts: 1 },
      { name: 'apgd-t', restarts: 1 },
      { name: 'fab-t', restarts: 1 },
      { name: 'square', restarts: 1 },
    ];
  }
  if (version === 'plus') {
    return [
      { name: 'apgd-ce', restarts: 5 },
      { name: 'apgd-dlr', restarts: 5 },
      { name: 'fab', restarts: 5 },
      { name: 'square', restarts: 1 },
      { name: 'apgd-t', restarts: 1 },
      { name: 'fab-t', restarts: 1 },
    ];
  }
  if (version === 'rand') {
    return [
      { name: 'apgd-ce', restarts: 1 },
      { name: 'apgd-dlr', restarts: 1 },
    ];
  }
  throw new ConfigError(`autoAttack: version must be "standard", "plus" or "rand", got ${JSON.stringify(version)}`, [{ path: 'version', message: 'unknown version' }]);
}

const TARGET_CLASSES = 9;
const RAND_EOT = 20;

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Run AutoAttack; see the file comment. Synchronous (each model pass is). */
export function autoAttack(options: AutoAttackOptions): AutoAttackResult {
  const started = Date.now();
  const where = 'autoAttack';
  const norm = options.norm ?? 'linf';
  if (norm !== 'linf' && norm !== 'l2') throw new ConfigError(`${where}: norm must be "linf" or "l2", got ${JSON.stringify(norm)}`, [{ path: 'norm', message: 'unknown norm' }]);
  const version = options.version ?? 'standard';
  const versionPlan = autoAttackPlan(version);
  const names: readonly AutoAttackName[] = ['apgd-ce', 'apgd-dlr', 'apgd-t', 'fab', 'fab-t', 'square'];
  const plan: AttackPlan[] = options.attacks
    ? options.attacks.map((name) => {
        if (!names.includes(name)) throw new ConfigError(`${where}: unknown attack ${JSON.stringify(name)}; expected one of ${names.join(', ')}`, [{ path: 'attacks', message: 'unknown attack' }]);
        return { name, restarts: versionPlan.find((a) => a.name === name)?.restarts ?? 1 };
      })
    : versionPlan;
  const epsilon = amountToFraction(options.epsilon ?? (norm === 'linf' ? 8 / 255 : 0.5), 'epsilon');
  const range = options.range ?? DEFAULT_RANGE;
  assertRange(range);
  const steps = options.steps ?? 100;
  const squareQueries = options.squareQueries ?? 5000;
  const batchSize = options.batchSize ?? 500;
  for (const [field, v] of [['steps', steps], ['squareQueries', squareQueries], ['batchSize', batchSize]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`${where}: ${field} must be an integer >= 1, got ${v}`, [{ path: field, message: 'must be an integer >= 1' }]);
  }
  checkEpsilonFraction(epsilon, norm, undefined, where, options.model);
  const log = options.log ?? silentLogger;
  const lines: string[] = [];
  const say = (line: string) => {
    lines.push(line);
    log.info(line);
  };
  const warnings: AutoAttackWarning[] = [];
  const warn = (check: AutoAttackCheck, reason: string) => {
    warnings.push({ check, reason });
    lines.push(`warning (${check}): ${reason}`);
    log.warn(reason);
  };

  const model = asAttackModel(options.model, where);
  const { x } = options;
  if (x instanceof tf.Tensor && !x.isDisposed && x.size > 0) {
    const [lo, hi] = readValues(() => tf.stack([tf.min(x), tf.max(x)])) as [number, number];
    checkWrappedData(model, range, lo, hi, where);
  }
  const checked = checkBatch(x, options.labels, undefined, range, where);
  const n = checked.n;
  const labels = checked.labels;
  const size = n === 0 ? 0 : x.size / n;
  checkEpsilonFraction(epsilon, norm, size || undefined, where, options.model);
  const forward = toForward(model, options.route !== undefined ? { route: options.route } : {});
  const span = range[1] - range[0];
  const absolute = epsilon * span;
  const rowShape = x.shape.slice(1);

  // clean pass (in batches), with the output checks
  const cleanLogits: Float32Array[] = [];
  let k = 0;
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(n, start + batchSize);
    const logits = tf.tidy(() => forward(tf.slice(x, start, end - start)));
    try {
      if (start === 0) {
        // the label range check on the whole batch needs K: check shape and classes on this batch's logits first
        if (logits.rank !== 2 || logits.shape[0] !== end - start) checkLogits(logits, end - start, { labels: labels.subarray(0, end - start), targets: undefined }, false, where);
        k = logits.shape[1] as number;
        if (k < 2) checkLogits(logits, end - start, { labels: labels.subarray(0, end - start), targets: undefined }, false, where);
      }
      cleanLogits.push(Float32Array.from(logits.dataSync()));
    } finally {
      logits.dispose();
    }
  }
  for (let i = 0; i < n; i++) {
    if ((labels[i] as number) >= k) {
      throw new ConfigError(`${where}: labels[${i}] = ${labels[i]} is out of range for a model with ${k} classes (0..${k - 1})`, [{ path: `labels[${i}]`, message: `out of range 0..${k - 1}` }]);
    }
  }
  const clean = new Float32Array(n * k);
  let offset = 0;
  for (const part of cleanLogits) {
    clean.set(part, offset);
    offset += part.length;
  }
  const predicted = argmaxRows(clean, n, k);
  const robust = Uint8Array.from(predicted, (p, i) => Number(p === labels[i]));
  const fooledBy: (AutoAttackName | 'clean' | null)[] = Array.from(robust, (r) => (r ? null : 'clean'));
  const cleanAccuracy = n === 0 ? 0 : robust.reduce((a, v) => a + v, 0) / n;
  say(`autoAttack ${version}, ${norm}, eps ${epsilon} (of the range), ${n} examples, ${k} classes; clean accuracy ${(100 * cleanAccuracy).toFixed(2)}%`);
  options.onProgress?.({ attack: 'clean', index: 0, total: plan.length, robustAccuracy: cleanAccuracy, seconds: (Date.now() - started) / 1000 });

  // checks (on the first batch)
  if (n > 0) {
    const probe = Math.min(n, batchSize);
    const xs = tf.slice(x, 0, probe);
    try {
      const first = tf.tensor2d(clean.subarray(0, probe * k), [probe, k]);
      if (looksLikeProbabilities(first)) {
        warn(
          'probabilities',
          'the model outputs look like probabilities (non-negative rows summing to 1), not logits: the losses saturate and the evaluation may overestimate robustness; remove the final softmax or wrap the model with outputs: "probabilities"',
        );
      }
      first.dispose();
      if (version !== 'rand') {
        const again = tf.tidy(() => forward(xs));
        const diff = readValues(() => tf.max(tf.abs(tf.sub(again, tf.tensor2d(clean.subarray(0, probe * k), [probe, k])))))[0] as number;
        again.dispose();
        if (diff > 0) {
          warn('randomized', `two forward passes on the same inputs differ (by up to ${diff.toPrecision(3)}): the model looks randomised; evaluate it with version: "rand" (EOT over ${RAND_EOT} passes)`);
        }
      }
      // on the correctly classified examples (the ones attacked): there the DLR loss has a
      // gradient unless the model blocks it (for a label ranked third it is the constant 1)
      const attacked: number[] = [];
      for (let i = 0; i < probe; i++) if (robust[i]) attacked.push(i);
      if (attacked.length > 0) {
        const xa = tf.tidy(() => tf.gather(xs, tf.tensor1d(attacked, 'int32')));
        const labelTensor = tf.tensor1d(attacked.map((i) => labels[i] as number), 'int32');
        const r = lossAndGradient(forward, (logits) => dlrLoss(logits, labelTensor), xa);
        const zero = readValues(() => tf.equal(tf.sum(tf.abs(tf.reshape(r.grad, [attacked.length, -1])), 1), 0)).reduce((a, v) => a + v, 0);
        tf.dispose([r.logits, r.loss, r.grad, labelTensor, xa]);
        if (zero > 0) {
          warn(
            'zero-gradients',
            `${zero} of ${attacked.length} correctly classified inputs have an all-zero input gradient: gradient-based attacks cannot move them, so their robustness may be overestimated (a non-differentiable step such as rounding or quantisation inside the model?)`,
          );
        }
      }
    } finally {
      xs.dispose();
    }
    if (k <= 2) lines.push(`note: ${k} classes; the DLR losses use the plain margin and the targeted attacks have one target`);
    else if (k === 3) lines.push('note: 3 classes; the targeted DLR loss uses z_pi1 - z_pi3 as its denominator');
  }

  const random = new SeededRandom(options.seed ?? 0);
  const sampleRandom = SampleRandom.fromBatch(random, x, labels);
  const ranked = rankClasses(clean, n, k);
  const targetRounds = Math.min(TARGET_CLASSES, k - 1);
  const breakdown: AttackBreakdown[] = [];
  const xValues = n > 0 ? Float32Array.from(x.dataSync()) : new Float32Array(0);
  const adversarial = Float32Array.from(xValues);

  plan.forEach((attackPlan, index) => {
    const t0 = Date.now();
    const counts = { forward: 0, backward: 0 };
    const target: AttackTarget = countingTarget(forward, counts);
    const attackedBefore = robust.reduce((a, v) => a + v, 0);
    const squareQueries_: number[] = [];
    let newlyFooled = 0;
    for (let start = 0; start < n; start += batchSize) {
      const indices: number[] = [];
      for (let i = start; i < Math.min(n, start + batchSize); i++) if (robust[i]) indices.push(i);
      if (indices.length === 0) continue;
      const sub = tf.tidy(() => tf.gather(x, tf.tensor1d(indices, 'int32')));
      const subLabels = Int32Array.from(indices, (i) => labels[i] as number);
      const all = new Uint8Array(indices.length).fill(1);
      const streamFor = (j: number, purpose: number) => sampleRandom.stream(indices[j] as number, purpose);
      try {
        let values: Float32Array;
        let success: Uint8Array;
        const apgdSettings = (loss: ApgdSettings['loss'], eot = 1): ApgdSettings => ({
          norm,
          epsilon: absolute,
          steps,
          restarts: attackPlan.restarts,
          loss,
          targetClasses: TARGET_CLASSES,
          eot,
          rho: 0.75,
          range,
        });
        const fabSettings: FabSettings = { norm, epsilon: absolute, steps, restarts: attackPlan.restarts, alphaMax: 0.1, eta: 1.05, beta: 0.9, range };
        const targetsFor = (round: number) => Int32Array.from(indices, (i) => (ranked[i] as Int32Array)[round + 1] as number);
        switch (attackPlan.name) {
          case 'apgd-ce':
          case 'apgd-dlr': {
            const r = runApgd(target, sub, subLabels, all, streamFor, apgdSettings(attackPlan.name === 'apgd-ce' ? 'ce' : 'dlr', version === 'rand' ? RAND_EOT : 1), undefined, 1);
            values = r.values;
            success = r.fooled;
            break;
          }
          case 'apgd-t': {
            const r = runApgd(target, sub, subLabels, all, streamFor, apgdSettings('dlr-targeted'), targetsFor, targetRounds);
            values = r.values;
            success = r.fooled;
            break;
          }
          case 'fab':
          case 'fab-t': {
            const r = runFab(target, sub, subLabels, all, streamFor, fabSettings, attackPlan.name === 'fab-t' ? targetsFor : undefined, attackPlan.name === 'fab-t' ? targetRounds : 1);
            values = r.values;
            success = Uint8Array.from(r.norms, (t) => Number(t <= absolute));
            break;
          }
          case 'square': {
            const r = runSquare(target, sub, subLabels, all, streamFor, { norm, epsilon: absolute, queries: squareQueries, pInit: 0.8, restarts: 1, range });
            values = r.values;
            success = r.fooled;
            r.queries.forEach((q, j) => {
              if (r.fooled[j]) squareQueries_.push(q);
            });
            break;
          }
        }
        // the worst case counts only what the model misclassifies within epsilon, checked here with one more pass
        const candidate = tf.tensor(values, [indices.length, ...rowShape], 'float32');
        const predictedAdv = argmaxRows(readValues(() => target.forward(candidate)), indices.length, k);
        candidate.dispose();
        indices.forEach((i, j) => {
          const inBall = rowNorm(values, xValues, j * size, i * size, size, norm) <= absolute * (1 + 1e-6) + 1e-7;
          if (success[j] && predictedAdv[j] !== labels[i] && inBall) {
            robust[i] = 0;
            fooledBy[i] = attackPlan.name;
            adversarial.set(values.subarray(j * size, (j + 1) * size), i * size);
            newlyFooled++;
          }
        });
      } finally {
        sub.dispose();
      }
    }
    const robustAccuracy = n === 0 ? 0 : robust.reduce((a, v) => a + v, 0) / n;
    const seconds = (Date.now() - t0) / 1000;
    const entry: AttackBreakdown = {
      name: attackPlan.name,
      robustAccuracy,
      fooled: newlyFooled,
      attacked: attackedBefore,
      seconds,
      forwardPasses: counts.forward,
      backwardPasses: counts.backward,
      ...(attackPlan.name === 'square' ? { queries: { mean: squareQueries_.length ? squareQueries_.reduce((a, v) => a + v, 0) / squareQueries_.length : 0, median: median(squareQueries_) } } : {}),
    };
    breakdown.push(entry);
    say(`${attackPlan.name}: robust accuracy ${(100 * robustAccuracy).toFixed(2)}% (fooled ${newlyFooled} of ${attackedBefore}) in ${seconds.toFixed(1)} s`);
    options.onProgress?.({ attack: attackPlan.name, index: index + 1, total: plan.length, robustAccuracy, seconds });
  });

  const squareEntry = breakdown.find((b) => b.name === 'square');
  if (squareEntry && squareEntry.fooled > 0 && breakdown.some((b) => b.name !== 'square')) {
    warn(
      'square-after-white-box',
      `the black-box Square attack fooled ${squareEntry.fooled} example(s) the white-box attacks could not (robust accuracy ${(100 * squareEntry.robustAccuracy).toFixed(2)}% after it): a sign of gradient masking; the evaluation may be unreliable, consider adaptive attacks or more Square queries and restarts`,
    );
  }
  const robustAccuracy = n === 0 ? 0 : robust.reduce((a, v) => a + v, 0) / n;
  say(`robust accuracy ${(100 * robustAccuracy).toFixed(2)}% (clean ${(100 * cleanAccuracy).toFixed(2)}%)`);
  return {
    norm,
    epsilon,
    version,
    examples: n,
    cleanAccuracy,
    robustAccuracy,
    attacks: breakdown,
    robust,
    fooledBy,
    adversarial: tf.tensor(adversarial, x.shape, 'float32'),
    warnings,
    log: lines,
    seconds: (Date.now() - started) / 1000,
  };
}
