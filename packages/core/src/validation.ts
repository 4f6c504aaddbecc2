/**
 * Option validation with zod. Errors name every field at fault, prefixed with where the
 * options came from ("attacker \"pgd\"", "config file run.yaml"), so a user sees at once what to fix.
 */
import { z } from 'zod';
import { ConfigError } from './errors.js';

export type OptionsSchema = z.ZodType;

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

/** Parse `value` with `schema`, or throw a ConfigError listing each failing field. */
export function parseOptions<S extends OptionsSchema>(schema: S, value: unknown, where: string): z.output<S> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data as z.output<S>;
  const issues = result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
  const lines = issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n');
  throw new ConfigError(`Invalid options for ${where}:\n${lines}`, issues);
}

export { z };
