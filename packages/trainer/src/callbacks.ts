/**
 * Callbacks: the hook runner, the control object, and the built-in callbacks (progress bar,
 * metrics logger, checkpoint policy, early stopping), each also registered as a plugin of kind
 * 'callback'.
 *
 * Hook order (core's HOOK_ORDER): onTrainBegin, then per epoch onEpochBegin, per batch
 * onBatchBegin -> onAfterAttack -> onBeforeOptimizerStep -> onBatchEnd, then onEvaluationEnd and
 * onEpochEnd; finally onTrainEnd. Hooks receive frozen events holding numbers only.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import {
  definePlugin,
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

export class Control implements TrainerControlExt {
  private stopped = false;
  private reason: string | undefined;
  private pending: { best: boolean } | null = null;

  stop(reason?: string): void {
    if (!this.stopped) {
      this.stopped = true;
      this.reason = reason ?? 'stopped by a callback';
    }
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
// Progress bar

export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export interface ProgressBarOptions {
  /** Where to write (default process.stderr). */
  stream?: ProgressStream;
  /** Force TTY / plain mode instead of asking the stream. */
  tty?: boolean;
  /** Plain mode: lines per epoch (default 10). */
  linesPerEpoch?: number;
}

function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

/**
 * Progress: on a TTY one line redrawn in place with a bar; otherwise plain lines (a few per epoch
 * and one per epoch end) so logs stay readable. Shows loss, images/s and the ETA of the run.
 */
