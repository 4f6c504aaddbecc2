/**
 * The project's error classes. Every error carries a stable `code` so callers (and the CLI)
 * can branch on it without parsing messages, and messages always name the thing at fault:
 * the file, the field, the plugin or the shape.
 */
export class AdvpropError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Options or configuration that failed validation; `issues` lists every field at fault. */
export class ConfigError extends AdvpropError {
  readonly issues: readonly { path: string; message: string }[];
  constructor(message: string, issues: readonly { path: string; message: string }[] = []) {
    super('ERR_CONFIG', message);
    this.issues = issues;
  }
}

export class PluginNotFoundError extends AdvpropError {
  readonly kind: string;
  readonly pluginName: string;
  readonly available: readonly string[];
  constructor(kind: string, name: string, available: readonly string[]) {
    const list = available.length > 0 ? available.map((n) => `"${n}"`).join(', ') : '(none registered)';
    super(
      'ERR_PLUGIN_NOT_FOUND',
      `No ${kind} plugin named "${name}" is registered. Available ${kind} plugins: ${list}.`,
    );
    this.kind = kind;
    this.pluginName = name;
    this.available = available;
  }
}

export class DuplicatePluginError extends AdvpropError {
  constructor(kind: string, name: string) {
    super(
      'ERR_PLUGIN_DUPLICATE',
      `A ${kind} plugin named "${name}" is already registered; pass { replace: true } to replace it, or register it in a scope.`,
    );
  }
}

/** A tensor or array whose shape does not fit what the receiver expects. */
export class ShapeError extends AdvpropError {
  constructor(message: string) {
    super('ERR_SHAPE', message);
  }
}

/** A file whose content is not in the expected format; names the file and, when known, the byte offset. */
export class DataFormatError extends AdvpropError {
  readonly file: string | undefined;
  readonly offset: number | undefined;
  constructor(message: string, details: { file?: string; offset?: number } = {}) {
    const where = details.file
      ? ` (file ${details.file}${details.offset !== undefined ? `, byte offset ${details.offset}` : ''})`
      : '';
    super('ERR_DATA_FORMAT', `${message}${where}`);
    this.file = details.file;
    this.offset = details.offset;
  }
}

/** A checkpoint or saved model that cannot be read, or a run directory that cannot be written. */
export class CheckpointError extends AdvpropError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CHECKPOINT', message, options);
  }
}

/** A backend that cannot be loaded here; the message carries the install hint. */
export class BackendUnavailableError extends AdvpropError {
  readonly backend: string;
  constructor(backend: string, message: string, options?: { cause?: unknown }) {
    super('ERR_BACKEND_UNAVAILABLE', message, options);
    this.backend = backend;
  }
}

/** Training diverged (NaN or infinite loss). */
export class TrainingDivergedError extends AdvpropError {
  constructor(message: string) {
    super('ERR_TRAINING_DIVERGED', message);
  }
}

/** Another live process holds the run directory's lock file; names the directory, pid and host. */
export class RunLockedError extends AdvpropError {
  readonly dir: string;
  constructor(dir: string, message: string) {
    super('ERR_RUN_LOCKED', message);
    this.dir = dir;
  }
}

/**
 * Training stopped before its end (a callback's stop(), an aborted signal, SIGINT/SIGTERM in the
 * CLI): the current step finished and, with a run directory, a checkpoint of the true position was
 * written, so `resume: true` continues exactly there.
 */
export class TrainingInterruptedError extends AdvpropError {
  readonly reason: string;
  readonly position: { readonly epoch: number; readonly batchInEpoch: number; readonly step: number };
  /** The checkpoint directory written at the stop, when the run has a run directory. */
  readonly checkpoint: string | undefined;
  constructor(message: string, details: { reason: string; position: { epoch: number; batchInEpoch: number; step: number }; checkpoint?: string }) {
    super('ERR_TRAINING_INTERRUPTED', message);
    this.reason = details.reason;
    this.position = details.position;
    this.checkpoint = details.checkpoint;
  }
}
