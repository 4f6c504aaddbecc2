import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryIo, runCli } from './index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'advprop-cli-index-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('runCli: command line', () => {
  it('prints the main help (stdout with --help, stderr and exit 2 without a command)', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('Usage: advprop <command>');
    const none = await run([]);
    expect(none.code).toBe(2);
    expect(none.err).toContain('Usage: advprop <command>');
    expect(none.out).toBe('');
  });

  it('prints help for each command', async () => {
    for (const command of ['train', 'eval', 'attack', 'inspect']) {
      const r = await run([command, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toContain(`Usage: advprop ${command}`);
    }
  });

  it('exits 2 on an unknown command or flag, naming it on stderr, with nothing on stdout', async () => {
    const cmd = await run(['fit']);
    expect(cmd.code).toBe(2);
    expect(cmd.err).toContain('unknown command "fit"');
    const flag = await run(['train', '--learning-rate', '0.1']);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain('unknown flag --learning-rate');
    expect(flag.err).toContain('--lr');
    expect(flag.err).toContain('advprop train --help');
    expect(flag.out).toBe('');
  });

  it('exits 2 on a malformed flag value before loading anything', async () => {
    const r = await run(['train', '--epochs', 'many']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--epochs: expected a number, got "many"');
    const threads = await run(['train', '--threads', '0', '--out', path.join(dir, 'threads-0')]);
    expect(threads.code).toBe(2);
    expect(threads.err).toContain('--threads: expected a number >= 1, got "0"');
    expect(existsSync(path.join(dir, 'threads-0'))).toBe(false);
  });

  it('names the file on a YAML syntax error', async () => {
    const file = path.join(dir, 'broken.yaml');
    await writeFile(file, 'epochs: [1\n');
    const r = await run(['train', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`config file ${file}: invalid YAML`);
  });

  it('prints the version', async () => {
    const r = await run(['--version']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
