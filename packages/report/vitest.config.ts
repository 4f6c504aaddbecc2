import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['@advprop/source'] },
  ssr: { resolve: { conditions: ['@advprop/source'] } },
  test: { name: 'report', include: ['src/**/*.test.ts'], testTimeout: 120_000, hookTimeout: 120_000 },
});
