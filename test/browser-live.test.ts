/**
 * The live pages in Chromium, served by `serveLivePage` (behind `advprop report --serve`):
 * - the attack page loads a short run's model-inference/ with stock TF.js and attacks test images
 *   with @advprop/attacks in the browser: a test image the model classifies correctly is
 *   misclassified after PGD at epsilon 0.3;
 * - the training page trains the small CNN with AdvProp in the browser (@advprop/trainer's browser
 *   entry) on the MNIST digits it carries: test accuracy rises, and the downloaded model loads with
 *   tf.loadLayersModel and predicts as the page's model did.
 * Screenshots under test-output/browser/.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMnistPackage } from '@advprop/datasets';
import { memoryIo, runCli } from '@advprop/cli';
import { serveLivePage, type LiveServer } from '@advprop/report';
import { hasChromium, launchChromium, screenshot, type Browser } from './browser-helpers.js';

interface LiveResult {
  index: number;
  label: number;
  cleanPrediction: number;
  adversarialPrediction: number;
  linf: number;
}
const TRAIN_DIGITS = 500;
const TEST_DIGITS = 200;

type LiveWindow = { advpropLive: { attack(position: number, attack: string, epsilon: number): Promise<LiveResult>; backend: string } };

let dir: string;
let runDir: string;
let server: LiveServer | undefined;
type TrainWindow = { advpropTrain: { last?: { before: number; after: number; steps: number } } };
let browser: Browser;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-browser-live-'));
  runDir = path.join(dir, 'run');
  const io = memoryIo();
  const code = await runCli(['train', '--mode', 'vanilla', '--limit', '1000', '--epochs', '1', '--eval-limit', '100', '--eval-attacks', 'fgsm', '--quiet', '--out', runDir, '--backend', process.env.ADVPROP_TEST_BACKEND ?? 'auto'], io);
  expect(code, io.err()).toBe(0);
  if (hasChromium) {
    browser = await launchChromium();
    server = await serveLivePage(runDir, { images: 20, trainDigits: { train: TRAIN_DIGITS, test: TEST_DIGITS } });
  }
});

afterAll(async () => {
  await server?.close();
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(hasChromium)('live attack page in Chromium', () => {
  it('flips the prediction of a correctly classified test image with PGD at epsilon 0.3, in the browser', async () => {
    expect(server!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const { page, errors } = await browser.newPage();
    await page.goto(server!.url);
    await page.waitForSelector('body[data-state="ready"], body[data-state="error"]', { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-state'), errors.join('\n')).toBe('ready');
    expect(await page.evaluate(() => (window as unknown as LiveWindow).advpropLive.backend)).toMatch(/^(cpu|wasm|webgl|webgpu)$/);

    // The first of the page's test images that the model gets right (epsilon 0: no attack).
    let position = -1;
    for (let i = 0; i < 20 && position < 0; i++) {
      const r = await page.evaluate((p) => (window as unknown as LiveWindow).advpropLive.attack(p, 'pgd', 0), i);
      if (r.cleanPrediction === r.label) position = i;
    }
    expect(position, 'no correctly classified test image among the 20 served').toBeGreaterThanOrEqual(0);
    const result = await page.evaluate((p) => (window as unknown as LiveWindow).advpropLive.attack(p, 'pgd', 0.3), position);
    expect(result.cleanPrediction).toBe(result.label);
    expect(result.adversarialPrediction).not.toBe(result.label);
    expect(result.linf).toBeLessThanOrEqual(0.3 + 1e-6);
    expect(result.linf).toBeGreaterThan(0.1);
    // The page shows it: the caption and the probability chart (two bars per class).
    expect(await page.textContent('#prediction')).toContain('adversarial prediction');
    expect(await page.locator('#probabilities svg .role-mark.mark-rect path').count()).toBe(20);

    // The controls drive the same attack: pick FGSM at epsilon 0 on the same image, prediction back to clean.
    await page.selectOption('#attack', 'fgsm');
    await page.fill('#epsilon', '0');
    await page.dispatchEvent('#epsilon', 'change');
    await page.waitForFunction(() => document.body.getAttribute('data-state') === 'ready' && document.getElementById('epsilon-value')?.textContent === '0.00');
    const caption = (await page.textContent('#prediction')) ?? '';
    const [, clean, adversarial] = /clean prediction (\S+) .*adversarial prediction (\S+) /.exec(caption) ?? [];
    expect(clean, caption).toBeDefined();
    expect(adversarial).toBe(clean);
    await page.evaluate((p) => (window as unknown as LiveWindow).advpropLive.attack(p, 'pgd', 0.3), position);
    await screenshot(page, 'live-attack');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('trains a small AdvProp model in the browser: accuracy rises, the download loads with tf.loadLayersModel', async () => {
    const { page, errors } = await browser.newPage();
    await page.goto(new URL('train', server!.url).href);
    await page.waitForSelector('body[data-train]', { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-train'), errors.join('\n')).toBe('ready');
    // Through the page's button: 3 epochs of 500 digits in batches of 16.
    await page.click('#train');
    await page.waitForSelector('body[data-train="done"], body[data-train="error"]', { timeout: 240_000 });
    expect(await page.getAttribute('body', 'data-train'), (await page.textContent('#train-status')) ?? '').toBe('done');
    const outcome = await page.evaluate(() => (window as unknown as TrainWindow).advpropTrain.last!);
    expect(outcome.steps).toBe(3 * Math.floor(TRAIN_DIGITS / 16));
    expect(outcome.before).toBeLessThan(0.2);
    expect(outcome.after).toBeGreaterThan(outcome.before + 0.2);
    expect(await page.locator('#train-log li').count()).toBe(3);
    expect(await page.getAttribute('#train-progress', 'value')).toBe(String(outcome.steps));

    // The download: model.json and its weights, as tfjs' browserDownloads writes them.
    const files = new Map<string, Buffer>();
    const saved = new Promise<void>((resolve) => {
      page.on('download', async (d) => {
        const file = path.join(dir, d.suggestedFilename());
        await d.saveAs(file);
        files.set(d.suggestedFilename(), await readFile(file));
        if (files.size === 2) resolve();
      });
    });
    await page.click('#download');
    await saved;
    expect([...files.keys()].sort()).toEqual(['advprop-mnist.json', 'advprop-mnist.weights.bin']);
    const artifacts = JSON.parse(files.get('advprop-mnist.json')!.toString('utf8')) as {
      modelTopology: object;
      weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
    };
    expect(artifacts.weightsManifest[0]!.paths).toEqual(['./advprop-mnist.weights.bin']);
    const weights = files.get('advprop-mnist.weights.bin')!;
    const model = await loadLayersModel(
      tf.io.fromMemory({
        modelTopology: artifacts.modelTopology,
        weightSpecs: artifacts.weightsManifest.flatMap((g) => g.weights),
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      }),
    );
    // The same test digits the page scored (the first TEST_DIGITS of the mnist package's test split): same accuracy.
    const mnist = await loadMnistPackage({ seed: 0 });
    const ex = mnist.read('test', Array.from({ length: TEST_DIGITS }, (_, i) => i));
    const predicted = tf.tidy(() => tf.argMax(model.predict(tf.tensor4d(ex.images, [TEST_DIGITS, 28, 28, 1])) as tf.Tensor, -1).dataSync());
    const accuracy = Array.from(predicted).filter((p, i) => p === ex.labels[i]).length / TEST_DIGITS;
    expect(accuracy).toBeCloseTo(outcome.after, 2);
    model.dispose();
    await screenshot(page, 'browser-training');
    expect(errors).toEqual([]);
    await page.close();
  });
});
