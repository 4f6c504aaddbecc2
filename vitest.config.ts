import { defineConfig } from 'vitest/config';

// One project per package (tests beside the code) plus `test/` for cross-package tests.
// Packages resolve to their sources through the `@advprop/source` export condition, so tests
// run without a build; `test/published` checks the built entry points separately.
export default defineConfig({
  test: {
    projects: ['packages/*', 'test'],
    coverage: {
      provider: 'v8',
      include: ['packages/*/src/**/*.ts'],
      exclude: ['**/*.test.ts', '**/index.ts'],
      reporter: ['text-summary', 'json-summary'],
    },
  },
});
