/**
 * Runs the README's "Composing a pipeline" example exactly as written (extracted from README.md),
 * in a child process against the built packages, as a user would. Needs `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

describe('README example', () => {
  it('composes a pipeline with a custom attacker and trains with AdvProp', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Composing a pipeline'));
    const code = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(code, 'README has a ts block under "Composing a pipeline"').toBeTruthy();
    const dir = mkdtempSync(join(root, 'test', '.readme-example-'));
    try {
      const file = join(dir, 'example.mts');
      writeFileSync(file, code as string);
      const out = execFileSync(process.execPath, ['--import', 'tsx', file], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 280_000,
      });
      const result = JSON.parse(out.trim().split('\n').pop() as string) as { clean: number; robust: Record<string, number> };
      // 2000 MNIST images, two epochs, 8-filter CNN: well above the 0.1 of chance (measured 0.8 to 0.9).
      expect(result.clean).toBeGreaterThan(0.7);
      expect(Object.keys(result.robust)).toEqual(['pgd']);
      expect(result.robust.pgd).toBeGreaterThanOrEqual(0);
      expect(result.robust.pgd).toBeLessThanOrEqual(result.clean);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
