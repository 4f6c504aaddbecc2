/**
 * `advprop report DIR`: a static HTML report of a run directory or a sweep directory
 * (@advprop/report), or with --serve the live attack page of a run on localhost.
 */
import { numberFlag, parseAttackList, parseNumber, stringFlag, UsageError, type ParsedFlags } from './args.js';
import { cliLogger, verbosityOf, type CliIo } from './io.js';
import { selectBackend } from './shared.js';

function epsilonList(raw: string): number[] {
  const values = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (values.length === 0) throw new UsageError('--epsilons: expected a comma-separated list of numbers', 'report');
  return values.map((v) => {
    const e = parseNumber(v);
    if (e === undefined || e < 0 || e > 1) throw new UsageError(`--epsilons: "${v}" is not a number in [0, 1]`, 'report');
    return e;
  });
}

export async function reportCommand(positionals: readonly string[], flags: ParsedFlags, io: CliIo): Promise<number> {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? 'which directory? give a run directory or a sweep directory: advprop report DIR' : `expected one directory, got ${positionals.length}: ${positionals.join(' ')}`,
      'report',
    );
  }
  const dir = positionals[0] as string;
  const verbosity = verbosityOf(flags);
  const log = cliLogger(io, verbosity);
  const out = stringFlag(flags, 'out');
  const limit = numberFlag(flags, 'limit', { integer: true, min: 1 });
  const examples = numberFlag(flags, 'examples', { integer: true, min: 1, max: 100 });
  const rawEpsilons = stringFlag(flags, 'epsilons');
  const epsilons = rawEpsilons !== undefined ? epsilonList(rawEpsilons) : undefined;
  const rawAttacks = stringFlag(flags, 'eval-attacks');
  const attacks = rawAttacks !== undefined ? parseAttackList(rawAttacks).map(({ name, options: { epsilon: _e, ...rest } }) => ({ name, options: rest })) : undefined;
  const port = numberFlag(flags, 'port', { integer: true, min: 0, max: 65535 });
  const seed = numberFlag(flags, 'seed', { integer: true, min: 0 });
  const { writeReport, serveLivePage } = await import('@advprop/report');

  if (flags.serve === true) {
    const server = await serveLivePage(dir, { ...(port !== undefined ? { port } : {}), ...(limit !== undefined ? { images: limit } : {}), onProgress: (m) => log.info(m) });
    io.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
    log.info(`live attack page: ${server.url} (Ctrl-C stops it)`);
    await server.closed;
    return 0;
  }
  await selectBackend(stringFlag(flags, 'backend'), io, numberFlag(flags, 'threads', { integer: true, min: 1 }), verbosity);
  const written = await writeReport(dir, {
    ...(out !== undefined ? { out } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(examples !== undefined ? { examples } : {}),
    ...(epsilons !== undefined ? { epsilons } : {}),
    ...(attacks !== undefined ? { attacks } : {}),
    ...(seed !== undefined ? { seed } : {}),
    onProgress: (m) => log.info(m),
  });
  io.stdout.write(`${JSON.stringify(written)}\n`);
  return 0;
}
