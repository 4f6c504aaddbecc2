import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainEvent } from '@advprop/core';
import { CallbackRunner, Control, checkpointPolicy, earlyStopping, metricsLogger, progressBar } from './callbacks.js';

const ev = (over: Partial<TrainEvent> = {}): TrainEvent => ({ epoch: 0, step: 1, batch: 0, epochs: 2, stepsPerEpoch: 4, metrics: { loss: 1.5, images_per_second: 100 }, ...over });

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 200, write: (t: string) => chunks.push(t) }, text: () => chunks.join('') };
}

describe('progress bar', () => {
  it('writes plain lines with loss, throughput and ETA when not a TTY', () => {
    const out = sink(false);
    const cb = progressBar({ stream: out.stream, linesPerEpoch: 2 });
    const control = new Control();
    cb.onTrainBegin?.(ev({ step: 0 }), control);
    for (let b = 0; b < 4; b++) cb.onBatchEnd?.(ev({ batch: b, step: b + 1 }), control);
    cb.onEpochEnd?.(ev({ metrics: { loss: 1.2, val_accuracy: 0.9 } }), control);
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^epoch 1\/2 {2}batch 2\/4 {2}loss 1\.5000 {2}100\.0 img\/s {2}ETA \d+s$/);
    expect(out.text()).not.toContain('\r');
    expect(lines[2]).toBe('epoch 1/2 done  loss 1.2000  val_accuracy 0.9000');
  });

  it('redraws one line on a TTY', () => {
    const out = sink(true);
    const cb = progressBar({ stream: out.stream });
    const control = new Control();
    cb.onTrainBegin?.(ev({ step: 0 }), control);
    cb.onBatchEnd?.(ev({ batch: 1, step: 2 }), control);
    expect(out.text()).toMatch(/^\r\[=+ +\] epoch 1\/2 {2}batch 2\/4/);
    expect(out.text()).not.toContain('\n');
  });
});

describe('control and runner', () => {
  it('runs hooks in order, freezes numeric events, keeps the first stop reason', async () => {
    const seen: string[] = [];
    const control = new Control();
    const runner = new CallbackRunner(
      [
        { name: 'a', onBatchEnd: (e, c) => { seen.push(`a:${e.metrics.loss}`); c.stop('first'); } },
        { name: 'b', onBatchEnd: (e, c) => { seen.push(`b:${Object.isFrozen(e)}`); c.stop('second'); } },
      ],
      control,
    );
    await runner.run('onBatchEnd', { ...ev(), metrics: { loss: 2, tensor: { shape: [1] } as unknown as number } });
    expect(seen).toEqual(['a:2', 'b:true']);
    expect(control.stopRequested).toBe(true);
    expect(control.stopReason).toBe('first');
    control.requestCheckpoint();
    control.requestCheckpoint({ best: true });
    expect(control.takeCheckpointRequest()).toEqual({ best: true });
    expect(control.takeCheckpointRequest()).toBeNull();
  });

  it('early stopping waits `patience` epochs without improvement; checkpoint policy marks the best', () => {
    const control = new Control();
    const es = earlyStopping({ monitor: 'val_accuracy', patience: 2 });
    for (const v of [0.5, 0.6, 0.6, 0.59]) es.onEpochEnd?.(ev({ metrics: { val_accuracy: v } }), control);
    expect(control.stopReason).toMatch(/val_accuracy did not improve on 0.6 for 2 epoch/);
    expect(es.getState?.()).toEqual({ best: 0.6, wait: 2 });

    const policy = checkpointPolicy({ everyEpochs: 2, monitor: 'val_accuracy' });
    const c2 = new Control();
    policy.onEpochEnd?.(ev({ epoch: 0, metrics: { val_accuracy: 0.5 } }), c2);
    expect(c2.takeCheckpointRequest()).toEqual({ best: true });
    policy.onEpochEnd?.(ev({ epoch: 1, metrics: { val_accuracy: 0.4 } }), c2);
    expect(c2.takeCheckpointRequest()).toEqual({ best: false });
    policy.onEpochEnd?.(ev({ epoch: 2, metrics: { val_accuracy: 0.4 } }), c2);
    expect(c2.takeCheckpointRequest()).toBeNull();
  });
});

describe('metrics logger', () => {
  it('writes JSON lines and truncates to the checkpointed length on resume', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'advprop-metrics-'));
    const file = path.join(dir, 'metrics.jsonl');
    const control = new Control();
    const a = metricsLogger({ file });
    await a.onTrainBegin?.(ev(), control);
    await a.onBatchEnd?.(ev({ step: 1 }), control);
    const state = a.getState!();
    await a.onBatchEnd?.(ev({ step: 2 }), control);
    const b = metricsLogger({ file });
    await b.setState!(state);
    await b.onBatchEnd?.(ev({ step: 2 }), control);
    const lines = (await fs.readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.step)).toEqual([1, 2]);
    expect(lines[0]).toMatchObject({ type: 'batch', epoch: 0, step: 1, batch: 0, loss: 1.5 });
    await fs.rm(dir, { recursive: true, force: true });
  });
});
