import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';

/**
 * Reads a YAML file and validates it with a schema. Every problem becomes a ConfigError
 * that names the file, the line where YAML can tell, and the field path, so a lab
 * engineer can fix the file without reading code.
 */
export function readYamlFile<S extends z.ZodType>(path: string, schema: S, what: string): z.output<S> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `${what} ${path}: cannot read it (${(error as NodeJS.ErrnoException).code ?? error})`,
      {
        cause: error,
      },
    );
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    const line = first.linePos?.[0]?.line;
    throw new ConfigError(
      `${what} ${path}${line ? `:${line}` : ''}: not valid YAML: ${first.message.split('\n')[0]}`,
    );
  }
  const result = schema.safeParse(doc.toJS());
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const field = issue.path.join('.') || '(top level)';
      return `field "${field}": ${issue.message}`;
    });
    throw new ConfigError(`${what} ${path}: ${problems.join('; ')}`);
  }
  return result.data;
}
