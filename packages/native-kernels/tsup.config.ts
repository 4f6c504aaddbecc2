import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  // One copy of each module shared by all entries in the CJS build too (classes registered with
  // tfjs serialization must not be duplicated), and import.meta.url available in CJS.
  splitting: true,
  shims: true,
  target: 'es2022',
  platform: 'node',
});
