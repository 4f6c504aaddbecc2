/**
 * Imports every package through its published entry points (the built dist, as a user's
 * `import` and `require` see them, without the `@advprop/source` condition), in a child Node
 * process so vitest's own resolution plays no part. Needs `npm run build` first (`npm run test:all`
 * does it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { nativeAddon } from '@advprop/native-kernels';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

/** Package -> an export every consumer relies on. */
const expectedExports: Record<string, string[]> = {
  '@advprop/core': ['createRegistry', 'definePlugin', 'SeededRandom', 'withRoute', 'ConfigError'],
  '@advprop/core/node': ['writeFileAtomic'],
  '@advprop/dual-bn': ['DualBatchNormalization', 'toDualBN', 'toInferenceModel'],
  '@advprop/attacks': ['attacks', 'defineAttacker'],
  '@advprop/datasets': ['datasets', 'memoryDataset'],
  '@advprop/datasets/node': ['datasets', 'loadIdxDataset'],
  '@advprop/models': ['models'],
  '@advprop/native-kernels': ['registerNativeKernels', 'nativeAddon'],
  '@advprop/backends': ['backends', 'useBackend'],
  '@advprop/trainer': ['train', 'evaluate'],
  '@advprop/cli': ['runCli'],
  '@advprop/sweep': ['loadSweep', 'runSweepEmbedded', 'submitSweep', 'startWorker', 'aggregateResults'],
  '@advprop/report': ['writeReport', 'serveLivePage'],
};

function probe(kind: 'import' | 'require', specifier: string): string[] {
  const script =
    kind === 'import'
      ? `import(${JSON.stringify(specifier)}).then((m) => console.log(JSON.stringify(Object.keys(m))))`
      : `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(specifier)}))))`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop() ?? '[]') as string[];
}

describe('published entry points', () => {
  it('every package is built', () => {
    // every folder under packages/, so a new package cannot be left out
    for (const dir of readdirSync(join(root, 'packages'))) {
      const pkg = JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as {
        os?: string[];
        exports: Record<string, { import: { default: string }; require: { default: string } }>;
      };
      // A platform package (os/cpu fields) ships a binary, not JavaScript: test/native-kernels-prebuilt.test.ts covers it.
      if (pkg.os) continue;
      const main = pkg.exports['.'];
      expect(main, `${dir} exports "."`).toBeDefined();
      for (const file of [main!.import.default, main!.require.default]) {
        expect(existsSync(join(root, 'packages', dir, file)), `packages/${dir}/${file} (run npm run build)`).toBe(true);
      }
    }
  });

  for (const [specifier, names] of Object.entries(expectedExports)) {
    it(`${specifier} loads through import and require`, () => {
      const esm = probe('import', specifier);
      const cjs = probe('require', specifier);
      for (const name of names) {
        expect(esm, `ESM ${specifier} exports ${name}`).toContain(name);
        expect(cjs, `CJS ${specifier} exports ${name}`).toContain(name);
      }
      expect(new Set(esm.filter((n) => n !== 'default' && n !== 'module.exports'))).toEqual(
        new Set(cjs.filter((n) => n !== 'default' && n !== '__esModule')),
      );
    });
  }
});

describe('published backends entry', () => {
  for (const kind of ['import', 'require'] as const) {
    it(`loads the wasm backend with training kernels through ${kind}`, () => {
      const load = kind === 'import' ? `import('@advprop/backends')` : `Promise.resolve(require('@advprop/backends'))`;
      const script = `${load}.then(async (b) => { const info = await b.useBackend('wasm', { log: { debug() {}, info() {}, warn() {} } }); const tf = require('@tensorflow/tfjs-core'); const x = tf.tensor4d([1, -2, 3, 4, -5, 6, 7, 8], [1, 2, 2, 2]); const w = tf.tensor4d([1, 1, 0, 1], [1, 1, 2, 2]); const fallbacks = [tf.mean(tf.tensor2d([[1, 2], [3, 4]]), 0), tf.sum(tf.tensor2d([[1, 2], [3, 4]], [2, 2], 'int32'), 1), tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', activation: 'elu' })].map((t) => Array.from(t.dataSync(), (v) => +v.toFixed(4))); console.log(JSON.stringify({ name: info.name, tf: info.tfBackend, kernel: b.hasTrainingKernel('Tile', 'wasm'), native: /oneDNN/.test(info.description), fallbacks })); })`;
      const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      // the built backends entry finds the built native addon too (when it is built, as in CI)
      // Kernels that hand some inputs back to the stock wasm kernels (small or int reductions, an
      // ELU-fused conv) must still find those bound when registered before the backend started.
      expect(JSON.parse(out.trim().split('\n').pop() as string)).toEqual({
        name: 'wasm',
        tf: 'wasm',
        kernel: true,
        native: nativeAddon().available,
        fallbacks: [
          [2, 3],
          [3, 7],
          [1, -0.6321, 3, 7, -0.9933, 1, 7, 15],
        ],
      });
    });
  }
});
