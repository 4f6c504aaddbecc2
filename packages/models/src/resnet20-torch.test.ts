/**
 * ResNet-20 against the PyTorch benchmark model (shared/bench/torch_advprop_step.py): both are
 * filled with the same formula-generated weights (torch key k, element i in PyTorch layout:
 * offset + amp * sin(1.7 k + 0.37 i)), run in eval mode on the same input, and must give the same
 * logits. The fixture holds PyTorch's logits for the main and the auxiliary BN route
 * (generated with torch 1.13 by scripts/resnet20-torch-fixture.py).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { withRoute } from '@advprop/core';
import { buildResNet20 } from './index.js';

const fixture = JSON.parse(
  readFileSync(new URL('./__fixtures__/resnet20-torch-logits.json', import.meta.url), 'utf8'),
) as { keys: string[]; main: number[][]; aux: number[][] };

const BN_PARAM: Record<string, string> = {
  weight: 'gamma',
  bias: 'beta',
  running_mean: 'moving_mean',
  running_var: 'moving_variance',
};

function fill(n: number, seed: number, amp: number, offset = 0, abs = false): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.sin(seed * 1.7 + i * 0.37);
    out[i] = offset + amp * (abs ? Math.abs(s) : s);
  }
  return out;
}

/** PyTorch state-dict key -> [tfjs layer name, weight base name, transpose to tfjs layout]. */
function locate(key: string, dual: boolean): [string, string, number[] | null] | null {
  const parts = key.split('.');
  const last = parts[parts.length - 1] as string;
  if (key === 'stem.weight') return ['stem_conv', 'kernel', [2, 3, 1, 0]];
  if (key === 'fc.weight') return ['logits', 'kernel', [1, 0]];
  if (key === 'fc.bias') return ['logits', 'bias', null];
  const route = parts[parts.length - 2] as 'main' | 'aux';
  const bnName = (layer: string) =>
    route === 'aux' && !dual ? null : ([layer, `${route === 'aux' ? 'aux_' : ''}${BN_PARAM[last]}`, null] as [string, string, null]);
  if (parts[0] === 'bn') return bnName('stem_bn');
  const i = Number(parts[1]);
  const block = `stage${Math.floor(i / 3) + 1}_block${(i % 3) + 1}`;
  const module = parts.slice(2, -1).join('.');
  const convs: Record<string, string> = { c1: 'conv1', c2: 'conv2', 'short.0': 'short_conv' };
  if (convs[module] && last === 'weight') return [`${block}_${convs[module]}`, 'kernel', [2, 3, 1, 0]];
  const bns: Record<string, string> = { 'b1.main': 'bn1', 'b1.aux': 'bn1', 'b2.main': 'bn2', 'b2.aux': 'bn2', 'short.1.main': 'short_bn', 'short.1.aux': 'short_bn' };
  if (bns[module]) return bnName(`${block}_${bns[module]}`);
  throw new Error(`unmapped PyTorch key ${key}`);
}

function loadTorchFormulaWeights(model: tfl.LayersModel, dual: boolean): number {
  let written = 0;
  fixture.keys.forEach((key, k) => {
    const target = locate(key, dual);
    if (!target) return;
    const [layerName, weightName, perm] = target;
    const variable = model.getLayer(layerName).weights.find((w) => w.originalName.endsWith(`/${weightName}`));
    if (!variable) throw new Error(`no weight ${weightName} in layer ${layerName}`);
    const torchShape = perm ? perm.map((_, j) => variable.shape[perm.indexOf(j)] as number) : variable.shape.map(Number);
    const n = torchShape.reduce((a, b) => a * b, 1);
    const values =
      torchShape.length >= 2
        ? fill(n, k, 1 / Math.sqrt(n / (torchShape[0] as number)))
        : key.endsWith('running_var')
          ? fill(n, k, 0.5, 1, true)
          : key.endsWith('weight')
            ? fill(n, k, 0.3, 1)
            : fill(n, k, 0.1);
    tf.tidy(() => {
      const t = tf.tensor(values, torchShape);
      variable.write(perm ? tf.transpose(t, perm) : t);
    });
    written += n;
  });
  return written;
}

function input(): tf.Tensor4D {
  const n = 2 * 32 * 32 * 3;
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = (Math.sin(i * 0.11) + 1) / 2;
  return tf.tensor4d(v, [2, 32, 32, 3]);
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

it('plain-BN ResNet-20 reproduces the PyTorch logits with the same weights', async () => {
  const model = buildResNet20({ inputShape: [32, 32, 3], numClasses: 10, batchNorm: 'plain' });
  // every weight (trainable and running statistics) written: 272,474 + 1,568
  expect(loadTorchFormulaWeights(model, false)).toBe(274_042);
  const x = input();
  const y = model.predict(x) as tf.Tensor;
  const got = (await y.array()) as number[][];
  got.forEach((row, b) => row.forEach((v, j) => expect(v).toBeCloseTo(fixture.main[b]?.[j] as number, 3)));
  tf.dispose([x, y]);
  model.dispose();
});

it('dual-BN ResNet-20 reproduces PyTorch on both routes', async () => {
  const model = buildResNet20({ inputShape: [32, 32, 3], numClasses: 10, batchNorm: 'dual' });
  expect(loadTorchFormulaWeights(model, true)).toBe(274_042 + 3_136);
  const x = input();
  for (const route of ['main', 'aux'] as const) {
    const y = withRoute(model, route, () => model.predict(x) as tf.Tensor);
    const got = (await y.array()) as number[][];
    got.forEach((row, b) => row.forEach((v, j) => expect(v, `${route}[${b}][${j}]`).toBeCloseTo(fixture[route][b]?.[j] as number, 3)));
    y.dispose();
  }
  x.dispose();
  model.dispose();
});
