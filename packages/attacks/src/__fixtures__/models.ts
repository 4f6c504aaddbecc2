/** Test models: a linear classifier with a known gradient, a small layers net with BN, a routed model. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { ROUTABLE, SeededRandom, type ApplyModel, type BnRoute, type RoutableLayer } from '@advprop/core';

export async function useCpu(): Promise<void> {
  await tf.setBackend('cpu');
  await tf.ready();
}

export interface LinearModel {
  readonly d: number;
  readonly k: number;
  readonly w: Float32Array; // [d, k] row-major
  readonly b: Float32Array;
  readonly forward: (x: tf.Tensor) => tf.Tensor;
  dispose(): void;
}

export function linearModel(d: number, k: number, seed = 1): LinearModel {
  const random = new SeededRandom(seed);
  const w = Float32Array.from({ length: d * k }, () => random.normal());
  const b = Float32Array.from({ length: k }, () => random.normal() * 0.1);
  const wt = tf.tensor2d(w, [d, k]);
  const bt = tf.tensor1d(b);
  return {
    d,
    k,
    w,
    b,
    forward: (x) => tf.add(tf.matMul(tf.reshape(x, [x.shape[0] as number, d]), wt), bt),
    dispose: () => tf.dispose([wt, bt]),
  };
}

/** Analytic input gradient of the per-sample cross-entropy of a linear classifier. */
export function linearCeGradient(m: LinearModel, x: Float32Array, labels: ArrayLike<number>): Float32Array {
  const n = labels.length;
  const g = new Float32Array(n * m.d);
  for (let i = 0; i < n; i++) {
    const z = new Float64Array(m.k);
    for (let c = 0; c < m.k; c++) {
      let s = m.b[c] as number;
      for (let j = 0; j < m.d; j++) s += (x[i * m.d + j] as number) * (m.w[j * m.k + c] as number);
      z[c] = s;
    }
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, v) => a + v, 0);
    for (let j = 0; j < m.d; j++) {
      let s = 0;
      for (let c = 0; c < m.k; c++) s += (m.w[j * m.k + c] as number) * ((e[c] as number) / sum - (c === labels[i] ? 1 : 0));
      g[i * m.d + j] = s;
    }
  }
  return g;
}

export function uniformBatch(shape: number[], seed: number, lo = 0, hi = 1): tf.Tensor {
  const random = new SeededRandom(seed);
  const size = shape.reduce((a, v) => a * v, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => random.uniform(lo, hi)), shape);
}

/** A small conv + dense net with BatchNorm on NHWC 8x8x1 inputs (logits out). */
export function smallNet(k = 5, seed = 3): tfl.Sequential {
  const model = tfl.sequential();
  model.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed }) }));
  model.add(tfl.layers.batchNormalization());
  model.add(tfl.layers.activation({ activation: 'relu' }));
  model.add(tfl.layers.flatten());
  model.add(tfl.layers.dense({ units: k, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }));
  // non-trivial running statistics
  const bn = model.layers[1] as tfl.layers.Layer;
  const [gamma, beta, mean, variance] = bn.getWeights();
  bn.setWeights([gamma as tf.Tensor, beta as tf.Tensor, tf.fill(mean!.shape, 0.1), tf.fill(variance!.shape, 0.5)]);
  return model;
}

export function weightValues(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array).map((a) => Float32Array.from(a));
}

/** A model with one routable layer: the route picks between two linear heads. */
export function routedModel(main: LinearModel, aux: LinearModel): ApplyModel & { layers: RoutableLayer[]; seen: BnRoute[] } {
  const layer: RoutableLayer = { [ROUTABLE]: true, route: 'main' };
  const seen: BnRoute[] = [];
  return {
    layers: [layer],
    seen,
    apply(inputs) {
      seen.push(layer.route);
      return (layer.route === 'aux' ? aux : main).forward(inputs as tf.Tensor);
    },
  };
}
