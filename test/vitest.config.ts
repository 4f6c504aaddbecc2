import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@advprop/source'] },
  ssr: { resolve: { conditions: ['@advprop/source'] } },
  test: { name: 'cross-package', include: ['**/*.test.ts'], testTimeout: 300_000, hookTimeout: 300_000 },
});
