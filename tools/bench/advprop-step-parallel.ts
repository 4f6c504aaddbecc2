/**
 * Data-parallel AdvProp step over worker threads: the machine's cores for the single-threaded wasm
 * backend (tfjs disables its pthread build in Node). W workers each hold a replica of ResNet-20
 * (same seed, so identical weights), run the attack and the forward/backward on B/W images, and
 * post their gradients into a SharedArrayBuffer; the main thread averages them and every replica
 * applies the same averaged gradient with its own SGD-momentum optimizer, so the weights stay
 * identical. As in PyTorch DDP without SyncBN, BN batch statistics are per replica (B/W images)
 * and each replica keeps its own running statistics.
 *
 *   npm run bench -- --backend wasm --batch 128 --k 1 --steps 10 --workers 2
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { parseArgs } from 'node:util';

interface Setup {
  backend: string;
  share: number;
  k: number;
  eps: number;
  seed: number;
  index: number;
  grads: SharedArrayBuffer;
  avg: SharedArrayBuffer;
}

if (isMainThread) {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' },
      batch: { type: 'string', default: '128' },
      k: { type: 'string', default: '1' },
      steps: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '2' },
      eps: { type: 'string' },
      workers: { type: 'string', default: '2' },
      profile: { type: 'boolean', default: false },
    },
  });
  const batch = Number(values.batch);
  const workers = Number(values.workers);
  const k = Number(values.k);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  if (batch % workers !== 0) throw new Error(`--batch ${batch} must be a multiple of --workers ${workers}`);
  const eps = (values.eps !== undefined ? Number(values.eps) : Math.max(1, k - 1)) / 255;
  const PARAMS_MAX = 1 << 21; // floats per replica's gradient buffer (ResNet-20: 272k)
  const avg = new SharedArrayBuffer(PARAMS_MAX * 4);
  const pool = Array.from({ length: workers }, (_, index) => {
    const setup: Setup = { backend: values.backend!, share: batch / workers, k, eps, seed: 0, index, grads: new SharedArrayBuffer(PARAMS_MAX * 4), avg };
    const worker = new Worker(new URL('./ts-worker.mjs', import.meta.url), {
      workerData: { ...setup, entry: import.meta.url },
      execArgv: ['--conditions=@advprop/source'],
    });
    return { worker, setup };
  });
  const request = (w: Worker, message: unknown): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const onMessage = (m: Record<string, unknown>) => {
        w.off('error', onError);
        resolve(m);
      };
      const onError = (e: Error) => {
        w.off('message', onMessage);
        reject(e);
      };
      w.once('message', onMessage);
      w.once('error', onError);
      w.postMessage(message);
    });

  const ready = await Promise.all(pool.map(({ worker }) => request(worker, { cmd: 'init' })));
  const size = ready[0]!.size as number;
  const description = ready[0]!.description as string;
  const avgView = new Float32Array(avg, 0, size);
  const views = pool.map(({ setup }) => new Float32Array(setup.grads, 0, size));

  async function step(): Promise<{ loss: number; tensors: number; rss: number }> {
    const results = await Promise.all(pool.map(({ worker }) => request(worker, { cmd: 'grad' })));
    avgView.set(views[0]!);
    for (let w = 1; w < workers; w++) {
      const v = views[w]!;
      for (let i = 0; i < size; i++) avgView[i]! += v[i]!;
    }
    const scale = 1 / workers;
    for (let i = 0; i < size; i++) avgView[i]! *= scale;
    const applied = await Promise.all(pool.map(({ worker }) => request(worker, { cmd: 'apply' })));
    const loss = results.reduce((s, r) => s + (r.loss as number), 0) / workers;
    return { loss, tensors: Math.max(...applied.map((a) => a.tensors as number)), rss: process.memoryUsage().rss };
  }

  for (let i = 0; i < warmup; i++) await step();
  const first = await step();
  const t0 = performance.now();
  let last = first;
  for (let i = 0; i < steps; i++) last = await step();
  const ms = (performance.now() - t0) / steps;
  const sync = await Promise.all(pool.map(({ worker }) => request(worker, { cmd: 'checksum' })));
  console.log(
    JSON.stringify({
      impl: 'tfjs',
      backend: values.backend,
      description: `${workers} worker threads, data parallel, each: ${description}`,
      workers,
      threads: workers,
      batch,
      k,
      steps,
      ms_per_step: +ms.toFixed(2),
      img_per_s: +((batch * 1000) / ms).toFixed(1),
      loss: +last.loss.toFixed(4),
      replicas_identical: sync.every((s) => s.checksum === sync[0]!.checksum),
      tensors_before: first.tensors,
      tensors_after: last.tensors,
      rss_mb_before: +(first.rss / 2 ** 20).toFixed(1),
      rss_mb_after: +(last.rss / 2 ** 20).toFixed(1),
      rss_growth_pct: +((100 * (last.rss - first.rss)) / first.rss).toFixed(2),
    }),
  );
  await Promise.all(pool.map(({ worker }) => worker.terminate()));
} else {
  const setup = workerData as Setup;
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-layers');
  const { SeededRandom, withRoute } = await import('@advprop/core');
  const { useBackend } = await import('@advprop/backends');
  const { buildResNet20 } = await import('@advprop/models');
  const { pgd } = await import('@advprop/attacks');
  const info = await useBackend(setup.backend as 'wasm');
  const random = new SeededRandom(setup.seed);
  const model = buildResNet20({ inputShape: [32, 32, 3], numClasses: 10, batchNorm: 'dual', random: random.fork('model') });
  const local = random.fork(`worker${setup.index}`);
  const attacker = pgd(
    { epsilon: setup.eps, stepSize: 1 / 255, steps: setup.k, randomStart: true, targeted: 'random', route: 'aux', training: false, checkLogits: false },
    local.fork('attack'),
  );
  const optimizer = tf.train.momentum(0.1, 0.9);
  const n = setup.share;
  const x = tf.randomUniform([n, 32, 32, 3], 0, 1, 'float32', local.tfSeed()) as import('@tensorflow/tfjs-core').Tensor4D;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = local.int(10);
  const y = tf.tensor1d(labels, 'int32');
  const yOneHot = tf.oneHot(y, 10);
  const vars = model.trainableWeights.map((w) => w.read() as import('@tensorflow/tfjs-core').Variable);
  const size = vars.reduce((s, v) => s + v.size, 0);
  const gradView = new Float32Array(setup.grads, 0, size);
  const avgView = new Float32Array(setup.avg, 0, size);
  const ce = (logits: unknown) => tf.losses.softmaxCrossEntropy(yOneHot, logits as import('@tensorflow/tfjs-core').Tensor2D) as import('@tensorflow/tfjs-core').Scalar;

  parentPort!.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'init') {
      parentPort!.postMessage({ size, description: info.description });
    } else if (m.cmd === 'grad') {
      const adv = attacker.attack({ model, x, labels: y, route: 'aux', training: false, random: local });
      const { value, grads } = tf.variableGrads(() => {
        const lc = withRoute(model, 'main', () => ce(model.apply(x, { training: true })));
        const la = withRoute(model, 'aux', () => ce(model.apply(adv, { training: true })));
        return tf.add(lc, la) as import('@tensorflow/tfjs-core').Scalar;
      }, vars);
      let offset = 0;
      for (const v of vars) {
        gradView.set(grads[v.name]!.dataSync() as Float32Array, offset);
        offset += v.size;
      }
      const loss = value.dataSync()[0]!;
      tf.dispose([adv, value, ...Object.values(grads)]);
      parentPort!.postMessage({ loss });
    } else if (m.cmd === 'apply') {
      tf.tidy(() => {
        let offset = 0;
        const named: { name: string; tensor: import('@tensorflow/tfjs-core').Tensor }[] = [];
        for (const v of vars) {
          named.push({ name: v.name, tensor: tf.tensor(avgView.slice(offset, offset + v.size), v.shape) });
          offset += v.size;
        }
        optimizer.applyGradients(named);
      });
      parentPort!.postMessage({ tensors: tf.memory().numTensors });
    } else if (m.cmd === 'checksum') {
      let sum = 0;
      for (const v of vars) sum += (v.dataSync() as Float32Array).reduce((a, b, i) => a + b * ((i % 7) + 1), 0);
      parentPort!.postMessage({ checksum: sum });
    }
  });
}
