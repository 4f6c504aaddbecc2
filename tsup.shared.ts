/**
 * The one tsup configuration every package builds with (`packages/<name>/tsup.config.ts` passes
 * only its entries).
 *
 * One module instance for `import` and `require`: the ESM build is the package; each CommonJS
 * entry (`dist/<entry>.cjs`) is a one-line file that `require`s the ESM entry (require(esm), on by
 * default from Node 20.19, the engines floor). So a program that mixes `import` and `require` of
 * a package gets the same classes (`instanceof` holds) and registers its tfjs classes and
 * kernels once. The CommonJS build is still run, for its type declarations (`.d.cts`), which
 * TypeScript's node16 resolution of `require` needs.
 */
import { readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { defineConfig, type Options } from 'tsup';

export function packageConfig(entries: readonly string[], overrides: Options = {}) {
  return defineConfig({
    entry: [...entries],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    clean: true,
    // One copy of each module shared by all entries (classes registered with tfjs serialization
    // must not be duplicated), and import.meta.url available.
    splitting: true,
    shims: true,
    target: 'es2022',
    platform: 'node',
    async onSuccess() {
      await commonJsEntriesLoadEsm('dist', entries);
    },
    ...overrides,
  });
}

/** Replace each CommonJS entry with `module.exports = require('./<entry>.js')` and drop the CommonJS chunks. */
export async function commonJsEntriesLoadEsm(dist: string, entries: readonly string[]): Promise<void> {
  const names = new Set(entries.map((e) => basename(e).replace(/\.[cm]?tsx?$/, '')));
  for (const file of await readdir(dist)) {
    const isCjs = file.endsWith('.cjs') || file.endsWith('.cjs.map');
    if (isCjs && !names.has(file.replace(/\.cjs(\.map)?$/, ''))) await rm(join(dist, file));
    else if (file.endsWith('.cjs.map')) await rm(join(dist, file));
  }
  for (const name of names) {
    await writeFile(
      join(dist, `${name}.cjs`),
      `'use strict';\n// The ESM build is this package's only module instance; require() loads it (require(esm), Node >= 20.19).\nmodule.exports = require('./${name}.js');\n`,
    );
  }
}
