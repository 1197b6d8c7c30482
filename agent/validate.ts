// Turns a schema failure into one line that names the field, e.g.
// `herd.json: run.health.path: expected a string`, so an operator knows what to fix.
import type * as z from './zod.ts';
import type { SchemaError } from './zod.ts';

export function formatIssues(where: string, error: SchemaError): string {
  const lines = error.issues.slice(0, 5).map((issue) => {
    const path = issue.path.length ? issue.path.map(String).join('.') : '(root)';
    return `${path}: ${issue.message}`;
  });
  const more = error.issues.length > 5 ? ` (and ${error.issues.length - 5} more)` : '';
  return `${where}: ${lines.join('; ')}${more}`;
}

/** Parse `value` with `schema`, or throw `makeError(message)` naming the bad fields. */
export function parseWith<S extends z.ZodMiniType>(
  schema: S,
  value: unknown,
  where: string,
  makeError: (message: string) => Error,
): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw makeError(formatIssues(where, result.error));
  return result.data;
}

/** JSON.parse that throws `makeError` with the position instead of a bare SyntaxError. */
export function parseJson(text: string, where: string, makeError: (message: string, cause: unknown) => Error): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw makeError(`${where}: not valid JSON (${(err as Error).message})`, err);
  }
}
