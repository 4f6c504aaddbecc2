/**
 * What a new user meets first, through the `advprop` bin in a child process (so native output,
 * which no JavaScript can intercept, is captured too): no Dawn driver messages and no TF.js
 * banner, a one-line backend status, `--quiet` printing only errors, and a bad command line
 * rejected before a backend loads or a directory is made. Needs `npm run build` first, like
 * cli-bin.test.ts; ADVPROP_CLI_FROM_SOURCE=1 runs the TypeScript sources instead (through tsx).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const fromSource = process.env.ADVPROP_CLI_FROM_SOURCE === '1';

let dir: string;
let sourceRunner: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'advprop-first-contact-'));
  sourceRunner = join(dir, 'run-source.mjs');
  await writeFile(sourceRunner, `const { runCli } = await import(${JSON.stringify(join(root, 'packages/cli/src/index.ts'))});\nprocess.exitCode = await runCli(process.argv.slice(2));\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function advprop(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = fromSource
    ? ['--conditions=@advprop/source', '--import', 'tsx', sourceRunner, ...args]
    : [join(root, 'packages', 'cli', 'bin', 'advprop.mjs'), ...args];
  return new Promise((done) => {
    // No TTY: progress comes as plain lines. cwd is the repository only for tsx's resolution.
    execFile(process.execPath, argv, { cwd: fromSource ? root : dir, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      done({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

/** Lines Dawn (the `webgpu` package) writes to fd 2, and the TF.js Node banner. */
const NOISE = /XDG_RUNTIME_DIR|Couldn't load Vulkan|libvulkan\.so|BackendVk\.cpp|third_party\/dawn|Hi, looks like you are running TensorFlow\.js|To speed things up dramatically/;

const SHORT_RUN = ['--limit', '128', '--epochs', '1', '--eval-limit', '50', '--eval-attacks', 'fgsm'];

describe('advprop, first contact', () => {
  it('a training run prints no Dawn or TF.js noise and a one-line backend status under 100 characters', async () => {
    const r = await advprop(['train', ...SHORT_RUN, '--out', join(dir, 'auto')]);
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(NOISE);
    const backendLines = r.stderr.split('\n').filter((l) => l.startsWith('backend:'));
    expect(backendLines).toHaveLength(1);
    expect(backendLines[0]!.length).toBeLessThan(100);
    expect(backendLines[0]).toMatch(/^backend: wasm( \+ native kernels)? \(\d+ threads?/);
    // Plain progress (not a TTY), the final evaluation per attack, and why a 2-step run learns nothing.
    expect(r.stderr).toMatch(/^epoch 1\/1 .*img\/s .*ETA/m);
    expect(r.stderr).toMatch(/^final evaluation: fgsm \d+\.\d% on 50 images$/m);
    expect(r.stderr).toMatch(/^warning: this run makes only 2 optimizer steps/m);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('the cpu backend does not print the TF.js "running in Node.js" banner either', async () => {
    const r = await advprop(['train', ...SHORT_RUN, '--backend', 'cpu', '--out', join(dir, 'cpu')]);
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(NOISE);
    expect(r.stderr).toMatch(/^backend: cpu/m);
  });

  it('--quiet prints nothing on stderr; stdout keeps the JSON result', async () => {
    const r = await advprop(['train', ...SHORT_RUN, '--quiet', '--out', join(dir, 'quiet')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ mode: 'advprop', epochs: 1 });
  });

  it('--verbose and `inspect --backends` say why the faster backends were skipped, still without Dawn output', async () => {
    const inspect = await advprop(['inspect', '--backends']);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^ {2}tensorflow +not available: .*not installed/m);
    expect(inspect.stdout).toMatch(/^ {2}webgpu +(available|not available: .*)$/m);
    expect(inspect.stdout).toMatch(/^ {2}wasm +available$/m);
    expect(inspect.stdout).toMatch(/^native kernels \(serve wasm and cpu\): /m);
    expect(`${inspect.stdout}\n${inspect.stderr}`).not.toMatch(NOISE);
    const json = await advprop(['inspect', '--backends', '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ backends: expect.arrayContaining([{ name: 'wasm', available: true }]) });
    const verbose = await advprop(['train', ...SHORT_RUN, '--mode', 'vanilla', '--verbose', '--out', join(dir, 'verbose')]);
    expect(verbose.code, verbose.stderr).toBe(0);
    expect(verbose.stderr).toMatch(/^ {2}auto chose wasm, the fastest backend that loads here: /m);
    expect(verbose.stderr).toMatch(/^ {2}skipped tensorflow: .*not installed/m);
    expect(verbose.stderr).toMatch(/^ {2}skipped webgpu: /m);
    expect(`${verbose.stdout}\n${verbose.stderr}`).not.toMatch(NOISE);
  });

  it('rejects a bad command line before loading a backend, and creates nothing', async () => {
    const out = join(dir, 'never');
    const cases: { args: string[]; code: number; message: RegExp }[] = [
      { args: ['eval'], code: 1, message: /which model\? give --run DIR/ },
      { args: ['eval', '--run', join(dir, 'no-such-run')], code: 1, message: /--run .*no-such-run: no such run directory/ },
      { args: ['train', '--dataset', 'fashion-mnist', '--data-dir', join(dir, 'no-such-data'), '--out', out], code: 1, message: /data directory .*no-such-data does not exist/ },
      { args: ['train', '--epsilon', '-0.1', '--out', out], code: 2, message: /--epsilon.*-0\.1/ },
      { args: ['attack', '--run', join(dir, 'no-such-run'), '--out', out], code: 1, message: /no such run directory/ },
    ];
    for (const { args, code, message } of cases) {
      const r = await advprop(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(message);
      expect(r.stderr, args.join(' ')).not.toMatch(/ambiguous|^backend:/m);
      expect(r.stderr.trim().split('\n').length, r.stderr).toBeLessThanOrEqual(2);
      expect(existsSync(out), `${args.join(' ')} created ${out}`).toBe(false);
    }
  });
});
