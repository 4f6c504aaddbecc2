import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectNoTensorLeak } from '@advprop/core';
import { Adam, SGD, clipByGlobalNorm } from './optimizers.js';
import { learningRateAt } from './schedules.js';
import { crossEntropy } from './losses.js';
import { resolveTrainConfig } from './config.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function scalarRun(make: (p: tf.Variable[]) => SGD | Adam, grads: number[], w0 = 1, lr = 0.1): number[] {
  const p = tf.tidy(() => tf.variable(tf.scalar(w0)));
  const opt = make([p]);
  const out: number[] = [];
  for (const g of grads) {
    const gt = tf.scalar(g);
    opt.apply([gt], lr);
    gt.dispose();
    out.push(p.dataSync()[0] as number);
  }
  opt.dispose();
  p.dispose();
  return out;
}

describe('optimizers', () => {
  it('SGD with momentum, Nesterov and weight decay follows the PyTorch update', () => {
    // v1 = g1 + wd w0 = 1 + 0.1 = 1.1; w1 = 1 - 0.1 * 1.1 = 0.89
    // g2' = 1 + 0.1 * 0.89 = 1.089; v2 = 0.9 * 1.1 + 1.089 = 2.079; w2 = 0.89 - 0.1 * 2.079 = 0.6821
    const plain = scalarRun((p) => new SGD(p, { momentum: 0.9, nesterov: false, weightDecay: 0.1 }), [1, 1]);
    expect(plain[0]).toBeCloseTo(0.89, 6);
    expect(plain[1]).toBeCloseTo(0.6821, 6);
    // Nesterov: update = g + m v. Step 1: v = 1, w = 1 - 0.1 * (1 + 0.9) = 0.81
    const nesterov = scalarRun((p) => new SGD(p, { momentum: 0.9, nesterov: true, weightDecay: 0 }), [1]);
    expect(nesterov[0]).toBeCloseTo(0.81, 6);
  });

  it('Adam and AdamW follow their definitions', () => {
    // Adam's first step moves by lr * sign(g) (bias-corrected m / sqrt(v) = 1).
    const adam = scalarRun((p) => new Adam(p, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0, decoupled: false }), [0.5]);
    expect(adam[0]).toBeCloseTo(0.9, 6);
    // AdamW: w = w (1 - lr wd) - lr * 1 = 1 * (1 - 0.01) - 0.1 = 0.89
    const adamw = scalarRun((p) => new Adam(p, { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1, decoupled: true }), [0.5]);
    expect(adamw[0]).toBeCloseTo(0.89, 6);
  });

  it('state round-trips exactly and parameters without a gradient stay untouched', async () => {
    await expectNoTensorLeak(() => {
      const vars = () => tf.tidy(() => [tf.variable(tf.tensor1d([1, 2])), tf.variable(tf.tensor1d([3]))]);
      const a = vars();
      const b = vars();
      const oa = new Adam(a, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, decoupled: true });
      const ob = new Adam(b, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, decoupled: true });
      const g = [tf.tensor1d([0.3, -0.2]), null];
      oa.apply(g, 0.1);
      ob.apply(g, 0.1);
      expect(a[1]!.dataSync()[0]).toBe(3);
      const state = oa.getState();
      expect(state.iterations).toBe(1);
      const oc = new Adam(b, { beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.01, decoupled: true });
      oc.setState(state);
      oa.apply(g, 0.1);
      oc.apply(g, 0.1);
      expect(Array.from(b[0]!.dataSync())).toEqual(Array.from(a[0]!.dataSync()));
      expect(() => new SGD(b, { momentum: 0.9, nesterov: false, weightDecay: 0 }).setState(state)).toThrow(/adamw optimizer state, but the run uses sgd/);
      for (const t of [...a, ...b, g[0]!]) t.dispose();
      oa.dispose();
      ob.dispose();
      oc.dispose();
    });
  });

  it('clips by global norm', () => {
    const g = [tf.tensor1d([3, 0]), null, tf.tensor1d([4])];
    const { grads, norm } = clipByGlobalNorm(g, 1);
    expect(norm).toBeCloseTo(5, 5);
    expect(Array.from(grads[0]!.dataSync())[0]).toBeCloseTo(0.6, 5);
    expect(grads[1]).toBeNull();
    for (const t of grads) t?.dispose();
    const h = [tf.tensor1d([0.1])];
    const kept = clipByGlobalNorm(h, 1);
    expect(kept.grads[0]).toBe(h[0]);
    h[0]!.dispose();
  });
});

