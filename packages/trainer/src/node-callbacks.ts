/**
 * The built-in callbacks that need Node: the progress bar (a terminal, through cli-progress) and
 * the JSON Lines metrics logger (files), each also a plugin of kind 'callback'; `callbacks` lists
 * every built-in callback plugin.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { MultiBar, Presets, type GenericBar } from 'cli-progress';
import { makeDirectory } from '@advprop/core/node';
import { definePlugin, z, type Callback, type TrainEvent } from '@advprop/core';
import { coreCallbacks, type StatefulCallback } from './callbacks.js';

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
  /** Plain mode: at most one progress line every this many seconds (default 10), plus one per epoch end. */
  everySeconds?: number;
  /** Clock in milliseconds (tests). */
  now?: () => number;
}

/** A progress-bar callback; `dispose()` stops a bar left drawing when training failed. */
export type ProgressBarCallback = Callback & { dispose(): void };

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(r).padStart(2, '0')}s` : `${r}s`;
}

const fixed = (v: number | undefined, digits: number): string => (v !== undefined && Number.isFinite(v) ? v.toFixed(digits) : '-');
const percent = (v: number | undefined): string => (v !== undefined && Number.isFinite(v) ? `${(v * 100).toFixed(1)}%` : '-');

const EVAL_FORMAT = 'final evaluation  {stage} {bar} {value}/{total}  accuracy {accuracy}';

/**
 * The run's progress. On a terminal: a bar drawn by cli-progress (epoch, steps, loss, accuracy,
 * images/s, elapsed, ETA of the training), a line kept per finished epoch, then one bar per stage
 * of the final evaluation (clean, aux, each attack) with its running accuracy. Otherwise plain
 * lines, one every `everySeconds` and one per epoch and evaluation stage, so logs stay readable.
 */
export function progressBar(options: ProgressBarOptions = {}): ProgressBarCallback {
  const stream: ProgressStream = options.stream ?? process.stderr;
  const tty = options.tty ?? stream.isTTY === true;
  const everyMs = (options.everySeconds ?? 10) * 1000;
  const now = options.now ?? (() => performance.now());
  let start = 0;
  let startStep = 0;
  // The run's steps (onTrainBegin's total_steps; epochs differ in length in class-incremental runs).
  let totalSteps: number | undefined;
  let lastLine = -Infinity;
  let multi: MultiBar | undefined;
  let trainBar: GenericBar | undefined;
  const evalBars = new Map<string, GenericBar>();
  const evalDone = new Set<string>();
  let evalStarted = 0;

  const totalOf = (e: TrainEvent) => totalSteps ?? e.epochs * e.stepsPerEpoch;
  const fields = (e: TrainEvent) => {
    const total = totalOf(e);
    const elapsed = (now() - start) / 1000;
    const done = e.step - startStep;
    return {
      epoch: `${e.epoch + 1}/${e.epochs}`,
      step: `${e.step}/${total}`,
      loss: fixed(e.metrics.loss, 4),
      accuracy: percent(e.metrics.accuracy),
      ips: fixed(e.metrics.images_per_second, 0),
      elapsed: formatDuration(elapsed),
      eta: done > 0 ? formatDuration(((total - e.step) * elapsed) / done) : '?',
    };
  };
  const plain = (e: TrainEvent): string => {
    const f = fields(e);
    return `epoch ${f.epoch}  step ${f.step}  loss ${f.loss}  acc ${f.accuracy}  ${f.ips} img/s  elapsed ${f.elapsed}  ETA ${f.eta}`;
  };
  const ensureMulti = (): MultiBar => {
    multi ??= new MultiBar(
      {
        stream: stream as NodeJS.WritableStream,
        hideCursor: false,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: false,
        barsize: 20,
        fps: 5,
        linewrap: false,
        format: 'epoch {epoch} {bar} step {value}/{total}  loss {loss}  acc {accuracy}  {ips} img/s  elapsed {duration_formatted}  ETA {eta_formatted}',
      },
      Presets.shades_classic,
    );
    return multi;
  };
  const stop = () => {
    multi?.stop();
    multi = undefined;
    trainBar = undefined;
    evalBars.clear();
  };

  return {
    name: 'progress-bar',
    onTrainBegin(e) {
      start = now();
      startStep = e.step;
      totalSteps = e.metrics.total_steps;
      lastLine = -Infinity;
    },
    onBatchEnd(e) {
      if (tty) {
        const total = totalOf(e);
        trainBar ??= ensureMulti().create(total, startStep, fields(e));
        trainBar.update(e.step, fields(e));
        return;
      }
      const t = now();
      if (t - lastLine >= everyMs) {
        stream.write(`${plain(e)}\n`);
        lastLine = t;
      }
    },
    onEpochEnd(e) {
      const m = e.metrics;
      const val = m.val_accuracy !== undefined ? `  val_accuracy ${percent(m.val_accuracy)}` : '';
      const aux = m.val_aux_accuracy !== undefined ? `  val_aux_accuracy ${percent(m.val_aux_accuracy)}` : '';
      const text = `epoch ${e.epoch + 1}/${e.epochs} done after ${formatDuration((now() - start) / 1000)}  loss ${fixed(m.loss, 4)}  acc ${percent(m.accuracy)}${val}${aux}\n`;
      if (tty && multi) multi.log(text);
      else stream.write(text);
      lastLine = now();
      if (e.epoch + 1 >= e.epochs && !tty) stream.write('final evaluation...\n');
    },
    onFinalEvaluationProgress(p) {
      if (tty) {
        if (trainBar && multi) {
          multi.remove(trainBar);
          trainBar = undefined;
        }
        const width = Math.max(...p.stages.map((s) => s.length));
        let bar = evalBars.get(p.stage);
        if (!bar) {
          // Create every stage's bar at once, in the order they run.
          for (const s of p.stages) {
            if (!evalBars.has(s)) evalBars.set(s, ensureMulti().create(p.total, 0, { stage: s.padEnd(width), accuracy: '-' }, { format: EVAL_FORMAT }));
          }
          bar = evalBars.get(p.stage) as GenericBar;
        }
        bar.update(p.done, { stage: p.stage.padEnd(width), accuracy: percent(p.accuracy) });
        return;
      }
      if (evalStarted === 0) evalStarted = now();
      const t = now();
      const last = p.done >= p.total;
      if (last && !evalDone.has(p.stage)) {
        evalDone.add(p.stage);
        stream.write(`final evaluation: ${p.stage} ${percent(p.accuracy)} on ${p.total} images\n`);
      } else if (!last && t - lastLine >= everyMs) {
        stream.write(`final evaluation: ${p.stage} ${p.done}/${p.total}  accuracy so far ${percent(p.accuracy)}  elapsed ${formatDuration((t - evalStarted) / 1000)}\n`);
        lastLine = t;
      }
    },
    onTrainEnd(e) {
      stop();
      stream.write(`training and evaluation finished after ${e.step} steps in ${formatDuration((now() - start) / 1000)}\n`);
    },
    dispose: stop,
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
      await makeDirectory(path.dirname(options.file));
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
      // A torn last line (a process killed mid-append) is dropped, so the next record starts a line.
      let text: string;
      try {
        text = await fs.readFile(options.file, 'utf8');
      } catch {
        bytes = 0;
        return;
      }
      const whole = text.length === 0 || text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
      if (whole.length !== text.length) await fs.truncate(options.file, Buffer.byteLength(whole));
      bytes = Buffer.byteLength(whole);
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
// Plugins

export const progressBarPlugin = definePlugin({
  kind: 'callback',
  name: 'progress-bar',
  description: 'progress bar on a terminal (loss, accuracy, images/s, elapsed, ETA; final evaluation per attack), plain lines otherwise',
  options: z
    .object({
      stream: z.enum(['stderr', 'stdout']).default('stderr'),
      everySeconds: z.number().positive().default(10).describe('plain lines (not a terminal): at most one every this many seconds'),
      tty: z.boolean().optional(),
    })
    .strict(),
  create: (_ctx, o) =>
    progressBar({
      stream: o.stream === 'stdout' ? process.stdout : process.stderr,
      everySeconds: o.everySeconds,
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

/** The callback plugins that need Node (a terminal, files). */
export const nodeCallbacks = [progressBarPlugin, metricsLoggerPlugin] as const;

/** The trainer's callback plugins. */
export const callbacks = [...nodeCallbacks, ...coreCallbacks] as const;
