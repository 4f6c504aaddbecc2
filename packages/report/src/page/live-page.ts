/**
 * The live attack page: loads the run's inference model with stock TF.js, lets the user pick a test
 * image, an attack and an epsilon, and attacks the image in the browser with @advprop/attacks,
 * showing the adversarial image and the class probabilities before and after. Bundled by esbuild
 * (../bundle.ts); the server (../live-server.ts) hands out data.js and the model files.
 */
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import embed, { type VisualizationSpec } from 'vega-embed';
import { createRegistry, SeededRandom } from '@advprop/core';
import { attacks } from '@advprop/attacks';
import type { LivePageData } from '../live-data.js';
import { startBackend } from './page-backend.js';

export interface LiveResult {
  readonly index: number;
  readonly label: number;
  readonly attack: string;
  readonly epsilon: number;
  readonly cleanPrediction: number;
  readonly adversarialPrediction: number;
  readonly cleanProbabilities: number[];
  readonly adversarialProbabilities: number[];
  readonly linf: number;
}

declare global {
  interface Window {
    ADVPROP_LIVE?: LivePageData;
    /** For tests and the console: run one attack, and the last result shown. */
    advpropLive?: { attack(position: number, attack: string, epsilon: number): Promise<LiveResult>; last?: LiveResult; backend: string };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function decode(pixels: string): Float32Array {
  const bytes = Uint8Array.from(atob(pixels), (ch) => ch.charCodeAt(0));
  return Float32Array.from(bytes, (b) => b / 255);
}

/** Draw an [h, w, c] image with values in [0, 1] on a canvas. */
function draw(canvas: HTMLCanvasElement, values: Float32Array | Uint8Array | ArrayLike<number>, [h, w, c]: readonly [number, number, number]): void {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const image = ctx.createImageData(w, h);
  for (let p = 0; p < h * w; p++) {
    for (let k = 0; k < 3; k++) image.data[p * 4 + k] = Math.round(Math.min(1, Math.max(0, values[p * c + (c === 3 ? k : 0)] as number)) * 255);
    image.data[p * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}

async function main(): Promise<void> {
  const data = window.ADVPROP_LIVE;
  if (!data) throw new Error('advprop live page: no data (data.js)');
  const status = $<HTMLParagraphElement>('status');
  await startBackend();
  const model: LayersModel = await loadLayersModel(data.modelUrl);
  const registry = createRegistry({ seed: data.seed }).use(attacks);
  const shape = data.imageShape;
  const images = data.images.map((im) => ({ ...im, values: decode(im.pixels) }));
  const name = (k: number) => data.classNames[k] ?? String(k);

  const imageSelect = $<HTMLSelectElement>('image');
  images.forEach((im, i) => imageSelect.append(new Option(`#${im.index} (${name(im.label)})`, String(i))));
  const attackSelect = $<HTMLSelectElement>('attack');
  for (const a of data.attacks) attackSelect.append(new Option(a, a));
  const epsilonInput = $<HTMLInputElement>('epsilon');
  epsilonInput.value = String(data.epsilon);

  const probabilities = (x: tf.Tensor4D) => {
    const p = tf.tidy(() => tf.softmax(model.predict(x) as tf.Tensor));
    const values = Array.from(p.dataSync());
    p.dispose();
    return values;
  };
  const argmax = (v: number[]) => v.reduce((b, x, i) => (x > (v[b] as number) ? i : b), 0);

  async function attack(position: number, attackName: string, epsilon: number): Promise<LiveResult> {
    const im = images[position];
    if (!im) throw new Error(`no test image at position ${position}`);
    // Keep the controls in step when called from the console or a test.
    imageSelect.value = String(position);
    attackSelect.value = attackName;
    epsilonInput.value = String(epsilon);
    $('epsilon-value').textContent = epsilon.toFixed(2);
    const x = tf.tensor4d(im.values, [1, ...shape]);
    const y = tf.tensor1d([im.label], 'int32');
    let adv: tf.Tensor4D;
    if (epsilon === 0) adv = x.clone();
    else {
      const attacker = await registry.resolveDynamic('attacker', attackName, { epsilon });
      adv = attacker.attack({ model, x, labels: y, route: 'main', training: false, random: new SeededRandom(data!.seed).fork(`live:${im.index}`) }) as tf.Tensor4D;
      attacker.dispose?.();
    }
    try {
      const clean = probabilities(x);
      const adversarial = probabilities(adv);
      const advValues = adv.dataSync() as Float32Array;
      const delta = Float32Array.from(advValues, (v, i) => v - (im.values[i] as number));
      const linf = delta.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      draw($('clean'), im.values, shape);
      draw($('adversarial'), advValues, shape);
      draw($('perturbation'), Float32Array.from(delta, (d) => 0.5 + (epsilon > 0 ? d / (2 * epsilon) : 0)), shape);
      const result: LiveResult = {
        index: im.index,
        label: im.label,
        attack: attackName,
        epsilon,
        cleanPrediction: argmax(clean),
        adversarialPrediction: argmax(adversarial),
        cleanProbabilities: clean,
        adversarialProbabilities: adversarial,
        linf,
      };
      $('prediction').textContent =
        `label ${name(im.label)}: clean prediction ${name(result.cleanPrediction)} (${(clean[result.cleanPrediction]! * 100).toFixed(1)} %), ` +
        `adversarial prediction ${name(result.adversarialPrediction)} (${(adversarial[result.adversarialPrediction]! * 100).toFixed(1)} %); L-inf ${linf.toFixed(3)}`;
      const rows = data!.classNames.flatMap((cls, k) => [
        { class: cls, input: 'clean', probability: clean[k] },
        { class: cls, input: 'adversarial', probability: adversarial[k] },
      ]);
      const spec = {
        $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
        width: 420,
        height: 180,
        title: 'Predicted class probabilities',
        data: { values: rows },
        mark: 'bar',
        encoding: {
          x: { field: 'class', type: 'nominal', sort: null },
          xOffset: { field: 'input', sort: ['clean', 'adversarial'] },
          y: { field: 'probability', type: 'quantitative', scale: { domain: [0, 1] } },
          color: { field: 'input', type: 'nominal', sort: ['clean', 'adversarial'] },
        },
      } as VisualizationSpec;
      await embed($('probabilities'), spec, { actions: false, renderer: 'svg' });
      window.advpropLive!.last = result;
      return result;
    } finally {
      tf.dispose([x, y, adv]);
    }
  }

  window.advpropLive = { attack, backend: tf.getBackend() };
  const update = () => {
    $('epsilon-value').textContent = Number(epsilonInput.value).toFixed(2);
    document.body.setAttribute('data-state', 'busy');
    attack(Number(imageSelect.value), attackSelect.value, Number(epsilonInput.value)).then(
      () => document.body.setAttribute('data-state', 'ready'),
      (error: unknown) => {
        console.error('advprop live page: attack failed', error);
        $('prediction').textContent = `attack failed: ${(error as Error).message}`;
        document.body.setAttribute('data-state', 'error');
      },
    );
  };
  imageSelect.addEventListener('change', update);
  attackSelect.addEventListener('change', update);
  epsilonInput.addEventListener('change', update);
  status.textContent = `model loaded (${model.countParams()} parameters), backend ${tf.getBackend()}; ${images.length} test images.`;
  update();
}

main().catch((error: unknown) => {
  console.error('advprop live page failed to start', error);
  $('status').textContent = `failed to start: ${(error as Error).message}`;
  document.body.setAttribute('data-state', 'error');
});