describe('schedules and losses', () => {
  const base = resolveTrainConfig({}).schedule;
  it('warm-up, step and cosine', () => {
    const pos = (step: number) => ({ step, stepsPerEpoch: 10, epochs: 10 });
    const warm = { ...base, warmupEpochs: 1, warmupStartFactor: 0.1 };
    expect(learningRateAt(1, warm, pos(0))).toBeCloseTo(0.1);
    expect(learningRateAt(1, warm, pos(5))).toBeCloseTo(0.55);
    expect(learningRateAt(1, warm, pos(10))).toBe(1);
    const step = { ...base, name: 'step' as const, milestones: [3, 6], gamma: 0.1 };
    expect(learningRateAt(1, step, pos(29))).toBe(1);
    expect(learningRateAt(1, step, pos(30))).toBeCloseTo(0.1);
    expect(learningRateAt(1, step, pos(65))).toBeCloseTo(0.01);
    const cosine = { ...base, name: 'cosine' as const };
    expect(learningRateAt(1, cosine, pos(0))).toBe(1);
    expect(learningRateAt(1, cosine, pos(50))).toBeCloseTo(0.5);
    expect(learningRateAt(1, cosine, pos(100))).toBeCloseTo(0);
  });

  it('label smoothing changes the target distribution', () => {
    const logits = tf.tensor2d([[2, 0, 0]]);
    const y = tf.tensor1d([0], 'int32');
    const plain = crossEntropy(logits, y).dataSync()[0] as number;
    const smooth = crossEntropy(logits, y, 0.3).dataSync()[0] as number;
    const logp = [2, 0, 0].map((v) => v - Math.log(Math.exp(2) + 2));
    expect(plain).toBeCloseTo(-logp[0]!, 5);
    expect(smooth).toBeCloseTo(-(0.8 * logp[0]! + 0.1 * logp[1]! + 0.1 * logp[2]!), 5);
    tf.dispose([logits, y]);
  });
});

describe('config', () => {
  it('fills defaults and names bad fields', () => {
    const c = resolveTrainConfig({ mode: 'fast-advprop' });
    expect(c.dataset).toEqual({ name: 'mnist-package' });
    expect(c.attacker?.name).toBe('pgd');
    expect(c.attacker?.options).toMatchObject({ steps: 1, randomStart: true });
    expect(c.modeOptions).toEqual({ pAdv: 0.2, shuffle: true, rescaleGradients: true, lambda: 1 });
    expect(resolveTrainConfig({}).attacker?.name).toBe('advprop');
    expect(resolveTrainConfig({ mode: 'vanilla' }).attacker).toBeUndefined();
    expect(() => resolveTrainConfig({ mode: 'advprop', modeOptions: { lambda: -1 } })).toThrow(/modeOptions\.lambda/);
    expect(() => resolveTrainConfig({ epochs: 0, optimizer: { lr: -1 } }, 'run.yaml')).toThrow(/Invalid options for run.yaml:[\s\S]*epochs[\s\S]*optimizer\.lr/);
    // any registered training mode may be named; unknown names fail when training starts
    expect(resolveTrainConfig({ mode: 'madry' }).mode).toBe('madry');
    expect(() => resolveTrainConfig({ mode: '' })).toThrow(/mode/);
    expect(() => resolveTrainConfig({ bogus: 1 })).toThrow(/bogus|Unrecognized/);
    expect(() => resolveTrainConfig(42)).toThrow(/expected an object/);
  });
});
