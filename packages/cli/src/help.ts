/** `--help` texts, generated from the flag tables so they never drift from the parser. */
import { COMMANDS, FLAG_SPECS, type CommandName } from './args.js';

const SUMMARY: Record<CommandName, { usage: string; short: string; about: string; examples: string[] }> = {
  train: {
    short: 'train a model (vanilla, adversarial, advprop, fast-advprop) and write a run directory',
    usage: 'advprop train [--config FILE] [flags]',
    about:
      'Train a model (vanilla, adversarial, AdvProp or fast AdvProp) and write a run directory:\n' +
      'config.json, metrics.jsonl, checkpoints/, model-dual/, model-inference/, summary.json.\n' +
      'With no flags it runs the embedded default: AdvProp with PGD-1 (epsilon 0.1) on MNIST from the\n' +
      '`mnist` package with the small CNN, 2 epochs, robust accuracy against FGSM and PGD-10.\n' +
      'Precedence: embedded defaults < config file < flags < --set.',
    examples: [
      'advprop train',
      'advprop train --epochs 5 --attacker pgd --epsilon 0.3 --steps 3 --out runs/mnist-pgd',
      'advprop train --config run.yaml --seed 1',
      'advprop train --dataset fashion-mnist --data-dir ./data/fashion --model resnet20 --mode adversarial',
      'advprop train --out runs/mnist-pgd --resume',
    ],
  },
  eval: {
    short: 'evaluate a trained model: clean, aux-BN and robust accuracy as JSON',
    usage: 'advprop eval --run DIR [flags] | advprop eval --model DIR --dataset NAME [flags]',
    about:
      'Evaluate a trained model on the test split: clean accuracy, auxiliary-BN accuracy and robust accuracy\n' +
      'per attack. Prints one JSON object on stdout with the keys of summary.json.',
    examples: ['advprop eval --run runs/mnist-pgd', 'advprop eval --run runs/mnist-pgd --eval-attacks fgsm:0.3,pgd:0.3:20 --limit 2000'],
  },
  attack: {
    short: 'attack test images; report robust accuracy and perturbation norms, save .npy files',
    usage: 'advprop attack --run DIR --attacker NAME [--epsilon EPS] [--steps N] [--count N] [--out DIR]',
    about:
      'Attack test images with one attacker. Prints a JSON report on stdout: clean and robust accuracy,\n' +
      'attack success rate, mean and max L-inf / L2 perturbation norms. With --out, saves the adversarial\n' +
      'images and labels as NumPy .npy files and the report as report.json.',
    examples: ['advprop attack --run runs/mnist-pgd --attacker pgd --epsilon 0.1 --count 200 --out adv/'],
  },
  inspect: {
    short: 'list plugins with their options, or show a run directory',
    usage: 'advprop inspect [--kind KIND] [--json] | advprop inspect --run DIR [--json]',
    about: 'List the registered plugins by kind with their options, or show what a run directory holds.',
    examples: ['advprop inspect', 'advprop inspect --kind attacker', 'advprop inspect --run runs/mnist-pgd'],
  },
};

export function commandHelp(command: CommandName): string {
  const s = SUMMARY[command];
  const specs = FLAG_SPECS[command];
  const rows = Object.entries(specs).map(([name, spec]) => {
    const left = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.value ? ` ${spec.value}` : ''}`;
    return [left, spec.help] as const;
  });
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  const lines = rows.map(([l, h]) => `  ${l.padEnd(width)}${h}`);
  return [
    `Usage: ${s.usage}`,
    '',
    s.about,
    '',
    'Flags:',
    ...lines,
    '',
    'Examples:',
    ...s.examples.map((e) => `  ${e}`),
    '',
  ].join('\n');
}

export function mainHelp(): string {
  return [
    'Usage: advprop <command> [flags]',
    '',
    'AdvProp and adversarial training for TensorFlow.js.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.padEnd(9)}${SUMMARY[c].short}`),
    '',
    'Run "advprop <command> --help" for the flags of a command.',
    'With no flags, "advprop train" runs the embedded default (AdvProp on MNIST, a few minutes on 2 CPU cores).',
    '',
  ].join('\n');
}
