#!/usr/bin/env node
// The figures of docs/experiments.md: for every spec of experiments/critique/ with results, the
// `advprop report` site of its runs (one chart per report metric of the spec, with the seeds and
// the 95 % interval), drawn by headless Chromium into docs/images/critique/<spec>-<i>.png.
//   node tools/experiments/critique-figures.mjs
// Needs the built packages and /usr/bin/chromium (or ADVPROP_CHROMIUM). The tables script links
// the images that exist.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { loadSweep } from '@advprop/sweep';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const specDir = path.join(root, 'experiments/critique');
const resultsFile = path.join(specDir, 'results/results.jsonl');
const imageDir = path.join(root, 'docs/images/critique');
const cli = path.join(root, 'packages/cli/bin/advprop.mjs');
const CHROMIUM = process.env.ADVPROP_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

const lines = (await fs.readFile(resultsFile, 'utf8')).split('\n').filter((l) => l.trim() !== '');
const byId = new Map(lines.map((l) => [JSON.parse(l).id, l]));
const work = await fs.mkdtemp(path.join(tmpdir(), 'advprop-critique-figures-'));
await fs.mkdir(imageDir, { recursive: true });
const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
try {
  for (const file of (await fs.readdir(specDir)).filter((f) => f.endsWith('.yaml')).sort()) {
    const sweep = await loadSweep(path.join(specDir, file));
    const runs = sweep.runs.filter((r) => byId.has(r.id));
    if (runs.length === 0) continue;
    const name = path.basename(file, '.yaml');
    const dir = path.join(work, name);
    await fs.mkdir(dir);
    // The spec's own view of its runs: its groups (a run shared by two specs gets this spec's label).
    const results = runs.map((r) => JSON.stringify({ ...JSON.parse(byId.get(r.id)), group: r.group }));
    await fs.writeFile(path.join(dir, 'results.jsonl'), `${results.join('\n')}\n`);
    const groups = [...new Set(sweep.runs.map((r) => r.group))];
    await fs.writeFile(path.join(dir, 'sweep.json'), JSON.stringify({ name: sweep.spec.name, groups, reportMetrics: sweep.spec.report?.metrics ?? [] }));
    await promisify(execFile)(process.execPath, [cli, 'report', dir, '--out', path.join(dir, 'report'), '--quiet'], { cwd: root });
    const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(path.join(dir, 'report', 'index.html')).href);
    await page.waitForSelector('body[data-ready]', { timeout: 60_000 });
    if (errors.length > 0) throw new Error(`report of ${file}: ${errors.join('; ')}`);
    const charts = page.locator('.chart[data-chart^="question-"]');
    const count = await charts.count();
    for (let i = 0; i < count; i++) {
      const out = path.join(imageDir, `${name}-${i}.png`);
      await charts.nth(i).screenshot({ path: out });
      console.error(`${path.relative(root, out)}: ${sweep.spec.report?.metrics?.[i] ?? `chart ${i}`} (${runs.length} runs)`);
    }
    await page.close();
  }
} finally {
  await browser.close();
  await fs.rm(work, { recursive: true, force: true });
}
