/**
 * Callbacks from outside the trainer package: the documented hook order, numbers-only events,
 * and a user callback that interrupts training (stop) or ends it (finish).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOOK_ORDER, TrainingInterruptedError, type Callback, type HookName, type TrainEvent } from '@advprop/core';
import { train } from '@advprop/trainer';
import { testRegistry, tinyConfig } from '../packages/trainer/src/__fixtures__/tiny.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function recorder() {
  const calls: { hook: HookName; event: TrainEvent }[] = [];
  const cb: Callback = Object.fromEntries(HOOK_ORDER.map((hook) => [hook, (event: TrainEvent) => void calls.push({ hook, event })]));
  return { cb, calls };
}

describe('trainer callbacks', () => {
  it('calls the hooks in the documented order with numbers only', async () => {
    const registry = testRegistry();
    const { cb, calls } = recorder();
    const r = await train(tinyConfig({ epochs: 2, batchSize: 64 }), { registry, callbacks: [cb] }); // 4 batches per epoch
    r.dispose();
    await registry.dispose();
    const batch = ['onBatchBegin', 'onAfterAttack', 'onBeforeOptimizerStep', 'onBatchEnd'];
    const epoch = ['onEpochBegin', ...Array(4).fill(batch).flat(), 'onEvaluationEnd', 'onEpochEnd'];
    expect(calls.map((c) => c.hook)).toEqual(['onTrainBegin', ...epoch, ...epoch, 'onTrainEnd']);
    for (const { event } of calls) {
      expect(Object.isFrozen(event)).toBe(true);
      for (const v of Object.values(event.metrics)) expect(typeof v).toBe('number');
      for (const v of Object.values(event)) if (typeof v === 'object') expect(v).toBe(event.metrics);
    }
    const ends = calls.filter((c) => c.hook === 'onBatchEnd').map((c) => c.event);
    expect(ends.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(ends.map((e) => e.batch)).toEqual([0, 1, 2, 3, 0, 1, 2, 3]);
    expect(ends[0]!.metrics).toMatchObject({ loss: expect.any(Number), clean_loss: expect.any(Number), adv_loss: expect.any(Number), lr: 0.1 });
    const evalEnd = calls.find((c) => c.hook === 'onEvaluationEnd')!.event;
    expect(evalEnd.metrics.val_accuracy).toBeGreaterThanOrEqual(0);
    expect(evalEnd.metrics.val_aux_accuracy).toBeGreaterThanOrEqual(0);
    expect(calls.at(-1)!.event.metrics.clean_accuracy).toBeGreaterThan(0.5);
  });

  it('control.stop() interrupts after the current batch: no epoch end, train() rejects with the true position', async () => {
    const registry = testRegistry();
    const { cb, calls } = recorder();
    const stopper: Callback = {
      name: 'stop-at-step-3',
      onBatchEnd: (event, control) => {
        if (event.step === 3) control.stop('enough');
      },
    };
    const error = await train(tinyConfig({ epochs: 5, batchSize: 64 }), { registry, callbacks: [stopper, cb] }).catch((e: unknown) => e);
    await registry.dispose();
    expect(error).toBeInstanceOf(TrainingInterruptedError);
    expect((error as TrainingInterruptedError).position).toEqual({ epoch: 0, batchInEpoch: 3, step: 3 });
    expect((error as TrainingInterruptedError).reason).toBe('enough');
    expect(calls.filter((c) => c.hook === 'onBatchEnd')).toHaveLength(3);
    expect(calls.map((c) => c.hook)).not.toContain('onEpochEnd');
    expect(calls.map((c) => c.hook)).not.toContain('onTrainEnd');
  });

  it('control.finish() ends the run: the epoch end and train end still run, and the summary says why', async () => {
    const registry = testRegistry();
    const { cb, calls } = recorder();
    const finisher: Callback = {
      name: 'finish-at-step-3',
      onBatchEnd: (event, control) => {
        if (event.step === 3) control.finish('enough');
      },
    };
    const r = await train(tinyConfig({ epochs: 5, batchSize: 64 }), { registry, callbacks: [finisher, cb] });
    r.dispose();
    await registry.dispose();
    expect(r.summary.steps).toBe(3);
    expect(r.summary.epochs_completed).toBe(1);
    expect(r.summary.stopped_early).toBe('enough');
    expect(calls.filter((c) => c.hook === 'onBatchEnd')).toHaveLength(3);
    expect(calls.map((c) => c.hook).slice(-3)).toEqual(['onEvaluationEnd', 'onEpochEnd', 'onTrainEnd']);
    expect(calls.filter((c) => c.hook === 'onEpochBegin')).toHaveLength(1);
  });
});
