import { describe, expect, it } from 'vitest';
import { closest, FLAG_SPECS, numberFlag, parseArgs, parseAttackList, parseNumber, UsageError } from './args.js';
import { commandHelp, mainHelp } from './help.js';

describe('parseArgs', () => {
  it('parses a command and its flags', () => {
    const p = parseArgs(['train', '--epochs', '3', '--batch-size=32', '--resume', '-o', 'runs/x', '--set', 'a=1', '--set', 'b=2']);
    expect(p.command).toBe('train');
    expect(p.flags).toMatchObject({ epochs: '3', 'batch-size': '32', resume: true, out: 'runs/x', set: ['a=1', 'b=2'] });
  });

  it('returns no command for an empty argv and help for --help', () => {
    expect(parseArgs([]).command).toBeUndefined();
    expect(parseArgs(['--help']).flags.help).toBe(true);
    expect(parseArgs(['help', 'eval'])).toMatchObject({ command: 'eval', flags: { help: true } });
  });

  it('rejects an unknown command, listing the commands', () => {
    expect(() => parseArgs(['trian'])).toThrow(UsageError);
    expect(() => parseArgs(['trian'])).toThrow(/unknown command "trian"; commands: train, eval, attack, inspect/);
  });

  it('rejects an unknown flag, naming it, suggesting the nearest and listing the valid ones', () => {
    let error: unknown;
    try {
      parseArgs(['train', '--epoch', '2']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).toContain('unknown flag --epoch');
    expect(message).toContain('did you mean --epochs?');
    expect(message).toContain('--batch-size');
    expect(message).toContain('--resume');
  });

  it('rejects flags of another command and stray positionals', () => {
    expect(() => parseArgs(['inspect', '--epochs', '2'])).toThrow(/unknown flag --epochs for "advprop inspect"/);
    expect(() => parseArgs(['train', 'mnist'])).toThrow(/unexpected argument "mnist"/);
  });

  it('rejects a value flag without a value and a boolean flag with one', () => {
    expect(() => parseArgs(['train', '--epochs'])).toThrow(/--epochs/);
    expect(() => parseArgs(['train', '--resume=yes'])).toThrow(/--resume/);
  });
});

describe('typed flags', () => {
  it('parses numbers and fractions', () => {
    expect(parseNumber('0.1')).toBe(0.1);
    expect(parseNumber('8/255')).toBeCloseTo(8 / 255);
    expect(parseNumber('1e-3')).toBe(0.001);
    expect(parseNumber('abc')).toBeUndefined();
    expect(parseNumber('1/0')).toBeUndefined();
    expect(parseNumber('')).toBeUndefined();
  });

  it('names the flag at fault', () => {
    expect(() => numberFlag({ epochs: 'two' }, 'epochs')).toThrow('--epochs: expected a number, got "two"');
    expect(() => numberFlag({ epochs: '1.5' }, 'epochs', { integer: true })).toThrow('--epochs: expected an integer');
    expect(() => numberFlag({ epochs: '0' }, 'epochs', { min: 1 })).toThrow('--epochs: expected a number >= 1');
    expect(() => numberFlag({ lr: '-1' }, 'lr', { positive: true })).toThrow('--lr: expected a number > 0');
    expect(numberFlag({}, 'epochs')).toBeUndefined();
  });

  it('parses attack lists', () => {
    expect(parseAttackList('fgsm, pgd:8/255:20')).toEqual([
      { name: 'fgsm', options: {} },
      { name: 'pgd', options: { epsilon: '8/255', steps: 20 } }, // kept as written; the attack parses it
    ]);
    expect(() => parseAttackList('pgd:x')).toThrow(/epsilon of "pgd:x": "x" is not a number or a fraction like "8\/255"/);
    expect(() => parseAttackList('pgd:-0.1')).toThrow(/must be >= 0/);
    expect(parseAttackList('fgsm:0.1')).toEqual([{ name: 'fgsm', options: { epsilon: 0.1 } }]);
    expect(() => parseAttackList('pgd:0.1:0')).toThrow(/steps "0"/);
    expect(() => parseAttackList(' , ')).toThrow(/comma-separated/);
  });

  it('suggests close names only', () => {
    expect(closest('bach-size', ['batch-size', 'epochs'])).toBe('batch-size');
    expect(closest('zzz', ['batch-size', 'epochs'])).toBeUndefined();
  });
});

describe('help', () => {
  it('documents every flag of every command', () => {
    for (const [command, specs] of Object.entries(FLAG_SPECS)) {
      const help = commandHelp(command as keyof typeof FLAG_SPECS);
      for (const flag of Object.keys(specs)) expect(help).toContain(`--${flag}`);
    }
    expect(mainHelp()).toContain('advprop <command>');
  });

  it('covers the flags the issue asks for', () => {
    const train = Object.keys(FLAG_SPECS.train);
    for (const f of ['dataset', 'data-dir', 'model', 'mode', 'attacker', 'epsilon', 'steps', 'epochs', 'batch-size', 'lr', 'limit', 'backend', 'seed', 'out', 'resume', 'config']) {
      expect(train).toContain(f);
    }
  });
});
