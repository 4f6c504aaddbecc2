/**
 * `advprop attack`: attack test images of a trained model with one attacker; report clean and
 * robust accuracy, success rate and perturbation norms as JSON; optionally save the adversarial
 * examples as NumPy .npy files.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assertBnRoute, SeededRandom, toForward, type BnRoute } from '@advprop/core';
import { ensureWritableDirectory, writeFileAtomic } from '@advprop/core/node';
import { countCorrect, createDefaultRegistry, scoreBatches } from '@advprop/trainer';
import { epsilonFlag, numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { datasetRef } from './eval-command.js';
import { cliLogger, formatNumber, formatPercent, verbosityOf, type CliIo } from './io.js';
import { encodeNpy } from './npy.js';
import { checkBackendName, checkDataDirectory, checkDataset, checkModelSource, checkWritableLocation, loadModelFrom, selectBackend } from './shared.js';
import type { PlainObject } from './config.js';

export interface AttackReport {
  attacker: string;
  options: PlainObject;
  dataset: string;
  model: string;
  route: BnRoute;
  backend: string;
  seed: number;
  count: number;
  clean_accuracy: number;
  robust_accuracy: number;
  /** Among the images classified correctly before the attack, the fraction misclassified after it. */
  attack_success_rate: number;
  mean_linf: number;
  max_linf: number;
  mean_l2: number;
  images_per_second: number;
  wall_seconds: number;
  saved?: Record<string, string>;
}

