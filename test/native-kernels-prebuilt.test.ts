/**
 * `npm install` of the packed packages, in a fresh folder outside the repository, gives the
 * native kernels with no compiler and no system oneDNN: npm picks @advprop/native-kernels-linux-x64
 * through @advprop/native-kernels' optionalDependencies (os/cpu/libc), its addon finds the oneDNN,
 * libgomp and OpenCL copies beside it through its $ORIGIN run path, and a training script runs
 * on the wasm backend with the oneDNN kernels. The system's own libdnnl (installed here for
 * building) must not be the one loaded: the test reads the process's memory map.
 *
 * Needs the platform package assembled (`npx nx run @advprop/native-kernels-linux-x64:build`,
 * part of `npm run build`) and npm able to fetch the third-party packages (the npm cache, else
 * the registry). Skipped, with a message, on a platform with no prebuilt package, or where the
 * package could not be assembled (no g++ or libdnnl-dev) unless ADVPROP_NATIVE_REQUIRED is set (CI).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { platformPackageName } from '@advprop/native-kernels';

const root = resolve(__dirname, '..');
const required = !!process.env.ADVPROP_NATIVE_REQUIRED && process.env.ADVPROP_NATIVE_REQUIRED !== '0';
const platformPackage = platformPackageName();
const platformDir = platformPackage ? join(root, 'packages', platformPackage.replace('@advprop/', '')) : undefined;
const supported = platformDir !== undefined && existsSync(join(platformDir, 'package.json'));
if (!supported) console.warn(`native-kernels-prebuilt: skipped, no prebuilt package for ${platformPackage ?? 'this runtime'} (only linux-x64 glibc has one)`);

/** Packages the training script needs from this repository, packed as npm would publish them. */
const PACKED = ['core', 'native-kernels', supported ? (platformDir as string).split('/').pop()! : '', 'backends'].filter(Boolean);

// Packing 40 MB of libraries and an npm install: minutes on a busy machine, so a generous bound
// that only catches a hang (the work itself is fixed: 4 packages, 8 epochs of 4 batches).
const INSTALL_BUDGET_MS = 20 * 60_000;

