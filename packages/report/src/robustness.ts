/**
 * What a report computes from a run's model when the run did not record it: robust accuracy at a
 * few epsilons per attack, accuracy on corrupted test images, and a handful of adversarial examples
 * (clean image, perturbation, adversarial image, predicted probabilities).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom, toForward, type AnyPlugin, type Attacker, type DatasetAdapter, type Registry } from '@advprop/core';
import { corrupt, type CorruptionType } from '@advprop/datasets';
import { evaluate, evaluationIndices, type CorruptionSpec } from '@advprop/trainer';

export interface AttackChoice {
  readonly name: string;
  /** Options besides epsilon (e.g. steps); epsilon is set per point of the curve. */
  readonly options?: Record<string, unknown>;
}

export interface RobustnessPoint {
  readonly attack: string;
  readonly epsilon: number;
  readonly accuracy: number;
}

export interface AdversarialExample {
  /** Index in the test split. */
  readonly index: number;
  readonly label: number;
  readonly cleanProbabilities: number[];
  readonly adversarialProbabilities: number[];
  /** NHWC float32 in [0, 1], one image each. */
  readonly clean: Float32Array;
  readonly adversarial: Float32Array;
}

export interface Robustness {
  readonly curve: RobustnessPoint[];
  readonly corrupted: Record<string, number>;
  /** Test examples the curve and corruptions were measured on. */
  readonly count: number;
  readonly examples: AdversarialExample[];
  /** The attack and epsilon the examples were made with. */
  readonly exampleAttack: { name: string; epsilon: number; options: Record<string, unknown> };
}

export interface RobustnessOptions {
  readonly attacks: readonly AttackChoice[];
  readonly epsilons: readonly number[];
  /** Test images for the curve and the corruptions (a fixed seeded subset). */
  readonly limit: number;
  readonly corruptions: readonly CorruptionSpec[];
  /** Adversarial examples to show. */
  readonly examples: number;
  /** Epsilon of the examples (the attack is the last of `attacks`). */
  readonly exampleEpsilon: number;
  readonly seed: number;
  readonly batchSize?: number;
  readonly onProgress?: (message: string) => void;
}

const label = (attack: string, epsilon: number) => `${attack}@${epsilon}`;

export async function computeRobustness(
  model: LayersModel,
  dataset: DatasetAdapter,
  registry: Registry<AnyPlugin>,
  options: RobustnessOptions,
): Promise<Robustness> {
  const random = new SeededRandom(options.seed).fork('report');
  const attackers: { name: string; attacker: Attacker }[] = [];
  try {
    for (const a of options.attacks) {
      for (const epsilon of options.epsilons) {
        if (epsilon === 0) continue;
        const attacker = await registry.resolveDynamic('attacker', a.name, { ...(a.options ?? {}), epsilon });
        attackers.push({ name: label(a.name, epsilon), attacker });
      }
    }
    options.onProgress?.(`robust accuracy: ${attackers.length} attack settings on ${options.limit} test images`);
    const result = await evaluate(model, dataset, {
      attacks: attackers,
      limit: options.limit,
      corruptions: options.corruptions,
      corrupt: (images, shape, o) => corrupt(images, shape, { type: o.type as CorruptionType, severity: o.severity, random: o.random }),
      random,
      batchSize: options.batchSize ?? 100,
    });
    const curve: RobustnessPoint[] = [];
    for (const a of options.attacks) {
      for (const epsilon of options.epsilons) {
        const accuracy = epsilon === 0 ? result.clean_accuracy : (result.robust_accuracy[label(a.name, epsilon)] as number);
        curve.push({ attack: a.name, epsilon, accuracy });
      }
    }
    const last = options.attacks[options.attacks.length - 1];
    if (!last) throw new Error('computeRobustness: no attacks given');
    const exampleOptions = { ...(last.options ?? {}), epsilon: options.exampleEpsilon };
    options.onProgress?.(`adversarial examples: ${options.examples} images, ${last.name} at epsilon ${options.exampleEpsilon}`);
    const examples = await adversarialExamples(model, dataset, registry, last.name, exampleOptions, options.examples, random);
    return {
      curve,
      corrupted: result.corrupted_accuracy,
      count: result.count,
      examples,
      exampleAttack: { name: last.name, epsilon: options.exampleEpsilon, options: exampleOptions },
    };
  } finally {
    for (const { attacker } of attackers) attacker.dispose?.();
  }
}

/** Attack `count` test images of the fixed evaluation subset and record both predictions. */
export async function adversarialExamples(
  model: LayersModel,
  dataset: DatasetAdapter,
  registry: Registry<AnyPlugin>,
  attackName: string,
  attackOptions: Record<string, unknown>,
  count: number,
  random: SeededRandom,
): Promise<AdversarialExample[]> {
  const size = dataset.size('test');
  const indices = evaluationIndices(size, Math.min(count, size), random.fork('examples'));
  const ex = dataset.read('test', indices);
  const [h, w, c] = dataset.info.imageShape;
  const pixels = h * w * c;
  const attacker = await registry.resolveDynamic('attacker', attackName, attackOptions);
  const forward = toForward(model, { route: 'main', training: false });
  const x = tf.tensor4d(ex.images, [ex.count, h, w, c]);
  const y = tf.tensor1d(ex.labels, 'int32');
  try {
    const adv = attacker.attack({ model, x, labels: y, route: 'main', training: false, random: random.fork('examples-attack') });
    try {
      const [pc, pa] = tf.tidy(() => [tf.softmax(forward(x)), tf.softmax(forward(adv))]);
      const [cleanP, advP, advImages] = [await pc.data(), await pa.data(), (await adv.data()) as Float32Array];
      tf.dispose([pc, pa]);
      const k = dataset.info.numClasses;
      return Array.from({ length: ex.count }, (_, i) => ({
        index: indices[i] as number,
        label: ex.labels[i] as number,
        cleanProbabilities: Array.from(cleanP.subarray(i * k, (i + 1) * k)),
        adversarialProbabilities: Array.from(advP.subarray(i * k, (i + 1) * k)),
        clean: ex.images.slice(i * pixels, (i + 1) * pixels),
        adversarial: advImages.slice(i * pixels, (i + 1) * pixels),
      }));
    } finally {
      adv.dispose();
    }
  } finally {
    x.dispose();
    y.dispose();
    attacker.dispose?.();
  }
}
