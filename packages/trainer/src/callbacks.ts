/**
 * Callbacks: the hook runner, the control object, and the built-in callbacks that need no file
 * system (checkpoint policy, early stopping), each also registered as a plugin of kind 'callback'.
 * The progress bar and the metrics logger (terminal, files) are in node-callbacks.ts.
 *
 * Hook order (core's HOOK_ORDER): onTrainBegin, then per epoch onEpochBegin, per batch
 * onBatchBegin -> onAfterAttack -> onBeforeOptimizerStep -> onBatchEnd, then onEvaluationEnd and
 * onEpochEnd; finally onTrainEnd. Hooks receive frozen events holding numbers only.
 */
import { checkpointPolicyOptions, earlyStoppingOptions } from './callback-options.js';
import {
  definePlugin,
  parseOptions,
  z,
  type Callback,
  type HookName,
  type TrainEvent,
  type TrainerControl,
} from '@advprop/core';

/** JSON-able state a callback keeps across a resume (stored in the checkpoint). */
export type CallbackState = Record<string, number | string | boolean | null>;

/** A callback that can save and restore its own state with the checkpoint. */
export type StatefulCallback = Callback & {
  getState?(): CallbackState;
  setState?(state: CallbackState): void | Promise<void>;
};

export interface CheckpointRequest {
  readonly best: boolean;
}

/** The control object given to hooks; `requestCheckpoint({ best: true })` marks it as the best one. */
export interface TrainerControlExt extends TrainerControl {
  requestCheckpoint(options?: { best?: boolean }): void;
}

/**
 * Two ways to end training early. `stop(reason)` interrupts: the current step finishes, a
 * checkpoint of the true position is written and train() rejects with TrainingInterruptedError, so
 * a resume continues exactly there. `finish(reason)` ends the run for good (early stopping): the
 * current epoch's end, the final evaluation and the export run, `summary.stopped_early` holds the
 * reason, and a resume refuses to train on.
 */
export class Control implements TrainerControlExt {
  private stopped = false;
  private finished = false;
  private reason: string | undefined;
  private pending: { best: boolean } | null = null;

  stop(reason?: string): void {
    if (!this.stopped) {
      this.stopped = true;
      this.reason = reason ?? 'stopped by a callback';
    }
  }

  finish(reason: string): void {
    if (!this.stopped) {
      this.stopped = true;
      this.finished = true;
      this.reason = reason;
    }
  }

  /** Whether the stop was a finish (the run ends normally) rather than an interruption. */
  get finishRequested(): boolean {
    return this.finished;
  }

  requestCheckpoint(options: { best?: boolean } = {}): void {
    this.pending = { best: (this.pending?.best ?? false) || options.best === true };
  }

  get stopRequested(): boolean {
    return this.stopped;
  }

  get stopReason(): string | undefined {
    return this.reason;
  }

  /** The pending checkpoint request, cleared. */
  takeCheckpointRequest(): CheckpointRequest | null {
    const p = this.pending;
    this.pending = null;
    return p;
  }
}

/** Keep only finite numbers (the contract: hooks see numbers, never tensors). */
export function numericMetrics(metrics: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(metrics)) if (typeof v === 'number') out[k] = v;
  return out;
}

export class CallbackRunner {
  constructor(
    readonly callbacks: readonly StatefulCallback[],
    readonly control: Control,
  ) {}

  async run(hook: HookName, event: Omit<TrainEvent, 'metrics'> & { metrics?: Record<string, unknown> }): Promise<void> {
    const frozen: TrainEvent = Object.freeze({
      ...event,
      metrics: Object.freeze(numericMetrics(event.metrics ?? {})),
    });
    for (const cb of this.callbacks) {
      const fn = cb[hook];
      if (fn) await fn.call(cb, frozen, this.control);
    }
  }

