import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './index.js';
import { memoryIo } from './io.js';

async function run(argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, out: io.out(), err: io.err() };
}

describe('advprop sweep and worker: bad input', () => {
  let dir: string;
  let spec: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'advprop-sweep-cli-'));
    spec = path.join(dir, 'spec.yaml');
    await writeFile(spec, 'base: { mode: vanilla, limit: 64 }\ngrid: { seed: [0, 1] }\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('needs a known subcommand and the spec file', async () => {
    expect((await run(['sweep'])).err).toMatch(/which sweep command\? commands: run, submit, status, results/);
    const bogus = await run(['sweep', 'start', spec]);
    expect(bogus.code).toBe(2);
    expect(bogus.err).toContain('unknown sweep command "start"');
    const noSpec = await run(['sweep', 'run']);
    expect(noSpec.code).toBe(2);
    expect(noSpec.err).toContain('needs the spec file');
    expect((await run(['sweep', 'submit', spec])).err).toContain('needs --redis URL');
    expect((await run(['worker'])).err).toContain('needs --redis URL');
    expect((await run(['sweep', 'status'])).err).toContain('--out DIR is required');
  });

  it('names an unknown spec field and an unwritable storage root before running anything', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'base: { mode: vanilla }\ngrid: { seed: [0] }\nrepeat: 3\n');
    const unknown = await run(['sweep', 'run', bad, '--out', path.join(dir, 'out')]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toMatch(/sweep spec .*bad\.yaml/);
    expect(unknown.err).toContain('repeat');

    const file = path.join(dir, 'a-file');
    await writeFile(file, 'x');
    const root = path.join(file, 'sweep');
    const unwritable = await run(['sweep', 'run', spec, '--out', root]);
    expect(unwritable.code).toBe(1);
    expect(unwritable.err).toContain(`sweep storage root ${root} is not writable`);
  });

  it('--only names a filter that is not an axis, or that keeps no run, before running anything', async () => {
    const notAxis = await run(['sweep', 'run', spec, '--only', 'mode=vanilla', '--out', path.join(dir, 'only')]);
    expect(notAxis.code).toBe(1);
    expect(notAxis.err).toContain('"mode" is not an axis of this sweep; axes: seed');
    const none = await run(['sweep', 'submit', spec, '--only', 'seed=5', '--redis', 'redis://127.0.0.1:1', '--out', path.join(dir, 'only')]);
    expect(none.code).toBe(1);
    expect(none.err).toContain('run filters seed=5 keep none of the 2 runs');
  });

  it('names an unreachable Redis within seconds', async () => {
    const t0 = Date.now();
    const r = await run(['worker', '--redis', 'redis://127.0.0.1:1']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('cannot reach Redis at redis://127.0.0.1:1');
    expect(Date.now() - t0).toBeLessThan(10_000);
  });
});
