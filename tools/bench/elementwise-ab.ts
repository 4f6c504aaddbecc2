/**
 * Same-process A/B of the native elementwise kernels (@advprop/native-kernels: Sub, Multiply, Add, the
 * one-pass ReLU gradient AdvpropReluGrad, MaxPoolGrad) and the wasm same-dtype Cast
 * (@advprop/backends), so a busy machine slows both sides alike.
 * Three modes:
 *
 * - `--mode kernels`: each kernel alone, native against the backend's own kernel, per tensor size
 *   (microseconds per call, median of the rounds), binary ones also broadcasting per channel and
 *   from a scalar: where the kernels' size thresholds come from.
 * - `--mode step` (default): the AdvProp step (dual BN, targeted PGD-K through the aux BN, SGD
 *   momentum 0.9 on CE(clean, main) + CE(adv, aux)) of ResNet-20 (32x32x3) or the small CNN
 *   (28x28x1), alternating configurations round by round: `base` (none of the kernels under test),
 *   one per kernel (that kernel alone on), and `all`. Prints the median ms per step of each and its
 *   ratio to `base`.
 * - `--mode profile`: profiled steps with the kernels off and on, alternating for `--rounds`:
 *   median time per kernel (tf.profile's kernel time, so the convolutions' noise stays out), its
 *   calls and how many reach BROADCAST_NATIVE_MIN elements, and the elementwise kernels in total
 *   (Add, Sub, Multiply, Step, Cast, Relu, AdvpropReluGrad, MaxPoolGrad: all the ones under test
 *   can change).
 *
 * node --import tsx --conditions=@advprop/source tools/bench/elementwise-ab.ts --mode step --model resnet20 \
 *   --batch 128 --k 1 --rounds 5 --steps 3 [--threads 2] [--kernels Sub,Multiply,AdvpropReluGrad,MaxPoolGrad,Cast]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import type * as tfl from '@tensorflow/tfjs-layers';
import { parseArgs } from 'node:util';
import { SeededRandom } from '@advprop/core';
import { registerTrainingKernels, unregisterTrainingKernels, useBackend, type BackendChoice } from '@advprop/backends';
import { BROADCAST_NATIVE_MIN, RELU_GRAD_KERNEL, registerNativeKernels, unregisterNativeKernels } from '@advprop/native-kernels';
import { buildResNet20, buildSmallCnn } from '@advprop/models';
import { stepWorkload } from './step-workload.js';

const NATIVE = ['Sub', 'Multiply', 'Add', RELU_GRAD_KERNEL, 'MaxPoolGrad'];
const SHARED_CAST = 'Cast';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'step' },
    model: { type: 'string', default: 'resnet20' },
    backend: { type: 'string', default: 'wasm' },
    batch: { type: 'string', default: '128' },
    k: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '3' },
    threads: { type: 'string' },
    kernels: { type: 'string', default: [...NATIVE, SHARED_CAST].join(',') },
    seed: { type: 'string', default: '0' },
  },
});

const kernels = values.kernels.split(',').filter(Boolean);
for (const name of kernels) {
  if (![...NATIVE, SHARED_CAST].includes(name)) throw new Error(`--kernels: unknown kernel ${name}; choose from ${[...NATIVE, SHARED_CAST].join(', ')}`);
}
const rounds = Number(values.rounds);
const steps = Number(values.steps);
const batch = Number(values.batch);
const k = Number(values.k);
for (const [flag, v] of Object.entries({ rounds, steps, batch, k })) {
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${flag} must be a positive integer, got ${String(v)}`);
}

const info = await useBackend(values.backend as BackendChoice, {
  ...(values.threads !== undefined ? { threads: Number(values.threads) } : {}),
  log: { debug: () => {}, info: () => {}, warn: (m) => console.error(`warning: ${m}`) },
});
const backendName = info.tfBackend;
console.error(`backend: ${info.description}`);

/** Serve exactly `on` (a subset of the kernels under test) with our kernels; the rest with the backend's. */
function serve(on: readonly string[]): void {
  const off = kernels.filter((name) => !on.includes(name));
  unregisterNativeKernels(backendName, off.filter((name) => NATIVE.includes(name)));
  if (off.includes(SHARED_CAST)) unregisterTrainingKernels(backendName, ['Cast']);
  const nativeOn = on.filter((name) => NATIVE.includes(name));
  if (nativeOn.length > 0) {
    const { reason } = registerNativeKernels(backendName, nativeOn);
    if (reason) throw new Error(`native kernels unavailable: ${reason}`);
  }
  if (on.includes(SHARED_CAST)) registerTrainingKernels(backendName, ['Cast']);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (values.mode === 'kernels') {
  const sizes = [4096, 16384, 32768, 65536, 262144, 2097152];
  const random = new SeededRandom(Number(values.seed));
  const rows: Record<string, unknown>[] = [];
  const binary = ['Sub', 'Multiply', 'Add'];
  // Binary kernels also with b broadcast: per channel ([16] against [size/16, 16]) and a scalar.
  const cases = kernels.flatMap((name) => (binary.includes(name) ? ['same', 'channel', 'scalar'] : ['same']).map((b) => [name, b] as const));
  for (const [name, broadcast] of cases) {
    for (const size of sizes) {
      const a = tf.randomUniform([size / 16, 16], -1, 1, 'float32', random.tfSeed());
      const bShape = broadcast === 'same' ? [size / 16, 16] : broadcast === 'channel' ? [16] : [];
      const b = tf.randomUniform(bShape, -1, 1, 'float32', random.tfSeed());
      const run = () =>
        tf.tidy(() => {
          if (name === 'Cast') return tf.cast(a, 'float32');
          if (name === 'MaxPoolGrad') return tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid'))(tf.reshape(a, [size / 1024, 16, 4, 16]));
          // the Relu gradient as tfjs runs it: ours when registered, else dy * cast(step(x))
          if (name === RELU_GRAD_KERNEL) return tf.getGradient('Relu').gradFunc(b, [a], {})['x']!() as tf.Tensor;
          if (name === 'Sub') return tf.sub(a, b);
          if (name === 'Add') return tf.add(a, b);
          return tf.mul(a, b);
        });
      const reps = Math.max(5, Math.min(2000, Math.round(2e7 / size)));
      const times: Record<'backend' | 'ours', number[]> = { backend: [], ours: [] };
      for (let r = 0; r < rounds; r++) {
        for (const side of r % 2 === 0 ? (['backend', 'ours'] as const) : (['ours', 'backend'] as const)) {
          serve(side === 'ours' ? [name] : []);
          run().dispose();
          const t0 = performance.now();
          for (let i = 0; i < reps; i++) run().dispose();
          times[side].push(((performance.now() - t0) * 1000) / reps);
        }
      }
      const backendUs = median(times.backend);
      const oursUs = median(times.ours);
      rows.push({ kernel: name, b: broadcast, size, backend_us: +backendUs.toFixed(2), ours_us: +oursUs.toFixed(2), speedup: +(backendUs / oursUs).toFixed(2) });
      console.log(JSON.stringify(rows[rows.length - 1]));
      tf.dispose([a, b]);
    }
  }
  serve(kernels);
} else if (values.mode === 'step' || values.mode === 'profile') {
  const random = new SeededRandom(Number(values.seed));
  const resnet = values.model === 'resnet20';
  if (!resnet && values.model !== 'small-cnn') throw new Error(`--model must be resnet20 or small-cnn, got ${values.model}`);
  const inputShape: [number, number, number] = resnet ? [32, 32, 3] : [28, 28, 1];
  const spec = { inputShape, numClasses: 10, batchNorm: 'dual' as const, random: random.fork('model') };
  const model: tfl.LayersModel = resnet ? buildResNet20(spec) : buildSmallCnn(spec, { filters: 32 });
  const workload = stepWorkload({ model, inputShape, batch, k, epsilon: Math.max(1, k - 1) / 255, random });
  const step = () => workload.step();
  serve(kernels);
  step();
  serve([]);
  step();

  if (values.mode === 'profile') {
    // Kernel time only (tf.profile's per-kernel wall time), median over the rounds: the
    // convolutions' noise on a shared machine stays out of the comparison.
    const sides = [
      ['off', [] as string[]],
      ['on', kernels],
    ] as const;
    const perKernel = new Map<string, Record<string, { ms: number[]; calls: number; bigCalls: number }>>();
    for (let r = 0; r < rounds; r++) {
      for (const [label, on] of r % 2 === 0 ? sides : [...sides].reverse()) {
        serve(on);
        step();
        const profile = await tf.profile(step);
        const sums = new Map<string, { ms: number; calls: number; bigCalls: number }>();
        for (const kernel of profile.kernels) {
          const e = sums.get(kernel.name) ?? { ms: 0, calls: 0, bigCalls: 0 };
          const size = Math.max(0, ...kernel.outputShapes.map((shape) => (shape ? shape.reduce((p, d) => p * d, 1) : 0)));
          e.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
          e.calls++;
          if (size >= BROADCAST_NATIVE_MIN) e.bigCalls++;
          sums.set(kernel.name, e);
        }
        for (const [name, e] of sums) {
          const entry = perKernel.get(name) ?? {};
          const side = (entry[label] ??= { ms: [], calls: e.calls, bigCalls: e.bigCalls });
          side.ms.push(e.ms);
          perKernel.set(name, entry);
        }
      }
    }
    const rows = [...perKernel]
      .map(([name, e]) => ({
        name,
        off_ms: e['off'] ? +median(e['off'].ms).toFixed(2) : 0,
        on_ms: e['on'] ? +median(e['on'].ms).toFixed(2) : 0,
        calls: e['off']?.calls ?? e['on']?.calls ?? 0,
        [`calls_from_${BROADCAST_NATIVE_MIN}`]: e['off']?.bigCalls ?? e['on']?.bigCalls ?? 0,
      }))
      .sort((p, q) => Math.max(q.off_ms, q.on_ms) - Math.max(p.off_ms, p.on_ms));
    // Every elementwise kernel the ones under test can replace (the ReLU gradient's Step, Cast and
    // Multiply become one AdvpropReluGrad), summed on both sides.
    const family = new Set(['Add', 'Sub', 'Multiply', 'Step', 'Cast', 'Relu', RELU_GRAD_KERNEL, 'MaxPoolGrad']);
    const tested = (side: 'off_ms' | 'on_ms') => rows.filter((row) => family.has(row.name)).reduce((t, row) => t + row[side], 0);
    for (const row of rows.slice(0, 24)) console.log(JSON.stringify({ model: values.model, ...row }));
    console.log(
      JSON.stringify({
        model: values.model,
        batch,
        k,
        rounds,
        kernels_tested: kernels,
        elementwise_off_ms: +tested('off_ms').toFixed(1),
        elementwise_on_ms: +tested('on_ms').toFixed(1),
        all_kernels_off_ms: +rows.reduce((t, row) => t + row.off_ms, 0).toFixed(1),
        all_kernels_on_ms: +rows.reduce((t, row) => t + row.on_ms, 0).toFixed(1),
        ratio: +(tested('off_ms') / tested('on_ms')).toFixed(3),
      }),
    );
  } else {
    const configs: [string, string[]][] = [['base', []], ...kernels.map((name): [string, string[]] => [name, [name]])];
    if (kernels.length > 1) configs.push(['all', kernels]);
    const times = new Map<string, number[]>(configs.map(([label]) => [label, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? configs : [...configs].reverse();
      for (const [label, on] of order) {
        serve(on);
        step();
        const t0 = performance.now();
        for (let i = 0; i < steps; i++) step();
        times.get(label)!.push((performance.now() - t0) / steps);
      }
    }
    const base = median(times.get('base')!);
    for (const [label] of configs) {
      const ms = median(times.get(label)!);
      console.log(
        JSON.stringify({
          model: values.model,
          batch,
          k,
          config: label,
          ms_per_step: +ms.toFixed(1),
          img_per_s: +((batch * 1000) / ms).toFixed(1),
          speedup_vs_base: +(base / ms).toFixed(3),
          rounds: times.get(label)!.map((t) => +t.toFixed(1)),
        }),
      );
    }
  }
  serve(kernels);
  workload.dispose();
  model.dispose();
} else {
  throw new Error(`--mode must be kernels, step or profile, got ${values.mode}`);
}