export function progressBar(options: ProgressBarOptions = {}): Callback {
  const stream: ProgressStream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const linesPerEpoch = options.linesPerEpoch ?? 10;
  let start = 0;
  let startStep = 0;
  let lastLen = 0;
  const line = (e: TrainEvent): string => {
    const done = e.step - startStep;
    const total = e.epochs * e.stepsPerEpoch;
    const elapsed = (performance.now() - start) / 1000;
    const eta = done > 0 ? ((total - e.step) * elapsed) / done : Number.NaN;
    const m = e.metrics;
    const parts = [
      `epoch ${e.epoch + 1}/${e.epochs}`,
      `batch ${(e.batch ?? 0) + 1}/${e.stepsPerEpoch}`,
      `loss ${(m.loss ?? Number.NaN).toFixed(4)}`,
      `${(m.images_per_second ?? 0).toFixed(1)} img/s`,
      `ETA ${formatDuration(eta)}`,
    ];
    return parts.join('  ');
  };
  return {
    name: 'progress-bar',
    onTrainBegin(e) {
      start = performance.now();
      startStep = e.step;
    },
    onBatchEnd(e) {
      if (tty) {
        const width = 20;
        const frac = ((e.batch ?? 0) + 1) / e.stepsPerEpoch;
        const filled = Math.round(frac * width);
        const text = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${line(e)}`;
        const cols = stream.columns ?? 120;
        const shown = text.slice(0, Math.max(20, cols - 1));
        stream.write(`\r${shown}${' '.repeat(Math.max(0, lastLen - shown.length))}`);
        lastLen = shown.length;
      } else {
        const every = Math.max(1, Math.ceil(e.stepsPerEpoch / linesPerEpoch));
        const b = (e.batch ?? 0) + 1;
        if (b % every === 0 || b === e.stepsPerEpoch) stream.write(`${line(e)}\n`);
      }
    },
    onEpochEnd(e) {
      const m = e.metrics;
      const val = m.val_accuracy !== undefined ? `  val_accuracy ${m.val_accuracy.toFixed(4)}` : '';
      const aux = m.val_aux_accuracy !== undefined ? `  val_aux_accuracy ${m.val_aux_accuracy.toFixed(4)}` : '';
      if (tty) {
        stream.write('\n');
        lastLen = 0;
      }
      stream.write(`epoch ${e.epoch + 1}/${e.epochs} done  loss ${(m.loss ?? Number.NaN).toFixed(4)}${val}${aux}\n`);
    },
    onTrainEnd(e) {
      const elapsed = (performance.now() - start) / 1000;
      stream.write(`training finished after ${e.step} steps in ${formatDuration(elapsed)}\n`);
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Metrics logger (JSON Lines)

/**
 * Appends one JSON object per line: `{"type":"batch"|"eval"|"epoch"|"end", epoch, step, ...metrics}`.
 * Its state is the file length at the last checkpoint: a resumed run truncates lines written after
 * it, so metrics.jsonl never holds a step twice.
 */
export function metricsLogger(options: { file: string; everySteps?: number }): StatefulCallback {
  const every = Math.max(1, options.everySteps ?? 1);
  let bytes = 0;
  let ready = false;
  const append = async (record: Record<string, unknown>): Promise<void> => {
    if (!ready) {
      await fs.mkdir(path.dirname(options.file), { recursive: true });
      ready = true;
    }
    const text = `${JSON.stringify(record)}\n`;
    await fs.appendFile(options.file, text);
    bytes += Buffer.byteLength(text);
  };
  const base = (type: string, e: TrainEvent): Record<string, unknown> => ({
    type,
    epoch: e.epoch,
    step: e.step,
    ...(e.batch !== undefined ? { batch: e.batch } : {}),
    ...e.metrics,
    time: new Date().toISOString(),
  });
  return {
    name: 'metrics-logger',
    async onTrainBegin() {
      try {
        bytes = (await fs.stat(options.file)).size;
      } catch {
        bytes = 0;
      }
    },
    async onBatchEnd(e) {
      if (e.step % every === 0) await append(base('batch', e));
    },
    async onEvaluationEnd(e) {
      await append(base('eval', e));
    },
    async onEpochEnd(e) {
      await append(base('epoch', e));
    },
    async onTrainEnd(e) {
      await append(base('end', e));
    },
    getState: () => ({ bytes }),
    async setState(state) {
      const size = typeof state.bytes === 'number' ? state.bytes : 0;
      try {
        const current = (await fs.stat(options.file)).size;
        if (current > size) await fs.truncate(options.file, size);
      } catch {
        /* no file yet */
      }
      bytes = size;
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Checkpoint policy

export interface CheckpointPolicyOptions {
  everyEpochs?: number;
  everySteps?: number;
  monitor?: string;
  mode?: 'max' | 'min';
  keepBest?: boolean;
}

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
  const everyEpochs = options.everyEpochs ?? 1;
  const everySteps = options.everySteps ?? 0;
  const monitor = options.monitor ?? 'val_accuracy';
  const mode = options.mode ?? 'max';
  const keepBest = options.keepBest ?? true;
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

export interface EarlyStoppingOptions {
  monitor?: string;
  mode?: 'max' | 'min';
  patience?: number;
  minDelta?: number;
}

/** Stops training when `monitor` has not improved by `minDelta` for `patience` epochs. */
export function earlyStopping(options: EarlyStoppingOptions = {}): StatefulCallback {
  const monitor = options.monitor ?? 'val_accuracy';
  const mode = options.mode ?? 'max';
  const patience = options.patience ?? 3;
  const minDelta = options.minDelta ?? 0;
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
          control.stop(`early stopping: ${monitor} did not improve on ${best} for ${wait} epoch(s)`);
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

export const progressBarPlugin = definePlugin({
  kind: 'callback',
  name: 'progress-bar',
  description: 'TTY progress bar, plain lines when not a TTY (loss, images/s, ETA)',
  options: z
    .object({
      stream: z.enum(['stderr', 'stdout']).default('stderr'),
      linesPerEpoch: z.number().int().positive().default(10),
      tty: z.boolean().optional(),
    })
    .strict(),
  create: (_ctx, o) =>
    progressBar({
      stream: o.stream === 'stdout' ? process.stdout : process.stderr,
      linesPerEpoch: o.linesPerEpoch,
      ...(o.tty !== undefined ? { tty: o.tty } : {}),
    }),
});

export const metricsLoggerPlugin = definePlugin({
  kind: 'callback',
  name: 'metrics-logger',
  description: 'JSON Lines metrics log (the trainer fills in <outDir>/metrics.jsonl as the file)',
  options: z
    .object({
      file: z.string().min(1, 'metrics-logger needs a file (the trainer sets <outDir>/metrics.jsonl)'),
      everySteps: z.number().int().positive().default(1),
    })
    .strict(),
  create: (_ctx, o) => metricsLogger(o),
});

export const checkpointPlugin = definePlugin({
  kind: 'callback',
  name: 'checkpoint',
  description: 'when to checkpoint: every N epochs/steps and on a new best monitored metric',
  options: z
    .object({
      everyEpochs: z.number().int().min(0).default(1),
      everySteps: z.number().int().min(0).default(0),
      monitor: z.string().default('val_accuracy'),
      mode: z.enum(['max', 'min']).default('max'),
      keepBest: z.boolean().default(true),
    })
    .strict(),
  create: (_ctx, o) => checkpointPolicy(o),
});

export const earlyStoppingPlugin = definePlugin({
  kind: 'callback',
  name: 'early-stopping',
  description: 'stop when a monitored metric stops improving',
  options: z
    .object({
      monitor: z.string().default('val_accuracy'),
      mode: z.enum(['max', 'min']).default('max'),
      patience: z.number().int().min(0).default(3),
      minDelta: z.number().min(0).default(0),
    })
    .strict(),
  create: (_ctx, o) => earlyStopping(o),
});

/** The trainer's callback plugins. */
export const callbacks = [progressBarPlugin, metricsLoggerPlugin, checkpointPlugin, earlyStoppingPlugin] as const;
