/** Shared pieces of the sweep tests: a tiny spec, the CLI as a process, waiting, comparing runs. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { DirectoryStorage, type RunResult } from '@advprop/sweep';

const ROOT = path.resolve(import.meta.dirname, '..');
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A spec of `seeds` x {vanilla, advprop} short runs with a checkpoint every 4 steps. */
export function tinySpec(seeds: number[], limit: number): string {
  return [
    'name: sweep-test',
    'backend: cpu',
    'attempts: 3',
    'backoffSeconds: 1',
    'base:',
    '  dataset: { name: mnist-package }',
    '  model: { name: small-cnn, options: { filters: 4 } }',
    `  epochs: 1`,
    `  batchSize: 16`,
    `  limit: ${limit}`,
    '  evaluation: { attacks: [{ name: fgsm, options: { epsilon: 0.1 } }], limit: 100, epochLimit: 0 }',
    '  checkpoint: { everySteps: 4 }',
    'grid:',
    `  seed: [${seeds.join(', ')}]`,
    '  mode: [vanilla, advprop]',
    '',
  ].join('\n');
}

/** `advprop ARGS` from the sources, as its own process (stdout and stderr collected). */
export function spawnCli(args: readonly string[]): ChildProcess & { output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', TSX, '--conditions=@advprop/source', path.join(ROOT, 'test/fixtures/sweep-cli.mts'), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  return Object.assign(child, { output: () => output });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
}

/** The results of a storage root by run id, each id checked to appear once. */
export async function resultsById(root: string): Promise<Map<string, RunResult>> {
  const text = await fs.readFile(path.join(root, 'results.jsonl'), 'utf8');
  const ids = text.split('\n').filter((l) => l.trim() !== '').map((l) => (JSON.parse(l) as RunResult).id);
  if (new Set(ids).size !== ids.length) throw new Error(`results.jsonl of ${root} lists a run twice: ${ids.join(', ')}`);
  return new Map((await new DirectoryStorage(root).readResults()).map((r) => [r.id, r]));
}

/** Summary fields that measure time (differ between two identical runs) or record a resume. */
const NOT_COMPARED = new Set(['wall_seconds', 'images_per_second', 'resumed_from', 'backend']);

export function comparableSummary(summary: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(summary).filter(([k]) => !NOT_COMPARED.has(k)));
}

/**
 * The run's saved models: model.json (weight file names, which carry a random suffix, replaced by
 * their order) and the bytes of every weight file, by model.
 */
export async function modelFiles(root: string, id: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const model of ['model-dual', 'model-inference']) {
    const dir = path.join(root, 'runs', id, model);
    const bins = (await fs.readdir(dir)).filter((f) => f.endsWith('.bin')).sort();
    let json = await fs.readFile(path.join(dir, 'model.json'), 'utf8');
    for (const [i, f] of bins.entries()) {
      json = json.split(f).join(`weights-${i}.bin`);
      out.set(`${model}/weights-${i}.bin`, await fs.readFile(path.join(dir, f)));
    }
    out.set(`${model}/model.json`, Buffer.from(json));
  }
  return out;
}
