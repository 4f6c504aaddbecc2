/**
 * GFLOP/s of the convolution kernels on ResNet-20's layer shapes, stock tfjs kernels vs
 * @advprop/backends' training kernels.
 *
 *   node --import tsx --conditions=@advprop/source tools/bench/kernels.ts --backend wasm --batch 128
 *
 * Prints one JSON line per (layer, kernel, implementation). FLOPs = 2 * B * OH * OW * KH * KW * Ci * Co.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { profileSubKernels, registerTrainingKernels, unregisterTrainingKernels, useBackend } from '@advprop/backends';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '128' },
    reps: { type: 'string', default: '3' },
    impl: { type: 'string', default: 'both' },
    layers: { type: 'string', default: 'all' },
  },
});
const backend = values.backend as 'wasm' | 'cpu';
const B = Number(values.batch);
const reps = Number(values.reps);

// ResNet-20 convolutions (NHWC input, 3x3 unless noted), one of each distinct shape.
const LAYERS = [
  { name: 'stem 3->16', h: 32, ci: 3, co: 16, k: 3, s: 1 },
  { name: 'stage1 16->16', h: 32, ci: 16, co: 16, k: 3, s: 1 },
  { name: 'stage2 16->32 s2', h: 32, ci: 16, co: 32, k: 3, s: 2 },
  { name: 'stage2 32->32', h: 16, ci: 32, co: 32, k: 3, s: 1 },
  { name: 'stage3 64->64', h: 8, ci: 64, co: 64, k: 3, s: 1 },
  { name: 'short 16->32 1x1 s2', h: 32, ci: 16, co: 32, k: 1, s: 2 },
];

await useBackend(backend);
const chosen = values.layers === 'all' ? LAYERS : LAYERS.filter((_, i) => values.layers!.split(',').includes(String(i)));

function time(fn: () => tf.Tensor): number {
  const warm = fn();
  warm.dataSync();
  warm.dispose();
  const t0 = performance.now();
  for (let i = 0; i < reps; i++) {
    const out = fn();
    out.dataSync();
    out.dispose();
  }
  return (performance.now() - t0) / reps;
}

for (const impl of values.impl === 'both' ? ['stock', 'advprop'] : [values.impl!]) {
  if (impl === 'stock') unregisterTrainingKernels(backend);
  else registerTrainingKernels(backend, ['Conv2DBackpropFilter', 'Conv2DBackpropInput']);
  for (const l of chosen) {
    const oh = Math.ceil(l.h / l.s);
    const x = tf.randomUniform([B, l.h, l.h, l.ci], -1, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([l.k, l.k, l.ci, l.co], -1, 1, 'float32', 2) as tf.Tensor4D;
    const dy = tf.randomUniform([B, oh, oh, l.co], -1, 1, 'float32', 3) as tf.Tensor4D;
    const flops = 2 * B * oh * oh * l.k * l.k * l.ci * l.co;
    const kernels: Record<string, () => tf.Tensor> = {
      Conv2D: () => tf.conv2d(x, w, l.s, 'same'),
      Conv2DBackpropFilter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: [l.s, l.s], pad: 'same', dataFormat: 'NHWC', filterShape: w.shape }) as tf.Tensor,
      Conv2DBackpropInput: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: w }, { strides: [l.s, l.s], pad: 'same', dataFormat: 'NHWC', inputShape: x.shape }) as tf.Tensor,
    };
    for (const [kernel, fn] of Object.entries(kernels)) {
      if (impl === 'advprop' && kernel === 'Conv2D') continue;
      let ms: number;
      const prof = impl === 'advprop' ? profileSubKernels(true) : undefined;
      try {
        ms = time(fn);
        if (prof) console.log(JSON.stringify({ layer: l.name, kernel, subKernels: Object.fromEntries([...prof].map(([k, v]) => [k, +(v.ms / (reps + 1)).toFixed(2)])) }));
        profileSubKernels(false);
      } catch (error) {
        console.log(JSON.stringify({ backend, impl, layer: l.name, kernel, batch: B, error: String(error).slice(0, 120) }));
        continue;
      }
      console.log(JSON.stringify({ backend, impl, layer: l.name, kernel, batch: B, ms: +ms.toFixed(2), gflops: +(flops / ms / 1e6).toFixed(3) }));
    }
    tf.dispose([x, w, dy]);
  }
}
