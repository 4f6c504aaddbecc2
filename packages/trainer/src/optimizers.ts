/**
 * Optimizers with checkpointable state: SGD (momentum, Nesterov, L2 weight decay), Adam (L2 weight
 * decay added to the gradient) and AdamW (decoupled weight decay). Slots are tf.Variables the
 * optimizer owns; `getState()` copies them out as Float32Arrays and `setState()` restores them
 * exactly, so a resumed run continues bit for bit.
 *
 * Conventions follow PyTorch: SGD `v = m v + g; w -= lr (g + m v)` (Nesterov) or `w -= lr v`;
 * parameters without a gradient in a step (for example the auxiliary BN in a clean-only step) are
 * left untouched, momentum and weight decay included.
 */
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, SGD_UPDATE_KERNEL } from '@advprop/core';
import type { OptimizerConfig } from './config.js';

export interface SlotState {
  /** Index of the parameter in the optimizer's parameter list. */
  readonly param: number;
  readonly slot: string;
  readonly shape: readonly number[];
  readonly values: Float32Array;
}

export interface OptimizerState {
  readonly name: string;
  readonly iterations: number;
  readonly slots: readonly SlotState[];
}

export interface TrainOptimizer {
  readonly name: string;
  /** Number of `apply` calls so far (Adam's bias correction uses it). */
  readonly iterations: number;
  /** Apply one update; `grads[i]` belongs to `params[i]`, null where the parameter got no gradient. */
  apply(grads: readonly (tf.Tensor | null)[], lr: number): void;
  getState(): OptimizerState;
  setState(state: OptimizerState): void;
  dispose(): void;
}

abstract class SlotOptimizer implements TrainOptimizer {
  abstract readonly name: string;
  iterations = 0;
  protected readonly slots = new Map<string, (tf.Variable | null)[]>();

  constructor(protected readonly params: readonly tf.Variable[]) {}

  protected slot(name: string, index: number): tf.Variable {
    let list = this.slots.get(name);
    if (!list) {
      list = this.params.map(() => null);
      this.slots.set(name, list);
    }
    let v = list[index];
    if (!v) {
      const p = this.params[index] as tf.Variable;
      v = tf.tidy(() => tf.variable(tf.zerosLike(p), false));
      list[index] = v;
    }
    return v;
  }

  abstract apply(grads: readonly (tf.Tensor | null)[], lr: number): void;

  getState(): OptimizerState {
    const slots: SlotState[] = [];
    for (const [slot, list] of [...this.slots.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      list.forEach((v, param) => {
        if (v) slots.push({ param, slot, shape: [...v.shape], values: v.dataSync() as Float32Array });
      });
    }
    return { name: this.name, iterations: this.iterations, slots };
  }

  setState(state: OptimizerState): void {
    if (state.name !== this.name) {
      throw new CheckpointError(`checkpoint holds ${state.name} optimizer state, but the run uses ${this.name}`);
    }
    for (const s of state.slots) {
      const p = this.params[s.param];
      if (!p) throw new CheckpointError(`optimizer state names parameter ${s.param}, but the model has ${this.params.length}`);
      if (!tf.util.arraysEqual([...s.shape], p.shape)) {
        throw new CheckpointError(
          `optimizer slot ${s.slot} of parameter ${s.param} has shape [${s.shape.join(', ')}], the parameter [${p.shape.join(', ')}]`,
        );
      }
    }
    this.disposeSlots();
    this.iterations = state.iterations;
    for (const s of state.slots) {
      const v = this.slot(s.slot, s.param);
      tf.tidy(() => v.assign(tf.tensor(s.values, [...s.shape], 'float32')));
    }
  }

  private disposeSlots(): void {
    for (const list of this.slots.values()) for (const v of list) v?.dispose();
    this.slots.clear();
  }

  dispose(): void {
    this.disposeSlots();
  }
}

export class SGD extends SlotOptimizer {
  readonly name = 'sgd';
  constructor(
    params: readonly tf.Variable[],
    private readonly options: { momentum: number; nesterov: boolean; weightDecay: number },
  ) {
    super(params);
  }