  /** States of the stateful callbacks, by name (callbacks without a name are skipped). */
  getStates(): Record<string, CallbackState> {
    const out: Record<string, CallbackState> = {};
    this.callbacks.forEach((cb, i) => {
      if (cb.getState) out[`${cb.name ?? 'callback'}#${i}`] = cb.getState();
    });
    return out;
  }

  async setStates(states: Record<string, CallbackState>): Promise<void> {
    for (const [i, cb] of this.callbacks.entries()) {
      const s = states[`${cb.name ?? 'callback'}#${i}`];
      if (s && cb.setState) await cb.setState(s);
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Checkpoint policy

export type CheckpointPolicyOptions = z.input<typeof checkpointPolicyOptions>;

function improved(value: number, best: number | null, mode: 'max' | 'min', minDelta = 0): boolean {
  if (best === null) return true;
  return mode === 'max' ? value > best + minDelta : value < best - minDelta;
}

/**
 * Decides when the trainer writes a checkpoint (the trainer writes it at the next safe point,
 * right after the hook): every N epochs / steps, and whenever the monitored metric improves
 * (marked as the best checkpoint).
 */
export function checkpointPolicy(options: CheckpointPolicyOptions = {}): StatefulCallback {
  const { everyEpochs, everySteps, monitor, mode, keepBest } = parseOptions(checkpointPolicyOptions, options, 'checkpoint policy');
  let best: number | null = null;
  return {
    name: 'checkpoint',
    onBatchEnd(e, control) {
      if (everySteps > 0 && e.step % everySteps === 0) control.requestCheckpoint();
    },
    onEpochEnd(e, control) {
      const value = e.metrics[monitor];
      const ext = control as TrainerControlExt;
      if (keepBest && value !== undefined && Number.isFinite(value) && improved(value, best, mode)) {
        best = value;
        ext.requestCheckpoint({ best: true });
      } else if (everyEpochs > 0 && (e.epoch + 1) % everyEpochs === 0) {
        ext.requestCheckpoint();
      }
    },
    getState: () => ({ best }),
    setState(state) {
      best = typeof state.best === 'number' ? state.best : null;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Early stopping

export type EarlyStoppingOptions = z.input<typeof earlyStoppingOptions>;

/** Stops training when `monitor` has not improved by `minDelta` for `patience` epochs. */
export function earlyStopping(options: EarlyStoppingOptions = {}): StatefulCallback {
  const { monitor, mode, patience, minDelta } = parseOptions(earlyStoppingOptions, options, 'early stopping');
  let best: number | null = null;
  let wait = 0;
  return {
    name: 'early-stopping',
    onEpochEnd(e, control) {
      const value = e.metrics[monitor];
      if (value === undefined || !Number.isFinite(value)) return;
      if (improved(value, best, mode, minDelta)) {
        best = value;
        wait = 0;
      } else {
        wait++;
        if (wait >= patience) {
          control.finish(`early stopping: ${monitor} did not improve on ${best} for ${wait} epoch(s)`);
        }
      }
    },
    getState: () => ({ best, wait }),
    setState(state) {
      best = typeof state.best === 'number' ? state.best : null;
      wait = typeof state.wait === 'number' ? state.wait : 0;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Plugins

export const checkpointPlugin = definePlugin({
  kind: 'callback',
  name: 'checkpoint',
  description: 'when to checkpoint: every N epochs/steps and on a new best monitored metric',
  options: checkpointPolicyOptions,
  create: (_ctx, o) => checkpointPolicy(o),
});

export const earlyStoppingPlugin = definePlugin({
  kind: 'callback',
  name: 'early-stopping',
  description: 'stop when a monitored metric stops improving',
  options: earlyStoppingOptions,
  create: (_ctx, o) => earlyStopping(o),
});

/** The callback plugins that need no file system or terminal (node-callbacks.ts adds the others). */
export const coreCallbacks = [checkpointPlugin, earlyStoppingPlugin] as const;
