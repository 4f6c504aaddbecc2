/**
 * The packages a browser user needs bundle for the browser: esbuild with platform 'browser' bundles
 * each package's built main entry (dist, as published; `npm run build` first) with no Node builtin
 * in it. The TensorFlow.js packages are peer dependencies the user supplies, so they stay external.
 * A Node-only subpath (`@advprop/datasets/node`) must fail, which shows the check can fail.
 */
import { resolve } from 'node:path';
import { builtinModules } from 'node:module';
import { build, type Message } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

const BROWSER_PACKAGES = ['@advprop/core', '@advprop/dual-bn', '@advprop/attacks', '@advprop/models', '@advprop/datasets', '@advprop/backends', '@advprop/trainer'] as const;

const NODE_BUILTIN = new RegExp(`(^|["'\`])(node:[a-z_/]+|${builtinModules.filter((m) => !m.startsWith('_')).join('|')})["'\`]`);

async function bundleForBrowser(specifier: string): Promise<{ errors: Message[]; text: string; bytes: number }> {
  try {
    const result = await build({
      stdin: { contents: `export * from '${specifier}';`, resolveDir: root, loader: 'js' },
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      minify: true,
      logLevel: 'silent',
      external: ['@tensorflow/*'],
    });
    const text = result.outputFiles[0]?.text ?? '';
    return { errors: result.errors, text, bytes: Buffer.byteLength(text) };
  } catch (error) {
    return { errors: (error as { errors?: Message[] }).errors ?? [{ text: String(error) } as Message], text: '', bytes: 0 };
  }
}

describe('browser bundles', () => {
  it.each(BROWSER_PACKAGES)('%s bundles for the browser without Node builtins', async (specifier) => {
    const { errors, text, bytes } = await bundleForBrowser(specifier);
    expect(errors.map((e) => `${e.text} (${e.location?.file ?? ''})`)).toEqual([]);
    expect(bytes).toBeGreaterThan(0);
    // No static import, import() or require() of a Node builtin survived as an external either (a
    // method such as the backends' `moduleLoader.import(name)`, only called under Node, is not one).
    const imports = [...text.matchAll(/(?:\bfrom|(?:^|[^.\w$])(?:import|require)\()\s*["'`]([^"'`]+)["'`]/g)].map((m) => m[1] as string);
    expect(imports.filter((s) => NODE_BUILTIN.test(`"${s}"`))).toEqual([]);
  });

  it('a Node-only subpath does not bundle for the browser', async () => {
    const { errors } = await bundleForBrowser('@advprop/datasets/node');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.map((e) => e.text).join('\n')).toMatch(/node:|fs|path|zlib/);
  });
});