export async function attackCommand(flags: ParsedFlags, io: CliIo): Promise<number> {
  const attackerName = stringFlag(flags, 'attacker') ?? 'pgd';
  const rawEpsilon = stringFlag(flags, 'epsilon');
  const epsilon = rawEpsilon !== undefined ? epsilonFlag(rawEpsilon, '--epsilon') : undefined;
  const steps = numberFlag(flags, 'steps', { integer: true, min: 1 });
  const count = numberFlag(flags, 'count', { integer: true, min: 1 }) ?? 500;
  const batchSize = numberFlag(flags, 'batch-size', { integer: true, min: 1 }) ?? 100;
  const seedFlag = numberFlag(flags, 'seed', { integer: true, min: 0 });
  const routeFlag = stringFlag(flags, 'route') ?? 'main';
  let route: BnRoute;
  try {
    route = assertBnRoute(routeFlag, '--route');
  } catch (error) {
    throw new UsageError((error as Error).message, 'attack');
  }
  const outDir = stringFlag(flags, 'out');
  const threads = numberFlag(flags, 'threads', { integer: true, min: 1 });
  const verbosity = verbosityOf(flags);
  // Everything the command line names is checked before a backend loads or a directory is made,
  // so a bad flag costs nothing and leaves nothing behind.
  checkBackendName(stringFlag(flags, 'backend'));
  if (outDir !== undefined) await checkWritableLocation(outDir);
  const { config } = await checkModelSource(stringFlag(flags, 'run'), stringFlag(flags, 'model'));
  const seed = seedFlag ?? config?.seed ?? 0;
  const registry = createDefaultRegistry({ seed, log: cliLogger(io, verbosity) });
  const options: PlainObject = {};
  if (epsilon !== undefined) options.epsilon = epsilon;
  if (steps !== undefined) options.steps = steps;
  let loaded: Awaited<ReturnType<typeof loadModelFrom>> | undefined;
  try {
    const dataset = datasetRef(flags, config?.dataset);
    registry.validateOptions('attacker', attackerName, options);
    checkDataset(registry, dataset);
    await checkDataDirectory(dataset);
    const backend = await selectBackend(stringFlag(flags, 'backend'), io, threads, verbosity);
    loaded = await loadModelFrom(stringFlag(flags, 'run'), stringFlag(flags, 'model'));
    const model = loaded.model;
    const adapter = await registry.resolveDynamic('dataset', dataset.name, dataset.options ?? {});
    const attacker = await registry.resolveDynamic('attacker', attackerName, options);
    const random = new SeededRandom(seed).fork('advprop-attack');
    const n = Math.min(count, adapter.size('test'));
    const [h, w, c] = adapter.info.imageShape;
    const pixels = h * w * c;
    const keep = outDir !== undefined;
    const advImages = keep ? new Float32Array(n * pixels) : undefined;
    const cleanImages = keep ? new Float32Array(n * pixels) : undefined;
    const labelsOut = new Int32Array(n);
    const cleanPred = new Int32Array(n);
    const advPred = new Int32Array(n);
    const linf = new Float32Array(n);
    const l2 = new Float32Array(n);
    const forward = toForward(model, { route, training: false });

    if (verbosity !== 'quiet') io.stderr.write(`advprop attack: ${attackerName} ${JSON.stringify(options)} on ${n} ${dataset.name} test images (route ${route})\n`);
    const started = performance.now();
    let done = 0;
    let cleanCorrect = 0;
    let advCorrect = 0;
    // The trainer's scoring loop over the dataset's batches (the first n test images, in order).
    await scoreBatches(adapter, { split: 'test', batchSize, indices: Int32Array.from({ length: n }, (_, i) => i) }, async (batch) => {
      const adv = attacker.attack({ model, x: batch.x, labels: batch.y, route, training: false, random: random.fork(`batch:${done}`) });
      try {
        const [cleanLogits, advLogits, li, l2n] = tf.tidy(() => {
          const delta = tf.reshape(tf.sub(adv, batch.x), [batch.x.shape[0], -1]);
          return [forward(batch.x), forward(adv), tf.max(tf.abs(delta), 1), tf.sqrt(tf.sum(tf.square(delta), 1))];
        });
        const [cp, ap] = tf.tidy(() => [tf.argMax(cleanLogits as tf.Tensor, -1), tf.argMax(advLogits as tf.Tensor, -1)]);
        cleanCorrect += countCorrect(cleanLogits as tf.Tensor, batch.y);
        advCorrect += countCorrect(advLogits as tf.Tensor, batch.y);
        const size = batch.x.shape[0];
        const [cpv, apv, liv, l2v, yv] = await Promise.all([cp!.data(), ap!.data(), li!.data(), l2n!.data(), batch.y.data()]);
        cleanPred.set(cpv as Int32Array, done);
        advPred.set(apv as Int32Array, done);
        linf.set(liv as Float32Array, done);
        l2.set(l2v as Float32Array, done);
        labelsOut.set(yv as Int32Array, done);
        if (advImages && cleanImages) {
          advImages.set((await adv.data()) as Float32Array, done * pixels);
          cleanImages.set((await batch.x.data()) as Float32Array, done * pixels);
        }
        tf.dispose([cleanLogits, advLogits, li, l2n, cp, ap] as tf.Tensor[]);
        done += size;
      } finally {
        adv.dispose();
      }
    });
    const wallSeconds = (performance.now() - started) / 1000;
    let flipped = 0;
    let sumLinf = 0;
    let maxLinf = 0;
    let sumL2 = 0;
    for (let i = 0; i < done; i++) {
      const okClean = cleanPred[i] === labelsOut[i];
      const okAdv = advPred[i] === labelsOut[i];
      if (okClean && !okAdv) flipped++;
      sumLinf += linf[i] as number;
      maxLinf = Math.max(maxLinf, linf[i] as number);
      sumL2 += l2[i] as number;
    }
    const report: AttackReport = {
      attacker: attackerName,
      options,
      dataset: dataset.name,
      model: loaded.config?.model.name ?? loaded.source,
      route,
      backend: backend.name,
      seed,
      count: done,
      clean_accuracy: done ? cleanCorrect / done : 0,
      robust_accuracy: done ? advCorrect / done : 0,
      attack_success_rate: cleanCorrect ? flipped / cleanCorrect : 0,
      mean_linf: done ? sumLinf / done : 0,
      max_linf: maxLinf,
      mean_l2: done ? sumL2 / done : 0,
      images_per_second: wallSeconds > 0 ? done / wallSeconds : 0,
      wall_seconds: wallSeconds,
    };
    if (outDir !== undefined && advImages && cleanImages) {
      const dir = path.resolve(outDir);
      await ensureWritableDirectory(dir);
      const shape = [done, h, w, c];
      const files: Record<string, string> = {
        adversarial: path.join(dir, 'adversarial.npy'),
        clean: path.join(dir, 'clean.npy'),
        labels: path.join(dir, 'labels.npy'),
        predictions: path.join(dir, 'predictions.npy'),
        report: path.join(dir, 'report.json'),
      };
      report.saved = files;
      await writeFileAtomic(files.adversarial as string, encodeNpy(advImages.subarray(0, done * pixels), shape));
      await writeFileAtomic(files.clean as string, encodeNpy(cleanImages.subarray(0, done * pixels), shape));
      await writeFileAtomic(files.labels as string, encodeNpy(labelsOut.subarray(0, done), [done]));
      await writeFileAtomic(files.predictions as string, encodeNpy(advPred.subarray(0, done), [done]));
      await writeFileAtomic(files.report as string, `${JSON.stringify(report, null, 2)}\n`);
    }
    if (verbosity !== 'quiet') io.stderr.write(
      [
        `  clean accuracy       ${formatPercent(report.clean_accuracy)}`,
        `  robust accuracy      ${formatPercent(report.robust_accuracy)}`,
        `  attack success rate  ${formatPercent(report.attack_success_rate)}`,
        `  mean / max L-inf     ${formatNumber(report.mean_linf, 4)} / ${formatNumber(report.max_linf, 4)}`,
        `  mean L2              ${formatNumber(report.mean_l2, 4)}`,
        `  images / second      ${formatNumber(report.images_per_second)}`,
        ...(report.saved ? [`  saved to             ${path.resolve(outDir as string)}`] : []),
        '',
      ].join('\n'),
    );
    io.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  } finally {
    loaded?.model.dispose();
    await registry.dispose().catch(() => {});
  }
}
