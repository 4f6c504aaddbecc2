/**
 * The READMEs' measured figures are generated (tools/readme-figures.mjs) from the run recorded in
 * docs/readme-figures.json: the marked regions must be exactly what that record renders, and a
 * fresh run of the main job (CI passes its summary.json) must agree with it within the tolerance.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const script = join(root, 'tools', 'readme-figures.mjs');
const work = mkdtempSync(join(tmpdir(), 'advprop-readme-figures-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Figures {
  date: string;
  commit: string;
  mainJob: { wall_seconds: number; images_per_second: number; clean_accuracy: number; aux_accuracy: number | null; robust_accuracy: Record<string, number> };
  commands: { setup?: { wall_seconds: number } };
}
const figures = JSON.parse(readFileSync(join(root, 'docs', 'readme-figures.json'), 'utf8')) as Figures;

function check(...args: string[]) {
  return spawnSync(process.execPath, [script, 'check', ...args], { cwd: root, encoding: 'utf8' });
}

describe('README figures', () => {
  it('the READMEs hold exactly what the recorded run renders', () => {
    const r = check();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const cli = readFileSync(join(root, 'packages', 'cli', 'README.md'), 'utf8');
    expect(readme).toContain(`${Math.round(figures.mainJob.images_per_second)} training images/s`);
    expect(cli).toContain(`clean accuracy ${(figures.mainJob.clean_accuracy * 100).toFixed(1)} %`);
  });

  it('the recorded run is a real main job: date, commit, timings and a model that learned', () => {
    expect(figures.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(figures.commit).toMatch(/^[0-9a-f]{7,}/);
    expect(figures.mainJob.wall_seconds).toBeGreaterThan(0);
    expect(figures.mainJob.clean_accuracy).toBeGreaterThan(0.8);
    expect(Object.keys(figures.mainJob.robust_accuracy).length).toBeGreaterThan(0);
  });

  it('a fresh run within the tolerance passes; one that moved fails and names the figure', () => {
    const same = join(work, 'same.json');
    writeFileSync(same, JSON.stringify({ ...figures.mainJob, clean_accuracy: figures.mainJob.clean_accuracy - 0.01 }));
    expect(check('--summary', same).status).toBe(0);
    const moved = join(work, 'moved.json');
    writeFileSync(moved, JSON.stringify({ ...figures.mainJob, clean_accuracy: figures.mainJob.clean_accuracy - 0.05 }));
    const r = check('--summary', moved);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/clean accuracy: this run .* README .*tolerance 2 points/);
  });
});
