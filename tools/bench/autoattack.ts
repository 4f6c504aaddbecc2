/**
 * AutoAttack (standard) on Fashion-MNIST test images with a small CNN trained here, and the cost of
 * the input gradient with and without filter gradients on tfjs' stock cpu backend.
 *
 *   node --import tsx --conditions=@advprop/source tools/bench/autoattack.ts \
 *     [--backend wasm] [--limit 1000] [--epsilon 0.1] [--train 4000] [--epochs 3] [--steps 100] [--square 5000]
 *
 * Prints one JSON line: clean and robust accuracy, per attack its robust accuracy, seconds and
 * attacked images per second, the whole suite's seconds, and `inputGradient`: milliseconds per
 * input-gradient step on the cpu backend with tf.grad and with the attacks' inputGradient (no
 * filter gradients), and their ratio, for the attacked CNN (relu fused into the convs) and for a
 * conv-BN-relu CNN (linear convs, the fused conv path that computes filter gradients eagerly).
 * Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist).
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { useBackend, type BackendChoice } from '@advprop/backends';
import { autoAttack, inputGradient, perSampleCrossEntropy } from '@advprop/attacks';
import { createRegistry } from '@advprop/core';
import { fashionMnistPlugin } from '@advprop/datasets/node';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    limit: { type: 'string', default: '1000' },
    epsilon: { type: 'string', default: '0.1' },
    train: { type: 'string', default: '4000' },
    epochs: { type: 'string', default: '3' },
    steps: { type: 'string', default: '100' },
    square: { type: 'string', default: '5000' },
  },
});
const limit = Number(values.limit);
const trainCount = Number(values.train);

const info = await useBackend(values.backend as BackendChoice);
const registry = createRegistry({ seed: 1 }).use([fashionMnistPlugin]);
const data = await registry.resolve('dataset', 'fashion-mnist', {});
const train = data.read('train', Int32Array.from({ length: trainCount }, (_, i) => i));
const test = data.read('test', Int32Array.from({ length: limit }, (_, i) => i));
const init = (seed: number) => tfl.initializers.glorotUniform({ seed });
const model = tfl.sequential({
  layers: [
    tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu', kernelInitializer: init(1) }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu', kernelInitializer: init(2) }),
    tfl.layers.maxPooling2d({ poolSize: 2 }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 10, kernelInitializer: init(3) }),
  ],
});
model.compile({ optimizer: tf.train.adam(0.003), loss: (yTrue: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, logits) });
const xs = tf.tensor4d(train.images, [trainCount, 28, 28, 1]);
const ys = tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10);
const trainStart = performance.now();
await model.fit(xs, ys, { epochs: Number(values.epochs), batchSize: 64, shuffle: false, verbose: 0 });
const trainSeconds = (performance.now() - trainStart) / 1000;
tf.dispose([xs, ys]);

const x = tf.tensor4d(test.images, [limit, 28, 28, 1]);
const labels = tf.tensor1d(test.labels, 'int32') as tf.Tensor1D;
const result = autoAttack({
  model,
  x,
  labels,
  norm: 'linf',
  epsilon: values.epsilon as string,
  version: 'standard',
  steps: Number(values.steps),
  squareQueries: Number(values.square),
  onProgress: (e) => console.error(`${e.attack}: robust accuracy ${(100 * e.robustAccuracy).toFixed(1)}% (${e.seconds.toFixed(1)} s)`),
});
result.adversarial.dispose();

// input gradient of the same CNN on the stock cpu backend: tf.grad vs inputGradient
await tf.setBackend('cpu');
const batch = tf.slice(x, 0, Math.min(100, limit));
const batchLabels = tf.slice(labels, 0, Math.min(100, limit)) as tf.Tensor1D;
const time = (grad: (t: tf.Tensor) => tf.Tensor, repeats: number) => {
  tf.dispose(grad(batch)); // warm-up
  const start = performance.now();
  for (let i = 0; i < repeats; i++) tf.dispose(grad(batch));
  return (performance.now() - start) / repeats;
};
// A conv with a fused relu is unfused by tfjs under a gradient tape (no eager filter gradient);
// a conv followed by BatchNorm (linear activation, as advprop's models) keeps the fused path.
const convBn = tfl.sequential({
  layers: [
    tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, padding: 'same', kernelInitializer: init(4) }),
    tfl.layers.batchNormalization(),
    tfl.layers.activation({ activation: 'relu' }),
    tfl.layers.conv2d({ filters: 32, kernelSize: 3, padding: 'same', kernelInitializer: init(5) }),
    tfl.layers.batchNormalization(),
    tfl.layers.activation({ activation: 'relu' }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 10, kernelInitializer: init(6) }),
  ],
});
const gradientCost = (net: tfl.LayersModel) => {
  const objective = (t: tf.Tensor) => tf.sum(perSampleCrossEntropy(net.apply(t) as tf.Tensor2D, batchLabels));
  const withFilter = time(tf.grad(objective), 3);
  const inputOnly = time(inputGradient(objective), 3);
  return { msWithFilterGradients: +withFilter.toFixed(1), msInputOnly: +inputOnly.toFixed(1), ratio: +(withFilter / inputOnly).toFixed(2) };
};
const attackedCnn = gradientCost(model);
const convBnCnn = gradientCost(convBn);
convBn.dispose();

console.log(
  JSON.stringify({
    bench: 'autoattack',
    backend: info.name,
    dataset: 'fashion-mnist',
    model: 'small-cnn conv8-pool-conv16-pool-dense10',
    train: { images: trainCount, epochs: Number(values.epochs), seconds: +trainSeconds.toFixed(1) },
    images: limit,
    epsilon: result.epsilon,
    steps: Number(values.steps),
    squareQueries: Number(values.square),
    cleanAccuracy: result.cleanAccuracy,
    robustAccuracy: result.robustAccuracy,
    attacks: result.attacks.map((a) => ({
      name: a.name,
      robustAccuracy: a.robustAccuracy,
      attacked: a.attacked,
      seconds: +a.seconds.toFixed(2),
      imagesPerSecond: a.seconds > 0 ? +(a.attacked / a.seconds).toFixed(2) : null,
      forwardPasses: a.forwardPasses,
      backwardPasses: a.backwardPasses,
    })),
    suiteSeconds: +result.seconds.toFixed(1),
    warnings: result.warnings.map((w) => w.check),
    inputGradient: { backend: 'cpu', batch: batch.shape[0], attackedCnn, convBnCnn },
  }),
);
tf.dispose([x, labels, batch, batchLabels]);
model.dispose();
