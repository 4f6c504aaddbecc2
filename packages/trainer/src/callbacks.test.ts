import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TrainEvent } from '@advprop/core';
import { CallbackRunner, Control, checkpointPolicy, earlyStopping } from './callbacks.js';
import { metricsLogger, progressBar } from './node-callbacks.js';

const ev = (over: Partial<TrainEvent> = {}): TrainEvent => ({ epoch: 0, step: 1, batch: 0, epochs: 2, stepsPerEpoch: 4, metrics: { loss: 1.5, images_per_second: 100 }, ...over });

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { stream: { isTTY, columns: 200, write: (t: string) => chunks.push(t) }, text: () => chunks.join('') };
}

describe('progress bar', () => {
  it('writes plain lines at most every few seconds, with loss, accuracy, throughput, elapsed time and ETA, when not a TTY', () => {
    const out = sink(false);
    let t = 0;
    const cb = progressBar({ stream: out.stream, everySeconds: 10, now: () => t });
    const control = new Control();
    cb.onTrainBegin?.(ev({ step: 0 }), control);
    for (let b = 0; b < 4; b++) {
      t = (b + 1) * 4000; // a batch every 4 s: lines at 4 s and 16 s only
      cb.onBatchEnd?.(ev({ batch: b, step: b + 1, metrics: { loss: 1.5, accuracy: 0.25, images_per_second: 100 } }), control);
    }
    cb.onEpochEnd?.(ev({ step: 4, metrics: { loss: 1.2, accuracy: 0.5, val_accuracy: 0.9 } }), control);
    const lines = out.text().trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('epoch 1/2  step 1/8  loss 1.5000  acc 25.0%  100 img/s  elapsed 4s  ETA 28s');
    expect(lines[1]).toMatch(/^epoch 1\/2 {2}step 4\/8 .* elapsed 16s {2}ETA 16s$/);
    expect(lines[2]).toBe('epoch 1/2 done after 16s  loss 1.2000  acc 50.0%  val_accuracy 90.0%');
    expect(out.text()).not.toContain('\r');
    expect(out.text()).not.toContain('\u001b'); // no cursor movement or colours in logs
  });

  it("counts steps against the run's total_steps when epochs differ in length (class-incremental runs)", () => {
    const out = sink(false);
    const cb = progressBar({ stream: out.stream, everySeconds: 10, now: () => 0 });
    const control = new Control();
    // 2 epochs of 1 step, then 2 of 4: 10 steps, not epochs * the current epoch's steps.
    cb.onTrainBegin?.(ev({ step: 0, epochs: 4, stepsPerEpoch: 1, metrics: { total_steps: 10 } }), control);
    cb.onBatchEnd?.(ev({ epoch: 2, batch: 0, step: 3, epochs: 4, stepsPerEpoch: 4, metrics: { loss: 1, accuracy: 0.5, images_per_second: 10 } }), control);
    expect(out.text()).toMatch(/^epoch 3\/4 {2}step 3\/10 /);
  });

  it('reports the final evaluation per attack in plain mode: one line per finished stage', () => {
    const out = sink(false);
    let t = 0;
    const cb = progressBar({ stream: out.stream, everySeconds: 10, now: () => t });
    const stages = ['clean', 'aux', 'pgd'];
    for (const done of [50, 100]) {
      for (const stage of stages) {
        t += 1000;
        cb.onFinalEvaluationProgress?.({ stage, done, total: 100, accuracy: stage === 'pgd' ? 0.3 : 0.9, stages });
      }
    }
    const lines = out.text().trim().split('\n');
    expect(lines[0]).toMatch(/^final evaluation: clean 50\/100 {2}accuracy so far 90\.0%/);
    expect(lines.slice(1)).toEqual([
      'final evaluation: clean 90.0% on 100 images',
      'final evaluation: aux 90.0% on 100 images',
      'final evaluation: pgd 30.0% on 100 images',
    ]);
  });

  it('draws bars with cli-progress on a TTY: training with ETA, then one bar per evaluation stage', async () => {
    const out = sink(true);
    const cb = progressBar({ stream: out.stream });
    const control = new Control();
    try {
      cb.onTrainBegin?.(ev({ step: 0 }), control);
      cb.onBatchEnd?.(ev({ batch: 1, step: 2, metrics: { loss: 1.5, accuracy: 0.5, images_per_second: 120 } }), control);
      await new Promise((resolve) => setTimeout(resolve, 400)); // cli-progress redraws on its own timer (5 per second)
      expect(out.text()).toMatch(/epoch 1\/2 \S+ step 2\/8 {2}loss 1\.5000 {2}acc 50\.0% {2}120 img\/s {2}elapsed \S+ {2}ETA \S+/);
      const stages = ['clean', 'fgsm'];
      cb.onFinalEvaluationProgress?.({ stage: 'clean', done: 100, total: 200, accuracy: 0.95, stages });
      cb.onFinalEvaluationProgress?.({ stage: 'fgsm', done: 100, total: 200, accuracy: 0.4, stages });
      cb.onTrainEnd?.(ev({ step: 8 }), control);
      expect(out.text()).toMatch(/final evaluation {2}clean \S+ 100\/200 {2}accuracy 95\.0%/);
      expect(out.text()).toMatch(/final evaluation {2}fgsm {2}\S+ 100\/200 {2}accuracy 40\.0%/);
      expect(out.text()).toContain('training and evaluation finished after 8 steps');
    } finally {
      cb.dispose();
    }
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
