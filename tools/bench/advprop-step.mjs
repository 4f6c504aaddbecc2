#!/usr/bin/env node
/**
 * `npm run bench -- --backend NAME --batch 128 --k 1 --steps N [--workers W] [--no-torch] [--profile] [--profile-json FILE]
 *   [--stock-kernels] [--torch-threads T] [--torch-device cpu|cuda] [--warmup N] [--eps E] [--memory-every N]`
 *
 * 1. Runs our AdvProp step (advprop-step-main.ts, or advprop-step-parallel.ts with --workers > 1)
 *    under tsx with the `@advprop/source` condition, so no build is needed; prints its JSON line.
 * 2. When python3 with torch is available (ADVPROP_BENCH_PYTHON, else /usr/bin/python3, else
 *    python3 on PATH), runs ../shared/bench/torch_advprop_step.py with the same batch, k and steps
 *    and prints its JSON line.
 * 3. Prints {"ratio": ours img/s over PyTorch's img/s, ...}.
 * `--k 0` measures the vanilla step instead (plain BN, CE on the clean batch, one update) against
 * tools/bench/torch_vanilla_step.py, which trains the reference's ResNet-20 through its main BNs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'auto' },
    batch: { type: 'string', default: '128' },
    k: { type: 'string', default: '1' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    eps: { type: 'string' },
    workers: { type: 'string', default: '1' },
    'torch-threads': { type: 'string' },
    'torch-device': { type: 'string', default: 'cpu' },
    'no-torch': { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'profile-json': { type: 'string' },
    'stock-kernels': { type: 'boolean', default: false },
    'memory-every': { type: 'string' },
  },
});

const ourArgs = ['--backend', values.backend, '--batch', values.batch, '--k', values.k, '--steps', values.steps, '--warmup', values.warmup];
if (values.eps !== undefined) ourArgs.push('--eps', values.eps);
if (values.profile) ourArgs.push('--profile');
if (values['profile-json'] !== undefined) ourArgs.push('--profile', '--profile-json', resolve(values['profile-json']));
if (values['stock-kernels']) ourArgs.push('--stock-kernels');
if (values['memory-every'] !== undefined) {
  if (Number(values.workers) > 1) {
    console.error('bench: --memory-every samples one process; it does not combine with --workers');
    process.exit(2);
  }
  ourArgs.push('--memory-every', values['memory-every']);
}
const workers = Number(values.workers);
const entry = workers > 1 ? join(here, 'advprop-step-parallel.ts') : join(here, 'advprop-step-main.ts');
if (workers > 1) ourArgs.push('--workers', String(workers));

function lastJsonLine(text) {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  return lines.length ? JSON.parse(lines[lines.length - 1]) : undefined;
}

const ours = spawnSync(process.execPath, ['--import', 'tsx', '--conditions=@advprop/source', entry, ...ourArgs], {
  cwd: root,
  encoding: 'utf8',
  stdio: ['ignore', 'pipe', 'inherit'],
  maxBuffer: 1 << 26,
});
if (ours.status !== 0) {
  process.stdout.write(ours.stdout ?? '');
  console.error(`bench: our step failed (exit ${ours.status})`);
  process.exit(ours.status ?? 1);
}
const ourLine = lastJsonLine(ours.stdout);
console.log(JSON.stringify(ourLine));

if (values['no-torch']) process.exit(0);
const vanilla = Number(values.k) === 0;
const script = vanilla ? join(here, 'torch_vanilla_step.py') : resolve(root, '..', 'shared', 'bench', 'torch_advprop_step.py');
const candidates = [process.env.ADVPROP_BENCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean);
let python;
for (const candidate of candidates) {
  if (candidate.startsWith('/') && !existsSync(candidate)) continue;
  const probe = spawnSync(candidate, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status === 0) {
    python = candidate;
    break;
  }
}
if (!python || !existsSync(script)) {
  console.error(`bench: no PyTorch reference (${!existsSync(script) ? `${script} missing` : 'no python3 with torch; apt-get install python3-torch'}); ratio not computed`);
  process.exit(0);
}
const torchArgs = [script, '--device', values['torch-device'], '--batch', values.batch, '--steps', values.steps, ...(vanilla ? [] : ['--k', values.k])];
if (values.eps !== undefined && !vanilla) torchArgs.push('--eps', values.eps);
if (values['torch-threads']) torchArgs.push('--threads', values['torch-threads']);
const torch = spawnSync(python, torchArgs, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (torch.status !== 0) {
  console.error(`bench: the PyTorch reference failed (exit ${torch.status})`);
  process.exit(0);
}
const torchLine = lastJsonLine(torch.stdout);
console.log(JSON.stringify(torchLine));
console.log(
  JSON.stringify({
    ratio: +(ourLine.img_per_s / torchLine.img_per_s).toFixed(3),
    ours_img_per_s: ourLine.img_per_s,
    torch_img_per_s: torchLine.img_per_s,
    backend: ourLine.backend,
    batch: Number(values.batch),
    k: Number(values.k),
  }),
);
