/**
 * Run in a fresh Node process by the IO tests: loads a saved model and prints its predictions.
 *   node --conditions=@advprop/source --import tsx child-predict.ts <dual|plain> <dir> <input.json>
 * "dual" loads through @advprop/dual-bn/node (main and aux route); "plain" uses only tfjs packages
 * (no @advprop import, so DualBatchNormalization is not registered) and the main route.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';

const [mode, dir, inputFile] = process.argv.slice(2) as [string, string, string];
await tf.setBackend('cpu');
const spec = JSON.parse(readFileSync(inputFile, 'utf8')) as { shape: number[]; values: number[] };
const x = tf.tensor(spec.values, spec.shape);
const predict = (m: LayersModel): number[] => Array.from((m.predict(x) as tf.Tensor).dataSync());

try {
  if (mode === 'dual') {
    const { loadModel } = await import('@advprop/dual-bn/node');
    const { withRoute, dualBnLayers } = await import('@advprop/dual-bn');
    const model = await loadModel(dir);
    const main = predict(model);
    const aux = withRoute(model, 'aux', () => predict(model));
    process.stdout.write(JSON.stringify({ main, aux, dualLayers: dualBnLayers(model).length }));
  } else {
    const json = JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
    const group = json.weightsManifest[0]!;
    const buffers = group.paths.map((p) => new Uint8Array(readFileSync(path.join(dir, p))));
    const total = new Uint8Array(buffers.reduce((n, b) => n + b.byteLength, 0));
    let offset = 0;
    for (const b of buffers) {
      total.set(b, offset);
      offset += b.byteLength;
    }
    const model = await loadLayersModel(
      tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: group.weights, weightData: total.buffer }),
    );
    process.stdout.write(JSON.stringify({ main: predict(model) }));
  }
} catch (error) {
  process.stdout.write(JSON.stringify({ error: (error as Error).message }));
}
