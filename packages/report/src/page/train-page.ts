/**
 * Training in the browser: a small AdvProp run (the small CNN with dual BN, PGD-1 through the
 * auxiliary BN) on a few hundred MNIST digits that the page carries as data, with the trainer's own
 * loop (@advprop/trainer's browser entry: no run directory). Shows the progress; the trained model
 * (its inference form, main BN only) downloads as model.json + weights loadable by tf.loadLayersModel.
 */
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SeededRandom, type Callback, type ModelFactory } from '@advprop/core';
import { memoryDataset } from '@advprop/datasets';
import { toInferenceModel } from '@advprop/dual-bn';
import { createBaseRegistry, evaluate, train } from '@advprop/trainer';
import type { TrainPageData } from '../live-data.js';
import { startBackend } from './page-backend.js';

export interface TrainOutcome {
  readonly before: number;
  readonly after: number;
  readonly steps: number;
  readonly seconds: number;
  readonly backend: string;
}

declare global {
  interface Window {
    ADVPROP_TRAIN?: TrainPageData;
    advpropTrain?: { run(options?: { epochs?: number }): Promise<TrainOutcome>; download(name?: string): Promise<void>; last?: TrainOutcome };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function decode(pixels: string): Float32Array {
  const bytes = Uint8Array.from(atob(pixels), (ch) => ch.charCodeAt(0));
  return Float32Array.from(bytes, (b) => b / 255);
}

async function main(): Promise<void> {
  const data = window.ADVPROP_TRAIN;
  if (!data) throw new Error('advprop training page: no data (train-data.js)');
  const backend = await startBackend();
  const split = (s: TrainPageData['train']) => ({ images: decode(s.pixels), labels: Int32Array.from(s.labels) });
  const dataset = memoryDataset({
    train: split(data.train),
    test: split(data.test),
    imageShape: data.imageShape,
    classNames: data.classNames,
    name: 'mnist (page)',
    seed: data.seed,
  });
  let trained: LayersModel | undefined;
  const status = $<HTMLParagraphElement>('train-status');
  const progress = $<HTMLProgressElement>('train-progress');
  status.textContent = `${data.train.labels.length} training and ${data.test.labels.length} test digits; backend ${backend}.`;

  async function run(options: { epochs?: number } = {}): Promise<TrainOutcome> {
    const epochs = options.epochs ?? Number($<HTMLInputElement>('epochs').value);
    const registry = createBaseRegistry({ seed: data!.seed });
    const config = {
      mode: 'advprop',
      dataset: { name: 'memory' },
      model: { name: 'small-cnn', options: { filters: 8 } },
      attacker: { name: 'pgd', options: { epsilon: 0.1, steps: 1 } },
      epochs,
      batchSize: 16,
      seed: data!.seed,
      optimizer: { name: 'adam', lr: 0.003 },
      evaluation: { attacks: [], limit: data!.test.labels.length, epochLimit: data!.test.labels.length },
    };
    // The same untrained model the run starts from, to measure what training changed.
    const factory: ModelFactory = await registry.resolve('model', 'small-cnn', { filters: 8 });
    const model = factory.build({ inputShape: data!.imageShape, numClasses: data!.classNames.length, batchNorm: 'dual', random: new SeededRandom(data!.seed).fork('model') });
    const before = (await evaluate(model, dataset, { limit: data!.test.labels.length })).clean_accuracy;
    const started = performance.now();
    const shown: Callback = {
      name: 'page-progress',
      onTrainBegin(e) {
        progress.max = Math.max(1, e.metrics.total_steps ?? e.stepsPerEpoch * e.epochs);
        progress.value = 0;
      },
      onBatchEnd(e) {
        progress.value = e.step;
        status.textContent = `epoch ${e.epoch + 1}/${e.epochs}, step ${e.step}/${progress.max}: loss ${(e.metrics.loss ?? NaN).toFixed(3)}, batch accuracy ${((e.metrics.accuracy ?? NaN) * 100).toFixed(1)} %`;
      },
      onEpochEnd(e) {
        $('train-log').append(Object.assign(document.createElement('li'), { textContent: `epoch ${e.epoch + 1}: test accuracy ${((e.metrics.val_accuracy ?? NaN) * 100).toFixed(1)} %` }));
      },
    };
    document.body.setAttribute('data-train', 'running');
    const result = await train(config, { registry, dataset, model, callbacks: [shown] });
    trained?.dispose();
    trained = result.model;
    const outcome: TrainOutcome = { before, after: result.summary.clean_accuracy, steps: result.summary.steps, seconds: (performance.now() - started) / 1000, backend };
    status.textContent = `done: ${outcome.steps} steps in ${outcome.seconds.toFixed(1)} s; test accuracy ${(before * 100).toFixed(1)} % before, ${(outcome.after * 100).toFixed(1)} % after.`;
    $<HTMLButtonElement>('download').disabled = false;
    window.advpropTrain!.last = outcome;
    document.body.setAttribute('data-train', 'done');
    await registry.dispose();
    return outcome;
  }

  async function download(name = 'advprop-mnist'): Promise<void> {
    if (!trained) throw new Error('train a model first');
    const inference = toInferenceModel(trained);
    try {
      await inference.save(`downloads://${name}`);
    } finally {
      inference.dispose();
    }
  }

  window.advpropTrain = { run, download };
  $('train').addEventListener('click', () => {
    run().catch((error: unknown) => {
      console.error('advprop training page: training failed', error);
      status.textContent = `training failed: ${(error as Error).message}`;
      document.body.setAttribute('data-train', 'error');
    });
  });
  $('download').addEventListener('click', () => {
    download().catch((error: unknown) => console.error('advprop training page: download failed', error));
  });
  document.body.setAttribute('data-train', 'ready');
}

main().catch((error: unknown) => {
  console.error('advprop training page failed to start', error);
  $('train-status').textContent = `failed to start: ${(error as Error).message}`;
  document.body.setAttribute('data-train', 'error');
});