const work = mkdtempSync(join(tmpdir(), 'advprop-prebuilt-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function sh(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  return execFileSync(command, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
}

const TRAIN_SCRIPT = `
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { readFileSync } from 'node:fs';
import { useBackend } from '@advprop/backends';
import { convGeometry, hasNativeKernel, nativeAddon } from '@advprop/native-kernels';

const info = await useBackend('wasm');
const status = nativeAddon();
// A small conv net, a few epochs of fit on a fixed, learnable task (label = sign of the mean pixel).
const n = 64;
const x = tf.tidy(() => tf.randomNormal([n, 8, 8, 3], 0, 1, 'float32', 7));
const y = tf.tidy(() => tf.oneHot(tf.cast(tf.greater(tf.mean(x, [1, 2, 3]), 0), 'int32'), 2));
const model = tfl.sequential({ layers: [
  tfl.layers.conv2d({ inputShape: [8, 8, 3], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }),
  tfl.layers.batchNormalization(),
  tfl.layers.globalAveragePooling2d({}),
  tfl.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }),
] });
model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy' });
const history = await model.fit(x, y, { epochs: 8, batchSize: 16, shuffle: false, verbose: 0 });
const maps = readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.split(/\\s+/).slice(5).join(' ')).filter((p) => /libdnnl|libgomp|advprop-native/.test(p));
console.log(JSON.stringify({
  backend: info.name,
  summary: info.summary,
  available: status.available,
  source: status.available ? status.source : status.reason,
  addonPath: status.available ? status.path : null,
  implementation: status.available ? status.addon.convImplementation('forward', convGeometry(tf.backend_util.computeConv2DInfo([16, 8, 8, 3], [3, 3, 3, 8], 1, 1, 'same'), 1)) : null,
  served: ['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput'].filter((k) => hasNativeKernel(k, 'wasm')),
  losses: history.history.loss,
  mapped: [...new Set(maps)],
}));
`;

describe.skipIf(!supported)(`npm install of the packed packages on ${platformPackage}`, () => {
  it('runs training with the prebuilt native kernels and the bundled oneDNN, outside the repository', () => {
    const built = join(platformDir as string, 'lib', 'advprop-native.node');
    if (!existsSync(built)) {
      // Assembling needs g++ and libdnnl-dev (the build says why it skipped); CI requires it.
      const message = `${built} is missing: npm run build assembles it when g++ and libdnnl-dev are installed`;
      if (required) expect.fail(message);
      console.warn(`native-kernels-prebuilt: skipped, ${message}`);
      return;
    }

    // 1. Pack, as npm publish would.
    const tarballs: Record<string, string> = {};
    for (const dir of PACKED) {
      const out = JSON.parse(sh('npm', ['pack', '--json', '--pack-destination', work, join(root, 'packages', dir)], root)) as { name: string; filename: string; files: { path: string }[] }[];
      const packed = out[0]!;
      tarballs[packed.name] = join(work, packed.filename);
      if (packed.name === platformPackage) {
        const files = packed.files.map((f) => f.path);
        expect(files).toEqual(expect.arrayContaining(['lib/advprop-native.node', 'lib/libdnnl.so.2', 'lib/libgomp.so.1', 'licenses/Apache-2.0', 'licenses/libdnnl.so.2.copyright', 'licenses/libgomp.so.1.copyright', 'licenses/README.md']));
      }
    }

    // 2. A fresh project that asks only for @advprop/backends (and the tfjs packages a user adds);
    // `overrides` stands in for the registry for the unpublished @advprop packages, so npm still
    // selects the platform package through optionalDependencies and its os/cpu/libc fields.
    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    const tfjs = JSON.parse(readFileSync(join(root, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8')).version as string;
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify(
        {
          name: 'advprop-prebuilt-check',
          private: true,
          type: 'module',
          dependencies: {
            '@advprop/backends': `file:${tarballs['@advprop/backends']}`,
            '@tensorflow/tfjs-core': tfjs,
            '@tensorflow/tfjs-layers': tfjs,
            '@tensorflow/tfjs-backend-wasm': tfjs,
          },
          overrides: Object.fromEntries(Object.entries(tarballs).map(([name, file]) => [name, `file:${file}`])),
        },
        null,
        2,
      ),
    );
    writeFileSync(join(app, 'train.mjs'), TRAIN_SCRIPT);
    sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], app);
    const installed = join(app, 'node_modules', platformPackage as string);
    expect(existsSync(join(installed, 'lib', 'advprop-native.node')), `npm did not install ${platformPackage}`).toBe(true);
    expect(existsSync(join(app, 'node_modules', '.bin', 'advprop-build-native')), 'the build-from-source command is installed').toBe(true);

    // 3. The dynamic loader resolves oneDNN, libgomp and OpenCL to the bundled copies.
    const ldd = sh('ldd', [join(installed, 'lib', 'advprop-native.node')], app);
    for (const lib of ['libdnnl.so.2', 'libgomp.so.1', 'libOpenCL.so.1']) {
      expect(ldd).toContain(`${lib} => ${join(installed, 'lib', lib)}`);
    }

    // 4. Training, in a clean environment: no repository paths, no addon override.
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME ?? work };
    const out = sh(process.execPath, ['train.mjs'], app, env);
    if (process.env.ADVPROP_TEST_VERBOSE) console.log(out);
    const result = JSON.parse(out.trim().split('\n').pop() as string) as {
      backend: string;
      summary: string;
      available: boolean;
      source: string;
      addonPath: string;
      implementation: string;
      served: string[];
      losses: number[];
      mapped: string[];
    };
    expect(result.available, result.source).toBe(true);
    expect(result).toMatchObject({ backend: 'wasm', source: 'prebuilt', addonPath: join(installed, 'lib', 'advprop-native.node') });
    expect(result.summary).toMatch(/^wasm \+ native kernels \(\d+ threads?\)$/);
    expect(result.served).toEqual(['Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput']);
    expect(result.implementation.length).toBeGreaterThan(0);
    // oneDNN and libgomp in this process are the bundled files; the system's libdnnl is not mapped.
    const dnnl = result.mapped.filter((p) => p.includes('libdnnl'));
    expect(dnnl).toEqual([join(installed, 'lib', 'libdnnl.so.2')]);
    expect(result.mapped.filter((p) => p.includes('libgomp'))).toEqual([join(installed, 'lib', 'libgomp.so.1')]);
    // It trained: the loss fell.
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]! * 0.8);

    // 5. Building from source stays available in the installed package, and a build made after
    // the install is the one loaded (where g++ and libdnnl-dev are present; CI requires them).
    const build = execFileSync(join(app, 'node_modules', '.bin', 'advprop-build-native'), [], { cwd: app, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const local = join(app, 'node_modules', '@advprop', 'native-kernels', 'build', 'advprop-native.node');
    if (!existsSync(local)) {
      if (required) expect.fail(`advprop-build-native built nothing: ${build}`);
      return;
    }
    const status = sh(process.execPath, ['--input-type=module', '-e', "import { nativeAddon } from '@advprop/native-kernels'; const s = nativeAddon(); console.log(JSON.stringify([s.available, s.source, s.path]));"], app, env);
    expect(JSON.parse(status.trim())).toEqual([true, 'built from source', local]);
  }, INSTALL_BUDGET_MS);
});
