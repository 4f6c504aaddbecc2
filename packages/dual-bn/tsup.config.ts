import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/node.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // Share one DualBatchNormalization class between the index and node entries in CJS too.
  splitting: true,
  target: 'es2022',
  platform: 'node',
});
