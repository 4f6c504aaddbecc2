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
    usage: 'advprop inspect [--kind KIND] [--json] | advprop inspect --run DIR [--json] | advprop inspect --backends [--json]',
    about:
      'List the registered plugins by kind with their options, show what a run directory holds, or probe the\n' +
      'backends (which can load here, why the others cannot, whether the native kernels serve wasm and cpu).',
    examples: ['advprop inspect', 'advprop inspect --kind attacker', 'advprop inspect --run runs/mnist-pgd', 'advprop inspect --backends'],
  },
  sweep: {
    short: 'run a grid of trainings from a spec: embedded here, or on BullMQ workers over Redis',
    usage: 'advprop sweep run SPEC [--out DIR] | sweep submit SPEC --redis URL [--out DIR] [--first] | sweep status --out DIR [--redis URL] | sweep results --out DIR [--format md|json]',
    about:
      'A sweep spec (YAML or JSON; docs/sweeps.md) gives a base training config and grid / zip axes over any\n' +
      'field. "run" trains every run on this machine (no Redis needed), "submit" enqueues the runs for\n' +
      '"advprop worker" processes, "status" counts done, running, failed and retried runs with an ETA,\n' +
      '"results" prints mean, sd and 95 % CI per group. Runs already finished in --out are never run again.',
    examples: [
      'advprop sweep run experiments/example-sweep.yaml --out sweeps/example',
      'advprop sweep run experiments/critique/fashion-small-cnn.yaml --only label=advprop-pgd1 --only seed=0',
      'advprop sweep submit experiments/critique/fashion-small-cnn.yaml --redis redis://queue-host:6379 --out /shared/sweeps/critique',
      'advprop sweep submit experiments/critique/fashion-small-cnn.yaml --only label=madry-pgd3 --first --redis redis://queue-host:6379 --out /shared/sweeps/critique',
      'advprop sweep status --out /shared/sweeps/critique --redis redis://queue-host:6379',
      'advprop sweep results --out sweeps/example --format json',
    ],
  },
  worker: {
    short: 'process sweep runs from a Redis queue (sandboxed child processes, retries, resume)',
    usage: 'advprop worker --redis URL [--concurrency N] [--threads T]',
    about:
      'Take runs submitted with "advprop sweep submit" from the queue on --redis and train them in child\n' +
      'processes; run on any number of machines that see the sweep storage at the same path. A run whose\n' +
      'worker dies is retried from its last checkpoint. SIGINT/SIGTERM: finish the running runs, then exit.',
    examples: ['advprop worker --redis redis://queue-host:6379', 'advprop worker --redis redis://queue-host:6379 --concurrency 2 --threads 1'],
  },
  report: {
    short: 'write an HTML report of a run or a sweep, or serve the live attack page',
    usage: 'advprop report RUN_DIR | SWEEP_DIR [--out DIR] [flags] | advprop report RUN_DIR --serve [--port N]',
    about:
      'Write a static site (index.html and assets/, opens from disk) for a run directory: training curves,\n' +
      'robust accuracy against epsilon per attack (measured on the run\'s model), per-class and corruption\n' +
      'accuracy, a grid of adversarial examples; or for a sweep directory (results.jsonl): the results table,\n' +
      'the spread per arm and one chart per metric with 95 % confidence intervals. Prints {"index": ...} on stdout.\n' +
      'With --serve, serve a page on localhost that loads the run\'s model-inference/ in the browser and attacks\n' +
      'test images there with @advprop/attacks.',
    examples: [
      'advprop report runs/mnist-pgd',
      'advprop report runs/mnist-pgd --out site/ --epsilons 0,0.05,0.1,0.2,0.3 --limit 500',
      'advprop report sweeps/attacker-strength',
      'advprop report runs/mnist-pgd --serve --port 8080',
    ],
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
