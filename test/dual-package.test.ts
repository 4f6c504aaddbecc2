/**
 * One module instance per package whether it is imported or required: the CommonJS entries load
 * the ESM build (tsup.shared.ts), so a program mixing `import` and `require` (an ESM app with a
 * CommonJS plugin, say) sees the same classes and registers its tfjs classes once. Runs the built
 * entries (`npm run build` first) in a child Node process, without the `@advprop/source` condition.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function run(script: string): unknown {
  const out = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(out.trim().split('\n').pop() as string);
}

describe('import and require of the same package', () => {
  it('give the same classes: instanceof holds across them', () => {
    const result = run(`
      const cjs = require('@advprop/core');
      import('@advprop/core').then((esm) => {
        const fromEsm = new esm.ConfigError('bad field', [{ path: 'a', message: 'b' }]);
        const fromCjs = new cjs.ConfigError('bad field', [{ path: 'a', message: 'b' }]);
        console.log(JSON.stringify({
          sameClass: esm.ConfigError === cjs.ConfigError,
          esmInstanceOfCjs: fromEsm instanceof cjs.ConfigError,
          cjsInstanceOfEsm: fromCjs instanceof esm.ConfigError,
          advpropError: fromCjs instanceof esm.AdvpropError,
          sameRandom: new esm.SeededRandom(1) instanceof cjs.SeededRandom,
        }));
      });`);
    expect(result).toEqual({ sameClass: true, esmInstanceOfCjs: true, cjsInstanceOfEsm: true, advpropError: true, sameRandom: true });
  });

  it('register tfjs classes once: a layer saved through one loads as the class of the other', () => {
    const result = run(`
      const tf = require('@tensorflow/tfjs-core');
      require('@tensorflow/tfjs-backend-cpu');
      const tfl = require('@tensorflow/tfjs-layers');
      const cjs = require('@advprop/dual-bn');
      import('@advprop/dual-bn').then(async (esm) => {
        await tf.setBackend('cpu');
        const map = tf.serialization.SerializationMap.getMap().classNameMap;
        const registered = Object.entries(map).filter(([key]) => key.endsWith('DualBatchNormalization'));
        const input = tfl.input({ shape: [4, 4, 3] });
        const output = new esm.DualBatchNormalization({}).apply(input);
        const model = tfl.model({ inputs: input, outputs: output });
        const restored = await tfl.models.modelFromJSON({ modelTopology: model.toJSON(null, false) });
        const layer = restored.layers[1];
        console.log(JSON.stringify({
          sameClass: esm.DualBatchNormalization === cjs.DualBatchNormalization,
          registeredOnce: registered.length === 1 && registered[0][1][0] === esm.DualBatchNormalization,
          restoredIsCjsClass: layer instanceof cjs.DualBatchNormalization,
          restoredIsEsmClass: layer instanceof esm.DualBatchNormalization,
        }));
      });`);
    expect(result).toEqual({ sameClass: true, registeredOnce: true, restoredIsCjsClass: true, restoredIsEsmClass: true });
  });

  it('every CommonJS entry is the one-line loader of its ESM entry', async () => {
    const { readdirSync, readFileSync, existsSync } = await import('node:fs');
    for (const dir of readdirSync(resolve(root, 'packages'))) {
      const pkg = JSON.parse(readFileSync(resolve(root, 'packages', dir, 'package.json'), 'utf8')) as { exports?: Record<string, unknown> };
      for (const entry of Object.values(pkg.exports ?? {})) {
        const require = (entry as { require?: { default?: string } }).require?.default;
        if (!require) continue;
        const file = resolve(root, 'packages', dir, require);
        expect(existsSync(file), `${file} (run npm run build)`).toBe(true);
        expect(readFileSync(file, 'utf8'), file).toMatch(/^'use strict';\n\/\/ .*\nmodule\.exports = require\('\.\/[\w-]+\.js'\);\n$/);
      }
    }
  });
});
