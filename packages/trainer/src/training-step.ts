/**
 * One optimisation step around a training mode: the mode's `step()` (attacks) outside the
 * gradient tape, its `loss()` inside `tf.variableGrads`, then the mode's gradient scaling and
 * global-norm clipping. Every tensor the step creates is owned here and disposed by `dispose()`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { toForward, type Attacker, type SeededRandom } from '@advprop/core';
import { correctCount, crossEntropyPerExample } from './losses.js';
import type { ModeBatch, StepContext, StepMetrics, StepPlan, TrainingMode } from './modes/training-mode.js';
import { clipByGlobalNorm } from './optimizers.js';

export interface StepSetup {
  readonly model: LayersModel;
  readonly mode: TrainingMode;
  readonly attacker: Attacker | undefined;
  readonly params: readonly tf.Variable[];
  readonly labelSmoothing: number;
  readonly gradClipNorm: number | undefined;
}

/** What a finished step hands back to the loop; `grads` go to the optimizer, then call `dispose()`. */
export interface StepOutcome {
  readonly loss: number;
  readonly gradNorm: number;
  readonly grads: (tf.Tensor | null)[];
  /** Scalar metrics the mode recorded (clean_loss, adv_loss, ...). */
  readonly metrics: Record<string, number>;
  /** Correct predictions and how many were counted, for the accuracy metric. */
  readonly correct: number;
  readonly counted: number;
  dispose(): void;
}

/** Builds the forward functions once per run; `prepare` and `compute` run one step. */
export function createStepRunner(setup: StepSetup) {
  const { model, mode, attacker } = setup;
  const forward = { main: toForward(model, { route: 'main', training: true }), aux: toForward(model, { route: 'aux', training: true }) };
  const inference = { main: toForward(model, { route: 'main', training: false }), aux: toForward(model, { route: 'aux', training: false }) };

  /** Phase 1, outside the tape: the mode's step (attacks, splits). */
  function prepare(batch: ModeBatch, random: SeededRandom) {
    const owned: tf.Tensor[] = [];
    const own = <T extends tf.Tensor>(t: T): T => {
      owned.push(t);
      return t;
    };
    const context: StepContext = {
      forward,
      inference,
      random,
      model,
      own,
      crossEntropy: (logits, labels) => crossEntropyPerExample(logits, labels, setup.labelSmoothing),
      attack(x, labels, options = {}) {
        if (!attacker) throw new Error(`training mode "${mode.name}" declared no attacker but called attack()`);
        const request = {
          model,
          x,
          labels: labels as tf.Tensor1D,
          ...(options.route ? { route: options.route } : {}),
          training: options.training ?? false,
          random: options.random ?? random.fork('attack'),
        };
        return own(attacker.attack(request));
      },
    };
    let plan: StepPlan;
    try {
      plan = mode.step(batch, context);
    } catch (error) {
      tf.dispose(owned);
      throw error;
    }
    return { plan, owned };
  }

  /** Phase 2: loss and gradients (one backward pass), gradient scaling and clipping. */
  function compute(plan: StepPlan, owned: tf.Tensor[]): StepOutcome {
    const scalars = new Map<string, tf.Tensor>();
    let correctT: tf.Tensor | undefined;
    let counted = 0;
    const metrics: StepMetrics = {
      scalar(name, value) {
        scalars.get(name)?.dispose();
        scalars.set(name, tf.keep(value.clone()));
      },
      accuracy(logits, labels) {
        correctT?.dispose();
        correctT = tf.keep(correctCount(logits, labels));
        counted = labels.shape[0] as number;
      },
    };
    const dispose = () => {
      tf.dispose(owned);
      tf.dispose([...scalars.values()]);
      correctT?.dispose();
    };
    try {
      const { value, grads } = tf.variableGrads(() => plan.loss(metrics));
      owned.push(value);
      let gradList: (tf.Tensor | null)[] = setup.params.map((p) => grads[p.name] ?? null);
      if (plan.gradientScale) {
        const scale = plan.gradientScale;
        gradList = gradList.map((g, i) => {
          const factor = scale((setup.params[i] as tf.Variable).name);
          if (!g || factor === 1) return g;
          const scaled = tf.mul(g, factor);
          g.dispose();
          return scaled;
        });
      }
      const loss = value.dataSync()[0] as number;
      const clip = clipByGlobalNorm(gradList, setup.gradClipNorm);
      for (const g of clip.grads) if (g) owned.push(g);
      const values: Record<string, number> = {};
      for (const [name, t] of scalars) values[name] = t.dataSync()[0] as number;
      return {
        loss,
        gradNorm: clip.norm,
        grads: clip.grads,
        metrics: values,
        correct: correctT ? (correctT.dataSync()[0] as number) : 0,
        counted,
        dispose,
      };
    } catch (error) {
      dispose();
      throw error;
    }
  }

  return { prepare, compute };
}
