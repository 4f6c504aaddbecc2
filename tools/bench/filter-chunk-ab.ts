/**
 * A/B of the wasm filter-gradient batch chunking, interleaved in one process so both sides see the
 * same machine load: median ms over R rounds per ResNet-20 layer, several chunk sizes vs one call.
 *
 *   node --import tsx --conditions=@advprop/source tools/bench/filter-chunk-ab.ts [--batch 128] [--rounds 7]
 */
import * as tf from '@tensorflow/tfjs-core';
import { parseArgs } from 'node:util';
import { useBackend } from '@advprop/backends';
import { setWasmFilterGradChunkFloats } from '../../packages/backends/src/conv-kernels.js';

const { values } = parseArgs({ options: { batch: { type: 'string', default: '128' }, rounds: { type: 'string', default: '7' } } });
const B = Number(values.batch);
const rounds = Number(values.rounds);
await useBackend('wasm');
const layers = [
  { name: 'stage1 16->16', h: 32, ci: 16, co: 16, s: 1 },
  { name: 'stage2 32->32', h: 16, ci: 32, co: 32, s: 1 },
  { name: 'stage3 64->64', h: 8, ci: 64, co: 64, s: 1 },
];
const median = (a: number[]) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)]!;
for (const l of layers) {
  const x = tf.randomUniform([B, l.h, l.h, l.ci]);
  const dy = tf.randomUniform([B, l.h, l.h, l.co]);
  const run = () => {
    const t0 = performance.now();
    const g = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 1, pad: 'same', filterShape: [3, 3, l.ci, l.co] }) as tf.Tensor;
    g.dataSync();
    g.dispose();
    return performance.now() - t0;
  };
  const modes: Record<string, number> = { chunk64k: 65536, chunk256k: 262144, chunk1m: 1048576, single: 1e12 };
  const times: Record<string, number[]> = Object.fromEntries(Object.keys(modes).map((m) => [m, []]));
  for (let r = 0; r < rounds; r++) {
    for (const mode of Object.keys(modes)) {
      setWasmFilterGradChunkFloats(modes[mode]!);
      if (r === 0) run();
      times[mode]!.push(run());
    }
  }
  const flops = 2 * B * l.h * l.h * 9 * l.ci * l.co;
  const out = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { ms: +median(v).toFixed(1), gflops: +(flops / median(v) / 1e6).toFixed(2) }]));
  console.log(JSON.stringify({ layer: l.name, batch: B, ...out }));
  tf.dispose([x, dy]);
}
setWasmFilterGradChunkFloats(262144);
