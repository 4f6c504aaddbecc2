/**
 * The AdvProp training step of ../shared/bench/torch_advprop_step.py, built from our packages:
 * ResNet-20 with dual BN (@advprop/models; plain BN with --k 0, the vanilla step), targeted PGD-K with random start through the aux BN in
 * inference mode (@advprop/attacks), then one SGD momentum 0.9 update on
 * CE(clean, main BN) + CE(adv, aux BN) in training mode.
 *
 * Run through tools/bench/advprop-step.mjs (`npm run bench -- --backend wasm --batch 128 --k 1 --steps 10`),
 * which starts this file under tsx with the @advprop/source condition (no build needed).
 * Prints one JSON line. Flags: --backend --batch --k --steps --warmup --eps (0-255 units)
 * --profile (per-kernel time table on stderr; --profile-json FILE also writes each kernel call of the
 * profiled step: name, input and output shapes, ms) --seed --stock-kernels (tfjs' own kernels, for before/after;
 * ADVPROP_NATIVE_KERNELS=0 keeps our JS/wasm training kernels but not the native ones)
 * --memory-every N (sample the tensor count and RSS every N timed steps: `memory` in the JSON line).
 * The line's `wasm_heap_mb` is the wasm backend's memory at the end, which is its peak: a wasm
 * memory only grows.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SeededRandom } from '@advprop/core';
import { unregisterTrainingKernels, useBackend, type BackendChoice } from '@advprop/backends';
import { unregisterNativeKernels } from '@advprop/native-kernels';
import { buildResNet20 } from '@advprop/models';
import { stepWorkload } from './step-workload.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    batch: { type: 'string', default: '128' },
    k: { type: 'string', default: '1' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    eps: { type: 'string' },
    seed: { type: 'string', default: '0' },
    profile: { type: 'boolean', default: false },
    'profile-json': { type: 'string' },
    'stock-kernels': { type: 'boolean', default: false },
    'memory-every': { type: 'string', default: '0' },
  },
  allowPositionals: false,
});

const batch = Number(values.batch);
const k = Number(values.k);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const memoryEvery = Number(values['memory-every']);
if (!Number.isInteger(memoryEvery) || memoryEvery < 0) throw new Error(`--memory-every must be a non-negative integer, got ${values['memory-every']}`);
for (const [name, v] of Object.entries({ batch, k, steps, warmup })) {
  // k = 0: the vanilla step (no attack, plain BN, CE on the clean batch).
  if (!Number.isInteger(v) || v < (name === 'warmup' || name === 'k' ? 0 : 1)) throw new Error(`--${name} must be a ${name === 'warmup' || name === 'k' ? 'non-negative' : 'positive'} integer, got ${String(v)}`);
}
const eps = (values.eps !== undefined ? Number(values.eps) : Math.max(1, k - 1)) / 255;

const info = await useBackend(values.backend as BackendChoice, { log: { debug: () => {}, info: (m) => console.error(m), warn: (m) => console.error(`warning: ${m}`) } });
// --stock-kernels: tfjs' own kernels only (the "before" of docs/performance.md)
if (values['stock-kernels']) {
  unregisterNativeKernels(info.tfBackend);
  unregisterTrainingKernels(info.tfBackend);
}
const random = new SeededRandom(Number(values.seed));
const vanilla = k === 0;
const model = buildResNet20({ inputShape: [32, 32, 3], numClasses: 10, batchNorm: vanilla ? 'plain' : 'dual', random: random.fork('model') });
const workload = stepWorkload({ model, inputShape: [32, 32, 3], batch, k, epsilon: eps, random });
const step = () => workload.step();

for (let i = 0; i < warmup; i++) step();
const tensorsBefore = tf.memory().numTensors;
const rssBefore = process.memoryUsage().rss;
let profile: Awaited<ReturnType<typeof tf.profile>> | undefined;
const t0 = performance.now();
let lastLoss = NaN;
const mb = (bytes: number) => +(bytes / 2 ** 20).toFixed(1);
const memory: { step: number; tensors: number; rss_mb: number }[] = [];
for (let i = 0; i < steps; i++) {
  if (values.profile && i === steps - 1) {
    profile = await tf.profile(() => {
      lastLoss = step();
    });
  } else {
    lastLoss = step();
  }
  if (memoryEvery > 0 && (i + 1) % memoryEvery === 0) memory.push({ step: i + 1, tensors: tf.memory().numTensors, rss_mb: mb(process.memoryUsage().rss) });
}
const ms = (performance.now() - t0) / steps;
const tensorsAfter = tf.memory().numTensors;
const rssAfter = process.memoryUsage().rss;
// The wasm backend's heap (its module's memory; absent on other backends).
const wasmHeap = (tf.backend() as { wasm?: { HEAPU8?: Uint8Array } }).wasm?.HEAPU8?.byteLength;

if (profile) {
  const byKernel = new Map<string, { ms: number; calls: number }>();
  for (const kernel of profile.kernels) {
    const e = byKernel.get(kernel.name) ?? { ms: 0, calls: 0 };
    e.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    e.calls++;
    byKernel.set(kernel.name, e);
  }
  if (values['profile-json']) {
    const kernels = profile.kernels.map((k) => ({ name: k.name, inputShapes: k.inputShapes, outputShapes: k.outputShapes, ms: k.kernelTimeMs }));
    writeFileSync(values['profile-json'], JSON.stringify(kernels));
  }
  const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.error(`profile of one step (profiled run, ${total.toFixed(0)} ms in kernels):`);
  for (const [name, e] of rows.slice(0, 20)) {
    console.error(`  ${name.padEnd(34)} ${e.ms.toFixed(1).padStart(8)} ms ${((100 * e.ms) / total).toFixed(1).padStart(5)}%  ${e.calls} calls`);
  }
}

console.log(
  JSON.stringify({
    impl: 'tfjs',
    mode: vanilla ? 'vanilla' : 'advprop',
    backend: info.name,
    description: values['stock-kernels'] ? `${info.description} (stock tfjs kernels: training kernels unregistered)` : info.description,
    threads: info.threads ?? 1,
    batch,
    k,
    steps,
    ms_per_step: +ms.toFixed(2),
    img_per_s: +((batch * 1000) / ms).toFixed(1),
    loss: +lastLoss.toFixed(4),
    tensors_before: tensorsBefore,
    tensors_after: tensorsAfter,
    rss_mb_before: +(rssBefore / 2 ** 20).toFixed(1),
    rss_mb_after: +(rssAfter / 2 ** 20).toFixed(1),
    rss_growth_pct: +((100 * (rssAfter - rssBefore)) / rssBefore).toFixed(2),
    wasm_heap_mb: wasmHeap !== undefined ? mb(wasmHeap) : null,
    ...(memory.length > 0
      ? {
          rss_mb_min: Math.min(...memory.map((m) => m.rss_mb)),
          rss_mb_max: Math.max(...memory.map((m) => m.rss_mb)),
          tensors_min: Math.min(...memory.map((m) => m.tensors)),
          tensors_max: Math.max(...memory.map((m) => m.tensors)),
          memory,
        }
      : {}),
  }),
);
workload.dispose();
model.dispose();
