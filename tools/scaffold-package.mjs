#!/usr/bin/env node
// Writes the shared per-package files (package.json fields, tsup, tsconfig, vitest project) so
// every package follows one layout. Usage: node tools/scaffold-package.mjs <dir> "<description>" [entry ...]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, description, ...extraEntries] = process.argv.slice(2);
if (!dir || !description) {
  console.error('usage: scaffold-package.mjs <dir> <description> [entry ...]');
  process.exit(2);
}
const root = join('packages', dir);
mkdirSync(join(root, 'src'), { recursive: true });
const entries = ['index', ...extraEntries];
const pkgFile = join(root, 'package.json');
const existing = existsSync(pkgFile) ? JSON.parse(readFileSync(pkgFile, 'utf8')) : {};
const exportsMap = {};
for (const entry of entries) {
  exportsMap[entry === 'index' ? '.' : `./${entry}`] = {
    '@advprop/source': `./src/${entry}.ts`,
    import: { types: `./dist/${entry}.d.ts`, default: `./dist/${entry}.js` },
    require: { types: `./dist/${entry}.d.cts`, default: `./dist/${entry}.cjs` },
  };
}
exportsMap['./package.json'] = './package.json';
const pkg = {
  name: `@advprop/${dir}`,
  version: existing.version ?? '0.1.0',
  description,
  license: 'MIT',
  type: 'module',
  sideEffects: existing.sideEffects ?? false,
  main: './dist/index.cjs',
  module: './dist/index.js',
  types: './dist/index.d.ts',
  ...(existing.bin ? { bin: existing.bin } : {}),
  exports: exportsMap,
  // keep extra published folders a package added (the CLI's bin/)
  files: [...new Set([...(existing.bin ? ['bin'] : []), ...(existing.files ?? []), 'dist', 'src', '!src/**/*.test.ts', '!src/**/__fixtures__'])],
  engines: { node: '>=20.19' },
  repository: { type: 'git', url: 'git+https://example.invalid/advprop.git', directory: `packages/${dir}` },
  keywords: ['advprop', 'adversarial', 'tensorflow', 'tfjs'],
  scripts: {
    // a package with more to build (the native addon) keeps its own build script
    build: existing.scripts?.build ?? 'tsup',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'eslint src',
    test: 'vitest run --project ' + dir,
    publint: 'publint --strict',
    attw: 'attw --pack . --profile node16',
  },
  ...(existing.nx ? { nx: existing.nx } : {}),
  dependencies: existing.dependencies ?? {},
  peerDependencies: existing.peerDependencies ?? {},
  peerDependenciesMeta: existing.peerDependenciesMeta ?? {},
  devDependencies: existing.devDependencies ?? {},
};
for (const k of ['dependencies', 'peerDependencies', 'peerDependenciesMeta', 'devDependencies']) {
  if (Object.keys(pkg[k]).length === 0) delete pkg[k];
}
writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(
  join(root, 'tsup.config.ts'),
  `import { packageConfig } from '../../tsup.shared';

export default packageConfig([${entries.map((e) => `'src/${e}.ts'`).join(', ')}]);
`,
);
writeFileSync(
  join(root, 'tsconfig.json'),
  JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src'], compilerOptions: { rootDir: 'src' } }, null, 2) + '\n',
);
writeFileSync(
  join(root, 'vitest.config.ts'),
  `import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@advprop/source'] },
  ssr: { resolve: { conditions: ['@advprop/source'] } },
  test: { name: '${dir}', include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
});
`,
);
console.log(`scaffolded ${root}`);
