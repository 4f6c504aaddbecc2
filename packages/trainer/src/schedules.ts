/**
 * Learning-rate schedules as pure functions of the training position, so a resumed run computes
 * the same rate as an uninterrupted one without storing anything. A schedule gives a factor of the
 * base rate; the linear warm-up (config.schedule.warmupEpochs) wraps any schedule.
 */
import type { ScheduleConfig } from './config.js';

export interface SchedulePosition {
  /** Global optimizer step (0-based, the step about to run). */
  readonly step: number;
  readonly stepsPerEpoch: number;
  readonly epochs: number;
}

export interface LearningRateSchedule {
  readonly name: string;
  /**
   * Factor of the base rate at a position. `warmupSteps` is the length of the warm-up that precedes
   * the schedule (a decaying schedule starts after it).
   */
  factor(pos: SchedulePosition & { readonly warmupSteps: number }): number;
}

export const constantSchedule = (): LearningRateSchedule => ({ name: 'constant', factor: () => 1 });

export const stepSchedule = (options: { milestones: readonly number[]; gamma: number }): LearningRateSchedule => ({
  name: 'step',
  factor: (pos) => {
    const epoch = Math.floor(pos.step / Math.max(1, pos.stepsPerEpoch));
    return options.gamma ** options.milestones.filter((m) => epoch >= m).length;
  },
});

export const cosineSchedule = (options: { minFactor: number }): LearningRateSchedule => ({
  name: 'cosine',
  factor: (pos) => {
    const total = Math.max(1, pos.epochs * pos.stepsPerEpoch - pos.warmupSteps);
    const t = Math.min(1, Math.max(0, (pos.step - pos.warmupSteps) / total));
    return options.minFactor + (1 - options.minFactor) * 0.5 * (1 + Math.cos(Math.PI * t));
  },
});

/** The rate at a position: linear warm-up from warmupStartFactor * lr, then the schedule. */
export function scheduledRate(
  baseLr: number,
  schedule: LearningRateSchedule,
  warmup: { warmupEpochs: number; warmupStartFactor: number },
  pos: SchedulePosition,
): number {
  const warmupSteps = warmup.warmupEpochs * pos.stepsPerEpoch;
  if (warmupSteps > 0 && pos.step < warmupSteps) {
    return baseLr * (warmup.warmupStartFactor + (1 - warmup.warmupStartFactor) * (pos.step / warmupSteps));
  }
  return baseLr * schedule.factor({ ...pos, warmupSteps });
}

/** A built-in schedule from its config entry, or undefined for a name that is not built in. */
export function builtinSchedule(config: ScheduleConfig): LearningRateSchedule | undefined {
  const c = config as Record<string, unknown>;
  switch (config.name) {
    case 'constant':
      return constantSchedule();
    case 'step':
      return stepSchedule({ milestones: (c.milestones as number[]) ?? [], gamma: (c.gamma as number) ?? 0.1 });
    case 'cosine':
      return cosineSchedule({ minFactor: (c.minFactor as number) ?? 0 });
    default:
      return undefined;
  }
}

/** Rate of a built-in schedule config at a position (warm-up included). */
export function learningRateAt(baseLr: number, config: ScheduleConfig, pos: SchedulePosition): number {
  const schedule = builtinSchedule(config);
  if (!schedule) throw new RangeError(`learningRateAt: "${config.name}" is not a built-in schedule; resolve it from the registry`);
  return scheduledRate(baseLr, schedule, config, pos);
}
