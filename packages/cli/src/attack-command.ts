/**
 * `advprop attack`: attack test images of a trained model with one attacker; report clean and
 * robust accuracy, success rate and perturbation norms as JSON; optionally save the adversarial
 * examples as NumPy .npy files.
 */
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assertBnRoute, SeededRandom, toForward, type BnRoute } from '@advprop/core';
import { ensureWritableDirectory, writeFileAtomic } from '@advprop/core/node';
import { createDefaultRegistry } from '@advprop/trainer';
import { numberFlag, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { datasetRef } from './eval-command.js';
import { cliLogger, formatNumber, formatPercent, type CliIo } from './io.js';
import { encodeNpy } from './npy.js';
import { checkDataset, loadModelFrom, selectBackend } from './shared.js';
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
  const epsilon = numberFlag(flags, 'epsilon', { min: 0 });
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
  // Check the output directory before any work, so a bad --out costs nothing.
  if (outDir !== undefined) await ensureWritableDirectory(path.resolve(outDir));

  const backend = await selectBackend(stringFlag(flags, 'backend'), io, numberFlag(flags, 'threads', { integer: true, min: 1 }));
  const loaded = await loadModelFrom(stringFlag(flags, 'run'), stringFlag(flags, 'model'));
  const seed = seedFlag ?? loaded.config?.seed ?? 0;
  const registry = createDefaultRegistry({ seed, log: cliLogger(io) });
  const options: PlainObject = {};
  if (epsilon !== undefined) options.epsilon = epsilon;
  if (steps !== undefined) options.steps = steps;
  try {
    const dataset = datasetRef(flags, loaded.config?.dataset);
    registry.validateOptions('attacker', attackerName, options);
    checkDataset(registry, dataset);
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
    const forward = toForward(loaded.model, { route, training: false });

    io.stderr.write(`advprop attack: ${attackerName} ${JSON.stringify(options)} on ${n} ${dataset.name} test images (route ${route})\n`);
    const started = performance.now();
    let done = 0;
    for await (const batch of adapter.batches({ split: 'test', batchSize, shuffle: false, limit: n })) {
      try {
        const adv = attacker.attack({ model: loaded.model, x: batch.x, labels: batch.y, route, training: false, random: random.fork(`batch:${done}`) });
        const [cp, ap, li, l2n] = tf.tidy(() => {
          const delta = tf.reshape(tf.sub(adv, batch.x), [batch.x.shape[0], -1]);
          return [
            tf.argMax(forward(batch.x), -1),
            tf.argMax(forward(adv), -1),
            tf.max(tf.abs(delta), 1),
            tf.sqrt(tf.sum(tf.square(delta), 1)),
          ];
        });
        const size = batch.x.shape[0];
        const [cpv, apv, liv, l2v, yv] = await Promise.all([cp.data(), ap.data(), li.data(), l2n.data(), batch.y.data()]);
        cleanPred.set(cpv as Int32Array, done);
        advPred.set(apv as Int32Array, done);
        linf.set(liv as Float32Array, done);
        l2.set(l2v as Float32Array, done);
        labelsOut.set(yv as Int32Array, done);
        if (advImages && cleanImages) {
          advImages.set((await adv.data()) as Float32Array, done * pixels);
          cleanImages.set((await batch.x.data()) as Float32Array, done * pixels);
        }
        tf.dispose([adv, cp, ap, li, l2n]);
        done += size;
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
    }
    const wallSeconds = (performance.now() - started) / 1000;
    let cleanCorrect = 0;
    let advCorrect = 0;
    let flipped = 0;
    let sumLinf = 0;
    let maxLinf = 0;
    let sumL2 = 0;
    for (let i = 0; i < done; i++) {
      const okClean = cleanPred[i] === labelsOut[i];
      const okAdv = advPred[i] === labelsOut[i];
      if (okClean) cleanCorrect++;
      if (okAdv) advCorrect++;
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
    io.stderr.write(
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
    loaded.model.dispose();
    await registry.dispose().catch(() => {});
  }
}
