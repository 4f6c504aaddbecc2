/**
 * The live attack page of a run, served on localhost: the page loads the run's model-inference/
 * with stock TF.js (tf.loadLayersModel) and attacks the test images it is given with
 * @advprop/attacks, all in the browser. The server only hands out files: the page bundle, the
 * model files and a few hundred test images as data.
 */
import { createRequire } from 'node:module';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CheckpointError, SeededRandom } from '@advprop/core';
import { createDefaultRegistry, evaluationIndices, RUN_FILES } from '@advprop/trainer';
import { bundlePage } from './bundle.js';
import { loadMnistPackage } from '@advprop/datasets';
import type { LivePageData, TrainPageData } from './live-data.js';
import { readRunDirectory } from './run-reader.js';
import { defaultAttacks } from './run-report.js';
import { dataScript } from './site.js';

export interface LiveServerOptions {
  /** Port on 127.0.0.1 (default 0: any free port). */
  readonly port?: number;
  /** Test images the page offers (default 100, a fixed seeded subset). */
  readonly images?: number;
  /** MNIST digits the training page (/train) carries: train and test (default 500 and 200). */
  readonly trainDigits?: { readonly train: number; readonly test: number };
  readonly onProgress?: (message: string) => void;
}

export interface LiveServer {
  readonly url: string;
  readonly server: Server;
  /** Resolves when the server has closed (close() or a signal). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** Attacks offered on the page, in this order when registered. */
export const LIVE_ATTACKS = ['pgd', 'fgsm', 'bim', 'mi-fgsm', 'fgm', 'pgd-l2'] as const;

export function liveHtml(title: string): string {
  const escaped = title.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escaped}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 1000px; padding: 0 1rem; color: #222; }
canvas { width: 168px; height: 168px; image-rendering: pixelated; border: 1px solid #ccc; margin-right: 8px; }
label { margin-right: 1rem; } .row { margin: 0.75rem 0; } #status { color: #666; }
figure { display: inline-block; margin: 0 8px 0 0; text-align: center; }
</style>
</head>
<body>
<h1>${escaped}</h1>
<p id="status">loading the model...</p>
<div class="row">
<label>test image <select id="image"></select></label>
<label>attack <select id="attack"></select></label>
<label>epsilon <input id="epsilon" type="range" min="0" max="0.5" step="0.01"> <output id="epsilon-value"></output></label>
</div>
<div class="row">
<figure><canvas id="clean"></canvas><figcaption>clean</figcaption></figure>
<figure><canvas id="perturbation"></canvas><figcaption>perturbation (magnified)</figcaption></figure>
<figure><canvas id="adversarial"></canvas><figcaption>adversarial</figcaption></figure>
</div>
<p id="prediction"></p>
<div id="probabilities"></div>
<p><a href="train">Train a small AdvProp model in this browser</a></p>
<script src="data.js"></script>
<script src="live.js"></script>
</body>
</html>
`;
}

export function trainHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>advprop: AdvProp training in the browser</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5rem auto; max-width: 900px; padding: 0 1rem; color: #222; }
progress { width: 100%; } .row { margin: 0.75rem 0; }
</style>
</head>
<body>
<h1>AdvProp training in the browser</h1>
<p>The small CNN with dual batch norm, trained with AdvProp (PGD-1 at epsilon 0.1 through the auxiliary BN) on MNIST digits
carried by this page, by @advprop/trainer's loop running here. The download is the inference model (main BN), loadable with
<code>tf.loadLayersModel</code>.</p>
<div class="row"><label>epochs <input id="epochs" type="number" min="1" max="20" value="3"></label>
<button id="train">Train</button> <button id="download" disabled>Download model</button></div>
<progress id="train-progress" value="0" max="1"></progress>
<p id="train-status">loading...</p>
<ol id="train-log"></ol>
<script src="train-data.js"></script>
<script src="train.js"></script>
</body>
</html>
`;
}

/** The training page's digits: the first `train` and `test` images of the mnist package's splits (class-balanced prefixes). */
export async function trainPageData(train: number, test: number, seed = 0): Promise<TrainPageData> {
  const mnist = await loadMnistPackage({ seed });
  const take = (split: 'train' | 'test', n: number) => {
    const ex = mnist.read(split, Array.from({ length: Math.min(n, mnist.size(split)) }, (_, i) => i));
    const bytes = Uint8Array.from(ex.images, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
    return { pixels: Buffer.from(bytes).toString('base64'), labels: Array.from(ex.labels) };
  };
  return { imageShape: mnist.info.imageShape, classNames: [...mnist.info.classNames], train: take('train', train), test: take('test', test), seed };
}

/** The page's data: the run, its class names and `count` test images of the fixed evaluation subset. */
export async function livePageData(runDir: string, count: number): Promise<LivePageData> {
  const run = await readRunDirectory(runDir);
  const modelJson = path.join(run.dir, RUN_FILES.inferenceModel, 'model.json');
  try {
    await fs.access(modelJson);
  } catch {
    throw new CheckpointError(`${modelJson} is missing: the live page loads the run's inference model (written when a run finishes)`);
  }
  const seed = run.config.seed as number;
  const registry = createDefaultRegistry({ seed });
  try {
    const ref = run.config.dataset as { name: string; options?: Record<string, unknown> };
    const dataset = await registry.resolveDynamic('dataset', ref.name, ref.options ?? {});
    try {
      const indices = evaluationIndices(dataset.size('test'), count, new SeededRandom(seed).fork('live-page'));
      const ex = dataset.read('test', indices);
      const pixels = ex.images.length / ex.count;
      const images = Array.from({ length: ex.count }, (_, i) => {
        const bytes = new Uint8Array(pixels);
        for (let p = 0; p < pixels; p++) bytes[p] = Math.round(Math.min(1, Math.max(0, ex.images[i * pixels + p] as number)) * 255);
        return { index: indices[i] as number, label: ex.labels[i] as number, pixels: Buffer.from(bytes).toString('base64') };
      });
      const attackNames = registry.names('attacker');
      return {
        title: `advprop live attack: ${run.summary.mode} ${run.summary.model} on ${run.summary.dataset} (${path.basename(run.dir)})`,
        run: { dir: run.dir, mode: run.summary.mode, model: run.summary.model, dataset: run.summary.dataset },
        imageShape: dataset.info.imageShape,
        classNames: dataset.info.classNames.length === dataset.info.numClasses ? [...dataset.info.classNames] : Array.from({ length: dataset.info.numClasses }, (_, i) => String(i)),
        images,
        attacks: LIVE_ATTACKS.filter((a) => attackNames.includes(a)),
        epsilon: defaultAttacks(run.config).epsilon,
        modelUrl: 'model/model.json',
        seed,
      };
    } finally {
      dataset.dispose?.();
    }
  } finally {
    await registry.dispose();
  }
}

const TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.bin': 'application/octet-stream',
  '.js': 'text/javascript',
  '.html': 'text/html',
  '.wasm': 'application/wasm',
};

/** The folder of @tensorflow/tfjs-backend-wasm's .wasm binaries, which the pages load from /tfjs-wasm/. */
function wasmDirectory(): string {
  return path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
}

/** Serve the live page of `runDir` on 127.0.0.1. */
export async function serveLivePage(runDir: string, options: LiveServerOptions = {}): Promise<LiveServer> {
  const data = await livePageData(runDir, options.images ?? 100);
  options.onProgress?.(`bundling the live page (${data.images.length} test images)`);
  const script = await bundlePage('live-page');
  const modelDir = path.join(data.run.dir, RUN_FILES.inferenceModel);
  const wasmDir = wasmDirectory();
  const html = liveHtml(data.title);
  const dataJs = dataScript(data, 'ADVPROP_LIVE');
  let trainData: Promise<string> | undefined;

  const send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed');
    if (url.pathname === '/' || url.pathname === '/index.html') return send(res, 200, TYPES['.html'] as string, html);
    if (url.pathname === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
    if (url.pathname === '/data.js') return send(res, 200, TYPES['.js'] as string, dataJs);
    if (url.pathname === '/live.js') return send(res, 200, TYPES['.js'] as string, script);
    if (url.pathname === '/train') return send(res, 200, TYPES['.html'] as string, trainHtml());
    if (url.pathname === '/train.js') return send(res, 200, TYPES['.js'] as string, await bundlePage('train-page'));
    if (url.pathname === '/train-data.js') {
      const digits = options.trainDigits ?? { train: 500, test: 200 };
      trainData ??= trainPageData(digits.train, digits.test, data.seed).then((d) => dataScript(d, 'ADVPROP_TRAIN'));
      return send(res, 200, TYPES['.js'] as string, await trainData);
    }
    const wasm = /^\/tfjs-wasm\/(tfjs-backend-wasm[a-z-]*\.wasm)$/.exec(url.pathname);
    if (wasm) return send(res, 200, TYPES['.wasm'] as string, await fs.readFile(path.join(wasmDir, wasm[1] as string)));
    const model = /^\/model\/([A-Za-z0-9._-]+)$/.exec(url.pathname);
    if (model) {
      try {
        const body = await fs.readFile(path.join(modelDir, model[1] as string));
        return send(res, 200, TYPES[path.extname(model[1] as string)] ?? 'application/octet-stream', body);
      } catch {
        return send(res, 404, 'text/plain', 'not found');
      }
    }
    return send(res, 404, 'text/plain', 'not found');
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, 'text/plain', String(error)));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  return {
    url: `http://127.0.0.1:${port}/`,
    server,
    closed,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
