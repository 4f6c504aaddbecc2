/**
 * A progress display as a trainer callback, drawn on the CLI's stderr: a redrawn line on a
 * terminal, a line every few seconds (and at each epoch end) otherwise, so logs stay readable.
 */
import type { Callback, TrainEvent } from '@advprop/core';
import type { OutputStream } from './io.js';

export interface ProgressOptions {
  /** Minimum milliseconds between lines when stderr is not a terminal (default 15 s). */
  readonly logEveryMs?: number;
  readonly now?: () => number;
}

function metricText(metrics: Readonly<Record<string, number>>): string {
  const shown = ['loss', 'adv_loss', 'accuracy', 'val_loss', 'val_accuracy', 'val_aux_accuracy', 'images_per_second'];
  return shown
    .filter((k) => typeof metrics[k] === 'number' && Number.isFinite(metrics[k]))
    .map((k) => {
      const v = metrics[k] as number;
      return `${k.replace('images_per_second', 'img/s')} ${k.includes('accuracy') || k === 'acc' ? v.toFixed(3) : k === 'images_per_second' ? v.toFixed(0) : v.toFixed(4)}`;
    })
    .join('  ');
}

export function progressCallback(stream: OutputStream, options: ProgressOptions = {}): Callback {
  const now = options.now ?? (() => Date.now());
  const tty = stream.isTTY === true;
  const every = options.logEveryMs ?? 15_000;
  let last = 0;
  let epochStart = now();
  let drawn = false;
  const bar = (done: number, total: number) => {
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : 0;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  const line = (event: TrainEvent) => {
    const batch = (event.batch ?? 0) + 1;
    const elapsed = (now() - epochStart) / 1000;
    return `epoch ${event.epoch + 1}/${event.epochs} ${bar(batch, event.stepsPerEpoch)} ${batch}/${event.stepsPerEpoch}  ${metricText(event.metrics)}  ${elapsed.toFixed(0)}s`;
  };
  return {
    name: 'cli-progress',
    onEpochBegin: () => {
      epochStart = now();
      last = now();
    },
    onBatchEnd: (event) => {
      const t = now();
      if (tty) {
        if (t - last < 200 && (event.batch ?? 0) + 1 < event.stepsPerEpoch) return;
        stream.write(`\r\x1b[2K${line(event)}`);
        drawn = true;
        last = t;
      } else if (t - last >= every) {
        stream.write(`${line(event)}\n`);
        last = t;
      }
    },
    onEpochEnd: (event) => {
      if (tty && drawn) stream.write('\n');
      drawn = false;
      const elapsed = (now() - epochStart) / 1000;
      stream.write(`epoch ${event.epoch + 1}/${event.epochs} done in ${elapsed.toFixed(1)}s  ${metricText(event.metrics)}\n`);
      if (event.epoch + 1 >= event.epochs) stream.write('final evaluation (clean, aux BN, attacks)...\n');
    },
  };
}
