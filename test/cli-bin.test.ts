/**
 * The `advprop` bin as a user runs it (`npx advprop ...`): a child Node process on the built dist,
 * checking exit codes, the stdout / stderr split and that the process exits by itself when done.
 * Needs `npm run build` first (`npm run test:all` does it), like published-entry-points.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const bin = join(root, 'packages', 'cli', 'bin', 'advprop.mjs');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'advprop-cli-bin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function advprop(args: string[], timeout = 120_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [bin, ...args], { cwd: dir, timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('advprop bin', () => {
  it('is linked as node_modules/.bin/advprop and built', () => {
    const link = join(root, 'node_modules', '.bin', 'advprop');
    expect(existsSync(link), 'run npm install at the root').toBe(true);
    expect(realpathSync(link)).toBe(realpathSync(bin));
    expect(existsSync(join(root, 'packages', 'cli', 'dist', 'index.js')), 'run npm run build').toBe(true);
  });

  it('prints help and exits 0; exits 2 on a bad flag', async () => {
    const help = await advprop(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: advprop <command>');
    const bad = await advprop(['train', '--epoch', '3']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown flag --epoch');
    expect(bad.stdout).toBe('');
  });

  it('exits 1 with the known names for an unknown dataset', async () => {
    const r = await advprop(['train', '--dataset', 'imagenet', '--out', join(dir, 'never')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No dataset plugin named "imagenet".*"mnist-package"/);
    expect(r.stdout).toBe('');
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('trains a short run, prints one JSON line and exits by itself', async () => {
    const out = join(dir, 'run');
    const r = await advprop(['train', '--limit', '128', '--epochs', '1', '--eval-limit', '50', '--eval-attacks', 'fgsm', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('clean accuracy');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0] as string) as Record<string, unknown>;
    expect(summary).toMatchObject({ mode: 'advprop', dataset: 'mnist-package', epochs: 1 });
    expect(JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'))).toEqual(summary);
  });
});