  apply(grads: readonly (tf.Tensor | null)[], lr: number): void {
    const { momentum, nesterov, weightDecay } = this.options;
    // One kernel per parameter where the backend has core's SGD_UPDATE_KERNEL (the same numbers);
    // the composite below runs up to eight.
    const fused = tf.getKernel(SGD_UPDATE_KERNEL, tf.getBackend()) !== undefined;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g0 = grads[i];
        if (!g0) return;
        if (fused && p.dtype === 'float32' && g0.dtype === 'float32' && tf.util.arraysEqual(p.shape, g0.shape)) {
          const v = momentum > 0 ? this.slot('momentum', i) : undefined;
          const inputs: tf.NamedTensorMap = v ? { param: p, grad: g0, velocity: v } : { param: p, grad: g0 };
          const attrs = { learningRate: lr, momentum, weightDecay, nesterov };
          const out = tf.engine().runKernel(SGD_UPDATE_KERNEL, inputs, attrs) as tf.Tensor | tf.Tensor[];
          const [pNew, vNew] = Array.isArray(out) ? out : [out];
          if (v) v.assign(vNew!);
          p.assign(pNew!);
          return;
        }
        const g = weightDecay > 0 ? tf.add(g0, tf.mul(p, weightDecay)) : g0;
        let update: tf.Tensor = g;
        if (momentum > 0) {
          const v = this.slot('momentum', i);
          const vNew = tf.add(tf.mul(v, momentum), g);
          v.assign(vNew);
          update = nesterov ? tf.add(g, tf.mul(vNew, momentum)) : vNew;
        }
        p.assign(tf.sub(p, tf.mul(update, lr)));
      });
    });
    this.iterations++;
  }
}

export class Adam extends SlotOptimizer {
  readonly name: string;
  constructor(
    params: readonly tf.Variable[],
    private readonly options: { beta1: number; beta2: number; epsilon: number; weightDecay: number; decoupled: boolean },
  ) {
    super(params);
    this.name = options.decoupled ? 'adamw' : 'adam';
  }

  apply(grads: readonly (tf.Tensor | null)[], lr: number): void {
    const { beta1, beta2, epsilon, weightDecay, decoupled } = this.options;
    const t = this.iterations + 1;
    const c1 = 1 - beta1 ** t;
    const c2 = 1 - beta2 ** t;
    tf.tidy(() => {
      this.params.forEach((p, i) => {
        const g0 = grads[i];
        if (!g0) return;
        const g = !decoupled && weightDecay > 0 ? tf.add(g0, tf.mul(p, weightDecay)) : g0;
        const m = this.slot('m', i);
        const v = this.slot('v', i);
        const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
        const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
        m.assign(mNew);
        v.assign(vNew);
        const step = tf.div(tf.div(mNew, c1), tf.add(tf.sqrt(tf.div(vNew, c2)), epsilon));
        const base = decoupled && weightDecay > 0 ? tf.mul(p, 1 - lr * weightDecay) : p;
        p.assign(tf.sub(base, tf.mul(step, lr)));
      });
    });
    this.iterations = t;
  }
}

/** A built-in optimizer from a resolved config entry (sgd, adam, adamw); undefined for other names. */
export function createOptimizer(config: OptimizerConfig, params: readonly tf.Variable[]): TrainOptimizer | undefined {
  const c = config as Record<string, unknown>;
  const num = (k: string, d: number) => (typeof c[k] === 'number' ? (c[k] as number) : d);
  switch (config.name) {
    case 'sgd':
      return new SGD(params, { momentum: num('momentum', 0.9), nesterov: c.nesterov === true, weightDecay: num('weightDecay', 0) });
    case 'adam':
    case 'adamw':
      return new Adam(params, {
        beta1: num('beta1', 0.9),
        beta2: num('beta2', 0.999),
        epsilon: num('epsilon', 1e-8),
        weightDecay: num('weightDecay', config.name === 'adamw' ? 0.01 : 0),
        decoupled: config.name === 'adamw',
      });
    default:
      return undefined;
  }
}

/**
 * Global norm of the gradients, and the gradients clipped to `maxNorm` (when given and exceeded).
 * Takes ownership: inputs that are replaced by clipped copies are disposed.
 */
export function clipByGlobalNorm(grads: readonly (tf.Tensor | null)[], maxNorm: number | undefined): { grads: (tf.Tensor | null)[]; norm: number } {
  const present = grads.filter((g): g is tf.Tensor => g !== null);
  let norm = 0;
  if (present.length > 0) {
    const t = tf.tidy(() => tf.sqrt(tf.addN(present.map((g) => tf.sum(tf.square(g))))));
    norm = t.dataSync()[0] as number;
    t.dispose();
  }
  if (maxNorm === undefined || !(norm > maxNorm)) return { grads: [...grads], norm };
  const scale = maxNorm / (norm + 1e-12);
  return {
    grads: grads.map((g) => {
      if (!g) return null;
      const clipped = tf.mul(g, scale);
      g.dispose();
      return clipped;
    }),
    norm,
  };
}
