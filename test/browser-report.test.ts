/**
 * `advprop report` end to end in Chromium: a short run of the README's main job (a tiny limit),
 * its report opened from disk (file://): the charts have data marks, the grid has the expected
 * images, the page logs no console error; and the report of a sweep directory (a tiny real sweep
 * run by `advprop sweep run`). Screenshots are
 * saved under test-output/browser/.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from '@advprop/cli';
import { hasChromium, launchChromium, screenshot, type Browser } from './browser-helpers.js';

const EXAMPLES = 6;
const EPSILONS = [0, 0.05, 0.1, 0.2];
/** Backend of the runs: the default (auto) unless set. */
const BACKEND = process.env.ADVPROP_TEST_BACKEND ?? 'auto';

let dir: string;
let runDir: string;
let browser: Browser;

async function cli(argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-browser-report-'));
  runDir = path.join(dir, 'main-job');
  // The README's main job (`advprop train`, embedded defaults) with a tiny limit.
  const train = await cli(['train', '--limit', '400', '--epochs', '1', '--eval-limit', '100', '--quiet', '--out', runDir, '--backend', BACKEND]);
  expect(train.code, train.err).toBe(0);
  if (hasChromium) browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(hasChromium)('advprop report in Chromium', () => {
  it('renders a run report from disk: charts with data, the example grid, no console error', async () => {
    const site = path.join(dir, 'run-report');
    const report = await cli(['report', runDir, '--out', site, '--limit', '100', '--examples', String(EXAMPLES), '--epsilons', EPSILONS.join(','), '--eval-attacks', 'fgsm,pgd::3', '--backend', BACKEND]);
    expect(report.code, report.err).toBe(0);
    const written = JSON.parse(report.out) as { kind: string; index: string };
    expect(written).toMatchObject({ kind: 'run', index: path.join(site, 'index.html') });

    const { page, errors } = await browser.newPage();
    await page.goto(pathToFileURL(written.index).href);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');

    // Data marks only (role-mark), not legend symbols or axis rules.
    const marks = (chart: string, selector: string) => page.locator(`.chart[data-chart="${chart}"] svg .role-mark${selector}`).count();
    // Training curves: one line per metric, drawn from metrics.jsonl.
    for (const chart of ['loss', 'accuracy', 'lr', 'throughput']) expect(await marks(chart, '.mark-line path'), chart).toBeGreaterThan(0);
    // Robust accuracy: one point per attack and epsilon (the run evaluates fgsm and pgd).
    expect(await marks('robustness', '.mark-symbol path')).toBe(2 * EPSILONS.length);
    const points = await page.evaluate(() => (window as unknown as { ADVPROP_REPORT: { robustness: { points: { epsilon: number; accuracy: number }[] } } }).ADVPROP_REPORT.robustness.points);
    expect(points).toHaveLength(2 * EPSILONS.length);
    for (const p of points) expect(p.accuracy).toBeGreaterThanOrEqual(0);
    // At epsilon 0 both attacks give the clean accuracy; a stronger attack never helps more than chance.
    expect(points.filter((p) => p.epsilon === 0).map((p) => p.accuracy)).toEqual([points[0]!.accuracy, points[0]!.accuracy]);
    // Per class: one bar per class with test examples; corruptions: one bar per corruption plus clean.
    expect(await marks('per-class', '.mark-rect path')).toBeGreaterThan(0);
    expect(await marks('corruptions', '.mark-rect path')).toBe(13);

    // The grid: clean, perturbation and adversarial image per example, all decoded by the browser.
    expect(await page.locator('#examples figure').count()).toBe(EXAMPLES);
    const images = page.locator('#examples img');
    expect(await images.count()).toBe(3 * EXAMPLES);
    const widths = await images.evaluateAll((els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
    expect(widths.every((w) => w === 28 * 4)).toBe(true);

    await screenshot(page, 'report-run');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('renders a sweep report: results table, spread and one chart per metric with confidence intervals', async () => {
    // A real sweep directory (packages/sweep, the embedded runner): 2 seeds x {vanilla, advprop}, tiny runs.
    const spec = path.join(dir, 'sweep.yaml');
    await writeFile(
      spec,
      [
        'name: browser-test',
        `backend: ${BACKEND}`,
        'base:',
        '  dataset: { name: mnist-package }',
        '  model: { name: small-cnn, options: { filters: 4 } }',
        '  epochs: 1',
        '  limit: 200',
        '  evaluation: { attacks: [{ name: fgsm, options: { epsilon: 0.1 } }, { name: pgd, options: { epsilon: 0.1, steps: 2 } }], limit: 100, epochLimit: 0 }',
        'grid:',
        '  seed: [0, 1]',
        '  mode: [vanilla, advprop]',
        '',
      ].join('\n'),
    );
    const sweepDir = path.join(dir, 'sweep');
    const sweep = await cli(['sweep', 'run', spec, '--out', sweepDir]);
    expect(sweep.code, sweep.err).toBe(0);

    const report = await cli(['report', sweepDir]);
    expect(report.code, report.err).toBe(0);
    const written = JSON.parse(report.out) as { kind: string; index: string };
    expect(written).toMatchObject({ kind: 'sweep', index: path.join(sweepDir, 'report', 'index.html') });

    const { page, errors } = await browser.newPage();
    await page.goto(pathToFileURL(written.index).href);
    await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
    expect(await page.getAttribute('body', 'data-ready')).toBe('true');
    // Results table: a header and 4 runs.
    expect(await page.locator('section').first().locator('tr').count()).toBe(5);
    // clean_accuracy, robust_accuracy/fgsm, robust_accuracy/pgd: one chart each, two arms with an interval each.
    const charts = page.locator('.chart[data-chart^="question-"]');
    expect(await charts.count()).toBe(3);
    for (let i = 0; i < 3; i++) {
      expect(await charts.nth(i).locator('svg .role-mark.mark-rule line').count()).toBe(2);
      expect(await charts.nth(i).locator('svg .role-mark.mark-symbol path').count()).toBe(4);
    }
    const stats = await page.evaluate(() =>
      (window as unknown as { ADVPROP_REPORT: { questions: { metric: string; arms: { arm: string; mean: number; low: number; high: number }[] }[] } }).ADVPROP_REPORT.questions,
    );
    // The statistics agree with results.jsonl.
    const results = (await readFile(path.join(sweepDir, 'results.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { group: string; summary: { robust_accuracy: Record<string, number> } });
    const fgsm = stats.find((q) => q.metric === 'robust_accuracy/fgsm')!;
    expect(fgsm.arms.map((a) => a.arm).sort()).toEqual(['mode=advprop', 'mode=vanilla']);
    for (const arm of fgsm.arms) {
      const values = results.filter((r) => r.group === arm.arm).map((r) => r.summary.robust_accuracy.fgsm!);
      expect(arm.mean).toBeCloseTo(values.reduce((a, v) => a + v, 0) / values.length, 12);
      expect(arm.low).toBeLessThanOrEqual(arm.mean);
      expect(arm.high).toBeGreaterThanOrEqual(arm.mean);
    }
    await screenshot(page, 'report-sweep');
    expect(errors).toEqual([]);
    await page.close();
  });
});

describe('advprop report errors', () => {
  it('names the missing directory and the missing or broken file', async () => {
    const missing = await cli(['report', path.join(dir, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(path.join(dir, 'nope'));

    const broken = path.join(dir, 'broken');
    await mkdir(broken);
    await writeFile(path.join(broken, 'config.json'), await readFile(path.join(runDir, 'config.json')));
    const noSummary = await cli(['report', broken]);
    expect(noSummary.code).toBe(1);
    expect(noSummary.err).toContain(path.join(broken, 'summary.json'));

    await writeFile(path.join(broken, 'summary.json'), await readFile(path.join(runDir, 'summary.json')));
    await writeFile(path.join(broken, 'metrics.jsonl'), '{"type":"batch","epoch":0,"step":1,"loss":1}\n{"type":"batch", "epoch":\n');
    const badMetrics = await cli(['report', broken]);
    expect(badMetrics.code).toBe(1);
    expect(badMetrics.err).toContain('line 2 of metrics.jsonl');
    expect(badMetrics.err).toContain(path.join(broken, 'metrics.jsonl'));

    const usage = await cli(['report']);
    expect(usage.code).toBe(2);
    expect(usage.err).toContain('advprop report DIR');
  });
});
