#!/usr/bin/env node
// Input-pipeline benchmark of @advprop/datasets: batches per second of the batch iterator
// (index shuffle, uint8 -> float32 conversion, prefetch, tensor creation, dispose) at batch 128,
// for MNIST (the `mnist` package adapter) and for a CIFAR-shaped dataset (CIFAR-10 binary files
// generated in a temporary directory, read through the real `cifar10` adapter), plus the cost of
// CIFAR-style augmentation (randomCrop + horizontalFlip) and of the corruptions.
//
// Runs against the BUILT package (packages/datasets/dist: `cd packages/datasets && npx tsup` first):
//   node tools/bench/datasets-pipeline.mjs [--epochs 3] [--cifar-train 50000] [--backend cpu]
// or straight from the TypeScript sources, without a build:
//   node --conditions=@advprop/source --import tsx tools/bench/datasets-pipeline.mjs
// Prints one JSON object per line on stdout.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { SeededRandom, createRegistry } from '@advprop/core';
import { randomCrop, horizontalFlip, corrupt, CORRUPTIONS } from '@advprop/datasets';
import { datasets, encodeCifarRecords } from '@advprop/datasets/node';

const { values: args } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    'cifar-train': { type: 'string', default: '50000' },
    'batch-size': { type: 'string', default: '128' },
    backend: { type: 'string', default: 'cpu' },
  },
});
const epochs = Number(args.epochs);
const batchSize = Number(args['batch-size']);
await tf.setBackend(args.backend);
await tf.ready();
const env = { node: process.version, backend: tf.getBackend(), cpus: cpus().length, cpu: cpus()[0]?.model };
const emit = (o) => console.log(JSON.stringify({ ...o, batchSize, ...env }));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Time whole epochs of the iterator; `work` stands in for the training step. */
async function epochsPerSecond(ds, split, work) {
  const rates = [];
  const random = new SeededRandom(1);
  let batches = 0;
  for (let e = 0; e < epochs; e++) {
    batches = 0;
    const t0 = performance.now();
    for await (const b of ds.batches({ split, batchSize, random, prefetch: 2 })) {
      if (work) work(b);
      tf.dispose([b.x, b.y]);
      batches++;
    }
    rates.push(batches / ((performance.now() - t0) / 1000));
  }
  return { batches, batchesPerSecond: median(rates), imagesPerSecond: median(rates) * batchSize };
}

const registry = createRegistry({ seed: 1 }).use(datasets);

// --- MNIST (mnist package) ---------------------------------------------------------------------
{
  const t0 = performance.now();
  const ds = await registry.resolve('dataset', 'mnist-package', {});
  const loadMs = performance.now() - t0;
  const r = await epochsPerSecond(ds, 'train');
  emit({ bench: 'datasets-pipeline', dataset: 'mnist-package', split: 'train', examples: ds.size('train'), loadMs: Math.round(loadMs), ...r });
}

// --- CIFAR-shaped (generated CIFAR-10 binary files) ----------------------------------------------
const dir = mkdtempSync(join(tmpdir(), 'advprop-bench-cifar-'));
try {
  const nTrain = Number(args['cifar-train']);
  const perFile = Math.ceil(nTrain / 5);
  const random = new SeededRandom(7);
  const root = join(dir, 'cifar-10-batches-bin');
  mkdirSync(root);
  const write = (name, n) => {
    const images = new Uint8Array(n * 3072);
    for (let i = 0; i < images.length; i++) images[i] = random.nextUint32() & 0xff;
    const labels = Int32Array.from({ length: n }, () => random.int(10));
    writeFileSync(join(root, name), encodeCifarRecords('cifar10', images, labels));
  };
  for (let b = 1; b <= 5; b++) write(`data_batch_${b}.bin`, perFile);
  write('test_batch.bin', 10000);
  const t0 = performance.now();
  const ds = await registry.resolve('dataset', 'cifar10', { dir });
  const loadMs = performance.now() - t0;
  const base = { bench: 'datasets-pipeline', dataset: 'cifar10-shaped', split: 'train', examples: ds.size('train'), loadMs: Math.round(loadMs) };
  emit({ ...base, ...(await epochsPerSecond(ds, 'train')) });
  const aug = new SeededRandom(3);
  emit({
    ...base,
    augmentation: 'randomCrop(padding 4, flipProbability 0.5)',
    ...(await epochsPerSecond(ds, 'train', (b) => {
      const c = randomCrop(b.x, { padding: 4, random: aug, flipProbability: 0.5 });
      c.dataSync(); // force the work on async backends
      c.dispose();
    })),
  });
  emit({
    ...base,
    augmentation: 'randomCrop(padding 4) then horizontalFlip',
    ...(await epochsPerSecond(ds, 'train', (b) => {
      const c = randomCrop(b.x, { padding: 4, random: aug });
      const f = horizontalFlip(c, { random: aug });
      f.dataSync();
      tf.dispose([c, f]);
    })),
  });
  // Corruption throughput on CIFAR-shaped images (building a corrupted test set).
  const sample = ds.read('test', Array.from({ length: 256 }, (_, i) => i));
  for (const type of CORRUPTIONS) {
    const t = performance.now();
    corrupt(sample.images, [256, 32, 32, 3], { type, severity: 3, random: new SeededRandom(1) });
    const s = (performance.now() - t) / 1000;
    emit({ bench: 'datasets-corruption', dataset: 'cifar10-shaped', corruption: type, severity: 3, imagesPerSecond: Math.round(256 / s) });
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
