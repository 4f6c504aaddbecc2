/**
 * Full-epoch throughput of the trainer (@advprop/trainer `train`) on MNIST (the `mnist` package's
 * digits), AdvProp mode with its default small CNN and PGD attacker, on a chosen backend.
 *
 *   node --import tsx --conditions=@advprop/source tools/bench/mnist-epoch.ts --backend wasm --batch 128 [--limit N]
 *
 * Prints one JSON line with the trainer's own images_per_second (training images over training time).
 */
import '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { useBackend, type BackendChoice } from '@advprop/backends';
import { train } from '@advprop/trainer';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '128' },
    limit: { type: 'string' },
    mode: { type: 'string', default: 'advprop' },
  },
});
const info = await useBackend(values.backend as BackendChoice);
const t0 = performance.now();
const result = await train({
  mode: values.mode,
  dataset: { name: 'mnist-package' },
  epochs: 1,
  batchSize: Number(values.batch),
  ...(values.limit ? { limit: Number(values.limit) } : {}),
  seed: 0,
  backend: info.name,
  evaluation: { attacks: [], limit: 100 },
});
const wall = (performance.now() - t0) / 1000;
const s = result.summary;
console.log(
  JSON.stringify({
    impl: 'trainer',
    dataset: 'mnist-package',
    mode: values.mode,
    model: s.model,
    backend: info.name,
    batch: Number(values.batch),
    steps: s.steps,
    images_per_second: +s.images_per_second.toFixed(1),
    wall_seconds: +wall.toFixed(1),
    clean_accuracy: s.clean_accuracy,
  }),
);
result.dispose();
